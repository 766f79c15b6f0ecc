"""Where a key pressed on a leg goes, whichever way it came (SIP INFO, RFC 4733 or in-band): a monitoring
supervisor's mode keys, the IVR, a queue's keys, the end of a voicemail message, or an agent marking the
caller as an intended customer (意向客户)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.calls.context import CallContext
from appliance.calls.ivr_calls import CallIvr
from appliance.calls.live import LiveCall
from appliance.calls.models import CallPhase, LegRole, LegState
from appliance.calls.queueing import Queueing
from appliance.calls.supervision import Supervision
from appliance.calls.voicemail_flow import VoicemailFlow

INTENDED_CUSTOMER_KEY = "*"
END_OF_MESSAGE_KEY = "#"


@dataclass
class Digits:
    ctx: CallContext
    supervision: Supervision
    ivr: CallIvr
    queueing: Queueing
    voicemail: VoicemailFlow

    async def pressed(self, live: LiveCall, state: LegState, digit: str) -> None:
        call = live.call
        if state.role == LegRole.CALLER and live.monitor is not None:
            await self.supervision.key_pressed(live, digit)
        elif state.role == LegRole.CALLER:
            if call.phase == CallPhase.IVR and live.ivr is not None:
                self.ivr.key_pressed(live, digit)
            elif call.phase == CallPhase.QUEUED:
                self.queueing.key_pressed(live, digit)
            elif call.phase == CallPhase.VOICEMAIL and digit == END_OF_MESSAGE_KEY:
                await self.voicemail.finish(live)
        elif (state.role == LegRole.AGENT and digit == INTENDED_CUSTOMER_KEY
              and call.phase == CallPhase.CONNECTED):
            call.intended_customer = True
            call.note(self.ctx.clock.wall(), "intended_customer", state.agent_id or "")
