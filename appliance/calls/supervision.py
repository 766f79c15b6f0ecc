"""Supervisors on agents' calls: a supervisor's phone (rung from the desk, or dialling a feature code) joins an
agent's call to listen (监听), whisper to the agent (密语), barge in (强插) or take the caller over (强拆);
keys 1-3 switch between the first three, and the supervisor console switches between all four through the API
without dropping the supervisor's call.

Data scope (seed 004 班长座席: "有管理的座席组和队列范围"): a supervisor sees and acts on the agents of the work groups
they manage (and themself) and the queues they manage; admins and QA see everyone. The same rule
answers for the phone's feature codes, the API's actions and
the event stream (`appliance.calls.scope`), so a supervisor cannot reach through one what another refuses."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from appliance.calls import events as E
from appliance.calls.agent_offers import AgentOffers
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall, Monitor
from appliance.calls.messages import ApiHangup, MonitorGone, TakeOver, TargetEnded
from appliance.calls.models import CallPhase
from appliance.calls.playback import Playback
from appliance.calls.scope import scope_of
from appliance.calls.transfers import Transfers
from appliance.domain import models as m
from appliance.errors import ApplianceError
from appliance.media.models import PartyMask

MONITOR_MODES = ("listen", "whisper", "barge", "take_over")
MONITOR_KEYS = {"1": "listen", "2": "whisper", "3": "barge"}  # a supervisor switches mode with these


@dataclass
class Supervision:
    ctx: CallContext
    playback: Playback
    legs: LegControl
    transfers: Transfers
    offers: AgentOffers
    ending: CallEnding

    def __post_init__(self) -> None:
        self.ending.register(self._detach_on_end)

    def supervisor_at(self, extension: str, agent_id: str) -> tuple[str | None, str, str]:
        """(supervisor id, refusal en, refusal zh): a supervisor may act on agents of the groups they manage,
        as in the API (`scope_of`); admins on everyone."""
        store = self.ctx.store
        person = next((p for p in store.list("staff")
                       if p.extension == extension and p.status == m.StaffStatus.ACTIVE), None)
        bound = self.ctx.agents.agent_at(extension)
        if person is None and bound is not None:
            person = store.find("staff", bound)
        if person is None or person.role not in (m.Role.SUPERVISOR, m.Role.ADMIN):
            return None, "Only a supervisor may do this.", "只有班长座席可以进行此操作。"
        agent = store.find("staff", agent_id)
        if agent is None:
            return None, f"There is no agent {agent_id}.", f"没有座席{agent_id}。"
        if not scope_of(person.role, person.employee_no, store.list("staff")).sees_agent(agent_id):
            return None, f"Agent {agent_id} is not in your groups.", f"座席{agent_id}不在您管理的座席组。"
        return str(person.employee_no), "", ""

    def _agent_call(self, agent_id: str) -> LiveCall | None:
        for other in self.ctx.registry.calls.values():
            if other.call.agent == agent_id and other.call.phase == CallPhase.CONNECTED and other.call.bridge_id:
                return other
        return None

    async def start_monitor(self, live: LiveCall, extension: str, agent_id: str, mode: str) -> None:
        """A supervisor's phone joins an agent's call: listen, whisper, barge, or take the caller over."""
        call = live.call
        supervisor, en, zh = self.supervisor_at(extension, agent_id)
        target = self._agent_call(agent_id) if supervisor is not None else None
        if supervisor is not None and target is None:
            en, zh = f"Agent {agent_id} is not on a call.", f"座席{' '.join(agent_id)}当前没有通话。"
        if supervisor is None or target is None:
            path = await self.playback.speak(zh if call.language != "en" else en, call.language)
            await self.playback.play_then(live, [path],
                                          lambda: self.ending.end(live, "system", "monitor_refused"))
            return
        call.phase = CallPhase.CONNECTED
        call.agent = supervisor
        live.monitor = Monitor(target.call.id, agent_id, "listen")
        target.monitored_by.add(call.id)
        call.note(self.ctx.clock.wall(), "monitor", f"{mode} {agent_id} on {target.call.id}")
        target.call.note(self.ctx.clock.wall(), "monitored", f"{mode} by {supervisor}")
        self.ctx.publish(E.MonitorStarted(call_id=target.call.id, supervisor=supervisor, agent=agent_id,
                                          mode=mode))
        endpoint = live.caller_endpoint
        if endpoint is not None and target.call.bridge_id is not None:
            self.ctx.media.add_party(target.call.bridge_id, endpoint, self._mask(target, "listen"))
        await self._set_mode(live, mode)

    def _mask(self, target: LiveCall, mode: str) -> PartyMask:
        if mode == "listen":
            return PartyMask.listen()
        if mode == "whisper":
            agent_leg = target.call.legs.get(target.call.agent_leg or "")
            if agent_leg is not None and agent_leg.endpoint_id is not None:
                return PartyMask.whisper(agent_leg.endpoint_id)
        return PartyMask.barge()

    async def key_pressed(self, live: LiveCall, digit: str) -> None:
        """A monitoring supervisor's key: 1 listen, 2 whisper, 3 barge."""
        mode = MONITOR_KEYS.get(digit)
        if live.monitor is not None and mode is not None and mode != live.monitor.mode:
            await self._set_mode(live, mode)

    async def switch_mode(self, live: LiveCall, mode: str) -> None:
        """The console's buttons: the same call, another mode (listen, whisper, barge or take over)."""
        monitor = live.monitor
        if monitor is not None and mode in MONITOR_MODES and monitor.mode not in (mode, "take_over"):
            await self._set_mode(live, mode)

    async def _set_mode(self, live: LiveCall, mode: str) -> None:
        monitor = live.monitor
        if monitor is None:
            return
        target = self.ctx.registry.calls.get(monitor.target)
        endpoint = live.caller_endpoint
        if target is None or endpoint is None or target.call.bridge_id is None:
            return
        monitor.mode = mode
        live.call.note(self.ctx.clock.wall(), "monitor_mode", mode)
        if mode == "take_over":
            self.ctx.post(target.call.id, TakeOver(live.call.id))
            return
        self.ctx.media.set_mask(target.call.bridge_id, endpoint, self._mask(target, mode))

    async def take_over(self, live: LiveCall, supervisor_call: str) -> None:
        """强拆: the agent is released, the supervisor who barged in stays with the caller."""
        call = live.call
        sup = self.ctx.registry.calls.get(supervisor_call)
        if sup is None or call.agent_leg is None:
            return
        agent_id = call.agent
        self.transfers.record(call, "take_over", None, agent_id, sup.call.agent)
        await self.legs.drop_leg(live, call.agent_leg, "taken_over")
        self.offers.agent_done(agent_id, call.id)
        call.agent_leg = None
        endpoint = sup.caller_endpoint
        if endpoint is not None and call.bridge_id is not None:
            self.ctx.media.set_mask(call.bridge_id, endpoint, PartyMask.barge())
        call.note(self.ctx.clock.wall(), "taken_over", f"{agent_id} → {sup.call.agent}")

    async def moved(self, live: LiveCall, queue_id: str, agent_id: str, by: str) -> None:
        """班长调度, call control's side, after the ACD let the waiting call go (`SupervisorMovedCall`): into
        another queue it only changes its queue; to an agent it is a blind transfer to that agent's phone (a
        miss brings it back to its queue, as a transfer's does)."""
        call = live.call
        wall = self.ctx.clock.wall()
        if queue_id:
            call.note(wall, "moved", f"{call.queue} → queue:{queue_id} by {by}")
            call.queue = queue_id
            return
        queueing = self.transfers.queueing
        queueing.dequeued(live, "moved")
        call.note(wall, "moved", f"{call.queue} → agent:{agent_id} by {by}")
        if live.caller_gone:
            return
        if not await self.transfers.transfer(live, f"agent:{agent_id}", by=by):
            queueing.enter(live, call.queue, vip=call.vip)  # the phone could not ring: back in line

    def monitor_gone(self, live: LiveCall, supervisor_call: str) -> None:
        """A supervisor left this call; after a take-over the caller would be alone, so the call ends."""
        live.monitored_by.discard(supervisor_call)
        call = live.call
        if call.agent_leg is None and call.phase == CallPhase.CONNECTED:
            self.ctx.post(call.id, ApiHangup())  # ends as a hang-up from the desk did (the CDR says "api")

    async def _detach_on_end(self, live: LiveCall) -> None:
        """A supervisor's call leaves the monitored bridge; supervisors of an ending call are told to end."""
        if live.monitor is not None:
            target = self.ctx.registry.calls.get(live.monitor.target)
            endpoint = live.caller_endpoint
            if target is not None and target.call.bridge_id is not None and endpoint is not None:
                with contextlib.suppress(ApplianceError, KeyError):
                    self.ctx.media.remove_party(target.call.bridge_id, endpoint)
            self.ctx.post(live.monitor.target, MonitorGone(live.call.id))
            live.monitor = None
        for supervisor_call in list(live.monitored_by):
            self.ctx.post(supervisor_call, TargetEnded(live.call.id))
