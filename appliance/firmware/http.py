"""Firmware routes (admin only): the slots and the running version, uploading a bundle that is installed at
once (the request body is the .raucb file itself, streamed to the data partition), the installation's
progress, reboot, and factory reset behind a typed confirmation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.firmware.service import RESET_WORD, FirmwareService
from appliance.http_api import Api, body_of, ok, session_of, source_of

_OBJ: dict[str, Any] = {"type": "object"}
PROGRESS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["state", "percent", "step"],
    "properties": {"state": {"enum": ["idle", "running", "succeeded", "failed"]}, "percent": {"type": "integer"},
                   "step": {"type": "string"}, "bundle_bytes": {"type": "integer"}, "error": {"type": "string"},
                   "version": {"type": "string"}, "slot": {"type": "string"},
                   "log": {"type": "array", "items": {"type": "string"}}}}


async def _body_chunks(request: Request) -> AsyncIterator[bytes]:
    stream = request.stream
    if stream is None:
        if request.body:
            yield bytes(request.body)
        return
    while True:
        chunk = await stream.read()  # type: ignore[attr-defined]
        if chunk is None:
            return
        yield bytes(chunk)


def make_blueprint(api: Api, service: FirmwareService) -> Blueprint:
    bp = Blueprint("firmware", url_prefix="")

    async def status(request: Request) -> HTTPResponse:
        current = await service.status()
        return ok({**current.to_json(), "progress": service.progress().to_json()})

    async def progress(request: Request) -> HTTPResponse:
        return ok(service.progress().to_json())

    async def install(request: Request) -> HTTPResponse:
        size, sha256 = await service.receive(_body_chunks(request))
        started = service.start_install(source="api", by=session_of(request).user, address=source_of(request))
        return ok({**started.to_json(), "bundle_sha256": sha256, "bundle_bytes": size}, status=202)

    async def reboot(request: Request) -> HTTPResponse:
        await service.request_reboot(session_of(request).user, source_of(request))
        return ok({"rebooting": True}, status=202)

    async def factory_reset(request: Request) -> HTTPResponse:
        body = body_of(request)
        confirm = body.get("confirm") if isinstance(body, dict) else None
        await service.request_factory_reset(confirm, session_of(request).user, source_of(request))
        return ok({"resetting": True}, status=202)

    api.route(bp, "GET", "/api/v1/firmware", status, summary="The running version, both root slots and the last "
              "installation's progress", tag="firmware", operation_id="firmware_status", roles=WRITE_CONFIG,
              response=_OBJ)
    api.route(bp, "GET", "/api/v1/firmware/install", progress, summary="The installation's progress",
              tag="firmware", operation_id="firmware_progress", roles=WRITE_CONFIG, response=PROGRESS_SCHEMA)
    api.route(bp, "POST", "/api/v1/firmware/install", install,
              summary="Upload a signed RAUC bundle (the request body) and install it into the other slot",
              tag="firmware", operation_id="firmware_install", roles=WRITE_CONFIG, response=PROGRESS_SCHEMA,
              response_status=202, errors=(409, 413, 422),
              request={"type": "string", "format": "binary"}, stream=True)
    api.route(bp, "POST", "/api/v1/firmware/reboot", reboot, summary="Reboot the box (into the slot GRUB tries "
              "first)", tag="firmware", operation_id="firmware_reboot", roles=WRITE_CONFIG, response=_OBJ,
              response_status=202, errors=(409,))
    api.route(bp, "POST", "/api/v1/firmware/factory-reset", factory_reset,
              summary=f"Erase the data partition and reboot into first-boot set-up (confirm: \"{RESET_WORD}\")",
              tag="firmware", operation_id="firmware_factory_reset", roles=WRITE_CONFIG,
              request={"type": "object", "required": ["confirm"], "properties": {"confirm": {"const": RESET_WORD}}},
              response=_OBJ, response_status=202, errors=(409, 422))
    return bp
