"""The supervisor console's own routes (班长功能), beside the call and agent actions of `http`:

- `GET /api/v1/monitors`: the supervisors' calls joined to agents' calls now, and in which mode, so a console
  re-reads them after a reload or a reconnect;
- `POST /api/v1/calls/{monitor_call_id}/monitor-mode`: the same supervisor call, another mode (listen, whisper,
  barge, take over) — the console's buttons, as keys 1-3 are the phone's;
- `POST /api/v1/calls/{call_id}/move`: a waiting call to another queue or to one agent (班长调度).

Each one checks the supervisor's data scope (`appliance.calls.scope`): the agent, the call and the target must
all be theirs, else 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.calls.http import SUPERVISING, _body_dict, _call_agents, _invalid, _str_field
from appliance.calls.scope import check_agent_in_scope, check_call_in_scope, scope_of_session
from appliance.calls.wallboard import BoardScope
from appliance.domain.models import Role
from appliance.errors import Forbidden, NotFound, TelephonyOff
from appliance.http_api import Api, ok, session_of

if TYPE_CHECKING:
    from appliance.calls.controller import CallController
    from appliance.calls.service import CallService

MODES = ("listen", "whisper", "barge", "take_over")


def make_blueprint(api: Api, service: CallService | None) -> Blueprint:
    bp = Blueprint("supervisor_console", url_prefix="")

    def controller() -> CallController:
        if service is None:
            raise TelephonyOff()
        return service.controller

    def scope(request: Request) -> BoardScope:
        session = session_of(request)
        if session.role != Role.SUPERVISOR or service is None:
            return BoardScope(None, None)
        return scope_of_session(session, service.store.list("staff"))

    async def monitors(request: Request) -> HTTPResponse:
        ctl, seen = controller(), scope(request)
        items = []
        for live in list(ctl.registry.calls.values()):
            monitor = live.monitor
            if monitor is None or not seen.sees_agent(monitor.agent):
                continue
            items.append({"call": live.call.id, "extension": live.call.extension or live.call.caller,
                          "supervisor": live.call.agent, "agent": monitor.agent, "target": monitor.target,
                          "mode": monitor.mode})
        return ok({"items": items, "total": len(items), "offset": 0, "limit": len(items)})

    async def monitor_mode(request: Request, call_id: str) -> HTTPResponse:
        body = _body_dict(request)
        mode = body.get("mode")
        if mode not in MODES:
            raise _invalid("mode", "enum", f"one of {', '.join(MODES)}", f"应为 {', '.join(MODES)} 之一")
        ctl = controller()
        live = ctl.registry.calls.get(call_id)
        if live is None:
            raise NotFound("call", call_id)
        if live.monitor is not None:
            check_agent_in_scope(scope(request), live.monitor.agent)
        agent = ctl.monitor_mode(call_id, str(mode))
        return ok({"call_id": call_id, "accepted": True, "agent": agent, "mode": mode}, status=202)

    async def move(request: Request, call_id: str) -> HTTPResponse:
        body = _body_dict(request)
        queue, agent = _str_field(body, "queue") or "", _str_field(body, "agent") or ""
        if bool(queue) == bool(agent):
            raise _invalid("queue", "required", "either a queue or an agent to move the call to",
                           "应填写要转去的队列或座席(二者选一)")
        ctl = controller()
        call = ctl.call(call_id)
        if call is None:
            raise NotFound("call", call_id)
        seen = scope(request)
        check_call_in_scope(seen, call_id, _call_agents(call), call.queue)
        assert service is not None
        if queue:
            if service.store.find("queues", queue) is None:
                raise _invalid("queue", "exists", f"there is no queue {queue}", f"没有队列 {queue}")
            if not seen.sees_queue(queue):
                raise Forbidden(f"queue {queue} is not one you manage", f"队列{queue}不在您管理的范围")
            if queue == call.queue:
                raise _invalid("queue", "different", "the call is waiting in this queue already", "通话已在该队列排队")
        else:
            if service.store.find("staff", agent) is None or agent not in ctl.acd.agent_ids():
                raise _invalid("agent", "exists", f"there is no agent {agent}", f"没有座席 {agent}")
            check_agent_in_scope(seen, agent)
        ctl.move_waiting(call_id, session_of(request).user, queue_id=queue, agent_id=agent)
        return ok({"call_id": call_id, "accepted": True}, status=202)

    accepted: dict[str, Any] = {"type": "object", "properties": {"call_id": {"type": "string"},
                                                                 "accepted": {"type": "boolean"}}}
    monitor = {"type": "object", "properties": {
        "call": {"type": "string", "description": "the supervisor's call"},
        "extension": {"type": "string", "description": "the supervisor's phone"},
        "supervisor": {"type": "string"}, "agent": {"type": "string"},
        "target": {"type": "string", "description": "the monitored call"},
        "mode": {"type": "string", "enum": list(MODES)}}}
    api.route(bp, "GET", "/api/v1/monitors", monitors,
              summary="Supervisors' calls joined to agents' calls now, with their mode (监听/密语/强插/强拆), within "
                      "the viewer's scope", tag="calls", operation_id="list_monitors", roles=SUPERVISING,
              response={"type": "object", "properties": {"items": {"type": "array", "items": monitor},
                                                         "total": {"type": "integer"}}},
              errors=(401, 403, 503))
    api.route(bp, "POST", "/api/v1/calls/{call_id}/monitor-mode", monitor_mode,
              summary="Switch a supervisor's monitoring call (from /monitor) to listen, whisper, barge or take over, "
                      "without dropping it", tag="calls", operation_id="monitor_mode", roles=SUPERVISING,
              request={"type": "object", "required": ["mode"], "properties": {
                  "mode": {"type": "string", "enum": list(MODES)}}},
              response_status=202, response=accepted, errors=(401, 403, 404, 409, 422, 503))
    api.route(bp, "POST", "/api/v1/calls/{call_id}/move", move,
              summary="Move a waiting call to another queue (it keeps its arrival time) or to an agent's phone (班长调度)",
              tag="calls", operation_id="move_waiting_call", roles=SUPERVISING,
              request={"type": "object", "properties": {
                  "queue": {"type": "string", "description": "the queue to move it to"},
                  "agent": {"type": "string", "description": "or the agent whose phone rings"}}},
              response_status=202, response=accepted, errors=(401, 403, 404, 409, 422, 503))
    return bp
