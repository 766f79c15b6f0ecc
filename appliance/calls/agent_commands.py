"""Agents' own state, from the desk, a phone's feature codes or a supervisor: log in at an extension, log out,
pause (置忙) and unpause (置闲), end wrap-up, and a supervisor forcing any of these. The ACD decides; the
agent directory remembers which phone an agent is at."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from appliance.acd import commands as C
from appliance.calls.context import CallContext
from appliance.domain import models as m
from appliance.errors import ApplianceError, Conflict, NotFound
from appliance.legs import events as leg_events


@dataclass
class AgentCommands:
    ctx: CallContext

    def login(self, agent_id: str, extension: str | None = None) -> str:
        """Log an agent in at `extension` (None: the extension bound in the staff record); returns it."""
        staff = self.ctx.store.find("staff", agent_id)
        if staff is None or staff.status != m.StaffStatus.ACTIVE:
            raise NotFound("agent", agent_id)
        target = extension or staff.extension
        if not target or self.ctx.store.find("extensions", target) is None:
            raise Conflict(f"agent {agent_id} has no phone: give an extension", f"座席 {agent_id} 没有话机,请指定分机")
        self.login_at(agent_id, str(target))
        return str(target)

    def login_at(self, agent_id: str, extension: str) -> None:
        self.ctx.acd_command(C.AgentLoggedIn(agent_id=agent_id))  # refused → no binding is left behind
        self.ctx.agents.bind(agent_id, extension)

    def logout(self, agent_id: str) -> None:
        self.ctx.acd_command(C.AgentLoggedOut(agent_id=agent_id))
        self.ctx.agents.logout(agent_id)

    def default_pause_reason(self) -> str:
        reasons = self.ctx.store.list("pause_reasons")
        return str(reasons[0].code) if reasons else "busy"

    def pause(self, agent_id: str, reason: str | None = None) -> None:
        self.ctx.acd_command(C.AgentPaused(agent_id=agent_id, reason=reason or self.default_pause_reason()))

    def unpause(self, agent_id: str) -> None:
        self.ctx.acd_command(C.AgentUnpaused(agent_id=agent_id))

    def end_wrap_up(self, agent_id: str) -> None:
        self.ctx.acd_command(C.WrapUpEnded(agent_id=agent_id))

    def force(self, agent_id: str, state: str, supervisor_id: str, reason: str | None = None) -> None:
        """Supervisor: force an agent idle, busy or logged out (强制置闲 / 置忙 / 下线)."""
        if state == "idle":
            self.ctx.acd_command(C.SupervisorForcedIdle(agent_id=agent_id, supervisor_id=supervisor_id))
        elif state == "busy":
            self.ctx.acd_command(C.SupervisorForcedBusy(agent_id=agent_id, supervisor_id=supervisor_id,
                                                        reason=reason or self.default_pause_reason()))
        elif state == "logged_out":
            self.ctx.acd_command(C.SupervisorForcedLogout(agent_id=agent_id, supervisor_id=supervisor_id))
            self.ctx.agents.logout(agent_id)
        else:
            raise Conflict(f"cannot force an agent to {state!r}", f"不能将座席强制为 {state!r}")

    def phone_reachable(self, event: leg_events.EndpointReachable) -> None:
        """An agent whose phone could not be rung is offered calls again once it registers."""
        agent_id = self.ctx.agents.agent_at(event.extension)
        if agent_id is None or not event.reachable:
            return
        with contextlib.suppress(ApplianceError, KeyError):
            if self.ctx.acd.agent_view(agent_id).reason == "phone_unreachable":
                self.ctx.acd_command(C.AgentReconnected(agent_id=agent_id))
