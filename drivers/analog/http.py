"""Analog port routes: the ports of the analog card with their state and counters (what `appliance hw status`
shows for analog lines)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from appliance.http_api import Api, ok
from drivers.analog.wiring import AnalogWiring

PORT_SCHEMA = {
    "type": "object",
    "properties": {
        "port": {"type": "integer"}, "kind": {"type": "string", "enum": ["fxo", "fxs"]},
        "state": {"type": "string", "enum": ["idle", "ringing", "off_hook", "in_call", "faulted"]},
        "trunk": {"type": ["string", "null"]}, "access_number": {"type": ["string", "null"]},
        "extension": {"type": ["string", "null"]}, "leg": {"type": ["string", "null"]},
        "counters": {"type": "object", "additionalProperties": {"type": "integer"}},
        "frames_lost": {"type": "integer"},
    },
}


def make_blueprint(api: Api, analog: AnalogWiring | None) -> Blueprint:
    bp = Blueprint("analog", url_prefix="")

    async def ports(request: Request) -> HTTPResponse:
        service = analog.service if analog is not None else None
        if service is None:
            return ok({"card": None, "status": "absent", "items": []})
        health = service.health()
        return ok({"card": analog.card_path if analog else None, "status": health.status.value,
                   "detail": health.detail, "items": service.port_status()})

    api.route(bp, "GET", "/api/v1/hw/analog/ports", ports, summary="Analog ports and their state (模拟端口状态)",
              tag="hardware", operation_id="list_analog_ports", roles=READ_CONFIG,
              response={"type": "object", "properties": {
                  "card": {"type": ["string", "null"]}, "status": {"type": "string"},
                  "detail": {"type": "string"}, "items": {"type": "array", "items": PORT_SCHEMA}}},
              errors=(401, 403))
    return bp
