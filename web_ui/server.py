"""The Sanic application: every bounded context's routes, JSON errors, health and the OpenAPI document.

Built by the composition root (`appliance.app`) with the services passed in; it holds no state of its own.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import MethodNotAllowed, NotFound, SanicException
from sanic.response import BaseHTTPResponse, HTTPResponse

from appliance import __version__, process_memory, public_events
from appliance.domain.models import Role
from appliance.errors import ApplianceError
from appliance.health import Health, Status
from appliance.http_api import Api, ok
from web_ui.openapi import build_document

log = logging.getLogger(__name__)


HealthProbe = Callable[[], Iterable[Health]]


def build_http_app(api: Api, blueprints: Iterable[Blueprint], health: HealthProbe, started_at: Callable[[], float],
                   now: Callable[[], float],
                   html_error: Callable[[Request, Exception], HTTPResponse | None] | None = None) -> Sanic[Any, Any]:
    """The app with every API route; `html_error` lets the pages answer errors on page addresses in HTML."""
    # Sanic keeps a registry of apps by name; a unique name lets tests build several side by side.
    app = Sanic(f"appliance_{secrets.token_hex(4)}", configure_logging=False)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = 64 * 1024 * 1024  # prompt and backup uploads
    app.config.KEEP_ALIVE_TIMEOUT = 30
    # Sanic's "touch-up" rewrites its HTTP classes' source at start-up, process-wide, and a second app started
    # in the same process fails on the already rewritten methods; what it saves is a few signal look-ups per
    # request, nothing next to a call's work.
    app.config.TOUCHUP = False
    for bp in blueprints:
        app.blueprint(bp)

    async def health_route(request: Request) -> HTTPResponse:
        services = list(health())
        overall = "ok" if all(s.status == Status.OK for s in services) else "degraded"
        return ok({
            "status": overall,
            "version": __version__,
            "uptime_s": round(now() - started_at(), 3),
            "services": {s.name: s.to_dict() for s in services},
            "process": process_memory.figures(),
        })

    async def reclaim_route(request: Request) -> HTTPResponse:
        before = process_memory.figures()
        found = process_memory.reclaim()
        return ok({"before": before, "after": process_memory.figures(), **found})

    async def openapi_route(request: Request) -> HTTPResponse:
        return ok(build_document(api))

    meta = Blueprint("meta", url_prefix="")
    figures = {"type": "object", "properties": {"rss_mb": {"type": "number"}, "open_files": {"type": "integer"},
                                                "heap_blocks": {"type": "integer"}, "sqlite_mb": {"type": "number"}}}
    api.route(meta, "GET", "/api/v1/health", health_route, summary="Health: version, uptime, per-service status",
              tag="meta", operation_id="health", roles=None,
              response={"type": "object", "required": ["status", "version", "uptime_s", "services"],
                        "properties": {"status": {"type": "string"}, "version": {"type": "string"},
                                       "uptime_s": {"type": "number"}, "services": {"type": "object"},
                                       "process": figures}})
    api.route(meta, "POST", "/api/v1/diagnostics/memory/reclaim", reclaim_route,
              summary="Full garbage collection and free heap pages returned to the system; figures before and after",
              tag="meta", operation_id="reclaimMemory", roles=frozenset({Role.ADMIN}),
              response={"type": "object", "required": ["before", "after", "unreachable_objects", "trimmed"],
                        "properties": {"before": figures, "after": figures,
                                       "unreachable_objects": {"type": "integer"}, "trimmed": {"type": "boolean"}}})
    api.route(meta, "GET", "/api/v1/openapi.json", openapi_route, summary="This API's OpenAPI document",
              tag="meta", operation_id="openapi", roles=None, response={"type": "object"})

    async def event_schemas_route(request: Request) -> HTTPResponse:
        return ok(public_events.schemas())

    api.route(meta, "GET", "/api/v1/events/schemas", event_schemas_route,
              summary="The public event contract: its version and a JSON Schema per topic of the event stream",
              tag="meta", operation_id="eventSchemas", roles=None,
              response={"type": "object", "required": ["version", "events"],
                        "properties": {"version": {"type": "string"}, "events": {"type": "object"}}})
    app.blueprint(meta)

    @app.exception(ApplianceError)
    async def appliance_error(request: Request, exc: ApplianceError) -> HTTPResponse:
        page = html_error(request, exc) if html_error else None
        return page or ok(exc.to_dict(), status=exc.http_status)

    @app.exception(NotFound, MethodNotAllowed)
    async def routing_error(request: Request, exc: SanicException) -> HTTPResponse:
        page = html_error(request, exc) if html_error else None
        if page is not None:
            return page
        status = int(getattr(exc, "status_code", 404))
        error_id = "not_found" if status == 404 else "method_not_allowed"
        return ok({"error_id": error_id, "message": str(exc), "message_zh": "未找到" if status == 404 else "方法不允许",
                   "details": {"path": request.path}}, status=status)

    @app.exception(SanicException)
    async def sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
        status = int(getattr(exc, "status_code", 400))
        return ok({"error_id": "bad_request", "message": str(exc), "message_zh": "请求无效", "details": {}},
                  status=status)

    @app.exception(Exception)
    async def internal_error(request: Request, exc: Exception) -> HTTPResponse:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return ok({"error_id": "internal", "message": "internal error; see the appliance log",
                   "message_zh": "内部错误,请查看日志", "details": {}}, status=500)

    async def security_headers(request: Request, response: BaseHTTPResponse) -> HTTPResponse | None:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return None

    app.register_middleware(security_headers, "response")

    return app


