"""Consultation and conference from the agent desk. 询问: the caller waits with music while the agent talks to
someone on a new leg, then goes back to the caller (询问后返回) or hands the caller over (询问转). 三方通话:
a third party is rung into the caller's bridge; anyone may leave, the rest stay: when the agent hangs up, the
caller and the third party go on talking (the agent is released to wrap-up); when the last of them leaves the
caller, the caller is asked for the survey or the call ends, as when an agent hangs up first.

An agent who answers as the consulted or third party is on this call for the ACD too (`AgentStartedOtherCall`,
so it offers them no caller meanwhile) until they leave it (`CallCompleted`) — or, when the consultation
completes, until the call ends, as the agent the caller was handed to."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from appliance.acd import commands as C
from appliance.calls.agent_offers import AgentOffers
from appliance.calls.bridging import Bridging
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall
from appliance.calls.models import LegRole, LegState
from appliance.calls.transfers import Transfers
from appliance.errors import ApplianceError, Conflict
from appliance.media.models import PartyMask


@dataclass
class Consultation:
    ctx: CallContext
    legs: LegControl
    bridging: Bridging
    transfers: Transfers
    offers: AgentOffers
    ending: CallEnding

    def __post_init__(self) -> None:
        self.ending.register(self._agents_leave_on_end)

    async def _ring(self, live: LiveCall, target: str) -> tuple[str, str, str | None]:
        """Ring a consulted or conferenced party: (kind, name, leg id or None when it could not ring)."""
        where, value = self.transfers.resolve_target(target)
        extension = self.ctx.agents.extension_of(value) if where == "agent" else value
        leg_id = await self.legs.ring_extension(live, extension or "", LegRole.CONSULT,
                                                agent_id=value if where == "agent" else None)
        return where, value, leg_id

    async def consult(self, live: LiveCall, target: str) -> None:
        call = live.call
        if call.agent_leg is None or call.bridge_id is None:
            raise Conflict("no agent is talking to the caller", "座席未与客户通话")
        agent_state = call.legs[call.agent_leg]
        self.bridging.hold_caller(live)
        where, value, leg_id = await self._ring(live, target)
        call.note(self.ctx.clock.wall(), "consult", f"{call.agent} → {where}:{value}")
        if leg_id is None:
            await self.back_to_caller(live)
            return
        live.consult_leg = leg_id
        live.consult_agent_ep = agent_state.endpoint_id

    async def consulted_answered(self, live: LiveCall, leg_id: str, state: LegState) -> None:
        """The consulted party (or a conference's third party) answered: bridge it in."""
        call = live.call
        self._agent_joined(live, leg_id, state, "conference" if leg_id in live.conference_legs else "consult")
        if leg_id in live.conference_legs:
            if call.bridge_id is not None and state.endpoint_id is not None:
                self.ctx.media.add_party(call.bridge_id, state.endpoint_id, PartyMask.everyone())
            return
        call.note(self.ctx.clock.wall(), "consult_answered", state.party)
        if live.consult_agent_ep is not None and state.endpoint_id is not None:
            live.consult_bridge = self.ctx.media.bridge(live.consult_agent_ep, state.endpoint_id)

    async def consulted_left(self, live: LiveCall, leg_id: str, state: LegState, cause: str) -> None:
        """The consulted party hung up (back to the caller), or a conference's third party did (the others stay;
        a caller the agent had left already is alone now)."""
        call = live.call
        live.conference_legs.discard(leg_id)
        self._agent_left(live, leg_id)
        if leg_id == live.consult_leg:
            live.consult_leg = None
            await self.back_to_caller(live)
        elif state.answered_at is not None and call.agent_leg is None and not self._in_conference(live):
            await self.offers.caller_left_alone(live, "agent" if state.agent_id else "callee", cause)

    def _agent_joined(self, live: LiveCall, leg_id: str, state: LegState, kind: str) -> None:
        """An agent answered as the consulted or third party: the ACD must not offer them a caller meanwhile."""
        agent_id = state.agent_id or self.ctx.agents.agent_at(state.party)
        if agent_id is None:
            return
        state.agent_id = agent_id
        try:
            self.ctx.acd_command(C.AgentStartedOtherCall(agent_id=agent_id, call_id=live.call.id, kind=kind))
        except (ApplianceError, KeyError):
            return  # not an agent the ACD has logged in, or on another call already: nothing to undo later
        live.joined_agents[leg_id] = agent_id

    def _agent_left(self, live: LiveCall, leg_id: str) -> None:
        agent_id = live.joined_agents.pop(leg_id, None)
        if agent_id is not None:
            self.offers.agent_done(agent_id, live.call.id)

    async def _agents_leave_on_end(self, live: LiveCall) -> None:
        for leg_id in list(live.joined_agents):
            self._agent_left(live, leg_id)

    async def _drop(self, live: LiveCall, leg_id: str, cause: str) -> None:
        """Hang up a consulted or third party's leg; an agent on it is free for the ACD again."""
        self._agent_left(live, leg_id)
        await self.legs.drop_leg(live, leg_id, cause)

    def _in_conference(self, live: LiveCall) -> bool:
        """A third party has answered and is still on the call."""
        return any(live.call.legs[leg_id].answered for leg_id in live.conference_legs)

    async def agent_left(self, live: LiveCall) -> bool:
        """The serving agent hung up. In a 3-way call the caller and the third party stay together and the
        agent is released (True). Otherwise a third party still ringing or a consultation ends with the agent,
        and the agent's leaving goes on as usual (False)."""
        call = live.call
        if self._in_conference(live):
            agent = self.offers.release_agent(live)
            call.note(self.ctx.clock.wall(), "left_conference", agent)
            return True
        for leg_id in list(live.conference_legs):
            await self._drop(live, leg_id, "conference_ended")
        live.conference_legs.clear()
        if live.consult_leg is not None:
            self._end_consult_bridge(live)
            await self._drop(live, live.consult_leg, "consult_ended")
            live.consult_leg = None
            self.bridging.hold_changed(live, False)
        return False

    async def back_to_caller(self, live: LiveCall) -> None:
        """The consultation is over: back to the caller (询问后返回)."""
        call = live.call
        self._end_consult_bridge(live)
        if live.consult_leg is not None:
            await self._drop(live, live.consult_leg, "consult_ended")
            live.consult_leg = None
        self.bridging.hold_changed(live, False)
        if call.agent_leg is not None:
            await self.bridging.connect(live, call.agent_leg, call.legs[call.agent_leg])

    async def complete(self, live: LiveCall) -> None:
        """询问转: the caller goes to the consulted party; the agent leaves."""
        call = live.call
        leg_id = live.consult_leg
        if leg_id is None:
            raise Conflict("there is no consultation to complete", "没有正在进行的询问")
        self._end_consult_bridge(live)
        live.consult_leg = None
        live.joined_agents.pop(leg_id, None)  # the ACD has the agent on this call already: it stays so
        state = call.legs.pop(leg_id)
        self.bridging.hold_changed(live, False)
        await self.transfers.adopt(live, leg_id, state)

    def _end_consult_bridge(self, live: LiveCall) -> None:
        if live.consult_bridge is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.ctx.media.unbridge(live.consult_bridge)
            live.consult_bridge = None

    async def conference(self, live: LiveCall, target: str) -> None:
        call = live.call
        if call.bridge_id is None:
            raise Conflict("the call is not connected", "通话未接通")
        where, value, leg_id = await self._ring(live, target)
        if leg_id is None:
            raise Conflict(f"cannot ring {target}", f"无法呼叫 {target}")
        live.conference_legs.add(leg_id)
        call.note(self.ctx.clock.wall(), "conference", f"{where}:{value}")
