"""Call-control routes: active calls, agent actions, queue status, CDRs, queue and agent logs, recordings,
(the live event stream is `http_stream`).

Who may do what:
- admin: everything, on every agent and call; a supervisor the same within their data scope (the agents of
  the groups they manage and the queues they manage, `appliance.calls.scope`): others' agents, calls and
  queues are not listed and acting on them answers 403;
- qa: read everything (calls, agents, queues, records, recordings, events), act on nothing;
- agent: act on themselves only (the login's `staff` link names the agent) and see only their own calls,
  CDRs, agent log, recordings and events; a login without a staff link sees nothing agent-specific.

Without telephony (`create_appliance(telephony=False)`) the routes that need call control answer 503
`telephony_off`; the records routes and the event stream keep working from the record store and the bus, so
the OpenAPI document is the same either way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE, READ_CONFIG, Session
from appliance.calls.dialplan import may_dial
from appliance.calls.scope import check_agent_in_scope, check_call_in_scope, scope_of_session, sees_call
from appliance.calls.views import call_detail, call_summary
from appliance.calls.wallboard import BoardScope
from appliance.domain.models import DialClass, Role
from appliance.errors import FieldError, Forbidden, NotFound, TelephonyOff, ValidationFailed
from appliance.http_api import (
    Api,
    Param,
    body_of,
    int_arg,
    ok,
    page_schema,
    send_file,
    session_of,
)
from appliance.records.sqlite_store import RecordStore

if TYPE_CHECKING:  # telephony is imported only when the box runs it (its import is slow)
    from appliance.calls.controller import CallController
    from appliance.calls.models import Call
    from appliance.calls.service import CallService

log = logging.getLogger(__name__)

SUPERVISING = frozenset({Role.ADMIN, Role.SUPERVISOR})
ACTING = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})
FORCE_STATES = ("idle", "busy", "logged_out")
DIRECTIONS = ("inbound", "outbound", "internal")
_DIGITS = re.compile(r"^[0-9]{1,20}$")


def _invalid(name: str, rule: str, message: str, message_zh: str) -> ValidationFailed:
    return ValidationFailed([FieldError(name, rule, f"{name}: {message}", f"{name}: {message_zh}")])


def _float_arg(request: Request, name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise _invalid(name, "number", "seconds since the epoch, a number", "应为以秒计的时间戳数字") from None


def _bool_arg(request: Request, name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    value = raw.lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise _invalid(name, "boolean", "true or false", "应为 true 或 false")


def _choice_arg(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise _invalid(name, "enum", f"one of {', '.join(allowed)}", f"应为 {', '.join(allowed)} 之一")
    return str(raw)


def _body_dict(request: Request) -> dict[str, Any]:
    body = body_of(request)
    if not isinstance(body, dict):
        raise _invalid("body", "type", "a JSON object", "应为 JSON 对象")
    return body


def _str_field(body: dict[str, Any], name: str, max_length: int = 64) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise _invalid(name, "type", f"a string of at most {max_length} characters", f"应为不超过 {max_length} 个字符的字符串")
    return value


def _page(page: Any) -> dict[str, Any]:
    return {"items": list(page.items), "total": page.total, "offset": page.offset, "limit": page.limit}


def own_agent(session: Session) -> str:
    """The agent an agent-role login acts as; refused when the login is not linked to a staff member."""
    if not session.staff:
        raise Forbidden("this login is not linked to an agent (staff number)", "该账号未关联座席工号")
    return session.staff


def _check_may_act(session: Session, agent_id: str) -> None:
    if session.role == Role.AGENT and own_agent(session) != agent_id:
        raise Forbidden("agents may act only on themselves", "座席只能操作自己")


def _call_agents(call: Call) -> set[str]:
    agents = {leg.agent_id for leg in call.legs.values() if leg.agent_id}
    if call.agent:
        agents.add(call.agent)
    return agents


def _cdr_agents(cdr: dict[str, Any]) -> set[str]:
    agents = {str(leg["agent"]) for leg in cdr.get("legs", ()) if isinstance(leg, dict) and leg.get("agent")}
    if cdr.get("agent"):
        agents.add(str(cdr["agent"]))
    return agents


def make_blueprint(api: Api, service: CallService | None, records: RecordStore,
                   recordings_dir: Path) -> Blueprint:
    """`service` is None when the box runs without telephony."""
    bp = Blueprint("calls", url_prefix="")

    def controller() -> CallController:
        if service is None:
            raise TelephonyOff()
        return service.controller

    def agent_view(agent_id: str) -> dict[str, Any]:
        for view in controller().agent_views():
            if view["agent"] == agent_id:
                return view
        raise NotFound("agent", agent_id)

    def pause_reason(body: dict[str, Any], name: str = "reason") -> str:
        assert service is not None
        codes = [str(r.code) for r in service.store.list("pause_reasons")]
        reason = _str_field(body, name)
        if reason is None:
            if not codes:
                raise _invalid(name, "required", "no pause reasons are configured", "未配置置忙原因")
            return codes[0]
        if reason not in codes:
            raise _invalid(name, "enum", f"a configured pause reason code: {', '.join(codes)}",
                           f"应为已配置的置忙原因代码: {', '.join(codes)}")
        return reason

    def scope_of(session: Session) -> BoardScope:
        """A supervisor's data scope (everyone for the other roles: agents are held to themselves apart)."""
        if session.role != Role.SUPERVISOR or service is None:
            return BoardScope(None, None)
        return scope_of_session(session, service.store.list("staff"))

    # ---------------------------------------------------------------- calls

    def visible_call(request: Request, call_id: str) -> Call:
        call = controller().call(call_id)
        if call is None:
            raise NotFound("call", call_id)
        session = session_of(request)
        if session.role == Role.AGENT and own_agent(session) not in _call_agents(call):
            raise Forbidden("agents may see only their own calls", "座席只能查看自己的通话")
        check_call_in_scope(scope_of(session), call_id, _call_agents(call), call.queue)
        return call

    async def list_calls(request: Request) -> HTTPResponse:
        session = session_of(request)
        calls = sorted(controller().active_calls, key=lambda c: (c.started_at, c.id))
        if session.role == Role.AGENT:
            me = own_agent(session)
            calls = [c for c in calls if me in _call_agents(c)]
        scope = scope_of(session)
        calls = [c for c in calls if sees_call(scope, _call_agents(c), c.queue)]
        items = [call_summary(c) for c in calls]
        # `at`: the box's clock, so a page counts durations from `started_at` whatever its own clock says
        return ok({"items": items, "total": len(items), "offset": 0, "limit": len(items),
                   "at": round(controller().clock.wall(), 3)})

    async def get_call(request: Request, call_id: str) -> HTTPResponse:
        return ok(call_detail(visible_call(request, call_id)))

    async def hangup(request: Request, call_id: str) -> HTTPResponse:
        visible_call(request, call_id)
        controller().hangup(call_id)
        return ok({"call_id": call_id, "accepted": True}, status=202)

    def call_action(act: Callable[[CallController, str, dict[str, Any], Session], Any]) -> Callable[..., Any]:
        async def handler(request: Request, call_id: str) -> HTTPResponse:
            visible_call(request, call_id)
            result = act(controller(), call_id, _body_dict(request), session_of(request))
            return ok({"call_id": call_id, "accepted": True, **(result or {})}, status=202)

        return handler

    def target_of(body: dict[str, Any]) -> str:
        target = _str_field(body, "target")
        if not target:
            raise _invalid("target", "required", "a queue, agent, extension, flow, access number or number",
                           "应为队列、座席、分机、流程、接入号或号码")
        return target

    def extension_of(body: dict[str, Any], session: Session) -> str:
        extension = _str_field(body, "extension")
        if extension is None and session.staff:
            staff = service.store.find("staff", session.staff) if service is not None else None
            extension = staff.extension if staff is not None else None
        if not extension:
            raise _invalid("extension", "required", "the extension to ring", "应填写要呼叫的分机")
        return extension

    def do_hold(ctl: CallController, call_id: str, body: dict[str, Any], s: Session) -> None:
        on = body.get("on", True)
        if not isinstance(on, bool):
            raise _invalid("on", "type", "true or false", "应为 true 或 false")
        ctl.hold(call_id, on)

    def do_consult(ctl: CallController, call_id: str, body: dict[str, Any], s: Session) -> None:
        step = body.get("step", "start")
        if step == "start":
            ctl.consult(call_id, target_of(body))
        elif step == "return":
            ctl.consult_return(call_id)
        elif step == "complete":
            ctl.consult_complete(call_id)
        else:
            raise _invalid("step", "enum", "start, return or complete", "应为 start、return 或 complete")

    def do_monitor(ctl: CallController, call_id: str, body: dict[str, Any], s: Session) -> dict[str, Any]:
        mode = body.get("mode", "listen")
        if mode not in ("listen", "whisper", "barge", "take_over"):
            raise _invalid("mode", "enum", "listen, whisper, barge or take_over", "应为 listen、whisper、barge 或 take_over")
        return {"monitor_call_id": ctl.monitor(call_id, extension_of(body, s), str(mode))}

    async def originate(request: Request) -> HTTPResponse:
        body = _body_dict(request)
        session = session_of(request)
        number = _str_field(body, "number")
        if not number:
            raise _invalid("number", "required", "the number to call", "应填写要拨打的号码")
        extension = extension_of(body, session)
        check_dial_class(extension, number)
        return ok({"call_id": controller().originate(extension, number)}, status=202)

    def check_dial_class(extension: str, number: str) -> None:
        """Click-to-dial obeys the dial class (拨号权限) as dialling from the phone does: the wider of the
        extension's and its staff member's."""
        assert service is not None
        store = service.store
        ext = store.find("extensions", extension)
        person = next((s for s in store.list("staff") if s.extension == extension), None)
        allowed = max((x.dial_class for x in (ext, person) if x is not None),
                      key=lambda c: list(DialClass).index(c), default=DialClass.INTERNAL)
        decision = may_dial(allowed, number, {e.number for e in store.list("extensions")})
        if not decision.allowed:
            raise Forbidden(f"{number}: a {decision.number_class.value} number needs the dial class "
                            f"{decision.required.value}; this phone has {allowed.value}",
                            f"{number}: 该号码需要拨号权限 {decision.required.value}, 本话机为 {allowed.value}")

    # ---------------------------------------------------------------- agents

    async def list_agents(request: Request) -> HTTPResponse:
        session = session_of(request)
        views = controller().agent_views()
        if session.role == Role.AGENT:
            me = own_agent(session)
            views = [v for v in views if v["agent"] == me]
        scope = scope_of(session)
        views = [v for v in views if scope.sees_agent(str(v["agent"]))]
        return ok({"items": views, "total": len(views), "offset": 0, "limit": len(views)})

    def agent_action(action: Callable[[Request, str], None]) -> Callable[..., Any]:
        async def handler(request: Request, agent_id: str) -> HTTPResponse:
            ctl = controller()
            _check_may_act(session_of(request), agent_id)
            check_agent_in_scope(scope_of(session_of(request)), agent_id)
            if agent_id not in ctl.acd.agent_ids():
                raise NotFound("agent", agent_id)
            action(request, agent_id)
            return ok(agent_view(agent_id))

        return handler

    def do_login(request: Request, agent_id: str) -> None:
        extension = _str_field(_body_dict(request), "extension", 20)
        if extension is not None and not _DIGITS.match(extension):
            raise _invalid("extension", "pattern", "an extension number (digits)", "应为分机号码(数字)")
        controller().agent_login(agent_id, extension)

    def do_logout(request: Request, agent_id: str) -> None:
        controller().agent_logout(agent_id)

    def do_pause(request: Request, agent_id: str) -> None:
        controller().agent_pause(agent_id, pause_reason(_body_dict(request)))

    def do_unpause(request: Request, agent_id: str) -> None:
        controller().agent_unpause(agent_id)

    def do_wrap_up_done(request: Request, agent_id: str) -> None:
        controller().agent_end_wrap_up(agent_id)

    def do_force(request: Request, agent_id: str) -> None:
        body = _body_dict(request)
        state = body.get("state")
        if state not in FORCE_STATES:
            raise _invalid("state", "enum", f"one of {', '.join(FORCE_STATES)}", f"应为 {', '.join(FORCE_STATES)} 之一")
        reason = pause_reason(body) if state == "busy" else ""  # only a forced pause has a reason
        controller().force_agent(agent_id, str(state), session_of(request).user, reason)

    # ---------------------------------------------------------------- queues

    async def queue_status(request: Request) -> HTTPResponse:
        scope = scope_of(session_of(request))
        views = [v for v in controller().queue_views() if scope.sees_queue(str(v["queue"]))]
        return ok({"items": views, "total": len(views), "offset": 0, "limit": len(views)})

    # ---------------------------------------------------------------- records

    def paging(request: Request) -> tuple[int, int]:
        return int_arg(request, "offset", 0, 0, 10**9), int_arg(request, "limit", 50, 1, 1000)

    def exact(request: Request, names: tuple[str, ...]) -> dict[str, str]:
        out = {}
        for name in names:
            value = request.args.get(name)
            if value is not None and value != "":
                if len(value) > 128:
                    raise _invalid(name, "maxLength", "at most 128 characters", "不超过 128 个字符")
                out[name] = str(value)
        return out

    def restrict_agent(request: Request, where: dict[str, str]) -> None:
        """Agents read only their own records: the agent filter is theirs whatever they asked for."""
        session = session_of(request)
        if session.role != Role.AGENT:
            return
        me = own_agent(session)
        if where.get("agent", me) != me:
            raise Forbidden("agents may read only their own records", "座席只能查看自己的记录")
        where["agent"] = me

    async def list_cdrs(request: Request) -> HTTPResponse:
        offset, limit = paging(request)
        where = exact(request, ("caller", "callee", "did", "queue", "agent", "disposition"))
        direction = _choice_arg(request, "direction", DIRECTIONS)
        if direction is not None:
            where["direction"] = direction
        restrict_agent(request, where)
        page = records.cdrs(where=where, since=_float_arg(request, "since"), until=_float_arg(request, "until"),
                            missed=_bool_arg(request, "missed"), intended=_bool_arg(request, "intended"),
                            offset=offset, limit=limit)
        return ok(_page(page))

    def cdr_of(request: Request, call_id: str) -> dict[str, Any]:
        page = records.cdrs(where={"call_id": call_id}, limit=1)
        if not page.items:
            raise NotFound("call record", call_id)
        cdr: dict[str, Any] = page.items[0]
        session = session_of(request)
        if session.role == Role.AGENT and own_agent(session) not in _cdr_agents(cdr):
            raise Forbidden("agents may read only their own calls", "座席只能查看自己的通话记录")
        return cdr

    async def get_cdr(request: Request, call_id: str) -> HTTPResponse:
        return ok(cdr_of(request, call_id))

    async def queue_log(request: Request) -> HTTPResponse:
        offset, limit = paging(request)
        page = records.rows("queue_log", where=exact(request, ("queue", "call_id", "event", "agent")),
                            since=_float_arg(request, "since"), until=_float_arg(request, "until"),
                            offset=offset, limit=limit)
        return ok(_page(page))

    async def agent_log(request: Request) -> HTTPResponse:
        offset, limit = paging(request)
        where = exact(request, ("agent", "state_from", "state_to", "reason"))
        restrict_agent(request, where)
        page = records.rows("agent_log", where=where, since=_float_arg(request, "since"),
                            until=_float_arg(request, "until"), offset=offset, limit=limit)
        return ok(_page(page))

    async def recording(request: Request, call_id: str) -> HTTPResponse:
        cdr = cdr_of(request, call_id)
        stored = str(cdr.get("recording") or "")
        if not stored:
            raise NotFound("recording", call_id)
        path = recording_file(recordings_dir, stored)
        if path is None:
            raise NotFound("recording", call_id)
        return await send_file(request, path, "audio/wav", f"{call_id}.wav")

    # ---------------------------------------------------------------- routes

    paging_params = (Param("offset", schema={"type": "integer", "minimum": 0}),
                     Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}))
    time_params = (Param("since", schema={"type": "number"}, description="from this time (epoch seconds)"),
                   Param("until", schema={"type": "number"}, description="before this time (epoch seconds)"))
    leg = {"type": "object", "properties": {
        "leg": {"type": "string"}, "role": {"type": "string"}, "party": {"type": "string"},
        "agent": {"type": ["string", "null"]}, "created": {"type": "number"},
        "answered": {"type": ["number", "null"]}, "ended": {"type": ["number", "null"]}, "cause": {"type": "string"},
        "remote_answer": {"type": "boolean", "description": "its phone rings and may be answered from here "
                          "(POST /api/v1/calls/{call_id}/answer)"}}}
    call = {"type": "object", "required": ["id", "direction", "caller", "callee", "phase", "started_at"],
            "properties": {
                "id": {"type": "string"}, "direction": {"type": "string", "enum": list(DIRECTIONS)},
                "caller": {"type": "string"}, "caller_name": {"type": "string"}, "callee": {"type": "string"},
                "did": {"type": "string"}, "trunk": {"type": "string"}, "extension": {"type": "string"},
                "phase": {"type": "string"}, "queue": {"type": "string"}, "queued_at": {"type": ["number", "null"]},
                "vip": {"type": "boolean"}, "agent": {"type": "string"}, "started_at": {"type": "number"},
                "answered_at": {"type": ["number", "null"]}, "agent_answered_at": {"type": ["number", "null"]},
                "on_hold": {"type": "boolean"}, "recording": {"type": "boolean"},
                "legs": {"type": "array", "items": leg}}}
    api.components["ActiveCall"] = call
    call_ref = {"$ref": "#/components/schemas/ActiveCall"}
    agent = {"type": "object", "properties": {
        "agent": {"type": "string"}, "state": {"type": "string", "enum": [
            "logged_out", "idle", "ringing", "on_call", "wrap_up", "paused", "disconnected"]},
        "reason": {"type": "string"}, "since": {"type": "number"}, "answered": {"type": "integer"},
        "misses": {"type": "integer"}, "extension": {"type": ["string", "null"]},
        "call": {"type": ["string", "null"]}}}
    api.components["AgentStatus"] = agent
    agent_ref = {"$ref": "#/components/schemas/AgentStatus"}
    queue = {"type": "object", "properties": {
        "queue": {"type": "string"}, "name": {"type": "string"}, "waiting": {"type": "integer"},
        "logged_in": {"type": "integer"}, "idle": {"type": "integer"}, "longest_wait": {"type": "number"}}}
    cdr = {"type": "object", "required": ["call_id", "started"], "properties": {
        "call_id": {"type": "string"}, "direction": {"type": "string"}, "caller": {"type": "string"},
        "callee": {"type": "string"}, "did": {"type": "string"}, "started": {"type": "number"},
        "answered": {"type": ["number", "null"]}, "ended": {"type": ["number", "null"]},
        "queue": {"type": "string"}, "wait": {"type": ["number", "null"]}, "agent": {"type": "string"},
        "talk": {"type": ["number", "null"]}, "disposition": {"type": "string"},
        "missed": {"type": "array", "items": {"type": "string"}}, "recording": {"type": "string"},
        "legs": {"type": "array", "items": {"type": "object"}}}}
    api.components["CallRecord"] = cdr
    cdr_ref = {"$ref": "#/components/schemas/CallRecord"}
    log_row = {"type": "object", "properties": {"id": {"type": "integer"}, "at": {"type": "number"},
                                                "data": {"type": "object"}}, "additionalProperties": True}
    off = 503

    calls_page = page_schema(call_ref)
    calls_page["properties"]["at"] = {"type": "number", "description": "the box's time now (epoch seconds)"}
    api.route(bp, "GET", "/api/v1/calls", list_calls, summary="Active calls (当前通话); agents see their own",
              tag="calls", operation_id="list_calls", roles=ANY_ROLE, response=calls_page,
              errors=(401, 403, off))
    api.route(bp, "GET", "/api/v1/calls/{call_id}", get_call,
              summary="One active call with its legs, IVR path, variables and timeline", tag="calls",
              operation_id="get_call", roles=ANY_ROLE, response=call_ref, errors=(401, 403, 404, off))
    api.route(bp, "POST", "/api/v1/calls/{call_id}/hangup", hangup, summary="Hang up a call (挂断)", tag="calls",
              operation_id="hangup_call", roles=ACTING, response_status=202,
              response={"type": "object", "properties": {"call_id": {"type": "string"},
                                                         "accepted": {"type": "boolean"}}},
              errors=(401, 403, 404, off))

    accepted = {"type": "object", "properties": {"call_id": {"type": "string"}, "accepted": {"type": "boolean"}}}
    target_body = {"type": "object", "required": ["target"], "properties": {"target": {
        "type": "string", "description": "queue id, agent id, extension, IVR flow, access number or external number; "
        "`queue:`, `agent:`, `extension:`, `flow:`, `did:`, `external:` force the kind"}}}
    for path, call_act, summary, body in (
        ("transfer", lambda c, i, b, s: c.transfer(i, target_of(b)), "Blind transfer of the caller (转接)", target_body),
        ("hold", do_hold, "Hold or resume: the caller hears music (保持)",
         {"type": "object", "properties": {"on": {"type": "boolean", "default": True}}}),
        ("consult", do_consult, "Consult a third party, then return to the caller or complete the transfer (询问)",
         {"type": "object", "properties": {"step": {"type": "string", "enum": ["start", "return", "complete"]},
                                           "target": {"type": "string"}}}),
        ("conference", lambda c, i, b, s: c.conference(i, target_of(b)), "Add a third party (三方通话)", target_body),
        ("monitor", do_monitor, "Ring a supervisor's extension to listen, whisper, barge or take over (监听/密语/强插/强拆)",
         {"type": "object", "properties": {"mode": {"type": "string", "enum": ["listen", "whisper", "barge",
                                                                              "take_over"]},
                                           "extension": {"type": "string"}}}),
    ):
        roles = frozenset({Role.ADMIN, Role.SUPERVISOR}) if path == "monitor" else ACTING
        api.route(bp, "POST", f"/api/v1/calls/{{call_id}}/{path}", call_action(call_act), summary=summary,
                  tag="calls", operation_id=f"{path}_call", roles=roles, request=body, response_status=202,
                  response=accepted, errors=(401, 403, 404, 409, 422, off))
    api.route(bp, "POST", "/api/v1/calls", originate, summary="Click-to-dial: ring an extension, then the number",
              tag="calls", operation_id="originate_call", roles=ACTING,
              request={"type": "object", "required": ["number"], "properties": {
                  "number": {"type": "string"}, "extension": {"type": "string"}}},
              response_status=202, response={"type": "object", "properties": {"call_id": {"type": "string"}}},
              errors=(401, 403, 404, 422, off))

    api.route(bp, "GET", "/api/v1/agents", list_agents, summary="Agent states (座席状态); agents see their own",
              tag="agents", operation_id="list_agent_states", roles=ANY_ROLE, response=page_schema(agent_ref),
              errors=(401, 403, off))
    reason_schema = {"type": "string", "description": "a configured pause reason code (default: the first)"}
    actions: tuple[tuple[str, Callable[[Request, str], None], str, dict[str, Any] | None], ...] = (
        ("login", do_login, "Log an agent in at an extension (default: the staff record's) (签入)",
         {"type": "object", "properties": {"extension": {"type": "string", "pattern": "^[0-9]{1,20}$"}}}),
        ("logout", do_logout, "Log an agent out (签出)", None),
        ("pause", do_pause, "Pause an agent with a reason (置忙)",
         {"type": "object", "properties": {"reason": reason_schema}}),
        ("unpause", do_unpause, "Unpause an agent (置闲)", None),
        ("wrap-up-done", do_wrap_up_done, "End an agent's wrap-up now (结束话后处理)", None),
    )
    for name, action, summary, request_schema in actions:
        api.route(bp, "POST", f"/api/v1/agents/{{agent_id}}/{name}", agent_action(action),
                  summary=summary + "; agents only themselves", tag="agents",
                  operation_id=f"agent_{name.replace('-', '_')}", roles=ACTING, request=request_schema,
                  response=agent_ref, errors=(400, 401, 403, 404, 409, 422, off))
    api.route(bp, "POST", "/api/v1/agents/{agent_id}/force", agent_action(do_force),
              summary="Supervisor: force an agent idle, busy or logged out (强制置闲/置忙/签出)", tag="agents",
              operation_id="force_agent", roles=SUPERVISING,
              request={"type": "object", "required": ["state"], "properties": {
                  "state": {"type": "string", "enum": list(FORCE_STATES)}, "reason": reason_schema}},
              response=agent_ref, errors=(400, 401, 403, 404, 409, 422, off))

    api.route(bp, "GET", "/api/v1/queues/status", queue_status,
              summary="Queue status: waiting calls, agents logged in and idle, longest wait", tag="calls",
              operation_id="queue_status", roles=ANY_ROLE, response=page_schema(queue), errors=(401, 403, off))

    api.route(bp, "GET", "/api/v1/cdr", list_cdrs, summary="Call detail records (话单), newest first; agents see their own",
              tag="records", operation_id="list_cdrs", roles=ANY_ROLE, response=page_schema(cdr_ref),
              params=(*paging_params, Param("direction", schema={"type": "string", "enum": list(DIRECTIONS)}),
                      *(Param(n, description=f"exact match on {n}") for n in
                        ("caller", "callee", "did", "queue", "agent", "disposition")),
                      *time_params,
                      Param("missed", schema={"type": "boolean"}, description="only missed (true) or not (false)"),
                      Param("intended", schema={"type": "boolean"},
                            description="only intended customers' calls (true) or the others (false)")),
              errors=(401, 403, 422))
    api.route(bp, "GET", "/api/v1/cdr/{call_id}", get_cdr, summary="One call detail record", tag="records",
              operation_id="get_cdr", roles=ANY_ROLE, response=cdr_ref, errors=(401, 403, 404))
    api.route(bp, "GET", "/api/v1/queue-log", queue_log, summary="Queue log (队列日志), oldest first",
              tag="records", operation_id="queue_log", roles=READ_CONFIG, response=page_schema(log_row),
              params=(*paging_params, *(Param(n, description=f"exact match on {n}") for n in
                                        ("queue", "call_id", "event", "agent")), *time_params),
              errors=(401, 403, 422))
    api.route(bp, "GET", "/api/v1/agent-log", agent_log,
              summary="Agent state log (座席状态日志), oldest first; agents see their own", tag="records",
              operation_id="agent_log", roles=ANY_ROLE, response=page_schema(log_row),
              params=(*paging_params, *(Param(n, description=f"exact match on {n}") for n in
                                        ("agent", "state_from", "state_to", "reason")), *time_params),
              errors=(401, 403, 422))
    api.route(bp, "GET", "/api/v1/recordings/{call_id}", recording,
              summary="Download a call's recording (WAV; supports Range); agents only their own calls",
              tag="records", operation_id="get_recording", roles=ANY_ROLE, content_type="audio/wav",
              response={"type": "string", "format": "binary"}, errors=(401, 403, 404))

    return bp


def recording_file(recordings_dir: Path, stored: str) -> Path | None:
    """The file a CDR's `recording` names, if it exists inside `recordings_dir`; None otherwise.

    The CDR holds the path as it was written (relative to the working directory when the data directory was
    given relatively). A data directory restored or moved elsewhere keeps its `recordings/<day>/<call>.wav`
    layout, so the part after the last `recordings` is tried under today's folder too. Nothing outside that
    folder is ever served, whatever the record says.
    """
    root = recordings_dir.resolve()
    as_written = Path(stored)
    candidates = [as_written]
    if "recordings" in as_written.parts:
        parts = as_written.parts
        last = len(parts) - 1 - parts[::-1].index("recordings")
        candidates.append(root.joinpath(*parts[last + 1:]))
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    if not any(c.resolve().is_relative_to(root) for c in candidates):
        log.warning("a recording path outside %s was not served: %s", root, stored)
    return None
