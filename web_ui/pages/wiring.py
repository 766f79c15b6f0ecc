"""Adds the pages, the static assets and the Content-Security-Policy to the API's Sanic app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import NotFound as SanicNotFound
from sanic.response import BaseHTTPResponse, HTTPResponse, redirect

from appliance.errors import ApplianceError
from web_ui.assets import static_blueprint
from web_ui.pages import (
    backup_pages,
    bulk_pages,
    console,
    current_calls_pages,
    customer_pages,
    desk_pages,
    export_pages,
    firmware_pages,
    hardware_pages,
    ivr_pages,
    monitoring_pages,
    network_pages,
    phone_pages,
    prompt_pages,
    record_pages,
    report_pages,
    session_pages,
    setup_pages,
    supervisor_pages,
    system_pages,
    wallboard_pages,
)
from web_ui.pages.context import PageForbidden, PageRedirect, WebUi, add_security_headers, render, to_redirect

log = logging.getLogger(__name__)


def add_pages(app: Sanic[Any, Any], ui: WebUi) -> None:
    app.blueprint(static_blueprint(ui.assets))
    app.blueprint(session_pages.make_blueprint(ui))
    app.blueprint(ivr_pages.make_blueprint(ui))
    app.blueprint(console.make_blueprint(ui))
    app.blueprint(system_pages.make_blueprint(ui))
    app.blueprint(bulk_pages.make_blueprint(ui))
    app.blueprint(prompt_pages.make_blueprint(ui))
    app.blueprint(backup_pages.make_blueprint(ui))
    app.blueprint(firmware_pages.make_blueprint(ui))
    app.blueprint(setup_pages.make_blueprint(ui))
    app.blueprint(network_pages.make_blueprint(ui))
    app.blueprint(phone_pages.make_blueprint(ui))
    app.blueprint(hardware_pages.make_blueprint(ui))
    app.blueprint(monitoring_pages.make_blueprint(ui))
    app.blueprint(wallboard_pages.make_blueprint(ui))
    app.blueprint(current_calls_pages.make_blueprint(ui))
    app.blueprint(supervisor_pages.make_blueprint(ui))
    app.blueprint(export_pages.make_blueprint(ui))  # before /reports/{kind}
    app.blueprint(report_pages.make_blueprint(ui))
    app.blueprint(record_pages.make_blueprint(ui))
    app.blueprint(desk_pages.make_blueprint(ui))
    app.blueprint(customer_pages.make_blueprint(ui))

    @app.exception(PageRedirect)
    async def page_redirect(request: Request, exc: PageRedirect) -> HTTPResponse:
        return to_redirect(exc)

    @app.exception(PageForbidden)
    async def page_forbidden(request: Request, exc: PageForbidden) -> HTTPResponse:
        return render(ui, request, "error.html", status=403, message_id="forbidden")

    async def html_errors(request: Request, response: BaseHTTPResponse) -> HTTPResponse | None:
        add_security_headers(request, response)  # type: ignore[arg-type]
        return None

    app.register_middleware(html_errors, "response")


def page_error(ui: WebUi, request: Request, exc: Exception) -> HTTPResponse | None:
    """An HTML error page for a page address (the API keeps its JSON errors)."""
    if request.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return None
    if isinstance(exc, SanicNotFound) or (isinstance(exc, ApplianceError) and exc.http_status == 404):
        return render(ui, request, "error.html", status=404, message_id="not_found")
    return None


def add_https_redirect(app: Sanic[Any, Any], https_port: Callable[[], int]) -> None:
    """Plain HTTP answers with a redirect to the same address over HTTPS (the image turns this on).

    The health check stays on HTTP: a load balancer or the update's health probe reads it without TLS."""

    async def redirect_to_https(request: Request) -> HTTPResponse | None:
        if request.scheme != "http" or request.path == "/api/v1/health":
            return None
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        query = f"?{request.query_string}" if request.query_string else ""
        return redirect(f"https://{host}:{https_port()}{request.path}{query}", status=308)

    app.register_middleware(redirect_to_https, "request")
