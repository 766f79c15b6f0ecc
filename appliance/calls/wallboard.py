"""The live board's snapshot: every agent and queue as the ACD sees them at one instant, with the calls each
queue holds (waiting, or ringing an agent) and the caller of each agent's call.

A wallboard draws this, then follows the public event stream (`acd.*`, `calls.ringing`) from it; it reads it
again after a reconnect or a `stream.dropped`, so a lost event never leaves a stale board. The ACD counts in
monotonic time; everything here is wall-clock seconds, like the events' `at`.

Who sees what (`BoardScope`): admins and QA every agent and queue; a supervisor the agents of the work groups
they manage (and themself) and the queues they manage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.auth.models import DataScope
from appliance.domain.models import Queue, Staff
from appliance.errors import ApplianceError

if TYPE_CHECKING:
    from appliance.calls.controller import CallController


@dataclass(frozen=True, slots=True)
class BoardScope:
    """The agents and queues one viewer may see (None: all of them)."""

    agents: frozenset[str] | None
    queues: frozenset[str] | None

    @classmethod
    def of(cls, scope: DataScope, staff: Iterable[Staff]) -> BoardScope:
        if scope.everyone:
            return cls(None, None)
        people = list(staff)
        me = next((s for s in people if s.employee_no == scope.staff), None)
        return cls(frozenset(s.employee_no for s in people if scope.sees_staff(s.employee_no, s.work_group)),
                   frozenset(me.managed_queues if me else ()))

    def sees_agent(self, agent: str) -> bool:
        return self.agents is None or agent in self.agents

    def sees_queue(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues


def snapshot(ctl: CallController, scope: BoardScope, staff: Iterable[Staff],
             queues: Iterable[Queue]) -> dict[str, Any]:
    """Agents and queues now (without today's figures, which come from the reports)."""
    now_mono, now_wall = ctl.clock.monotonic(), ctl.clock.wall()

    def wall(mono: float) -> float:
        return round(now_wall - (now_mono - mono), 3)

    people = {s.employee_no: s for s in staff}
    agents = []
    ringing: set[str] = set()
    for view in ctl.agent_views():
        agent_id = str(view["agent"])
        if not scope.sees_agent(agent_id):
            continue
        person = people.get(agent_id)
        call = ctl.call(view["call"]) if view["call"] else None
        if view["state"] == "ringing" and view["call"]:
            ringing.add(str(view["call"]))
        agents.append({
            **view,
            # an agent who has not logged in since the box started has no state change to count from
            "since": None if ctl.acd.agent_view(agent_id).since == 0.0 else view["since"],
            "name": person.name if person else "",
            "work_group": (person.work_group or "") if person else "",
            "department": (person.department or "") if person else "",
            # the other party: who called in, or whom the agent called
            "number": (call.callee if call.direction.value == "outbound" else call.caller) if call else "",
            "queue": (call.queue or "") if call else "",
        })

    by_queue: dict[str, list[dict[str, Any]]] = {}
    # every call the ACD holds: the waiting ones per queue, and those ringing an agent now
    held = {cid for q in queues if scope.sees_queue(q.id) for cid in _waiting(ctl, q.id)} | _offered(ctl)
    for call_id in sorted(held):
        held_call = ctl.acd.call_view(call_id)
        if held_call is None or not scope.sees_queue(held_call.queue_id):
            continue
        by_queue.setdefault(held_call.queue_id, []).append({
            "call": call_id, "caller": held_call.caller, "since": wall(held_call.enqueued_at),
            "ringing": bool(held_call.offered_to) or call_id in ringing})  # not waiting: offered now

    members = {q.id: list(q.members) for q in queues}
    out_queues = []
    for q in ctl.queue_views():
        if not scope.sees_queue(str(q["queue"])):
            continue
        calls = sorted(by_queue.get(str(q["queue"]), []), key=lambda c: (c["since"], c["call"]))
        out_queues.append({**q, "members": members.get(str(q["queue"]), []), "calls": calls})
    return {"at": round(now_wall, 3), "agents": agents, "queues": out_queues}


def _waiting(ctl: CallController, queue_id: str) -> list[str]:
    try:
        return ctl.acd.waiting_calls(queue_id)
    except (KeyError, ApplianceError):  # configured, but not (yet) known to the ACD
        return []


def _offered(ctl: CallController) -> set[str]:
    out = set()
    for agent_id in ctl.acd.agent_ids():
        view = ctl.acd.agent_view(agent_id)
        if view.offered_call:
            out.add(view.offered_call)
    return out
