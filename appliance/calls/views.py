"""What the API's agent and queue lists show: the ACD's view of each, with the phone an agent is at."""

from __future__ import annotations

from typing import Any

from appliance.calls.context import CallContext
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
