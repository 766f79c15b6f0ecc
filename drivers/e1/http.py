"""Hardware status routes of the E1 driver: cards, spans, channels (idle, in use, blocked, with their leg)
and alarms with counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from appliance.http_api import Api, ok

if TYPE_CHECKING:
    from drivers.e1.wiring import E1Wiring

_OBJ: dict[str, Any] = {"type": "object"}


def make_blueprint(api: Api, wiring: E1Wiring) -> Blueprint:
    bp = Blueprint("e1", url_prefix="")

    async def status(request: Request) -> HTTPResponse:
        driver = wiring.service
        return ok({"items": [driver.status()] if driver is not None else []})

    api.route(bp, "GET", "/api/v1/hw/e1", status, summary="E1 cards: spans, channels, alarms and counters",
              tag="hardware", operation_id="get_e1_status", roles=READ_CONFIG,
              response={"type": "object", "properties": {"items": {"type": "array", "items": _OBJ}}},
              errors=(401, 403))
    return bp
