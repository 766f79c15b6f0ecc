"""`POST /api/v1/calls/{call_id}/answer`: answer an agent's ringing phone from the desk (接听), where the phone
supports it (`remote_answer`).

An agent answers their own ringing phone; supervisors (within their data scope) and admins any agent's, naming
the agent when several ring. 202 once the request went to the phone (its answer then shows as
`calls.answered`), 409 when nothing rings or the phone cannot be answered from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.calls import remote_answer
from appliance.calls.http import ACTING, _body_dict, _call_agents, _str_field, own_agent
from appliance.calls.scope import check_agent_in_scope, check_call_in_scope, scope_of_session
from appliance.domain.models import Role
from appliance.errors import Forbidden, NotFound, TelephonyOff
from appliance.http_api import Api, ok, session_of

if TYPE_CHECKING:
    from appliance.calls.service import CallService

_ID_MAX = 64


def make_blueprint(api: Api, service: CallService | None) -> Blueprint:
    bp = Blueprint("call_answer", url_prefix="")

    async def answer(request: Request, call_id: str) -> HTTPResponse:
        if service is None:
            raise TelephonyOff()
        controller = service.controller
        call = controller.call(call_id)
        if call is None:
            raise NotFound("call", call_id[:_ID_MAX])
        session = session_of(request)
        agent = _str_field(_body_dict(request), "agent")
        if session.role == Role.AGENT:
            me = own_agent(session)
            if agent not in (None, me) or me not in _call_agents(call):
                raise Forbidden("agents may answer only their own ringing phone", "座席只能接听自己振铃的话机")
            agent = me
        elif session.role == Role.SUPERVISOR:
            scope = scope_of_session(session, service.store.list("staff"))
            check_call_in_scope(scope, call_id, _call_agents(call), call.queue)
            if agent is not None:
                check_agent_in_scope(scope, agent)
        answered_by = remote_answer.answer(controller.registry, controller.clock, call_id, agent)
        return ok({"call_id": call_id, "accepted": True, "agent": answered_by}, status=202)

    api.route(bp, "POST", "/api/v1/calls/{call_id}/answer", answer,
              summary="Answer an agent's ringing phone from here (接听), where the phone supports it "
                      "(the BroadSoft talk event); the answer then shows as calls.answered",
              tag="calls", operation_id="answer_call", roles=ACTING,
              request={"type": "object", "properties": {"agent": {
                  "type": "string", "description": "whose ringing phone (supervisors and admins, when several "
                  "ring; an agent always answers their own)"}}},
              response_status=202,
              response={"type": "object", "properties": {"call_id": {"type": "string"},
                                                         "accepted": {"type": "boolean"},
                                                         "agent": {"type": "string"}}},
              errors=(401, 403, 404, 409, 422, 503))
    return bp
