"""The agent desk's call routes beside the call actions of `http`: the notes kept with a call while it is worked
on (`call_notes`), which follow it to the next agent's desk when it is transferred, and marking the caller as an
intended customer (意向客户) from the desk, as the `*` key does from the phone.

An agent reads and writes the notes of a call they are on (ringing, talking, consulted) or have written to
already (so they can finish them in wrap-up after a transfer); supervisors and admins any call's; QA reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE
from appliance.calls.call_notes import MAX_NOTES_CHARS, CallNotes
from appliance.calls.http import ACTING, _body_dict, _call_agents, _invalid, own_agent
from appliance.domain.models import Role
from appliance.errors import Forbidden, NotFound, TelephonyOff
from appliance.http_api import Api, ok, session_of

if TYPE_CHECKING:
    from appliance.calls.service import CallService

_ID_MAX = 64


def make_blueprint(api: Api, service: CallService | None, notes: CallNotes) -> Blueprint:
    bp = Blueprint("call_notes", url_prefix="")

    def writer(request: Request) -> str:
        session = session_of(request)
        return own_agent(session) if session.role == Role.AGENT else (session.staff or session.user)

    def check_visible(request: Request, call_id: str) -> None:
        """Agents: only calls they are on, or whose notes they wrote. Anyone: an unknown call is a 404."""
        if service is None:
            raise TelephonyOff()
        if len(call_id) > _ID_MAX:
            raise NotFound("call", call_id[:_ID_MAX])
        session = session_of(request)
        call = service.controller.call(call_id)
        if session.role != Role.AGENT:
            if call is None and not notes.get(call_id).writers:
                raise NotFound("call", call_id)
            return
        me = own_agent(session)
        if (call is not None and me in _call_agents(call)) or notes.written_by(call_id, me):
            return
        if call is None:
            raise NotFound("call", call_id)
        raise Forbidden("agents may see only the notes of their own calls", "座席只能查看自己通话的备注")

    async def get_notes(request: Request, call_id: str) -> HTTPResponse:
        check_visible(request, call_id)
        return ok(notes.get(call_id).to_dict())

    async def put_notes(request: Request, call_id: str) -> HTTPResponse:
        check_visible(request, call_id)
        body = _body_dict(request)
        unknown = sorted(set(body) - {"notes", "customer_id"})
        if unknown:
            raise _invalid(unknown[0], "additionalProperties", "not a field of call notes", "不是通话备注的字段")
        text = body.get("notes")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_NOTES_CHARS):
            raise _invalid("notes", "maxLength", f"text of at most {MAX_NOTES_CHARS} characters",
                           f"应为不超过 {MAX_NOTES_CHARS} 个字符的文字")
        customer = body.get("customer_id")
        if customer is not None and (not isinstance(customer, str) or len(customer) > _ID_MAX):
            raise _invalid("customer_id", "maxLength", f"a customer id of at most {_ID_MAX} characters",
                           f"应为不超过 {_ID_MAX} 个字符的客户编号")
        return ok(notes.save(call_id, writer(request), notes=text, customer_id=customer).to_dict())

    async def intended(request: Request, call_id: str) -> HTTPResponse:
        if service is None:
            raise TelephonyOff()
        call = service.controller.call(call_id)
        if call is None:
            raise NotFound("call", call_id)
        session = session_of(request)
        if session.role == Role.AGENT and own_agent(session) not in _call_agents(call):
            raise Forbidden("agents may act only on their own calls", "座席只能操作自己的通话")
        service.controller.mark_intended(call_id, writer(request))
        return ok({"call_id": call_id, "accepted": True}, status=202)

    note_schema: dict[str, Any] = {"type": "object", "required": ["call_id", "customer_id", "notes"], "properties": {
        "call_id": {"type": "string"}, "customer_id": {"type": "string", "description": "the customer the call is about"},
        "notes": {"type": "string", "maxLength": MAX_NOTES_CHARS},
        "updated_at": {"type": ["number", "null"]}, "updated_by": {"type": "string"},
        "writers": {"type": "array", "items": {"type": "string"}}}}
    api.components["CallNotes"] = note_schema
    ref = {"$ref": "#/components/schemas/CallNotes"}
    api.route(bp, "GET", "/api/v1/calls/{call_id}/notes", get_notes,
              summary="The customer and notes kept with a call while it is worked on; they follow a transfer",
              tag="calls", operation_id="get_call_notes", roles=ANY_ROLE, response=ref, errors=(401, 403, 404, 503))
    api.route(bp, "PUT", "/api/v1/calls/{call_id}/notes", put_notes,
              summary="Save the customer and notes of a call (the agent desk, as the agent types)", tag="calls",
              operation_id="put_call_notes", roles=ACTING,
              request={"type": "object", "additionalProperties": False, "properties": {
                  "notes": {"type": "string", "maxLength": MAX_NOTES_CHARS},
                  "customer_id": {"type": "string", "maxLength": _ID_MAX}}},
              response=ref, errors=(401, 403, 404, 422, 503))
    api.route(bp, "POST", "/api/v1/calls/{call_id}/intended-customer", intended,
              summary="Mark the caller as an intended customer (意向客户), as the agent's * key does", tag="calls",
              operation_id="mark_intended_customer", roles=ACTING, response_status=202,
              response={"type": "object", "properties": {"call_id": {"type": "string"},
                                                         "accepted": {"type": "boolean"}}},
              errors=(401, 403, 404, 503))
    return bp
