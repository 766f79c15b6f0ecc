"""The agent's side of a queued call: the ACD's offers ring agents' phones, the first to answer is announced
(接通播报工号) and bridged, the others stop ringing; and the serving agent's leaving, after which the ACD starts
the agent's wrap-up. An agent who hangs up first may leave the caller to rate the service (满意度调查)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from appliance.acd import commands as C
from appliance.calls.bridging import Bridging
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.ivr_calls import CallIvr
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall
from appliance.calls.models import Call, CallPhase, LegRole, LegState
from appliance.calls.playback import Playback
from appliance.calls.queueing import Queueing
from appliance.errors import ApplianceError
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused

AnsweredHandler = Callable[[LiveCall, str, LegState], Awaitable[None]]


@dataclass
class AgentOffers:
    ctx: CallContext
    playback: Playback
    legs: LegControl
    bridging: Bridging
    queueing: Queueing
    ivr: CallIvr
    ending: CallEnding

    _ticket_answered: AnsweredHandler | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.ending.register(self._agent_done_on_end)

    def handle_tickets(self, handler: AnsweredHandler) -> None:
        """Who takes over when an agent answers a callback ticket (the caller is gone): `callbacks`."""
        self._ticket_answered = handler

    # ---------------------------------------------------------------- offers

    async def offer(self, live: LiveCall, agent_id: str) -> None:
        call = live.call
        extension = self.ctx.agents.extension_of(agent_id)
        if extension is None:
            self.ctx.acd_command(C.OfferFailed(call_id=call.id, agent_id=agent_id, reason="no_phone"))
            return
        call.offered_agents.append(agent_id)
        call.note(self.ctx.clock.wall(), "offered", f"{agent_id} at {extension}")
        try:
            await self.legs.ring(live, LegRole.AGENT, extension, extension=extension, agent_id=agent_id)
        except LegRefused as exc:
            # Nothing rang (e.g. the phone is not registered): the ACD hears it at once, not after the ring
            # time-out, and offers the call to the next agent.
            reason = "phone_unreachable" if exc.cause == Cause.SUBSCRIBER_ABSENT else exc.cause.slug
            call.note(self.ctx.clock.wall(), "offer_failed", f"{agent_id}: {reason}")
            self.ctx.acd_command(C.OfferFailed(call_id=call.id, agent_id=agent_id, reason=reason))

    async def cancel_offer(self, live: LiveCall, agent_id: str, reason: str) -> None:
        call = live.call
        for leg_id, state in list(call.legs.items()):
            if state.role == LegRole.AGENT and state.agent_id == agent_id and not state.answered:
                live.unanswered_offers += 1
                call.note(self.ctx.clock.wall(), "offer_cancelled", f"{agent_id}: {reason}")
                await self.legs.drop_leg(live, leg_id, "offer_cancelled")

    # ---------------------------------------------------------------- an agent answers

    async def answered(self, live: LiveCall, leg_id: str, state: LegState) -> None:
        call = live.call
        if call.agent_leg is None and call.phase == CallPhase.RINGING:
            # a direct transfer to an agent (not through the ACD): the agent is now on this call
            self.agent_joined(live, state.agent_id or "", leg_id)
            await self.bridging.connect(live, leg_id, state)
        else:
            await self._offer_answered(live, leg_id, state)

    def agent_joined(self, live: LiveCall, agent_id: str, leg_id: str) -> None:
        """An agent the ACD did not route this call to is on it (a transfer): without telling the ACD, it would
        offer the agent another caller meanwhile and ignore the CallCompleted at the end."""
        call = live.call
        call.agent, call.agent_leg, call.agent_answered_at = agent_id, leg_id, self.ctx.clock.wall()
        with contextlib.suppress(ApplianceError, KeyError):
            self.ctx.acd_command(C.AgentStartedOtherCall(agent_id=agent_id, call_id=call.id, kind="transfer"))

    async def _offer_answered(self, live: LiveCall, leg_id: str, state: LegState) -> None:
        call = live.call
        if call.agent_leg is not None or call.phase != CallPhase.QUEUED:
            await self.legs.drop_leg(live, leg_id, "late_answer")
            return
        agent_id = state.agent_id or ""
        if live.caller_gone and self._ticket_answered is not None:
            await self._ticket_answered(live, leg_id, state)  # a callback ticket: the customer is dialled next
            return
        self.ctx.acd_command(C.OfferAnswered(call_id=call.id, agent_id=agent_id))
        self.queueing.dequeued(live, "answered", agent_id)
        call.agent = agent_id
        call.agent_leg = leg_id
        call.agent_answered_at = self.ctx.clock.wall()
        call.phase = CallPhase.ANSWERED
        call.note(call.agent_answered_at, "agent_answered", agent_id)
        for other_id, other in list(call.legs.items()):  # ring-all: the others stop ringing
            if other.role == LegRole.AGENT and other_id != leg_id and other.ended_at is None:
                await self.legs.drop_leg(live, other_id, "answered_elsewhere")
        queue = self.ctx.store.find("queues", call.queue)
        if queue is not None and queue.announce_agent_id:
            text = (f"{' '.join(agent_id)}号座席为您服务" if call.language != "en"
                    else f"Agent {' '.join(agent_id)} is now serving you.")
            try:
                path = await self.playback.speak(text, call.language)
            except ApplianceError:
                path = None
            if path is not None and call.phase == CallPhase.ANSWERED:
                await self.playback.play_then(live, [path], lambda: self.bridging.connect(live, leg_id, state))
                return
        await self.bridging.connect(live, leg_id, state)

    # ---------------------------------------------------------------- an agent's leg ends

    async def leg_ended(self, live: LiveCall, leg_id: str, state: LegState, event: leg_events.LegEnded) -> None:
        call = live.call
        cause = event.cause.slug
        if leg_id == call.agent_leg:
            await self.caller_left_alone(live, "agent", cause)
        elif call.phase == CallPhase.QUEUED and state.answered_at is None:
            live.unanswered_offers += 1
            if event.remote:  # the phone refused or timed out (we withdraw offers ourselves otherwise)
                self.ctx.acd_command(C.OfferFailed(call_id=call.id, agent_id=state.agent_id or "", reason=cause))

    async def caller_left_alone(self, live: LiveCall, side: str, cause: str) -> None:
        """The agent (or, after the agent left a 3-way call, the third party) hung up first: the caller is
        asked to rate the service (满意度调查) when the queue has a survey, else the call ends."""
        call = live.call
        call.hangup_side = side
        queue = self.ctx.store.find("queues", call.queue) if call.queue else None
        caller = call.legs.get(call.caller_leg)
        if (queue is not None and queue.survey_flow and call.survey_score is None and caller is not None
                and caller.answered_at is not None and caller.ended_at is None):
            self.release_agent(live)
            self.bridging.unbridge(call)
            call.note(self.ctx.clock.wall(), "survey", queue.survey_flow)
            await self.ivr.start(live, queue.survey_flow)
            return
        await self.ending.end(live, side, cause)

    # ---------------------------------------------------------------- the serving agent leaves

    def release_agent(self, live: LiveCall) -> str:
        """The serving agent leaves the call (transfer, completed consultation, survey): wrap-up starts.
        Returns the agent's id ("" when no agent served the call)."""
        call = live.call
        agent_id = call.agent
        if call.agent_leg is not None:
            leg_id, call.agent_leg = call.agent_leg, None
            if call.bridge_id is not None:
                state = call.legs.get(leg_id)
                if state is not None and state.endpoint_id is not None:
                    with contextlib.suppress(ApplianceError, KeyError):
                        self.ctx.media.remove_party(call.bridge_id, state.endpoint_id)
        self._serving_agent_done(call)
        self.bridging.stop_recording(call)
        return agent_id

    def agent_done(self, agent_id: str, call_id: str) -> None:
        """The ACD hears the agent has finished with the call, and starts the agent's wrap-up."""
        with contextlib.suppress(ApplianceError, KeyError):
            self.ctx.acd_command(C.CallCompleted(agent_id=agent_id, call_id=call_id))

    def _serving_agent_done(self, call: Call) -> None:
        if call.agent and call.agent_answered_at is not None:
            self.agent_done(call.agent, call.id)

    async def _agent_done_on_end(self, live: LiveCall) -> None:
        self._serving_agent_done(live.call)
