"""Admin routes for the phone inventory: list, add, change, remove, revoke or reissue a phone's token, rotate
its SIP password, and show the URL a phone is given."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG, WRITE_CONFIG
from appliance.configuration.service import Actor
from appliance.errors import FieldError, ValidationFailed
from appliance.http_api import Api, body_of, ok, session_of, source_of
from provisioning.errors import UnknownPhone
from provisioning.phones.models import normalise_mac, parse_phone
from provisioning.phones.service import PhoneService

PHONE = {"type": "object", "required": ["mac", "extension", "vendor"], "properties": {
    "mac": {"type": "string"}, "extension": {"type": "string"},
    "vendor": {"type": "string", "enum": ["yealink", "grandstream", "polycom", "generic"]},
    "model": {"type": "string"}, "label": {"type": "string"},
    "line_keys": {"type": "array", "items": {"type": "object", "required": ["kind"], "properties": {
        "kind": {"type": "string", "enum": ["blf", "login", "logout", "pause", "unpause", "speed_dial"]},
        "value": {"type": "string"}, "label": {"type": "string"}}}}}}


def make_blueprint(api: Api, phones: PhoneService) -> Blueprint:
    bp = Blueprint("phones", url_prefix="")

    def actor(request: Request) -> Actor:
        return Actor(session_of(request).user, source_of(request))

    def mac_of(raw: str) -> str:
        mac = normalise_mac(raw)
        if mac is None:
            raise UnknownPhone(raw[:40])
        return mac

    async def listing(request: Request) -> HTTPResponse:
        return ok({"items": phones.listing(), "total": len(phones.inventory)})

    async def add(request: Request) -> HTTPResponse:
        body = body_of(request)
        raw = body.get("phones") if isinstance(body, dict) and "phones" in body else [body]
        if not isinstance(raw, list) or not raw:
            raise ValidationFailed([FieldError("phones", "type", "phones: a list of phones", "phones: 应为话机列表")])
        errors: list[FieldError] = []
        parsed = []
        for n, item in enumerate(raw):
            try:
                parsed.append(parse_phone(item))
            except ValidationFailed as exc:
                errors += [FieldError(f"{n}.{e.field}", e.rule, e.message, e.message_zh) for e in exc.errors]
        if errors:
            raise ValidationFailed(errors, "phones")
        records = await phones.add(parsed, actor(request))
        return ok({"items": [phones.public(r) for r in records]}, status=201)

    async def update(request: Request, mac: str) -> HTTPResponse:
        record = await phones.update(parse_phone(body_of(request), mac_of(mac)), actor(request))
        return ok(phones.public(record))

    async def remove(request: Request, mac: str) -> HTTPResponse:
        await phones.remove(mac_of(mac))
        return HTTPResponse(status=204)

    async def revoke(request: Request, mac: str) -> HTTPResponse:
        await phones.revoke(mac_of(mac))
        return ok(phones.public(phones.get(mac_of(mac))))

    async def reissue(request: Request, mac: str) -> HTTPResponse:
        record = await phones.reissue(mac_of(mac))
        return ok({"url": phones.url_of(record, request.host.rsplit(":", 1)[0].strip("[]"))})

    async def rotate(request: Request, mac: str) -> HTTPResponse:
        await phones.rotate_password(mac_of(mac), actor(request))
        return ok(phones.public(phones.get(mac_of(mac))))

    async def url(request: Request, mac: str) -> HTTPResponse:
        record = phones.get(mac_of(mac))
        host = request.host.rsplit(":", 1)[0].strip("[]")
        return ok({"url": phones.url_of(record, host), "revoked": record.revoked})

    errors = (400, 401, 403, 404, 422)
    api.route(bp, "GET", "/api/v1/phones", listing, summary="The phone inventory (no secrets)",
              operation_id="phones_list", roles=READ_CONFIG, response={"type": "object"}, tag="phones", errors=errors)
    api.route(bp, "POST", "/api/v1/phones", add, operation_id="phones_add", roles=WRITE_CONFIG,
              summary="Add a phone, or several ({phones: [...]}); each gets a token and a new SIP password",
              request={"oneOf": [PHONE, {"type": "object", "properties": {"phones": {"type": "array", "items": PHONE}}}]},
              response_status=201, response={"type": "object"}, tag="phones", errors=errors)
    api.route(bp, "PUT", "/api/v1/phones/{mac}", update, summary="Change a phone's extension, model or keys",
              operation_id="phones_update", roles=WRITE_CONFIG, request=PHONE, response=PHONE, tag="phones", errors=errors)
    api.route(bp, "DELETE", "/api/v1/phones/{mac}", remove, summary="Remove a phone from the inventory",
              operation_id="phones_remove", roles=WRITE_CONFIG, response_status=204, tag="phones", errors=errors)
    api.route(bp, "POST", "/api/v1/phones/{mac}/revoke", revoke, operation_id="phones_revoke",
              summary="Revoke the phone's provisioning token: its files are refused until reissued",
              roles=WRITE_CONFIG, response={"type": "object"}, tag="phones", errors=errors)
    api.route(bp, "POST", "/api/v1/phones/{mac}/reissue", reissue, operation_id="phones_reissue",
              summary="A new provisioning token (and URL) for the phone", roles=WRITE_CONFIG,
              response={"type": "object"}, tag="phones", errors=errors)
    api.route(bp, "POST", "/api/v1/phones/{mac}/rotate-password", rotate, operation_id="phones_rotate_password",
              summary="A new SIP password for the phone's extension, fetched at the phone's next check",
              roles=WRITE_CONFIG, response={"type": "object"}, tag="phones", errors=errors)
    api.route(bp, "GET", "/api/v1/phones/{mac}/url", url, operation_id="phones_url",
              summary="The phone's provisioning URL (HTTPS, with its token)", roles=WRITE_CONFIG,
              response={"type": "object"}, tag="phones", errors=errors)
    return bp
