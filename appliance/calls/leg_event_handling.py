"""A call's leg events, sent to the part that owns what happened: an answer or an end goes by the leg's role
(caller, agent, callee, consulted party), digits to `digits`, a phone's transfer request to `transfers`,
a phone's hold to `bridging`."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.calls import events as E
from appliance.calls import remote_answer
from appliance.calls.agent_offers import AgentOffers
from appliance.calls.bridging import Bridging
from appliance.calls.callbacks import Callbacks
from appliance.calls.consultation import Consultation
from appliance.calls.context import CallContext
from appliance.calls.digits import Digits
from appliance.calls.ending import CallEnding
from appliance.calls.live import LiveCall
from appliance.calls.models import Call, LegRole, LegState
from appliance.calls.transfers import Transfers
from appliance.events import Event
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause


@dataclass
class LegEventHandler:
    ctx: CallContext
    digits: Digits
    bridging: Bridging
    offers: AgentOffers
    callbacks: Callbacks
    transfers: Transfers
    consultation: Consultation
    ending: CallEnding

    async def handle(self, live: LiveCall, event: Event) -> None:
        leg_id = getattr(event, "leg_id", "")
        state = live.call.legs.get(leg_id)
        if state is None:
            return  # a leg this call let go of (handed over, or dropped and forgotten)
        if isinstance(event, leg_events.LegAnswered):
            await self._answered(live, leg_id, state)
        elif isinstance(event, leg_events.LegEnded):
            await self._ended(live, leg_id, state, event)
        elif isinstance(event, leg_events.LegDtmf):
            await self.digits.pressed(live, state, event.digit)
        elif isinstance(event, leg_events.LegTransferRequested):
            await self.transfers.on_refer(live, leg_id, state, event)
        elif isinstance(event, leg_events.LegHoldChanged) and state.role in (LegRole.AGENT, LegRole.CALLER):
            self.bridging.hold_changed(live, event.held)
        elif isinstance(event, leg_events.LegProgress):
            remote_answer.progress(self.ctx, live, state, event)
        elif isinstance(event, leg_events.LegRemoteAnswerRefused):
            remote_answer.refused(self.ctx, live, state, event)

    def _mark_answered(self, call: Call, state: LegState) -> None:
        now = self.ctx.clock.wall()
        state.answered_at = now
        if state.role == LegRole.CALLER:
            call.answered_at = now
        self.ctx.publish(E.CallAnswered(call_id=call.id, role=state.role.value, party=state.party,
                                        agent=state.agent_id or ""))

    async def _answered(self, live: LiveCall, leg_id: str, state: LegState) -> None:
        if state.role == LegRole.CALLER:
            await self._caller_answered(live, leg_id, state)
            return
        self._mark_answered(live.call, state)
        if leg_id == live.transfer_leg:
            live.transfer_leg = None
        if state.role == LegRole.AGENT:
            await self.offers.answered(live, leg_id, state)
        elif state.role == LegRole.CALLEE:
            await self.bridging.connect(live, leg_id, state)
        elif state.role == LegRole.CONSULT:
            await self.consultation.consulted_answered(live, leg_id, state)

    async def _caller_answered(self, live: LiveCall, leg_id: str, state: LegState) -> None:
        """Only calls the box places ring their caller: a callback's customer, or the phone of a click-to-dial
        or a supervisor's monitoring call (which then goes on as `on_caller_answer` says)."""
        if leg_id == live.callback_leg:
            self._mark_answered(live.call, state)
            await self.callbacks.customer_answered(live, state)
            return
        if live.on_caller_answer is None or state.answered_at is not None:
            return
        self._mark_answered(live.call, state)
        follow, live.on_caller_answer = live.on_caller_answer, None
        await follow(live)

    async def _ended(self, live: LiveCall, leg_id: str, state: LegState, event: leg_events.LegEnded) -> None:
        call = live.call
        if state.ended_at is not None:
            return  # we ended it ourselves (offer withdrawn, call over): already accounted for
        state.ended_at = self.ctx.clock.wall()
        cause = event.cause.slug
        state.cause = cause
        self.ctx.registry.release_endpoint(state)
        if leg_id == live.transfer_leg:
            await self.transfers.target_missed(live, state, event.cause)
        elif state.role == LegRole.CALLER:
            if leg_id == live.callback_leg and state.answered_at is None:
                await self.callbacks.customer_missed(live, cause)
                return
            call.hangup_side = "caller" if event.remote else "system"
            await self.ending.end(live, call.hangup_side, cause, hang_up_caller=False)
        elif state.role == LegRole.AGENT:
            if leg_id == call.agent_leg and await self.consultation.agent_left(live):
                return  # a 3-way call goes on without the agent
            await self.offers.leg_ended(live, leg_id, state, event)
        elif state.role == LegRole.CONSULT:
            await self.consultation.consulted_left(live, leg_id, state, cause)
        elif state.role == LegRole.CALLEE:
            if state.answered_at is not None:
                call.hangup_side = "callee"
                await self.ending.end(live, "callee", cause)
            else:
                no_answer = event.cause in (Cause.NO_ANSWER, Cause.NO_USER_RESPONDING)
                call.disposition = "no_answer" if no_answer else "failed"
                await self.ending.end(live, "system", f"callee_{cause}")
