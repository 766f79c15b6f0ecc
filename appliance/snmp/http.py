"""SNMP settings routes (admin only): communities, v3 users, allowed networks, trap receivers, heartbeat.
Secrets are write-only: a read shows that they are set, never their value; a write that leaves a user's
key out keeps the stored one."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.errors import FieldError, ValidationFailed
from appliance.http_api import Api, body_of, ok
from appliance.snmp.models import parse_settings
from appliance.snmp.service import SETTINGS_KEY, SnmpService

_OBJ: dict[str, Any] = {"type": "object"}
SECRET = "********"


def public_view(raw: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    out["communities"] = [{**c, "name": SECRET} if isinstance(c, dict) else SECRET
                          for c in raw.get("communities", [])]
    out["users"] = [{**u, "auth_key": SECRET, "priv_key": SECRET} for u in raw.get("users", [])]
    out["trap_receivers"] = [{**r, "community": SECRET if r.get("community") else ""}
                             for r in raw.get("trap_receivers", [])]
    return out


def _ref(entry: Any, place: int, count: int) -> int | None:
    """Which stored entry a masked one stands for: its `ref` (the place it was shown at, which the page sends
    back so rows removed above it do not shift it onto another's secret), else its own place."""
    ref = entry.get("ref", place) if isinstance(entry, dict) else place
    return ref if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < count else None


def _without_ref(entry: Any) -> Any:
    return {k: v for k, v in entry.items() if k != "ref"} if isinstance(entry, dict) else entry


def _keep_secrets(new: Any, old: dict[str, Any]) -> Any:
    if not isinstance(new, dict):
        return new
    merged = dict(new)
    old_list = [u for u in old.get("users", []) if isinstance(u, dict)]
    old_users = {u.get("name"): u for u in old_list}
    users = []
    for i, u in enumerate(new.get("users", []) or []):
        if isinstance(u, dict):
            ref = _ref(u, i, len(old_list)) if "ref" in u else None
            prev = old_list[ref] if ref is not None else old_users.get(u.get("name"))
            if prev is not None:
                u = {**u, **{k: prev[k] for k in ("auth_key", "priv_key") if u.get(k) in (None, SECRET) and k in prev}}
        users.append(_without_ref(u))
    merged["users"] = users
    old_names = [c.get("name") if isinstance(c, dict) else c for c in old.get("communities", [])]
    communities: list[Any] = []
    for i, c in enumerate(new.get("communities", []) or []):
        name = c.get("name") if isinstance(c, dict) else c
        ref = _ref(c, i, len(old_names))
        if name == SECRET and ref is not None:  # shown masked, saved back unchanged
            c = {**c, "name": old_names[ref]} if isinstance(c, dict) else old_names[ref]
        communities.append(_without_ref(c))
    merged["communities"] = communities
    old_rcv = [r for r in old.get("trap_receivers", []) if isinstance(r, dict)]
    receivers: list[Any] = []
    for i, r in enumerate(new.get("trap_receivers", []) or []):
        ref = _ref(r, i, len(old_rcv))
        if isinstance(r, dict) and r.get("community") == SECRET and ref is not None:
            r = {**r, "community": old_rcv[ref].get("community", "")}
        receivers.append(_without_ref(r))
    merged["trap_receivers"] = receivers
    return merged


def _masked_left(raw: dict[str, Any]) -> list[FieldError]:
    """A mask that stands for no stored secret (a new entry, or a place that is gone) is not a secret to store."""
    found: list[str] = []
    for i, c in enumerate(raw.get("communities", []) or []):
        if (c.get("name") if isinstance(c, dict) else c) == SECRET:
            found.append(f"communities.{i}.name" if isinstance(c, dict) else f"communities.{i}")
    for i, u in enumerate(raw.get("users", []) or []):
        found += [f"users.{i}.{k}" for k in ("auth_key", "priv_key") if isinstance(u, dict) and u.get(k) == SECRET]
    for i, r in enumerate(raw.get("trap_receivers", []) or []):
        if isinstance(r, dict) and r.get("community") == SECRET:
            found.append(f"trap_receivers.{i}.community")
    return [FieldError(f, "masked", f"{f}: type the secret (the masked value stands for nothing stored)",
                       f"{f}: 请输入密钥(掩码不对应任何已保存的值)") for f in found]


def make_blueprint(api: Api, service: SnmpService | None) -> Blueprint:
    bp = Blueprint("snmp", url_prefix="")
    if service is None:
        return bp

    async def get_settings(request: Request) -> HTTPResponse:
        return ok({**public_view(service.store.settings.get(SETTINGS_KEY, {}) or {}), "engine_id": service.engine_id})

    async def put_settings(request: Request) -> HTTPResponse:
        old = service.store.settings.get(SETTINGS_KEY, {}) or {}
        raw = _keep_secrets(body_of(request), old)
        if isinstance(raw, dict):
            raw.pop("engine_id", None)  # shown, never set
            masked = _masked_left(raw)
            if masked:
                raise ValidationFailed(masked)
        parse_settings(raw)  # validation once, here: every bad field named
        await service.store.set_settings(**{SETTINGS_KEY: raw})
        await service.restart()
        return ok({**public_view(raw), "engine_id": service.engine_id})

    tag = "snmp"
    api.route(bp, "GET", "/api/v1/snmp/settings", get_settings, summary="SNMP settings (secrets hidden)", tag=tag,
              operation_id="get_snmp_settings", roles=WRITE_CONFIG, response=_OBJ, errors=(401, 403))
    api.route(bp, "PUT", "/api/v1/snmp/settings", put_settings,
              summary="Replace SNMP settings; the agent restarts with them (网管/SNMP)", tag=tag,
              operation_id="put_snmp_settings", roles=WRITE_CONFIG, request=_OBJ, response=_OBJ,
              errors=(400, 401, 403, 422))
    return bp
