"""SNMP settings routes (admin only): communities, v3 users, allowed networks, trap receivers, heartbeat.
Secrets are write-only: a read shows that they are set, never their value; a write that leaves a user's
key out keeps the stored one."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
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


def _keep_secrets(new: Any, old: dict[str, Any]) -> Any:
    if not isinstance(new, dict):
        return new
    merged = dict(new)
    old_users = {u.get("name"): u for u in old.get("users", []) if isinstance(u, dict)}
    users = []
    for u in new.get("users", []) or []:
        if isinstance(u, dict) and u.get("name") in old_users:
            prev = old_users[u["name"]]
            u = {**u, **{k: prev[k] for k in ("auth_key", "priv_key") if u.get(k) in (None, SECRET)}}
        users.append(u)
    merged["users"] = users
    old_names = [c.get("name") if isinstance(c, dict) else c for c in old.get("communities", [])]
    communities: list[Any] = []
    for i, c in enumerate(new.get("communities", []) or []):
        name = c.get("name") if isinstance(c, dict) else c
        if name == SECRET and i < len(old_names):  # shown masked, saved back unchanged
            c = {**c, "name": old_names[i]} if isinstance(c, dict) else old_names[i]
        communities.append(c)
    merged["communities"] = communities
    old_rcv = list(old.get("trap_receivers", []))
    merged["trap_receivers"] = [
        {**r, "community": old_rcv[i].get("community", "")} if isinstance(r, dict) and r.get("community") == SECRET
        and i < len(old_rcv) else r for i, r in enumerate(new.get("trap_receivers", []) or [])]
    return merged


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
