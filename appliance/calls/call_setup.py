"""New calls and where they go first.

An inbound leg becomes a call: a feature code from one of our phones is carried out; an extension is rung;
a number that is not ours goes out through a trunk if the caller may dial it (toll fraud); an access number
is routed by time period to an IVR flow, a queue, an extension, voicemail or a prompt. The box also places
calls itself (click-to-dial, a supervisor's monitoring): it rings an extension first and goes on once that
phone answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.calls import events as E
from appliance.calls import feature_codes as fc
from appliance.calls.actor import CallActors
from appliance.calls.context import CallContext
from appliance.calls.dialplan import may_dial
from appliance.calls.ending import CallEnding
from appliance.calls.ivr_calls import CallIvr
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall
from appliance.calls.models import Call, Direction, LegRole, LegState
from appliance.calls.phone_features import PhoneFeatures
from appliance.calls.playback import Playback
from appliance.calls.queueing import Queueing
from appliance.calls.toll_fraud import OutboundGuard, Refusal, policy_of
from appliance.calls.voicemail_flow import VoicemailFlow
from appliance.domain import models as m
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused, OutboundLeg

AfterAnswer = Callable[[LiveCall], Awaitable[None]]


@dataclass
class CallSetup:
    ctx: CallContext
    actors: CallActors
    playback: Playback
    legs: LegControl
    ivr: CallIvr
    queueing: Queueing
    voicemail: VoicemailFlow
    features: PhoneFeatures
    ending: CallEnding
    outbound: OutboundGuard = field(default_factory=OutboundGuard)  # toll-fraud limits' attempt history

    def _offered(self, call: Call, leg_kind: str) -> None:
        self.ctx.publish(E.CallOffered(call_id=call.id, direction=call.direction.value, caller=call.caller,
                                       caller_name=call.caller_name, callee=call.callee, trunk=call.trunk,
                                       leg_kind=leg_kind))

    # ---------------------------------------------------------------- inbound

    def incoming(self, event: leg_events.LegIncoming) -> None:
        ctx = self.ctx
        wall = ctx.clock.wall()
        call_id = ctx.registry.new_id(wall)
        direction = Direction.INBOUND if event.trunk or not event.extension else Direction.INTERNAL
        call = Call(id=call_id, direction=direction, caller=event.caller, caller_name=event.caller_name or "",
                    callee=event.callee, started_at=wall, caller_leg=event.leg_id,
                    trunk=event.trunk or "", extension=event.extension or "")
        call.legs[event.leg_id] = LegState(ctx.legs.leg(event.kind, event.leg_id), LegRole.CALLER, event.caller,
                                           wall)
        live = LiveCall(call)
        ctx.registry.add(live)
        ctx.registry.map_leg(event.leg_id, call_id)
        call.note(wall, "incoming", f"{event.caller} → {event.callee} via {event.trunk or 'ext'}")
        self._offered(call, event.kind)
        self.actors.spawn(live, lambda: self._route(live, event))

    async def _route(self, live: LiveCall, incoming: leg_events.LegIncoming) -> None:
        call = live.call
        callee = incoming.callee
        store = self.ctx.store
        if incoming.extension:
            request = fc.parse(callee)
            if request is not None:
                await self.features.dialled(live, incoming.extension, request)
                return
            if store.find("extensions", callee) is not None:
                if (await self.legs.answer_caller(live, now=False)
                        and await self.legs.ring_extension(live, callee, LegRole.CALLEE) is None):
                    call.disposition = "unavailable"
                    await self.ending.end(live, "system", "callee_not_registered")
                return
            if store.find("dids", callee) is None:
                await self._dial_out(live, incoming, callee)
                return
        decision = self.ctx.router().route(did=callee, caller=incoming.caller, wall=self.ctx.clock.wall())
        call.direction = Direction.INBOUND  # a call to an access number is a customer's, whoever places it
        call.did = callee
        call.vip = decision.vip
        call.language = decision.language
        call.note(self.ctx.clock.wall(), "routed", f"{decision.period.value if decision.period else ''} → "
                  f"{decision.destination.kind}:{decision.destination.target}")
        if decision.reject:
            await self.legs.reject(live, decision.reject_cause, "rejected")
            return
        if not decision.known_did and decision.destination.kind == "hangup":
            await self.legs.reject(live, Cause.UNALLOCATED_NUMBER, "unknown_number")
            return
        if not await self.legs.answer_caller(live):
            return
        dest = decision.destination
        if dest.kind == "flow":
            await self.ivr.start(live, dest.target)
        elif dest.kind == "queue":
            self.queueing.enter(live, dest.target, priority=dest.priority, vip=decision.vip)
        elif dest.kind == "extension":
            await self.legs.ring_extension(live, dest.target, LegRole.CALLEE)
        elif dest.kind == "voicemail":
            await self.voicemail.start(live, dest.target)
        elif dest.kind == "prompt":
            prompt = self.ctx.prompts.resolve(dest.target, decision.language)
            await self.playback.play_then(live, [prompt],
                                          lambda: self.ending.end(live, "system", "prompt_played"))
        else:
            await self.ending.end(live, "system", "no_destination")

    async def _dial_out(self, live: LiveCall, incoming: leg_events.LegIncoming, number: str) -> None:
        """An extension dialled a number that is not ours: permission first (toll fraud), then a trunk."""
        call = live.call
        store = self.ctx.store
        call.direction = Direction.OUTBOUND
        ext = store.find("extensions", incoming.extension or "")
        person = next((s for s in store.list("staff") if s.extension == incoming.extension), None)
        allowed = max((x.dial_class for x in (ext, person) if x is not None),
                      key=lambda c: list(m.DialClass).index(c), default=m.DialClass.INTERNAL)
        decision = may_dial(allowed, number, set(e.number for e in store.list("extensions")))
        call.note(self.ctx.clock.wall(), "dial_out",
                  f"{number}: {decision.number_class} needs {decision.required}")
        if not decision.allowed:
            self._toll_guard(live, decision.number_class.value, decision.required)
            await self.legs.reject(live, Cause.OUTGOING_CALL_BARRED, "dial_not_allowed")
            return
        refusal = self._toll_guard(live, decision.number_class.value, decision.required)
        if refusal is not None:
            call.note(self.ctx.clock.wall(), "toll_guard", refusal.detail)
            await self.legs.reject(live, Cause.OUTGOING_CALL_BARRED, refusal.rule)
            return
        if await self.legs.answer_caller(live, now=False):
            await self.legs.ring_external(live, decision.number)

    def _toll_guard(self, live: LiveCall, number_class: str, required: m.DialClass) -> Refusal | None:
        """Count the attempt (a burst of expensive ones is published) and apply the `toll_fraud` limits."""
        ctx, ext = self.ctx, live.call.extension or live.call.caller
        policy = policy_of(ctx.store.settings)
        now = ctx.clock.wall()
        burst = self.outbound.attempt(policy, ext, number_class, now)
        if burst is not None:
            ctx.publish(E.TollFraudSuspected(attempts=burst, window_s=policy.burst_window, extension=ext,
                                             number_class=number_class))
        zone = str(ctx.store.settings.get("time_zone") or "Asia/Shanghai")
        hour = datetime.fromtimestamp(now, ZoneInfo(zone)).hour
        active = sum(1 for other in ctx.registry.calls.values() if other is not live
                     and other.call.direction == Direction.OUTBOUND and other.call.extension == ext)
        return self.outbound.check(policy, ext, required, hour, active)

    # ---------------------------------------------------------------- placed by the box

    def originated(self, extension: str, target: str, after_answer: AfterAnswer) -> str:
        """A call the box places: it rings `extension` first, then `after_answer(live)` runs once it answers."""
        ctx = self.ctx
        wall = ctx.clock.wall()
        call_id = ctx.registry.new_id(wall)
        call = Call(id=call_id, direction=Direction.INTERNAL, caller=extension, callee=target, started_at=wall,
                    caller_leg="", extension=extension)
        live = LiveCall(call)
        ctx.registry.add(live)
        call.note(wall, "originate", f"{extension} → {target}")
        self._offered(call, ctx.legs.extension_kind(extension))
        self.actors.spawn(live, lambda: self._ring_originator(live, extension, after_answer))
        return call_id

    async def _ring_originator(self, live: LiveCall, extension: str, after_answer: AfterAnswer) -> None:
        call = live.call
        try:
            leg = await self.ctx.legs.create(self.ctx.legs.extension_kind(extension),
                                             OutboundLeg(callee=extension, caller=call.callee, extension=extension))
        except LegRefused:
            await self.ending.end(live, "system", "unreachable")
            return
        call.caller_leg = leg.leg_id
        self.ctx.registry.adopt_leg(live, leg, LegState(leg, LegRole.CALLER, extension, self.ctx.clock.wall()))
        live.on_caller_answer = after_answer
