"""Callbacks (回拨): a waiting caller leaves a number and hangs up; the call stays open as a ticket in the
queue. When an agent takes the ticket the agent is connected first, then the customer is dialled and becomes
the caller of the call; a customer who does not answer is tried again later, a few times: the ticket goes back
to the queue and the customer is dialled again when an agent takes it."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.calls.agent_offers import AgentOffers
from appliance.calls.bridging import Bridging
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall
from appliance.calls.models import CallPhase, LegRole, LegState
from appliance.calls.playback import Playback
from appliance.calls.queueing import Queueing

CALLBACK_ATTEMPTS = 3  # tries to reach a customer who asked to be called back
CALLBACK_RETRY_S = 120.0


@dataclass
class Callbacks:
    ctx: CallContext
    playback: Playback
    legs: LegControl
    bridging: Bridging
    queueing: Queueing
    offers: AgentOffers
    ending: CallEnding

    def __post_init__(self) -> None:
        self.offers.handle_tickets(self.ticket_answered)

    async def accepted(self, live: LiveCall, number: str) -> None:
        """The ACD keeps the caller's place: confirm once, let the caller go, keep the call open for the ticket.

        A number left in the IVR was confirmed by the flow's callback step already (its confirm prompt, which a
        flow may leave out on purpose), so only a callback asked for with the queue's key is confirmed here."""
        call = live.call
        call.variables["callback_number"] = number
        call.note(self.ctx.clock.wall(), "callback_registered", number)
        if live.caller_gone:
            return  # a retry's ticket: nobody is on the line
        if live.callback_confirmed:
            await self.legs.drop_leg(live, call.caller_leg, "callback_registered")
            return
        saved = self.ctx.prompts.resolve("callback_saved", call.language)  # type: ignore[arg-type]

        async def release() -> None:
            await self.legs.drop_leg(live, call.caller_leg, "callback_registered")

        await self.playback.play_then(live, [saved], release)

    async def ticket_answered(self, live: LiveCall, leg_id: str, state: LegState) -> None:
        """An agent answered the ticket: the agent is connected first (hearing ringback), then the customer is
        dialled. The ACD asks for that (`DialCallback`) when it knows the call as a ticket. A retry enters the
        queue as a plain call and asks for the callback after; an idle agent is offered it at once, the ACD
        refuses the callback (the call is no longer waiting) and never asks — so the customer is dialled here
        when the ACD took the answer without asking."""
        call = live.call
        agent_id = state.agent_id or ""
        call.agent, call.agent_leg, call.agent_answered_at = agent_id, leg_id, self.ctx.clock.wall()
        call.phase = CallPhase.RINGING
        self.queueing.dequeued(live, "callback", agent_id)
        call.note(call.agent_answered_at, "agent_answered", f"{agent_id} (callback)")
        actions = self.ctx.acd_command(C.OfferAnswered(call_id=call.id, agent_id=agent_id))
        asked = any(isinstance(a, A.DialCallback) for a in actions)
        stale = any(isinstance(a, A.CancelOffer) and a.agent_id == agent_id for a in actions)
        number = call.variables.get("callback_number", "")
        if not asked and not stale and number:
            await self.dial(live, number)

    async def dial(self, live: LiveCall, number: str) -> None:
        """The agent answered the ticket: now call the customer and connect them (agent first, then customer)."""
        call = live.call
        live.callback_attempts += 1
        call.note(self.ctx.clock.wall(), "callback_dial", f"{number} (attempt {live.callback_attempts})")
        agent_state = call.legs.get(call.agent_leg or "")
        if agent_state is not None and agent_state.endpoint_id is not None:
            self.ctx.media.play(agent_state.endpoint_id, tone="ringback")
        if self.ctx.store.find("extensions", number) is not None:
            leg_id = await self.legs.ring_extension(live, number, LegRole.CALLEE)
        else:
            before = set(call.legs)
            await self.legs.ring_external(live, number)
            leg_id = next((k for k in call.legs if k not in before), None)
        if leg_id is not None:
            call.caller_leg = leg_id  # the customer is the caller of this call from now on
            state = call.legs[leg_id]
            state.role = LegRole.CALLER
            live.callback_leg = leg_id

    async def customer_answered(self, live: LiveCall, state: LegState) -> None:
        """The customer picked up: the agent stops hearing ringback and the two are bridged."""
        call = live.call
        live.callback_leg = None
        call.note(self.ctx.clock.wall(), "callback_answered", state.party)
        agent_state = call.legs.get(call.agent_leg or "")
        if agent_state is not None:
            if agent_state.endpoint_id is not None:
                self.ctx.media.stop_playing(agent_state.endpoint_id)  # the ringback the agent heard
            await self.bridging.connect(live, call.agent_leg or "", agent_state)

    async def customer_missed(self, live: LiveCall, cause: str) -> None:
        """The customer did not answer: the agent is released and their phone hung up; try again later, a few
        times."""
        call = live.call
        live.callback_leg = None
        agent_leg = call.agent_leg  # release_agent forgets it: the agent's phone still hears ringback
        self.offers.release_agent(live)
        if agent_leg is not None:
            await self.legs.drop_leg(live, agent_leg, "callback_failed")
        call.agent, call.agent_leg, call.agent_answered_at = "", None, None
        number = call.variables.get("callback_number", "")
        if live.callback_attempts >= CALLBACK_ATTEMPTS or not number:
            call.disposition = "callback_failed"
            await self.ending.end(live, "system", f"callback_{cause}")
            return
        call.note(self.ctx.clock.wall(), "callback_retry", f"in {CALLBACK_RETRY_S:.0f} s")
        call.phase = CallPhase.QUEUED

        async def again() -> None:
            self.queueing.enter(live, call.queue, vip=call.vip, music=False)

        self.ctx.later(live, CALLBACK_RETRY_S, again)
