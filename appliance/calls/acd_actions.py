"""What the ACD decided for a call, carried out: offers to agents, position announcements, overflow to
voicemail, a number or an IVR flow, VIP look-ups and callbacks."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.acd import actions as A
from appliance.calls.agent_offers import AgentOffers
from appliance.calls.callbacks import Callbacks
from appliance.calls.context import CallContext
from appliance.calls.crm_vip import CrmVipLookups
from appliance.calls.ending import CallEnding
from appliance.calls.ivr_calls import CallIvr
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall
from appliance.calls.models import CallPhase
from appliance.calls.queueing import Queueing
from appliance.calls.voicemail_flow import VoicemailFlow


@dataclass
class AcdActionHandler:
    ctx: CallContext
    queueing: Queueing
    offers: AgentOffers
    callbacks: Callbacks
    vip: CrmVipLookups
    ivr: CallIvr
    voicemail: VoicemailFlow
    legs: LegControl
    ending: CallEnding

    async def handle(self, live: LiveCall, action: A.Action) -> None:
        if live.call.phase == CallPhase.ENDED:
            return
        if isinstance(action, A.OfferCall):
            await self.offers.offer(live, action.agent_id)
        elif isinstance(action, A.RingAll):
            for agent_id in action.agent_ids:
                await self.offers.offer(live, agent_id)
        elif isinstance(action, A.CancelOffer):
            await self.offers.cancel_offer(live, action.agent_id, action.reason)
        elif isinstance(action, A.AnnouncePosition):
            await self.queueing.announce_position(live, action)
        elif isinstance(action, A.OverflowCall):
            await self._overflow(live, action)
        elif isinstance(action, A.HangUpCall):
            self.queueing.dequeued(live, "overflow")
            await self.ending.end(live, "system", action.reason)
        elif isinstance(action, A.LookupVip):
            self.vip.lookup(action)
        elif isinstance(action, A.AcceptCallback):
            await self.callbacks.accepted(live, action.number)
        elif isinstance(action, A.RefuseCallback):
            live.call.note(self.ctx.clock.wall(), "callback_refused", action.reason)
        elif isinstance(action, A.DialCallback):
            await self.callbacks.dial(live, action.number)

    async def _overflow(self, live: LiveCall, action: A.OverflowCall) -> None:
        call = live.call
        self.queueing.dequeued(live, "overflow")
        if live.caller_gone:  # a callback ticket that waited too long: nobody left to send anywhere
            await self.ending.end(live, "system", f"callback_{action.reason}")
            return
        call.note(self.ctx.clock.wall(), "overflow", f"{action.reason} → {action.kind}:{action.target}")
        if action.kind == "voicemail":
            box = action.target or self.queueing.voicemail_box(call.queue)
            await self.voicemail.start(live, box)
        elif action.kind == "external":
            await self.legs.ring_external(live, action.target)
        elif action.kind == "ivr":
            flow = action.target.split(":", 1)[0]
            await self.ivr.start(live, flow)
        else:
            await self.ending.end(live, "system", f"overflow_{action.reason}")
