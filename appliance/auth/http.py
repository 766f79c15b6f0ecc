"""Routes for setup, login and logout."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE, WRITE_CONFIG, Session
from appliance.auth.service import SESSION_TTL, AuthService
from appliance.configuration.service import Actor
from appliance.errors import FieldError, ValidationFailed
from appliance.http_api import (
    LANG_COOKIE,
    SESSION_COOKIE,
    Api,
    bearer_token,
    body_of,
    ok,
    session_of,
    source_of,
)


def signed_in(request: Request, token: str, session: Session, **extra: bool) -> HTTPResponse:
    """A new session: its bearer token in the body (API clients), and in a cookie for the browser."""
    response = ok({**extra, "token": token, "user": session.user, "role": session.role.value,
                   "expires": session.expires})
    response.add_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", max_age=int(SESSION_TTL),
                        secure=request.scheme == "https")
    return response


def make_blueprint(api: Api, auth: AuthService) -> Blueprint:
    bp = Blueprint("auth", url_prefix="")

    async def setup_status(request: Request) -> HTTPResponse:
        return ok({"setup_required": auth.setup_required})

    async def setup(request: Request) -> HTTPResponse:
        body = body_of(request)
        body = body if isinstance(body, dict) else {}
        token, session = await auth.complete_setup(str(body.get("token", "")), body.get("password"),
                                                   source_of(request))
        return signed_in(request, token, session, setup_required=False)

    async def login(request: Request) -> HTTPResponse:
        body = body_of(request)
        body = body if isinstance(body, dict) else {}
        token, session = await auth.login(str(body.get("name", "")), str(body.get("password", "")),
                                          source_of(request))
        return signed_in(request, token, session)

    async def logout(request: Request) -> HTTPResponse:
        token = bearer_token(request)
        if token:
            auth.logout(token)
        response = HTTPResponse(status=204)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def me(request: Request) -> HTTPResponse:
        s = session_of(request)
        return ok({"user": s.user, "role": s.role.value, "staff": s.staff, "expires": s.expires})

    async def set_language(request: Request) -> HTTPResponse:
        s = session_of(request)
        body = body_of(request)
        language = body.get("language") if isinstance(body, dict) else None
        await auth.config.set_language(s.user, language, Actor(s.user, source_of(request)))
        response = ok({"language": language})
        response.add_cookie(LANG_COOKIE, str(language), httponly=True, samesite="Lax", max_age=365 * 24 * 3600,
                            secure=request.scheme == "https")
        return response

    cred = {"type": "object", "required": ["name", "password"],
            "properties": {"name": {"type": "string"}, "password": {"type": "string"}}}
    setup_fields: dict[str, object] = {"setup_required": {"type": "boolean"}}
    session_fields: dict[str, object] = {"token": {"type": "string"}, "user": {"type": "string"},
                                         "role": {"type": "string"}, "expires": {"type": "number"}}
    status = {"type": "object", "properties": setup_fields}
    session = {"type": "object", "properties": session_fields}
    api.route(bp, "GET", "/api/v1/setup", setup_status, summary="Whether the admin password still has to be set",
              tag="auth", operation_id="setup_status", roles=None, response=status)
    signed_up = {"type": "object", "properties": {**setup_fields, **session_fields}}
    api.route(bp, "POST", "/api/v1/setup", setup,
              summary="Set the admin password with the one-time setup token printed at first start; "
                      "signs the admin in (a bearer token, and a cookie)",
              tag="auth", operation_id="complete_setup", roles=None,
              request={"type": "object", "required": ["token", "password"],
                       "properties": {"token": {"type": "string"}, "password": {"type": "string", "minLength": 8}}},
              response=signed_up, errors=(400, 401, 403, 422, 429))
    api.route(bp, "POST", "/api/v1/login", login, summary="Log in; returns a bearer token and sets a cookie",
              tag="auth", operation_id="login", roles=None, request=cred, response=session,
              errors=(400, 401, 403, 429))
    api.route(bp, "POST", "/api/v1/logout", logout, summary="Log out", tag="auth", operation_id="logout",
              roles=None, response_status=204)
    api.route(bp, "PUT", "/api/v1/me/language", set_language,
              summary="The signed-in user's language for the web UI (remembered on the account)", tag="auth",
              operation_id="set_my_language", roles=ANY_ROLE,
              request={"type": "object", "required": ["language"],
                       "properties": {"language": {"type": "string", "enum": ["zh_CN", "en"]}}},
              response={"type": "object"}, errors=(401, 403, 422))
    _lockout_routes(api, bp, auth)
    api.route(bp, "GET", "/api/v1/me", me, summary="Who is logged in", tag="auth", operation_id="me",
              roles=ANY_ROLE, response={"type": "object"}, errors=(401, 403))
    return bp


def _lockout_routes(api: Api, bp: Blueprint, auth: AuthService) -> None:
    """The admin's view of sign-in blocks (list, lift) and of the thresholds behind them."""

    async def list_blocks(request: Request) -> HTTPResponse:
        return ok({"items": auth.blocks()})

    async def lift(request: Request) -> HTTPResponse:
        body = body_of(request)
        body = body if isinstance(body, dict) else {}
        source, account = body.get("source"), body.get("account")
        problems = []
        if not isinstance(source, str) or not 0 < len(source) <= 64:
            problems.append(FieldError("source", "required", "source: the blocked address", "source: 被封锁的地址"))
        if account is not None and (not isinstance(account, str) or len(account) > 64):
            problems.append(FieldError("account", "type", "account: an account name (at most 64 characters)",
                                       "account: 账号名(最多 64 个字符)"))
        if problems:
            raise ValidationFailed(problems, "lift")
        s = session_of(request)
        lifted = auth.lift(str(source), account, Actor(s.user, source_of(request)))
        return ok({"lifted": lifted})

    async def get_policy(request: Request) -> HTTPResponse:
        return ok(auth.policy.to_dict())

    async def set_policy(request: Request) -> HTTPResponse:
        s = session_of(request)
        policy = await auth.set_policy(body_of(request), Actor(s.user, source_of(request)))
        return ok(policy.to_dict())

    block = {"type": "object", "required": ["source", "account", "scope", "until", "seconds_left", "failures"],
             "properties": {"source": {"type": "string"}, "account": {"type": "string"},
                            "scope": {"type": "string", "enum": ["pair", "source"]}, "until": {"type": "number"},
                            "seconds_left": {"type": "integer"}, "failures": {"type": "integer"}}}
    numbers = {name: {"type": "number"} for name in auth.policy.to_dict()}
    policy = {"type": "object", "required": sorted(numbers), "properties": numbers}
    api.route(bp, "GET", "/api/v1/security/login-blocks", list_blocks,
              summary="Web sign-in blocks in force: a source against one account, or a whole source",
              tag="security", operation_id="list_login_blocks", roles=WRITE_CONFIG,
              response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array",
                                                                                          "items": block}}})
    api.route(bp, "POST", "/api/v1/security/login-blocks/lift", lift,
              summary="Lift a source's sign-in blocks (only the one against `account` when given); audited",
              tag="security", operation_id="lift_login_blocks", roles=WRITE_CONFIG,
              request={"type": "object", "required": ["source"],
                       "properties": {"source": {"type": "string", "minLength": 1, "maxLength": 64},
                                      "account": {"type": "string", "maxLength": 64}}},
              response={"type": "object", "required": ["lifted"], "properties": {"lifted": {"type": "integer"}}},
              errors=(422,))
    api.route(bp, "GET", "/api/v1/security/login-policy", get_policy,
              summary="The sign-in lockout thresholds", tag="security", operation_id="get_login_policy",
              roles=WRITE_CONFIG, response=policy)
    api.route(bp, "PATCH", "/api/v1/security/login-policy", set_policy,
              summary="Change some sign-in lockout thresholds (each checked against its range); audited",
              tag="security", operation_id="set_login_policy", roles=WRITE_CONFIG,
              request={"type": "object", "properties": numbers}, response=policy, errors=(422,))
