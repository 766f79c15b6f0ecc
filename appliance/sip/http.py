"""Routes for the SIP front door: the sources blocked for failed authentications (list, lift) and the
thresholds behind them. Shaped like the web sign-in's (`/api/v1/security/login-*`)."""

from __future__ import annotations

import ipaddress

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.configuration.service import Actor
from appliance.errors import FieldError, TelephonyOff, ValidationFailed
from appliance.http_api import Api, body_of, ok, session_of, source_of
from appliance.sip.security import SecurityPolicy
from appliance.sip.security_service import SipSecurityService


def make_blueprint(api: Api, service: SipSecurityService | None) -> Blueprint:
    """`service` is None on a box without telephony: the routes exist and answer 503."""
    bp = Blueprint("sip_security", url_prefix="")

    def running() -> SipSecurityService:
        if service is None:
            raise TelephonyOff()
        return service

    async def list_blocks(request: Request) -> HTTPResponse:
        return ok({"items": running().blocks()})

    async def lift(request: Request) -> HTTPResponse:
        body = body_of(request)
        source = body.get("source") if isinstance(body, dict) else None
        if not isinstance(source, str) or not _is_address(source):
            raise ValidationFailed([FieldError("source", "required", "source: the blocked IP address",
                                               "source: 被封锁的 IP 地址")], "lift")
        s = session_of(request)
        return ok({"lifted": running().lift(source, Actor(s.user, source_of(request)))})

    async def get_policy(request: Request) -> HTTPResponse:
        return ok(running().policy.to_dict())

    async def set_policy(request: Request) -> HTTPResponse:
        s = session_of(request)
        policy = await running().set_policy(body_of(request), Actor(s.user, source_of(request)))
        return ok(policy.to_dict())

    block = {"type": "object",
             "required": ["source", "until", "seconds_left", "seconds", "failures", "reason", "extension"],
             "properties": {"source": {"type": "string"}, "until": {"type": "number"},
                            "seconds_left": {"type": "integer"}, "seconds": {"type": "number"},
                            "failures": {"type": "integer"},
                            "reason": {"type": "string", "enum": ["failures", "attack"]},
                            "extension": {"type": "string"}}}
    numbers = {name: {"type": "number"} for name in SecurityPolicy().to_dict()}
    policy = {"type": "object", "required": sorted(numbers), "properties": numbers}
    api.route(bp, "GET", "/api/v1/security/sip-blocks", list_blocks,
              summary="SIP sources refused after failed authentications (an extension is never blocked)",
              tag="security", operation_id="list_sip_blocks", roles=WRITE_CONFIG,
              response={"type": "object", "required": ["items"],
                        "properties": {"items": {"type": "array", "items": block}}}, errors=(503,))
    api.route(bp, "POST", "/api/v1/security/sip-blocks/lift", lift,
              summary="Hear a blocked SIP source again at once; audited",
              tag="security", operation_id="lift_sip_block", roles=WRITE_CONFIG,
              request={"type": "object", "required": ["source"],
                       "properties": {"source": {"type": "string", "minLength": 1, "maxLength": 45}}},
              response={"type": "object", "required": ["lifted"], "properties": {"lifted": {"type": "integer"}}},
              errors=(422, 503))
    api.route(bp, "GET", "/api/v1/security/sip-policy", get_policy,
              summary="The SIP front door's thresholds: rate, blocks, spread attacks, per-source bounds",
              tag="security", operation_id="get_sip_policy", roles=WRITE_CONFIG, response=policy,
              errors=(503,))
    api.route(bp, "PATCH", "/api/v1/security/sip-policy", set_policy,
              summary="Change some SIP thresholds (each checked against its range); audited",
              tag="security", operation_id="set_sip_policy", roles=WRITE_CONFIG,
              request={"type": "object", "properties": numbers}, response=policy, errors=(422, 503))
    return bp


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
