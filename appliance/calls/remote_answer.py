"""Answering an agent's ringing phone from the desk (接听), where the phone supports it.

A provider's leg may be `RemotelyAnswerable` (a SIP phone that offered the BroadSoft talk event in its 18x).
When an agent's ringing leg says so (`LegProgress.remote_answer`), the screen pop is sent again as
`calls.ringing` with `remote_answer` set, so the desk shows its Answer button; the first `calls.ringing` goes
out as the phone is rung, before the phone has said anything. Answering only asks the phone to go off-hook:
its own answer then arrives as `LegAnswered` and the call goes on exactly as if the agent had lifted the
handset (the ACD's OfferAnswered, the announcement, the bridge, the recording). A phone that refuses leaves a
line in the call's timeline and keeps ringing.
"""

from __future__ import annotations

import logging

from appliance.calls import events as E
from appliance.calls.context import CallContext
from appliance.calls.live import LiveCall
from appliance.calls.models import LegRole, LegState
from appliance.calls.registry import CallRegistry
from appliance.clock import Clock
from appliance.errors import Conflict, NotFound
from appliance.legs import events as leg_events
from appliance.legs.models import RemotelyAnswerable

log = logging.getLogger(__name__)


def _ringing(state: LegState) -> bool:
    return state.role == LegRole.AGENT and state.answered_at is None and state.ended_at is None


def progress(ctx: CallContext, live: LiveCall, state: LegState, event: leg_events.LegProgress) -> None:
    """An agent's phone said, ringing, that it can be answered from here: tell the desk (once per leg)."""
    if not event.remote_answer or state.remote_answer or not _ringing(state):
        return
    state.remote_answer = True
    call = live.call
    ctx.publish(E.CallRinging(call_id=call.id, role=state.role.value, party=state.party, agent=state.agent_id or "",
                              caller=call.caller, caller_name=call.caller_name, queue=call.queue,
                              variables={k: str(v) for k, v in call.variables.items()}, remote_answer=True))


def refused(ctx: CallContext, live: LiveCall, state: LegState, event: leg_events.LegRemoteAnswerRefused) -> None:
    log.info("call %s: the phone of %s would not answer remotely (%s)", live.call.id, state.party, event.reason)
    live.call.note(ctx.clock.wall(), "remote_answer_refused", f"{state.agent_id or state.party}: {event.reason}")


def answer(registry: CallRegistry, clock: Clock, call_id: str, agent_id: str | None) -> str:
    """Ask the ringing phone of `agent_id` (any agent's when None, if only one rings) on call `call_id` to
    answer; returns the agent whose phone was asked. Conflict when nothing rings there, when several agents'
    phones ring and none was named, or when the ringing phone cannot be answered from here."""
    live = registry.calls.get(call_id)
    if live is None:
        raise NotFound("call", call_id)
    ringing = [s for s in live.call.legs.values() if _ringing(s) and (agent_id is None or s.agent_id == agent_id)]
    if not ringing:
        who = f"agent {agent_id}'s phone" if agent_id else "no agent's phone"
        raise Conflict(f"{who} is not ringing with call {call_id}" if agent_id else
                       f"{who} is ringing with call {call_id}",
                       f"座席 {agent_id} 的话机未在振铃通话 {call_id}" if agent_id else f"通话 {call_id} 没有振铃的座席话机")
    if len(ringing) > 1:
        raise Conflict("several agents' phones ring with this call: name the agent",
                       "该通话正在多个座席话机上振铃:请指定座席")
    (state,) = ringing
    leg = state.leg
    if not isinstance(leg, RemotelyAnswerable) or not leg.remote_answer:
        raise Conflict("the ringing phone does not support answering from here: answer on the phone",
                       "振铃的话机不支持远程接听:请在话机上接听")
    leg.answer_remotely()
    live.call.note(clock.wall(), "remote_answer", state.agent_id or state.party)
    return state.agent_id or ""
