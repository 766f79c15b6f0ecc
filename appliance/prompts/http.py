"""Prompt routes: list, upload (any common WAV; converted to 8 kHz mono and normalised), play, delete.

An upload is the request body itself (`Content-Type: audio/wav`) or a multipart form field `file`. An upload
replaces the shipped default of the same name; deleting it brings the default back.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import cast

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG, WRITE_CONFIG
from appliance.errors import FieldError, ValidationFailed
from appliance.http_api import Api, Param, ok, send_file
from appliance.ivr.models import LANGUAGES, Language
from appliance.prompts.store import PromptStore


def _upload_bytes(request: Request) -> bytes:
    if request.files and "file" in request.files:
        return bytes(request.files["file"][0].body)
    if not request.body:
        raise ValidationFailed([FieldError("file", "required", "file: no audio was uploaded", "file: 未上传音频")],
                               "prompt")
    return bytes(request.body)


def make_blueprint(api: Api, store: PromptStore) -> Blueprint:
    bp = Blueprint("prompts", url_prefix="")
    info = {"type": "object", "properties": {
        "name": {"type": "string"}, "language": {"type": "string", "enum": ["zh-CN", "en"]},
        "source": {"type": "string", "enum": ["upload", "default"]}, "duration": {"type": "number"},
        "size": {"type": "integer"}}}

    async def list_(request: Request) -> HTTPResponse:
        items = [asdict(p) for p in store.list()]
        return ok({"items": items, "total": len(items), "offset": 0, "limit": len(items)})

    async def upload(request: Request, language: str, name: str) -> HTTPResponse:
        store.check_name(name, language)
        saved = store.save_upload(name, cast(Language, language), _upload_bytes(request))
        return ok(asdict(saved), status=201)

    async def audio(request: Request, language: str, name: str) -> HTTPResponse:
        store.check_name(name, language)
        path = store.resolve(name, cast(Language, language))
        return await send_file(request, path, "audio/wav", f"{name}.wav")

    async def tts_preview(request: Request) -> HTTPResponse:
        # A GET, so an <audio> element can play it directly; the result is cached like any TTS prompt.
        text = str(request.args.get("text") or "").strip()
        language = str(request.args.get("language") or "zh-CN")
        if not 0 < len(text) <= 500:
            raise ValidationFailed([FieldError("text", "length", "text: 1 to 500 characters", "text: 1 到 500 个字符")],
                                   "prompt")
        if language not in LANGUAGES:
            raise ValidationFailed([FieldError("language", "enum", "language: zh-CN or en", "language: zh-CN 或 en")],
                                   "prompt")
        key = await store.speak(text, language)
        return await send_file(request, store.resolve(key, language), "audio/wav", "preview.wav")

    async def delete(request: Request, language: str, name: str) -> HTTPResponse:
        store.delete_upload(name, cast(Language, language))
        return HTTPResponse(status=204)

    api.route(bp, "GET", "/api/v1/prompts", list_, summary="Prompts: uploads and shipped defaults (语音文件)",
              tag="prompts", operation_id="list_prompts", roles=READ_CONFIG,
              response={"type": "object", "properties": {"items": {"type": "array", "items": info}}},
              errors=(401, 403))
    api.route(bp, "PUT", "/api/v1/prompts/{language}/{name}", upload,
              summary="Upload a prompt (WAV, any common rate/width/channels; converted and normalised)",
              tag="prompts", operation_id="upload_prompt", roles=WRITE_CONFIG,
              request={"type": "string", "format": "binary"}, response=info, response_status=201,
              errors=(401, 403, 422))
    api.route(bp, "GET", "/api/v1/prompts/{language}/{name}/audio", audio, summary="Play a prompt (WAV)",
              tag="prompts", operation_id="prompt_audio", roles=READ_CONFIG, content_type="audio/wav",
              response={"type": "string", "format": "binary"}, errors=(401, 403, 404, 422))
    api.route(bp, "GET", "/api/v1/prompts/tts", tts_preview, summary="Preview text to speech (WAV, 文本转语音试听)",
              tag="prompts", operation_id="preview_tts", roles=READ_CONFIG, content_type="audio/wav",
              params=(Param("text", required=True), Param("language", schema={"type": "string", "enum": ["zh-CN", "en"]})),
              response={"type": "string", "format": "binary"}, errors=(401, 403, 422, 503))
    api.route(bp, "DELETE", "/api/v1/prompts/{language}/{name}", delete,
              summary="Delete an uploaded prompt (the shipped default, if any, comes back)", tag="prompts",
              operation_id="delete_prompt", roles=WRITE_CONFIG, response_status=204, errors=(401, 403, 404, 422))
    return bp
