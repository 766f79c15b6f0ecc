"""What the API's lists show: the ACD's view of each agent and queue, with the phone an agent is at, and a
call as `GET /api/v1/calls` (summary) and `GET /api/v1/calls/{id}` (detail) give it."""

from __future__ import annotations

from typing import Any

from appliance.calls.context import CallContext
from appliance.calls.models import Call
from appliance.errors import ApplianceError


def agent_views(ctx: CallContext) -> list[dict[str, Any]]:
    """Every agent the ACD knows: state, reason, since (wall clock), phone, current call."""
    now_mono, now_wall = ctx.clock.monotonic(), ctx.clock.wall()
    out = []
    for agent_id in sorted(ctx.acd.agent_ids()):
        view = ctx.acd.agent_view(agent_id)
        out.append({
            "agent": agent_id,
            "state": view.state.value,
            "reason": view.reason,
            "since": round(now_wall - (now_mono - view.since), 3),  # the ACD counts in monotonic time
            "answered": view.answered,
            "misses": view.misses,
            "extension": ctx.agents.extension_of(agent_id),
            "call": view.current_call or view.offered_call,
        })
    return out


def queue_views(ctx: CallContext) -> list[dict[str, Any]]:
    """Every configured queue the ACD runs (one it does not know yet is left out)."""
    out = []
    for queue in ctx.store.list("queues"):
        try:
            view = ctx.acd.queue_view(queue.id)
        except (KeyError, ApplianceError):
            continue
        out.append({"queue": queue.id, "name": queue.name, "waiting": view.waiting,
                    "logged_in": view.logged_in, "idle": view.idle,
                    "longest_wait": round(view.longest_wait, 3)})
    return out


def call_summary(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "direction": call.direction.value,
        "caller": call.caller,
        "caller_name": call.caller_name,
        "callee": call.callee,
        "did": call.did,
        "trunk": call.trunk,
        "extension": call.extension,
        "phase": call.phase.value,
        "queue": call.queue,
        "queued_at": call.queued_at,
        "vip": call.vip,
        "agent": call.agent,
        "started_at": call.started_at,
        "answered_at": call.answered_at,
        "agent_answered_at": call.agent_answered_at,
        "on_hold": call.hold_started is not None,
        "recording": bool(call.recording_file),
        "legs": [
            {"leg": leg_id, "role": s.role.value, "party": s.party, "agent": s.agent_id, "created": s.created_at,
             "answered": s.answered_at, "ended": s.ended_at, "cause": s.cause, "remote_answer": s.remote_answer}
            for leg_id, s in call.legs.items()
        ],
    }


def call_detail(call: Call) -> dict[str, Any]:
    return {
        **call_summary(call),
        "flow": call.flow,
        "ivr_path": list(call.ivr_path),
        "ivr_keys": call.ivr_keys,
        "language": call.language,
        "offered_agents": list(call.offered_agents),
        "hold_seconds": call.hold_seconds,
        "transfers": list(call.transfers),
        "intended_customer": call.intended_customer,
        "variables": dict(call.variables),
        "timeline": [list(t) for t in call.timeline],
    }
