"""Ending a call: each part's clean-up, then the recording, the bridge and every leg, then the outcome.

Parts register their clean-up step as they are built (voicemail deposits its message, the IVR closes its
session, the ACD is told, monitors detach) so ending knows none of them; the steps run in the order they were
registered. What every call has — timers, recording, bridge, legs — is torn down here, after the steps, so a
step still finds the call's media in place. Last come the disposition and the public `calls.ended` that
carries the CDR (the journal writes it; call control never does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from appliance.calls import events as E
from appliance.calls.bridging import Bridging
from appliance.calls.cdr import build_cdr, missed_reasons
from appliance.calls.context import CallContext
from appliance.calls.live import LiveCall
from appliance.calls.models import Call, CallPhase, LegRole
from appliance.errors import ApplianceError

CleanUpStep = Callable[[LiveCall], Awaitable[None]]

# where a caller who hangs up before being served has abandoned the call
ABANDON_PHASES = frozenset({CallPhase.IVR, CallPhase.QUEUED, CallPhase.RINGING, CallPhase.ROUTING})


@dataclass
class CallEnding:
    ctx: CallContext
    bridging: Bridging
    completed: int = 0
    _steps: list[CleanUpStep] = field(default_factory=list)

    def register(self, step: CleanUpStep) -> None:
        self._steps.append(step)

    async def end(self, live: LiveCall, side: str, cause: str, *, hang_up_caller: bool = True) -> None:
        """End the call once (later calls do nothing). `hang_up_caller=False`: the caller's leg ended or was
        refused already and must not be sent a hang-up."""
        call = live.call
        if call.phase == CallPhase.ENDED:
            return
        previous = call.phase
        call.phase = CallPhase.ENDED
        now = self.ctx.clock.wall()
        call.ended_at = now
        call.hangup_side = call.hangup_side or side
        call.hangup_cause = call.hangup_cause or cause
        call.note(now, "ended", f"{side}: {cause}")
        for handle in live.timers:
            handle.cancel()
        for step in self._steps:
            await step(live)
        self.bridging.stop_recording(call)
        self.bridging.unbridge(call)
        self._end_legs(call, now, cause, hang_up_caller)
        if not call.disposition:
            call.disposition = _disposition(call, previous, side)
        missed = missed_reasons(call, live.unanswered_offers, live.left_queue_by)
        if call.disposition == "abandoned" and previous in ABANDON_PHASES:
            self.ctx.publish(E.CallAbandoned(call_id=call.id, queue=call.queue, phase=previous.value,
                                             waited=round(now - (call.queued_at or call.started_at), 3)))
        cdr = build_cdr(call, missed)
        self.ctx.publish(E.CallEnded(call_id=call.id, agent=call.agent, disposition=call.disposition,
                                     hangup_side=call.hangup_side, hangup_cause=call.hangup_cause,
                                     duration=float(cdr["duration"] or 0.0), cdr=cdr))
        self.ctx.registry.remove(call.id)
        self.completed += 1

    def _end_legs(self, call: Call, now: float, cause: str, hang_up_caller: bool) -> None:
        registry = self.ctx.registry
        for leg_id, state in call.legs.items():
            if state.ended_at is None:
                state.ended_at = now
                state.cause = state.cause or cause
                if state.role != LegRole.CALLER or hang_up_caller:
                    with contextlib.suppress(ApplianceError, KeyError):
                        state.leg.hangup()
            registry.release_endpoint(state)
            registry.forget_leg(leg_id)


def _disposition(call: Call, previous: CallPhase, side: str) -> str:
    """The outcome of a call no part has named one for."""
    if call.agent_answered_at is not None or previous == CallPhase.CONNECTED:
        return "answered"
    if previous == CallPhase.FEATURE:
        return "feature"
    if call.ivr_exit == "self_served":
        return "self_served"
    return "abandoned" if side == "caller" else "ended"
