"""The E1/PRI driver service: one card through the HAL, a `PriStack` per span, alarms from the card's
defects, B-channel audio between the card's bearer ticks and media-engine frame ports, and the leg provider
(kind "e1_pri", the kind of `TrunkKind.E1_PRI` trunks) that turns Q.931 calls into `appliance.legs` legs.

Everything runs on the event loop: the card's events and bearer ticks arrive as callbacks, the stacks are
sans-IO, and one timer per span wakes at the nearest of its deadlines (LAPD, Q.931, alarms).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import CallLeg, LegRefused, LegSink, OutboundLeg
from appliance.media.frame_media import FrameMedia
from drivers.e1 import q921, q931_model
from drivers.e1.alarms import AlarmChange, SpanAlarms
from drivers.e1.events import ChannelStateChanged, SpanAlarmChanged, SpanStateChanged
from drivers.e1.legs import KIND, PriLeg
from drivers.e1.models import E1Settings, SpanSettings, TrunkGroup, apply_caller_rules
from drivers.e1.pcap import PcapWriter
from drivers.e1.pri import PriStack
from drivers.e1.q931_codec import Number
from drivers.hal.errors import HalError
from drivers.hal.interface import BearerFrames, CardBackend
from drivers.hal.models import CardEvent, CardLost, DChannelReceived, DefectsChanged, SpanCounters

log = logging.getLogger(__name__)


@dataclass(eq=False)
class SpanRuntime:
    settings: SpanSettings
    stack: PriStack
    alarms: SpanAlarms
    legs: dict[int, PriLeg] = field(default_factory=dict)  # Q.931 call id -> leg
    timer: asyncio.TimerHandle | None = None
    counters: SpanCounters = field(default_factory=SpanCounters)
    pcap: PcapWriter | None = None
    link_up: bool = False
    refused: str = ""  # why the card would not configure the span (it is then never started)
    red: bool = False  # in red alarm (LOS, AIS or LOF declared), as last published
    blocked: frozenset[int] = frozenset()  # channels out of service, as last published

    @property
    def number(self) -> int:
        return self.settings.span


class E1Driver:
    """Implements `appliance.legs.LegProvider` (kind "e1_pri") and `drivers.hal.interface.CardListener`."""

    kind = KIND
    name = "e1"

    def __init__(self, settings: E1Settings, card: CardBackend, media: FrameMedia, bus: EventBus | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.card = card
        self.media = media
        self.bus = bus
        self.wall = wall
        self.spans: dict[int, SpanRuntime] = {}
        self._sink: LegSink | None = None
        self._legs: dict[str, PriLeg] = {}
        self._ids = itertools.count(1)
        self._rr: dict[str, int] = {}  # round-robin position per trunk group
        self._card_id = ""
        self._started = False
        self.card_down: str | None = None  # why the card is not in use (cannot be opened, or lost)
        self.counters = {"calls_in": 0, "calls_out": 0, "refused_out": 0, "bearer_ticks": 0, "alarms_raised": 0}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for s in self.settings.spans:
            stack = PriStack(s.role, t200=self.settings.t200, t203=self.settings.t203, timers=self.settings.timers,
                             overlap_digits=s.overlap_digits)
            stack.q931.channels = s.channels
            stack.q931.hunting = s.hunting
            rt = SpanRuntime(s, stack, SpanAlarms(self.settings.alarm_set_s, self.settings.alarm_clear_s))
            if self.settings.pcap_dir is not None:
                rt.pcap = PcapWriter(self.settings.pcap_dir / f"span-{s.span}.pcap", network_side=s.role == "network")
                pcap = rt.pcap
                stack.tap = lambda frame, sent, at, pcap=pcap: pcap.write(frame, sent=sent, at=self.wall())
            self.spans[s.span] = rt
        self._started = True
        try:
            info = await self.card.open(self)
        except HalError as exc:  # (a missing card must not keep the rest of the box from starting)
            self.card_down = f"cannot open the card: {exc.message}"
            log.error("E1 card %s: %s", self.settings.device, self.card_down)
            return
        self._card_id = info.card_id
        for rt in self.spans.values():
            try:
                await self.card.configure_span(rt.number, rt.settings.line)
            except HalError as exc:  # (e.g. a span the card does not have): that span stays down
                rt.refused = exc.message
                log.error("E1 span %d: not configured: %s", rt.number, exc.message)
                continue
            rt.stack.start(loop.time())
            self._process(rt)

    async def stop(self) -> None:
        for leg in list(self._legs.values()):
            self.hangup(leg, int(Cause.NORMAL_CLEARING))
        for rt in self.spans.values():
            if rt.timer is not None:
                rt.timer.cancel()
                rt.timer = None
            if rt.link_up:
                rt.stack.release(asyncio.get_running_loop().time())
                frames, _ = rt.stack.take()
                for frame in frames:
                    self.card.send_dchannel(rt.number, frame)
        await asyncio.sleep(0)  # (the DISC goes out before the line closes)
        await self.card.close()
        for rt in self.spans.values():
            if rt.pcap is not None:
                rt.pcap.close()
        self._started = False

    def listening(self) -> list[str]:
        return [f"e1 card {self.settings.device} ({len(self.spans)} spans)"]

    def status(self) -> dict[str, Any]:
        """Card, spans, channels (idle, in use, blocked, with their leg) and alarms with counters."""
        spans = []
        for rt in self.spans.values():
            q = rt.stack.q931
            channels = []
            for ch in rt.settings.channels:
                leg = next((leg for leg in rt.legs.values() if leg.channel == ch), None)
                state = "blocked" if ch in q.blocked else "in_use" if ch in q.busy else "idle"
                channels.append({"channel": ch, "state": state, "leg": leg.leg_id if leg else None})
            spans.append({"span": rt.number, "trunk": rt.settings.trunk, "role": rt.settings.role,
                          "framing": rt.settings.line.framing, "clock": rt.settings.line.clock,
                          "d_channel": "up" if rt.link_up else "down", "lapd_state": rt.stack.lapd.state.name.lower(),
                          "alarms": sorted(a.value for a in rt.alarms.active), "counters": rt.counters.to_wire(),
                          "lapd": dict(rt.stack.lapd.counters), "q931": dict(q.counters), "channels": channels})
        return {"card": self._card_id, "device": self.settings.device, "spans": spans}

    def health(self) -> Health:
        down = [rt.number for rt in self.spans.values() if not rt.link_up]
        alarms = [rt.number for rt in self.spans.values() if rt.alarms.active]
        status = Status.STARTING if not self._started else Status.DEGRADED if down or alarms else Status.OK
        detail = ", ".join([f"span {n} down" for n in down] + [f"span {n} in alarm" for n in alarms])
        if self.card_down is not None:
            status, detail = Status.DOWN, self.card_down
        gauges: dict[str, float] = {"spans_up": sum(rt.link_up for rt in self.spans.values()),
                                    "channels_in_use": sum(len(rt.stack.q931.busy) for rt in self.spans.values()),
                                    "channels_blocked": sum(len(rt.stack.q931.blocked) for rt in self.spans.values())}
        return Health.of("e1", status, detail, counters=self.counters, gauges=gauges)

    # ---------------------------------------------------------------- LegProvider

    def attach(self, sink: LegSink) -> None:
        self._sink = sink

    def leg(self, leg_id: str) -> CallLeg:
        return self._legs[leg_id]

    async def create(self, request: OutboundLeg) -> CallLeg:
        """Seize a B-channel on the first span of the trunk group that has one and send SETUP."""
        loop = asyncio.get_running_loop()
        for rt in self._hunt(request.trunk):
            if not rt.link_up or rt.alarms.red:
                continue
            channel = rt.stack.q931.free_channel()
            if channel is None:
                continue
            number = apply_caller_rules(rt.settings.caller_id_rules, request.caller or "")
            restricted = rt.settings.restrict_caller or request.caller == "anonymous"
            calling = Number("" if request.caller == "anonymous" else number, type=0, plan=1,
                             presentation=1 if restricted else 0, screening=0) if request.caller else None
            call_id, out = rt.stack.q931.setup(loop.time(), Number(request.callee), calling=calling, channel=channel)
            leg = self._new_leg(rt, call_id, channel, outbound=True, caller=request.caller, callee=request.callee)
            try:
                self.open_port(leg)
            except LegRefused:
                out += rt.stack.q931.hangup(call_id, int(Cause.RESOURCE_UNAVAILABLE), loop.time())
                rt.stack.feed(out, loop.time())
                self._process(rt)
                raise
            self.counters["calls_out"] += 1
            rt.stack.feed(out, loop.time())
            self._process(rt)
            return leg
        self.counters["refused_out"] += 1
        raise LegRefused(Cause.NO_CIRCUIT_AVAILABLE, f"no free B-channel on trunk {request.trunk or 'any'}")

    def _hunt(self, trunk: str | None) -> list[SpanRuntime]:
        group = next((g for g in self.settings.groups if g.name == trunk), None)
        if group is None:
            named = [rt for rt in self.spans.values() if rt.settings.trunk == trunk]
            group = TrunkGroup(name=trunk or "", spans=tuple(rt.number for rt in named) or tuple(self.spans))
        order = [self.spans[n] for n in group.spans if n in self.spans]
        if group.hunting == "descending":
            order.reverse()
        elif group.hunting == "round_robin" and order:
            start = self._rr.get(group.name, 0) % len(order)
            self._rr[group.name] = start + 1
            order = order[start:] + order[:start]
        return order

    # ---------------------------------------------------------------- what legs ask

    def open_port(self, leg: PriLeg) -> None:
        try:
            port = self.media.open_frame_port("alaw")
        except Exception as exc:  # (an engine that cannot: nothing can be carried)
            raise LegRefused(Cause.RESOURCE_UNAVAILABLE, f"no frame port: {exc}") from exc
        leg.port = port
        leg.endpoint_id = port.endpoint_id

    def q931_request(self, rt: SpanRuntime, method: Callable[..., list[q931_model.Output]], call: int) -> None:
        now = asyncio.get_running_loop().time()
        rt.stack.feed(method(call, now), now)
        self._process(rt)

    def hangup(self, leg: PriLeg, cause: int) -> None:
        now = asyncio.get_running_loop().time()
        rt = leg.span
        rt.stack.feed(rt.stack.q931.hangup(leg.call, cause, now), now)
        self._process(rt)
        if not leg.ended:  # (a call the stack no longer knew: end the leg all the same)
            self._end(leg, cause, remote=False)

    def answered(self, leg: PriLeg) -> None:
        if not leg.ended and not leg.answered:
            leg.answered = True
            self._emit(leg_events.LegAnswered(at=self.wall(), leg_id=leg.leg_id))

    # ---------------------------------------------------------------- CardListener

    def card_event(self, event: CardEvent) -> None:
        now = asyncio.get_running_loop().time()
        if isinstance(event, DChannelReceived):
            rt = self.spans.get(event.span)
            if rt is not None:
                rt.stack.receive(event.frame, now)
                self._process(rt)
        elif isinstance(event, DefectsChanged):
            rt = self.spans.get(event.span)
            if rt is not None:
                rt.counters = event.counters
                self._alarms(rt, rt.alarms.defects(event.defects, now))
                self._process(rt)
        elif isinstance(event, CardLost):
            log.error("E1 card %s lost: %s", self._card_id, event.reason)
            self.card_down = f"card lost: {event.reason}"
            for leg in list(self._legs.values()):
                self._end(leg, int(Cause.NETWORK_OUT_OF_ORDER), remote=True)
            for rt in self.spans.values():
                self._link(rt, False, event.reason)

    def bearer(self, frames: BearerFrames) -> None:
        """One tick of the card's clock: each B-channel with a call gives its frame to the port and takes one."""
        if frames.kind != "span":
            return
        rt = self.spans.get(frames.unit)
        if rt is None:
            return
        self.counters["bearer_ticks"] += 1
        out: dict[int, bytes] = {}
        for leg in rt.legs.values():
            port = leg.port
            if port is None:
                continue
            frame = frames.frames.get(leg.channel)
            if frame is not None:
                port.push(frame)
            out[leg.channel] = port.pull()
        if out:
            self.card.send_bearer(BearerFrames("span", rt.number, frames.tick, out))

    # ---------------------------------------------------------------- inside

    def _process(self, rt: SpanRuntime) -> None:
        frames, events = rt.stack.take()
        for frame in frames:
            self.card.send_dchannel(rt.number, frame)
        for ev in events:
            self._stack_event(rt, ev)
        if rt.stack.frames or rt.stack.events:
            self._process(rt)
            return
        self._blocking(rt)
        self._schedule(rt)

    def _blocking(self, rt: SpanRuntime) -> None:
        """Channels taken out of service (T308 twice, Q.931 §5.3.4.3) or back in (RESTART) are state changes
        too, with or without a call on them."""
        blocked = frozenset(rt.stack.q931.blocked)
        if blocked == rt.blocked:
            return
        for channel in sorted(blocked ^ rt.blocked):
            state = "blocked" if channel in blocked else "in_use" if channel in rt.stack.q931.busy else "idle"
            self._publish(ChannelStateChanged(at=self.wall(), card=self._card_id, span=rt.number, channel=channel,
                                              state=state))
        rt.blocked = blocked

    def _schedule(self, rt: SpanRuntime) -> None:
        deadlines = [d for d in (rt.stack.next_deadline(), rt.alarms.next_deadline()) if d is not None]
        if rt.timer is not None:
            rt.timer.cancel()
            rt.timer = None
        if deadlines:
            loop = asyncio.get_running_loop()
            rt.timer = loop.call_at(min(deadlines), self._timeout, rt)

    def _timeout(self, rt: SpanRuntime) -> None:
        rt.timer = None
        now = asyncio.get_running_loop().time()
        rt.stack.handle_timeout(now)
        self._alarms(rt, rt.alarms.handle_timeout(now))
        self._process(rt)

    def _alarms(self, rt: SpanRuntime, changes: list[AlarmChange]) -> None:
        for change in changes:
            if change.raised:
                self.counters["alarms_raised"] += 1
            self._publish(SpanAlarmChanged(at=self.wall(), card=self._card_id, span=rt.number,
                                           alarm=change.alarm.value, raised=change.raised,
                                           counters=rt.counters.to_wire()))
            log.warning("E1 span %d: alarm %s %s", rt.number, change.alarm.value,
                        "raised" if change.raised else "cleared")
        if rt.alarms.red != rt.red:  # red alarm takes the span out of service: a span state of its own
            rt.red = rt.alarms.red
            active = ", ".join(sorted(a.value for a in rt.alarms.active))
            state = "alarm" if rt.red else "up" if rt.link_up else "down"
            self._publish(SpanStateChanged(at=self.wall(), card=self._card_id, span=rt.number, state=state,
                                           detail=f"alarms: {active}" if rt.red else "red alarm cleared"))

    def _link(self, rt: SpanRuntime, up: bool, detail: str) -> None:
        if rt.link_up != up:
            rt.link_up = up
            self._publish(SpanStateChanged(at=self.wall(), card=self._card_id, span=rt.number,
                                           state="up" if up else "down", detail=detail))

    def _stack_event(self, rt: SpanRuntime, ev: Any) -> None:
        if isinstance(ev, q921.Established):
            self._link(rt, True, "D-channel established")
        elif isinstance(ev, q921.Released):
            self._link(rt, False, ev.reason)
        elif isinstance(ev, q931_model.IncomingCall):
            self._incoming(rt, ev)
        elif isinstance(ev, q931_model.Alerting | q931_model.Progressing | q931_model.Proceeding):
            leg = rt.legs.get(ev.call)
            if leg is not None and not isinstance(ev, q931_model.Proceeding):
                inband = ev.inband if isinstance(ev, q931_model.Alerting) else ev.description in (1, 8)
                self._emit(leg_events.LegProgress(at=self.wall(), leg_id=leg.leg_id, early_media=inband))
        elif isinstance(ev, q931_model.Answered | q931_model.ConnectAcknowledged):
            leg = rt.legs.get(ev.call)
            if leg is not None:
                self.answered(leg)
        elif isinstance(ev, q931_model.Cleared):
            leg = rt.legs.get(ev.call)
            if leg is not None:
                self._end(leg, ev.cause, remote=ev.remote)
        elif isinstance(ev, q931_model.Digits):
            leg = rt.legs.get(ev.call)
            if leg is not None:
                for digit in ev.digits:
                    self._emit(leg_events.LegDtmf(at=self.wall(), leg_id=leg.leg_id, digit=digit))
        elif isinstance(ev, q931_model.ProtocolError | q921.MdlError):
            log.info("E1 span %d: %s", rt.number, ev)

    def _incoming(self, rt: SpanRuntime, ev: q931_model.IncomingCall) -> None:
        now = asyncio.get_running_loop().time()
        caller = ev.calling.digits if ev.calling is not None else ""
        if ev.calling is not None and ev.calling.presentation == 1:
            caller = "anonymous"  # presentation restricted (Q.931 §4.5.10): the number is not shown
        callee = rt.settings.access_number(ev.called.digits if ev.called is not None else "")
        leg = self._new_leg(rt, ev.call, ev.channel, outbound=False, caller=caller, callee=callee)
        self.counters["calls_in"] += 1
        rt.stack.feed(rt.stack.q931.proceeding(ev.call, now), now)  # at once: the network's T303 runs
        self._emit(leg_events.LegIncoming(at=self.wall(), leg_id=leg.leg_id, kind=self.kind, caller=caller,
                                          caller_name=None, callee=callee, trunk=rt.settings.trunk))

    def _new_leg(self, rt: SpanRuntime, call: int, channel: int, *, outbound: bool, caller: str,
                 callee: str) -> PriLeg:
        leg_id = f"{self.kind}-s{rt.number}c{channel}-{next(self._ids)}"
        leg = PriLeg(self, rt, leg_id, call, channel, outbound, caller, callee)
        rt.legs[call] = leg
        self._legs[leg_id] = leg
        self._publish(ChannelStateChanged(at=self.wall(), card=self._card_id, span=rt.number, channel=channel,
                                          state="in_use", leg_id=leg_id))
        return leg

    def _end(self, leg: PriLeg, cause: int, *, remote: bool) -> None:
        if leg.ended:
            return
        leg.ended = True
        leg.span.legs.pop(leg.call, None)
        self._legs.pop(leg.leg_id, None)
        endpoint_id, leg.endpoint_id, leg.port = leg.endpoint_id, None, None
        if endpoint_id is not None:
            with contextlib.suppress(KeyError):
                self.media.release(endpoint_id)
        try:
            q850 = Cause(cause)
        except ValueError:
            q850 = Cause.NORMAL_UNSPECIFIED
        blocked = leg.channel in leg.span.stack.q931.blocked
        if blocked:
            leg.span.blocked |= {leg.channel}  # (published here, with the call's end)
        self._publish(ChannelStateChanged(at=self.wall(), card=self._card_id, span=leg.span.number,
                                          channel=leg.channel, state="blocked" if blocked else "idle"))
        self._emit(leg_events.LegEnded(at=self.wall(), leg_id=leg.leg_id, cause=q850, remote=remote))

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)

    def _publish(self, event: Event) -> None:
        if self.bus is not None:
            self.bus.publish(event)
