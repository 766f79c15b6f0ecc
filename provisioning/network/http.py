"""Routes for network settings: the live state, apply (with the revert timer), confirm and revert."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG, WRITE_CONFIG
from appliance.errors import FieldError, ValidationFailed
from appliance.http_api import Api, body_of, ok
from provisioning.network.models import parse_settings
from provisioning.network.service import NetworkService

MIN_WINDOW, MAX_WINDOW = 1.0, 600.0
APPLY_DELAY = 0.5

SETTINGS_SCHEMA = {
    "type": "object",
    "properties": {
        "interfaces": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "dhcp": {"type": "boolean"},
            "addresses": {"type": "array", "items": {"type": "string", "description": "CIDR"}},
            "gateway": {"type": ["string", "null"]},
            "vlans": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "integer", "minimum": 1, "maximum": 4094}, "dhcp": {"type": "boolean"},
                "addresses": {"type": "array", "items": {"type": "string"}}}}}}}},
        "dns": {"type": "array", "items": {"type": "string"}},
        "routes": {"type": "array", "items": {"type": "object", "required": ["destination", "gateway", "interface"],
                                              "properties": {"destination": {"type": "string"},
                                                             "gateway": {"type": "string"},
                                                             "interface": {"type": "string"}}}},
    },
}


def make_blueprint(api: Api, network: NetworkService) -> Blueprint:
    bp = Blueprint("network", url_prefix="")

    async def get_state(request: Request) -> HTTPResponse:
        return ok(await network.state())

    async def apply(request: Request) -> HTTPResponse:
        body = body_of(request)
        settings = parse_settings(body.get("settings") if isinstance(body, dict) else None)
        window = body.get("confirm_seconds", network.confirm_seconds)
        if (not isinstance(window, int | float) or isinstance(window, bool)
                or not MIN_WINDOW <= window <= MAX_WINDOW):
            raise ValidationFailed([FieldError("confirm_seconds", "range",
                                               f"confirm_seconds: {MIN_WINDOW:.0f} to {MAX_WINDOW:.0f}",
                                               f"confirm_seconds: 应为 {MIN_WINDOW:.0f} 到 {MAX_WINDOW:.0f}")])
        # The kernel is changed a moment after this answer leaves: it arrived on an address that may go.
        return ok({**await network.apply(settings, float(window), delay=APPLY_DELAY), "applies_in": APPLY_DELAY},
                  status=202)

    async def confirm(request: Request, change_id: str) -> HTTPResponse:
        # the box's own address the request reached (the socket's local end), not anything the client says
        sockname = request.conn_info.sockname if request.conn_info else None
        await network.confirm(change_id, str(sockname[0]) if isinstance(sockname, tuple) else "")
        return ok({"confirmed": change_id})

    async def revert(request: Request, change_id: str) -> HTTPResponse:
        await network.revert(change_id)
        return ok({"reverted": change_id})

    pending = {"type": "object", "properties": {"change_id": {"type": "string"},
                                                "seconds_left": {"type": "number"}}}
    api.route(bp, "GET", "/api/v1/network", get_state, tag="network", operation_id="network_state",
              summary="Live links, addresses and routes (read through netlink), the saved settings, a pending change",
              roles=READ_CONFIG, response={"type": "object"}, errors=(401, 403))
    api.route(bp, "POST", "/api/v1/network/apply", apply, tag="network", operation_id="network_apply",
              summary="Apply network settings now; they revert unless confirmed from the new address in time",
              roles=WRITE_CONFIG, response_status=202, response=pending,
              request={"type": "object", "required": ["settings"],
                       "properties": {"settings": SETTINGS_SCHEMA, "confirm_seconds": {"type": "number"}}},
              errors=(400, 401, 403, 409, 422))
    api.route(bp, "POST", "/api/v1/network/changes/{change_id}/confirm", confirm, tag="network",
              operation_id="network_confirm", summary="Keep a pending change (send it to the new address)",
              roles=WRITE_CONFIG, response={"type": "object"}, errors=(401, 403, 409))
    api.route(bp, "POST", "/api/v1/network/changes/{change_id}/revert", revert, tag="network",
              operation_id="network_revert", summary="Put the previous settings back now",
              roles=WRITE_CONFIG, response={"type": "object"}, errors=(401, 403, 409))
    return bp
