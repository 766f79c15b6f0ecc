"""The legs of a call: answering or refusing the caller, ringing extensions, agents and numbers with new legs,
and dropping a leg the call no longer needs."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from appliance.calls import events as E
from appliance.calls.bridging import Bridging
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.live import LiveCall
from appliance.calls.models import CallPhase, Direction, LegRole, LegState
from appliance.calls.toll_fraud import policy_of
from appliance.domain import models as m
from appliance.errors import ApplianceError
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused, OutboundLeg

log = logging.getLogger(__name__)

@dataclass
class LegControl:
    ctx: CallContext
    bridging: Bridging
    ending: CallEnding

    # ---------------------------------------------------------------- the caller's leg

    async def answer_caller(self, live: LiveCall, *, now: bool = True) -> bool:
        """Open the caller's media and answer it (or, with `now=False`, say it rings and answer when the far
        party answers — internal and outbound calls); refused (no codec in common...) when media cannot be."""
        call = live.call
        state = call.legs[call.caller_leg]
        try:
            endpoint_id = await state.leg.open_media()
        except LegRefused as exc:
            log.info("call %s: no media (%s)", call.id, exc)
            await self.reject(live, exc.cause, "not_acceptable")
            return False
        state.endpoint_id = endpoint_id
        self.ctx.registry.map_endpoint(endpoint_id, call.id)
        if call.phase == CallPhase.ENDED:
            return False
        live.answer_pending = True
        if now:
            self.bridging.answer_caller_if_pending(live)
        else:
            state.leg.progress()
        return True

    async def reject(self, live: LiveCall, cause: Cause, reason: str) -> None:
        live.call.legs[live.call.caller_leg].leg.reject(cause)
        live.call.disposition = "rejected"
        await self.ending.end(live, "system", reason, hang_up_caller=False)

    # ---------------------------------------------------------------- new legs

    async def ring(self, live: LiveCall, role: LegRole, callee: str, *, extension: str | None = None,
                   trunk: str | None = None, agent_id: str | None = None, caller: str | None = None,
                   kind: str | None = None) -> str:
        """A new outbound leg of this call with its media; `LegRefused` (logged) when nothing could ring.
        Without a `kind`, the callee is an extension and the leg factory says which kind reaches it."""
        call = live.call
        clock = self.ctx.clock
        if kind is None:
            kind = self.ctx.legs.extension_kind(extension or callee)
        try:
            leg = await self.ctx.legs.create(kind, OutboundLeg(
                callee=callee, caller=caller or call.caller, caller_name=call.caller_name or None,
                extension=extension, trunk=trunk))
        except LegRefused as exc:
            log.info("call %s: cannot ring %s: %s", call.id, callee, exc.message)
            raise
        self.ctx.registry.adopt_leg(live, leg, LegState(leg, role, callee, clock.wall(), agent_id=agent_id))
        self.ctx.publish(E.CallRinging(call_id=call.id, role=role.value, party=callee, agent=agent_id or "",
                                       caller=call.caller, caller_name=call.caller_name, queue=call.queue,
                                       variables={k: str(v) for k, v in call.variables.items()}))
        call.note(clock.wall(), "ringing", f"{role.value} {callee}" + (f" via {trunk}" if trunk else ""))
        if role == LegRole.CALLEE:
            call.phase = CallPhase.RINGING
            caller_state = call.legs.get(call.caller_leg)
            caller_ep = live.caller_endpoint
            if caller_ep is not None and caller_state is not None and caller_state.answered_at is not None:
                self.ctx.media.play(caller_ep, tone="ringback")  # an unanswered phone plays its own ringback
        return leg.leg_id

    async def ring_extension(self, live: LiveCall, extension: str, role: LegRole,
                             agent_id: str | None = None) -> str | None:
        """Ring an extension with a new leg of this call; returns the leg id (None: it could not ring)."""
        try:
            return await self.ring(live, role, extension, extension=extension, agent_id=agent_id)
        except LegRefused:
            return None

    async def ring_external(self, live: LiveCall, number: str) -> None:
        """Call a PSTN number through the first enabled trunk whose driver is installed, showing the trunk's
        caller ID; the call ends when there is no trunk or the trunk refuses."""
        call = live.call
        trunk = next((t for t in self.ctx.store.list("trunks")
                      if t.enabled and self.ctx.legs.provides(t.kind.value)
                      and (t.kind != m.TrunkKind.SIP or t.host)), None)
        if trunk is None:
            call.note(self.ctx.clock.wall(), "no_trunk", number)
            await self.ending.end(live, "system", "no_trunk")
            return
        limit = policy_of(self.ctx.store.settings).max_concurrent_per_trunk  # toll fraud, and the trunk's size
        if limit and sum(1 for other in self.ctx.registry.calls.values() if other is not live and other.call.trunk
                         == trunk.id and other.call.direction == Direction.OUTBOUND) >= limit:
            call.note(self.ctx.clock.wall(), "trunk_busy", f"{trunk.id}: {limit} outbound calls already up")
            await self.ending.end(live, "system", "trunk_busy")
            return
        caller_id = trunk.outbound_caller_id or call.did or call.caller
        call.trunk = call.trunk or trunk.id
        try:
            await self.ring(live, LegRole.CALLEE, number, trunk=trunk.id, caller=caller_id,
                            kind=trunk.kind.value)
        except LegRefused as exc:
            call.note(self.ctx.clock.wall(), "trunk_failed", exc.cause.slug)
            await self.ending.end(live, "system", "trunk_failed")

    # ---------------------------------------------------------------- ending one leg

    async def drop_leg(self, live: LiveCall, leg_id: str, cause: str) -> None:
        """Hang up one leg the call no longer needs; its own `LegEnded` then finds it accounted for."""
        state = live.call.legs.get(leg_id)
        if state is None or state.ended_at is not None:
            return
        state.ended_at = self.ctx.clock.wall()
        state.cause = cause
        with contextlib.suppress(ApplianceError, KeyError):
            state.leg.hangup()
        self.ctx.registry.release_endpoint(state)
