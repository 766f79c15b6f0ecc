"""Shared pieces of the REST API: an operation registry that becomes the OpenAPI document, JSON helpers,
and the authentication wrapper every route goes through.

Each bounded context's `http.py` declares its routes with `Api.route(...)`, which registers the Sanic
handler and the OpenAPI operation together — so the document cannot drift from what is served.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sanic import Blueprint, Request
from sanic.exceptions import PayloadTooLarge
from sanic.handlers import ContentRangeHandler
from sanic.response import HTTPResponse, file_stream
from sanic.response import json as json_response

from appliance.auth.models import Session
from appliance.auth.service import AuthService
from appliance.domain.models import Role
from appliance.domain.validation import json_schema
from appliance.errors import FieldError, Forbidden, ValidationFailed
from appliance.security.errors import BodyTooLarge
from appliance.security.request_limits import (
    DEFAULT_JSON,
    DEFAULT_UPLOAD,
    BodyLimits,
    check_declared_size,
    check_json_type,
    decode_json,
    parse_multipart,
)

Handler = Callable[..., Awaitable[HTTPResponse]]
SESSION_COOKIE = "appliance_session"
LANG_COOKIE = "appliance_lang"  # the web UI's language, for pages shown before sign-in too
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error_id", "message", "details"],
    "properties": {
        "error_id": {"type": "string"},
        "message": {"type": "string"},
        "message_zh": {"type": "string"},
        "details": {"type": "object"},
    },
}


def page_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total", "offset", "limit"],
        "properties": {
            "items": {"type": "array", "items": item},
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
        },
    }


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str = "query"  # query | path
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # OpenAPI form: /api/v1/staff/{key}
    summary: str
    tag: str
    operation_id: str
    roles: frozenset[Role] | None  # None: no authentication
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    response_status: int = 200
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"  # of the success response; several are separated by commas


@dataclass
class Api:
    """The operation registry plus the component schemas the operations refer to."""

    auth: AuthService
    operations: list[Operation] = field(default_factory=list)
    components: dict[str, Any] = field(default_factory=dict)

    def schema_ref(self, model: type[Any], name: str | None = None, drop: Iterable[str] = ()) -> dict[str, Any]:
        """Register `model`'s JSON Schema (and its nested definitions) and return a `$ref` to it."""
        schema = json_schema(model)
        for def_name, definition in schema.pop("$defs", {}).items():
            self.components.setdefault(def_name, definition)
        props = schema.get("properties", {})
        for name_ in drop:
            props.pop(name_, None)
        if "required" in schema:
            schema["required"] = [r for r in schema["required"] if r in props]
        key = name or model.__name__
        self.components[key] = schema
        return {"$ref": f"#/components/schemas/{key}"}

    def route(
        self,
        bp: Blueprint,
        method: str,
        path: str,
        handler: Handler,
        *,
        summary: str,
        tag: str,
        operation_id: str,
        roles: frozenset[Role] | None,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        response_status: int = 200,
        params: tuple[Param, ...] = (),
        errors: tuple[int, ...] = (),
        content_type: str = "application/json",
        stream: bool = False,  # the handler reads request.stream itself (large uploads), with no size limit
        limits: BodyLimits | None = None,  # else DEFAULT_JSON, or DEFAULT_UPLOAD for a binary body
    ) -> None:
        path_params = tuple(Param(n, "path", required=True) for n in re.findall(r"{(\w+)}", path))
        # The edge's own refusals are documented on every route they can happen on.
        takes_body = method.upper() in BODY_METHODS and not stream
        upload = request is not None and request.get("format") == "binary"
        body_limits = limits or (DEFAULT_UPLOAD if upload else DEFAULT_JSON)
        errors = tuple(sorted({*errors, *((401, 403) if roles is not None else ()),
                               *((400, 413) if takes_body else ()), *((415,) if takes_body and not upload else ())}))
        self.operations.append(
            Operation(method.lower(), path, summary, tag, operation_id, roles, request, response, response_status,
                      path_params + params, errors, content_type)
        )
        sanic_path = re.sub(r"{(\w+)}", r"<\1>", path)

        async def wrapped(request_: Request, **kwargs: Any) -> HTTPResponse:
            if takes_body:
                cap_body(request_, body_limits)  # also what Sanic drains of a body refused before it is read
            if roles is not None:
                token = bearer_token(request_)
                session = self.auth.authenticate(token)
                # The browser adds the cookie to any site's request; only our own pages know this token.
                cookie_change = token and request_.method not in SAFE_METHODS and not _has_bearer(request_)
                if cookie_change and not self.auth.csrf_valid(str(token), request_.headers.get(CSRF_HEADER)):
                    raise Forbidden("the form's CSRF token is missing or wrong; reload the page",
                                    "表单的 CSRF 令牌缺失或无效,请刷新页面", error_id="csrf")
                if session.role not in roles:
                    raise Forbidden(
                        f"the {session.role.value} role may not do this", f"角色 {session.role.value} 无此权限"
                    )
                request_.ctx.session = session
            if takes_body:
                await read_body(request_, body_limits, json_body=request is not None and not upload, upload=upload)
            return await handler(request_, **kwargs)

        # Bodies are read by `read_body` under the route's limit (after authentication), never preloaded whole.
        # Path parameters are percent-decoded (Sanic leaves them encoded): `%2B86…` and `%23` are `+86…` and `#`.
        bp.add_route(wrapped, sanic_path, methods=[method.upper()], name=operation_id, error_format="json",
                     stream=stream or takes_body, unquote=True)


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def cap_body(request: Request, limits: BodyLimits) -> None:
    """Past `limits.max_bytes` Sanic stops reading the body and closes the connection, whether the handler
    reads the body or the request is refused first (it drains what is left of an unread body after answering)."""
    stream: Any = request.stream
    if stream is not None and hasattr(stream, "request_max_size"):
        stream.request_max_size = limits.max_bytes


async def read_body(request: Request, limits: BodyLimits, *, json_body: bool, upload: bool = False) -> None:
    """The body read under `limits.max_bytes` (413 past it, without buffering the rest); for a JSON route its
    content type checked (415) and the document decoded once under the depth and length limits (400); for an
    upload sent as a multipart form, the form parsed once (400 when it cannot be)."""
    check_declared_size(request.headers.get("content-length"), limits)
    stream: Any = request.stream
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in stream if stream is not None else _no_body():
            size += len(chunk)
            if size > limits.max_bytes:
                raise BodyTooLarge(limits.max_bytes)
            chunks.append(chunk)
    except PayloadTooLarge:
        raise BodyTooLarge(limits.max_bytes) from None
    request.body = b"".join(chunks)
    request.ctx.body_limits = limits
    if json_body and request.body:
        check_json_type(request.headers.get("content-type"))
        request.ctx.json = decode_json(request.body, limits)
    elif upload and request.body:
        parsed = parse_multipart(request.headers.get("content-type"), request.body)
        if parsed is not None:
            request.parsed_form, request.parsed_files = parsed


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    return str(cookie) if cookie else None


def _has_bearer(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("bearer ")


def session_of(request: Request) -> Session:
    session: Session = request.ctx.session
    return session


def source_of(request: Request) -> str:
    return str(request.remote_addr or request.ip or "")


def body_of(request: Request) -> Any:
    """The decoded JSON body (decoded once at the edge under the route's limits), or a 400 naming the rule."""
    if not request.body:
        return {}
    decoded = getattr(request.ctx, "json", _UNREAD)
    if decoded is not _UNREAD:
        return decoded
    return decode_json(request.body, getattr(request.ctx, "body_limits", DEFAULT_JSON))


_UNREAD = object()


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield b""


def int_arg(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise ValidationFailed([FieldError(name, "range", f"{name}: an integer from {lo} to {hi}",
                                           f"{name}: 应为 {lo} 到 {hi} 之间的整数")])
    return value


FILE_CHUNK = 64 * 1024


async def send_file(request: Request, path: Path, mime_type: str, filename: str) -> HTTPResponse:
    """A download that honours `Range` (players seek in recordings; browsers resume downloads), read and sent
    in chunks off the loop (Sanic's `file_stream`), so an hour's recording or a year's export never sits whole
    in memory."""
    stat = os.stat(path)
    handler = ContentRangeHandler(request, stat) if "range" in request.headers else None
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(handler.size if handler else stat.st_size)}
    stream = await file_stream(path, chunk_size=FILE_CHUNK, mime_type=mime_type, filename=filename,
                               headers=headers, _range=handler)
    return stream  # type: ignore[return-value]  # a ResponseStream: Sanic sends it as it is read


def ok(data: Any, status: int = 200) -> HTTPResponse:
    return json_response(data, status=status, ensure_ascii=False)
