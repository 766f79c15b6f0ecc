"""Who may see and act on which agents, queues and calls (seed 004 班长座席: "有管理的座席组和队列范围").

Admins and QA: everyone. A supervisor: the agents of the work groups they manage, themself, and the queues
they manage. An agent: themself. The phone's supervisor codes (`supervision`), the API's actions (`http`,
`http_supervisor`) and the event stream (`http_stream`) all ask here, so none lets through what another refuses.
Kept free of call control's imports: the API loads it on a box without telephony too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from appliance.auth.models import DataScope, Session
from appliance.calls.wallboard import BoardScope
from appliance.domain import models as m
from appliance.errors import Forbidden


def scope_of(role: m.Role, staff: str | None, people: Iterable[m.Staff]) -> BoardScope:
    """The agents and queues a login may see and act on (as `ConfigService.scope_of` reads the data scope)."""
    if role in (m.Role.ADMIN, m.Role.QA):
        return BoardScope(None, None)
    everybody = list(people)
    me = next((p for p in everybody if p.employee_no == staff), None) if staff else None
    groups = frozenset(me.managed_groups) if me is not None and role == m.Role.SUPERVISOR else frozenset()
    return BoardScope.of(DataScope(work_groups=groups, staff=staff), everybody)


def scope_of_session(session: Session, people: Iterable[m.Staff]) -> BoardScope:
    return scope_of(session.role, session.staff, people)


def sees_call(scope: BoardScope, agents: Iterable[str], queue: str) -> bool:
    """A call with agents belongs to them (any one in scope will do); a call waiting for one to its queue; a
    call with neither (an IVR caller, two extensions) to no group, so to anyone who may see calls."""
    named = [a for a in agents if a]
    if named:
        return any(scope.sees_agent(a) for a in named)
    return scope.sees_queue(queue) if queue else True


def event_in_scope(scope: BoardScope, data: dict[str, Any]) -> bool:
    """A public event names agents (`agent_id`, `agent`, `agent_ids`) or a queue (`queue_id`, `queue`): it is in
    scope when one of them is; an event naming neither (alarms, backups, IVR) is about no group."""
    if scope.agents is None:
        return True
    agents = [str(data[k]) for k in ("agent_id", "agent") if data.get(k)]
    listed = data.get("agent_ids")
    if isinstance(listed, list | tuple):
        agents += [str(a) for a in listed if a]
    queues = [str(data[k]) for k in ("queue_id", "queue") if data.get(k)]
    if not agents and not queues:
        return True
    return any(scope.sees_agent(a) for a in agents) or any(scope.sees_queue(q) for q in queues)


def check_agent_in_scope(scope: BoardScope, agent_id: str) -> None:
    if not scope.sees_agent(agent_id):
        raise Forbidden(f"agent {agent_id} is not in the groups you manage", f"座席{agent_id}不在您管理的座席组")


def check_call_in_scope(scope: BoardScope, call_id: str, agents: Iterable[str], queue: str) -> None:
    if not sees_call(scope, agents, queue):
        raise Forbidden(f"call {call_id} is not with the agents or queues you manage",
                        f"通话{call_id}不属于您管理的座席或队列")
