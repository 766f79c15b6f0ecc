"""Set-up, sign-in, sign-out, the language switch and the home page each role lands on."""

from __future__ import annotations

from urllib.parse import urlsplit

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect

from appliance.http_api import SESSION_COOKIE
from web_ui.i18n import LANG_COOKIE, LANGUAGES
from web_ui.pages.context import PageRedirect, WebUi, render, viewer_of

YEAR = 365 * 24 * 3600


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this box: a `next` pointing elsewhere would make the sign-in page an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("session_pages", url_prefix="")

    async def home(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request)
        if viewer.can_read_config:
            counts = ui.config.store.count()
            return render(ui, request, "home.html", viewer=viewer, counts=counts)
        return render(ui, request, "account.html", viewer=viewer)

    async def setup_page(request: Request) -> HTTPResponse:
        if not ui.auth.setup_required:
            raise PageRedirect("/login")
        return render(ui, request, "setup.html")

    async def login_page(request: Request) -> HTTPResponse:
        if ui.auth.setup_required:
            raise PageRedirect("/setup")
        return render(ui, request, "login.html", next=safe_next(request.args.get("next")))

    async def logout(request: Request) -> HTTPResponse:
        token = request.cookies.get(SESSION_COOKIE)
        presented = request.form.get("csrf") if request.form else None
        if token and ui.auth.csrf_valid(str(token), str(presented or "")):
            ui.auth.logout(str(token))
        elif token:
            return render(ui, request, "error.html", status=403, message_id="csrf")
        response = redirect("/login", status=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def language(request: Request) -> HTTPResponse:
        # A preference in a cookie changes nothing on the box, so a plain link (GET) may set it.
        lang = request.args.get("language", "")
        response = redirect(safe_next(request.args.get("next")), status=303)
        if lang in LANGUAGES:
            response.add_cookie(LANG_COOKIE, lang, max_age=YEAR, samesite="Lax", httponly=True,
                                secure=request.scheme == "https")
        return response

    bp.add_route(home, "/", methods=["GET"], name="home")
    bp.add_route(setup_page, "/setup", methods=["GET"], name="setup_page")
    bp.add_route(login_page, "/login", methods=["GET"], name="login_page")
    bp.add_route(logout, "/logout", methods=["POST"], name="logout_page")
    bp.add_route(language, "/lang", methods=["GET"], name="language")
    return bp
