"""Routes the first-run wizard (web) and the console use: what is set up, host name, time zone and NTP, the
SIP domain, the detected cards. The admin password is set through the existing `POST /api/v1/setup`."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG, WRITE_CONFIG
from appliance.auth.service import AuthService
from appliance.configuration.service import Actor
from appliance.http_api import Api, body_of, ok, session_of, source_of
from provisioning.firstboot.system import SystemService


def make_blueprint(api: Api, system: SystemService, auth: AuthService) -> Blueprint:
    bp = Blueprint("firstboot", url_prefix="")

    def actor(request: Request) -> Actor:
        return Actor(session_of(request).user, source_of(request))

    def body(request: Request) -> dict[str, object]:
        data = body_of(request)
        return data if isinstance(data, dict) else {}

    async def summary(request: Request) -> HTTPResponse:
        return ok(system.summary(auth.setup_required))

    async def host_name(request: Request) -> HTTPResponse:
        return ok({"host_name": await system.set_host_name(body(request).get("host_name"))})

    async def time(request: Request) -> HTTPResponse:
        b = body(request)
        return ok(await system.set_time(b.get("time_zone"), b.get("ntp_servers"), actor(request)))

    async def sip_domain(request: Request) -> HTTPResponse:
        return ok(await system.set_sip_domain(body(request).get("sip_domain"), actor(request)))

    async def cards(request: Request) -> HTTPResponse:
        return ok(system.detected_cards())

    async def complete(request: Request) -> HTTPResponse:
        await system.mark_completed()
        return ok(system.summary(auth.setup_required))

    obj = {"type": "object"}
    api.route(bp, "GET", "/api/v1/setup/system", summary, tag="setup", operation_id="setup_summary",
              summary="What the first-run wizard has set: password, host name, time, SIP domain, cards",
              roles=READ_CONFIG, response=obj, errors=(401, 403))
    api.route(bp, "PUT", "/api/v1/system/host-name", host_name, tag="setup", operation_id="set_host_name",
              summary="The box's host name (RFC 1123)", roles=WRITE_CONFIG, response=obj,
              request={"type": "object", "required": ["host_name"], "properties": {"host_name": {"type": "string"}}},
              errors=(400, 401, 403, 422))
    api.route(bp, "PUT", "/api/v1/system/time", time, tag="setup", operation_id="set_time",
              summary="Time zone (IANA, default Asia/Shanghai) and NTP servers (chrony)", roles=WRITE_CONFIG,
              response=obj, errors=(400, 401, 403, 422),
              request={"type": "object", "properties": {"time_zone": {"type": "string"},
                                                        "ntp_servers": {"type": "array", "items": {"type": "string"}}}})
    api.route(bp, "PUT", "/api/v1/system/sip-domain", sip_domain, tag="setup", operation_id="set_sip_domain",
              summary="The SIP domain (digest realm); lists the extensions whose passwords must be set again",
              roles=WRITE_CONFIG, response=obj, errors=(400, 401, 403, 422),
              request={"type": "object", "required": ["sip_domain"], "properties": {"sip_domain": {"type": "string"}}})
    api.route(bp, "GET", "/api/v1/system/cards", cards, tag="setup", operation_id="detected_cards",
              summary="E1/PRI and FXO cards the drivers' HAL detects (empty when no driver is installed)",
              roles=READ_CONFIG, response=obj, errors=(401, 403))
    api.route(bp, "POST", "/api/v1/setup/complete", complete, tag="setup", operation_id="setup_complete",
              summary="Mark the first-run wizard as done (it can be run again)", roles=WRITE_CONFIG,
              response=obj, errors=(401, 403))
    return bp
