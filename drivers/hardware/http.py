"""Hardware status routes: cards, E1 spans (alarms, counters, B-channels with their calls), analog ports, and
the loopback command of a span (admins only: a looped span carries no calls)."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG, WRITE_CONFIG
from appliance.errors import FieldError, NotFound, ValidationFailed
from appliance.http_api import Api, body_of, ok
from drivers.hardware.models import LOOPBACKS
from drivers.hardware.service import HardwareService

_COUNTERS = {"type": "object", "additionalProperties": {"type": "integer"}}
_NULL_STR = {"type": ["string", "null"]}
CARD = {"type": "object", "properties": {
    "card_id": {"type": "string"}, "driver": {"type": "string", "enum": ["e1", "analog", ""]},
    "backend": {"type": "string"}, "path": {"type": "string"}, "model": {"type": "string"},
    "firmware": {"type": "string"}, "state": {"type": "string", "enum": ["up", "down", "detected"]},
    "spans": {"type": "integer"}, "ports": {"type": "integer"}, "detail": {"type": "string"}}}
CHANNEL = {"type": "object", "properties": {
    "channel": {"type": "integer"}, "state": {"type": "string", "enum": ["idle", "in_use", "blocked"]},
    "leg": _NULL_STR}}
SPAN = {"type": "object", "properties": {
    "card_id": {"type": "string"}, "span": {"type": "integer"}, "trunk": {"type": "string"},
    "role": {"type": "string", "enum": ["user", "network"]}, "framing": {"type": "string"},
    "framing_in_use": {"type": "string"}, "line_code": {"type": "string", "enum": ["hdb3", "ami"]},
    "clock": {"type": "string"}, "clock_priority": {"type": "integer"},
    "d_channel": {"type": "string", "enum": ["up", "down"]}, "lapd_state": {"type": "string"},
    "alarms": {"type": "array", "items": {"type": "string", "enum": ["los", "ais", "lof", "lomf", "rai"]}},
    "severity": {"type": ["string", "null"], "enum": ["red", "yellow", "minor", None]},
    "sending_rai": {"type": "boolean"}, "loopback": {"type": "string", "enum": list(LOOPBACKS)},
    "counters": _COUNTERS, "in_use": {"type": "integer"}, "blocked": {"type": "integer"},
    "channels": {"type": "array", "items": CHANNEL}, "detail": {"type": "string"}}}
PORT = {"type": "object", "properties": {
    "card_id": {"type": "string"}, "port": {"type": "integer"}, "kind": {"type": "string", "enum": ["fxo", "fxs"]},
    "state": {"type": "string", "enum": ["idle", "ringing", "off_hook", "in_call", "faulted", "unknown"]},
    "trunk": _NULL_STR, "access_number": _NULL_STR, "extension": _NULL_STR, "leg": _NULL_STR,
    "counters": _COUNTERS, "frames_lost": {"type": "integer"}}}
ALARM = {"type": "object", "properties": {"card_id": {"type": "string"}, "span": {"type": "integer"},
                                          "alarm": {"type": "string"}, "severity": {"type": "string"}}}
STATUS = {"type": "object", "properties": {
    "at": {"type": "number"}, "running": {"type": "boolean"}, "cards": {"type": "array", "items": CARD},
    "spans": {"type": "array", "items": SPAN}, "ports": {"type": "array", "items": PORT},
    "alarms": {"type": "array", "items": ALARM}}}
LOOPBACK = {"type": "object", "required": ["mode"],
            "properties": {"mode": {"type": "string", "enum": list(LOOPBACKS)}}}


def _span_number(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise NotFound("span", raw)
    return int(raw)


def make_blueprint(api: Api, service: HardwareService) -> Blueprint:
    bp = Blueprint("hardware", url_prefix="")

    async def status(request: Request) -> HTTPResponse:
        return ok(service.status().to_json())

    async def cards(request: Request) -> HTTPResponse:
        return ok({"items": service.status().to_json()["cards"]})

    async def span(request: Request, span: str) -> HTTPResponse:
        number = _span_number(span)
        for item in service.status().to_json()["spans"]:
            if item["span"] == number:
                return ok(item)
        raise NotFound("span", span)

    async def loopback(request: Request, span: str) -> HTTPResponse:
        number = _span_number(span)
        body: Any = body_of(request)
        mode = body.get("mode") if isinstance(body, dict) else None
        if not isinstance(mode, str):
            raise ValidationFailed([FieldError("mode", "required", f"mode: one of {', '.join(LOOPBACKS)}",
                                               f"mode: 应为 {'、'.join(LOOPBACKS)} 之一")], "loopback")
        view = await service.loopback(number, mode)
        return ok(next(s for s in service.status().to_json()["spans"] if s["span"] == view.span))

    tag = "hardware"
    api.route(bp, "GET", "/api/v1/hardware", status, summary="Cards, E1 spans with alarms, counters and "
              "B-channels, analog ports (板卡、中继、通道、端口状态)", tag=tag, operation_id="get_hardware",
              roles=READ_CONFIG, response=STATUS, errors=(401, 403))
    api.route(bp, "GET", "/api/v1/hardware/cards", cards, summary="The cards the drivers opened and the ones "
              "found besides (检测到的板卡)", tag=tag, operation_id="list_hardware_cards", roles=READ_CONFIG,
              response={"type": "object", "properties": {"items": {"type": "array", "items": CARD}}},
              errors=(401, 403))
    api.route(bp, "GET", "/api/v1/hardware/spans/{span}", span, summary="One E1 span (中继)", tag=tag,
              operation_id="get_hardware_span", roles=READ_CONFIG, response=SPAN, errors=(401, 403, 404))
    api.route(bp, "POST", "/api/v1/hardware/spans/{span}/loopback", loopback,
              summary="Put an E1 span into a loopback, or take it out with none (中继环回)", tag=tag,
              operation_id="set_span_loopback", roles=WRITE_CONFIG, request=LOOPBACK, response=SPAN,
              errors=(400, 401, 403, 404, 422, 503))
    return bp
