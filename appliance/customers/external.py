"""The screen pop's customer look-up in the customer's own CRM, over HTTP (the VIP look-up's style and its
client code, `appliance.crm.http_json`).

`GET <crm_customer_url>?number=<caller>` answered by a JSON object: `{"name": ..., "vip": bool, "blacklisted":
bool, "account_manager": "1001", "area": ..., "note": ..., "fields": {"key": "value", ...}, "url": "https://..."}`
(every member optional), or 404 / `{}` for "not known". Within `crm_customer_timeout_s` (default 1 s, at most
5): a ringing phone does not wait longer. Anything else — time-out, connection error, error status, a body that
is not that object — is a failure, and the pop falls back to the box's own record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from appliance.crm.http_json import LookupFailed, get_object

log = logging.getLogger(__name__)

URL_SETTING = "crm_customer_url"
TIMEOUT_SETTING = "crm_customer_timeout_s"
DEFAULT_TIMEOUT_S = 1.0
_TEXT_KEYS = ("name", "account_manager", "area", "note", "url")
_MAX_TEXT = 500
_MAX_FIELDS = 50


def crm_customer_url(settings: Mapping[str, Any]) -> str:
    url = settings.get(URL_SETTING)
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else ""


def crm_customer_timeout(settings: Mapping[str, Any]) -> float:
    value = settings.get(TIMEOUT_SETTING, DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_TIMEOUT_S
    return min(5.0, max(0.1, float(value)))


def sanitised(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the desk may show of the CRM's answer: known members, as text or flags, bounded; None when the
    answer names nobody."""
    out: dict[str, Any] = {}
    for key in _TEXT_KEYS:
        value = body.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            out[key] = str(value).strip()[:_MAX_TEXT]
    if "url" in out and not out["url"].startswith(("http://", "https://")):
        del out["url"]  # shown as a link: no javascript: or data: URLs
    for key in ("vip", "blacklisted"):
        if isinstance(body.get(key), bool):
            out[key] = body[key]
    fields = body.get("fields")
    if isinstance(fields, dict):
        out["fields"] = {str(k)[:64]: str(v)[:_MAX_TEXT] for k, v in list(fields.items())[:_MAX_FIELDS]
                         if isinstance(v, str | int | float) and not isinstance(v, bool)}
    return out if out.get("name") else None


@dataclass(frozen=True, slots=True)
class ExternalAnswer:
    found: dict[str, Any] | None  # the CRM's customer (sanitised), None when unknown or failed
    error: str | None = None  # why the CRM could not be asked, when it failed

    @property
    def asked(self) -> bool:
        return self.error is None


class ExternalCustomerLookup:
    """Asks the configured CRM (read on each look-up, so a changed setting applies at once)."""

    def __init__(self, settings: Callable[[], Mapping[str, Any]], client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(follow_redirects=False)
        self.asked = 0
        self.failures = 0

    def configured(self) -> bool:
        return bool(crm_customer_url(self._settings()))

    async def lookup(self, number: str) -> ExternalAnswer | None:
        """The CRM's answer for `number`; None when no CRM is configured."""
        settings = self._settings()
        url = crm_customer_url(settings)
        if not url:
            return None
        self.asked += 1
        try:
            body = await get_object(self._client, url, {"number": number}, crm_customer_timeout(settings),
                                    missing=frozenset({404}))
        except LookupFailed as exc:
            self.failures += 1
            log.warning("CRM customer look-up of %s failed: %s", number, exc)
            return ExternalAnswer(None, str(exc)[:200])
        return ExternalAnswer(sanitised(body) if body else None)

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()
