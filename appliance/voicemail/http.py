"""Voicemail routes: list, details, audio (ranged), a note written or changed, mark handled with a note."""

from __future__ import annotations

from dataclasses import asdict

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from appliance.domain.models import Role
from appliance.errors import FieldError, ValidationFailed
from appliance.http_api import Api, Param, body_of, int_arg, ok, page_schema, send_file, session_of
from appliance.voicemail.service import VoicemailService

HANDLERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
MAX_NOTE = 1000


def make_blueprint(api: Api, service: VoicemailService) -> Blueprint:
    bp = Blueprint("voicemail", url_prefix="")
    message = {
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "box": {"type": "string"}, "caller": {"type": "string"},
            "caller_name": {"type": "string"}, "call_id": {"type": "string"}, "received_at": {"type": "number"},
            "duration_s": {"type": "number"}, "file": {"type": "string"}, "handled": {"type": "boolean"},
            "note": {"type": "string"}, "handled_by": {"type": "string"},
            "handled_at": {"type": ["number", "null"]},
        },
    }

    async def list_(request: Request) -> HTTPResponse:
        handled_arg = request.args.get("handled")
        page = service.list(
            box=request.args.get("box"),
            handled=None if handled_arg is None else handled_arg.lower() in ("1", "true", "yes"),
            offset=int_arg(request, "offset", 0, 0, 10**9), limit=int_arg(request, "limit", 50, 1, 1000),
        )
        return ok({"items": [asdict(m) for m in page.items], "total": page.total, "offset": page.offset,
                   "limit": page.limit})

    async def get(request: Request, key: str) -> HTTPResponse:
        return ok(asdict(service.get(key)))

    async def audio(request: Request, key: str) -> HTTPResponse:
        return await send_file(request, service.audio_path(key), "audio/wav", f"voicemail-{key}.wav")

    async def handled(request: Request, key: str) -> HTTPResponse:
        body = body_of(request)
        note = str(body.get("note", "")) if isinstance(body, dict) else ""
        return ok(asdict(service.mark_handled(key, note, session_of(request).user)))

    async def note(request: Request, key: str) -> HTTPResponse:
        body = body_of(request)
        text = body.get("note") if isinstance(body, dict) else None
        if not isinstance(text, str) or len(text) > MAX_NOTE:
            raise ValidationFailed([FieldError("note", "type", f"note: a text of at most {MAX_NOTE} characters",
                                               f"note: 应为不超过 {MAX_NOTE} 个字符的文字")])
        return ok(asdict(service.set_note(key, text)))

    api.route(bp, "GET", "/api/v1/voicemail", list_, summary="List voicemail messages (语音留言)", tag="voicemail",
              operation_id="list_voicemail", roles=READ_CONFIG, response=page_schema(message),
              params=(Param("box"), Param("handled", schema={"type": "boolean"}),
                      Param("offset", schema={"type": "integer"}), Param("limit", schema={"type": "integer"})),
              errors=(401, 403, 422))
    api.route(bp, "GET", "/api/v1/voicemail/{key}", get, summary="One voicemail message", tag="voicemail",
              operation_id="get_voicemail", roles=READ_CONFIG, response=message, errors=(401, 403, 404))
    api.route(bp, "GET", "/api/v1/voicemail/{key}/audio", audio,
              summary="The message audio (WAV; supports Range)", tag="voicemail", operation_id="voicemail_audio",
              roles=READ_CONFIG, response={"type": "string", "format": "binary"}, content_type="audio/wav",
              errors=(401, 403, 404))
    api.route(bp, "POST", "/api/v1/voicemail/{key}/handled", handled,
              summary="Mark a message handled, with a note (备注)", tag="voicemail",
              operation_id="handle_voicemail", roles=HANDLERS,
              request={"type": "object", "properties": {"note": {"type": "string", "maxLength": 1000}}},
              response=message, errors=(401, 403, 404, 409))
    api.route(bp, "PUT", "/api/v1/voicemail/{key}/note", note,
              summary="Write or change a message's note (备注), handled or not", tag="voicemail",
              operation_id="voicemail_note", roles=HANDLERS,
              request={"type": "object", "required": ["note"],
                       "properties": {"note": {"type": "string", "maxLength": MAX_NOTE}}},
              response=message, errors=(401, 403, 404, 422))
    return bp
