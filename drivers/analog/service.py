"""The analog driver's asyncio shell: one card (`drivers.hal.CardBackend`), its FXO and FXS ports as sans-IO
machines (`fxo.FxoPort`, `fxs.FxsPort`), and their calls as legs (`legs.AnalogLegProvider`, kinds "fxo" and
"fxs").

Time and audio come from the card: every 20 ms each port delivers one A-law frame (`bearer`); the service
runs the port's due timers, hands the line's audio to the machine (caller ID, busy tone, the phone's digits)
and to the leg's frame port, and answers with one frame for the line: caller ID or dialled digits first, a
tone of the plan (dial, busy, congestion) next, else what the call's media says. Port signals from the card
(`card_event`) go to the machines; their outputs become card commands, leg events and port-state events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused, OutboundLeg
from appliance.media import g711
from appliance.media.frame_media import FrameMedia
from appliance.media.tones import PLANS, ToneGenerator
from drivers.analog import models as m
from drivers.analog.config import AnalogConfig
from drivers.analog.dsp import callerid
from drivers.analog.events import PortStateChanged
from drivers.analog.fxo import FxoError, FxoPort
from drivers.analog.fxs import FxsError, FxsPort
from drivers.analog.legs import AnalogLeg, AnalogLegProvider
from drivers.hal.errors import HalError
from drivers.hal.interface import BearerFrames, CardBackend
from drivers.hal.models import IDLE_ALAW, CardEvent, CardLost, PortCommand, PortConfig, PortSignalled

log = logging.getLogger(__name__)
FRAME = 160
IDLE = bytes([IDLE_ALAW]) * FRAME


def gain(alaw: bytes, db: float) -> bytes:
    """A-law audio made `db` louder (or softer), clipped at full scale."""
    pcm = g711.decode(alaw, "alaw").astype(np.float64) * 10 ** (db / 20)
    return g711.encode(np.clip(np.round(pcm), -32768, 32767).astype(np.int16), "alaw")


@dataclass(eq=False)
class PortRuntime:
    number: int
    machine: FxoPort | FxsPort
    trunk: str = ""  # FXO
    access_number: str = ""  # FXO
    extension: str = ""  # FXS
    voicemail_box: str | None = None  # FXS: the box whose messages light the phone's lamp
    lamp: bool | None = None  # FXS: message waiting to send when the phone is next idle (None: nothing)
    lamp_sends: int = 0  # copies of it still to send (a lost one leaves the lamp wrong until the next change)
    lamp_next: float = 0.0
    leg: AnalogLeg | None = None
    consult: AnalogLeg | None = None  # FXS: the call made after a flash while `leg` is held
    consult_target: str = ""
    awaiting_code: bool = False  # FXS: flashed during a consultation, the code (3-way) may follow
    three_way: bool = False  # FXS: the phone, the held caller and the consulted party all hear each other
    tx_audio: deque[npt.NDArray[np.int16]] = field(default_factory=deque)  # caller ID, digits: 160 each
    tone: ToneGenerator | None = None
    frames_in: int = 0
    frames_lost: int = 0
    last_tick: int | None = None

    @property
    def kind(self) -> str:
        return "fxo" if isinstance(self.machine, FxoPort) else "fxs"


class AnalogService:
    """Implements `drivers.hal.CardListener` for its card; a `Service` for the composition root."""

    name = "analog"

    def __init__(self, card: CardBackend, media: FrameMedia, config: AnalogConfig,
                 bus: EventBus | None = None) -> None:
        self.card = card
        self.media = media
        self.config = config
        self.bus = bus
        self.fxo = AnalogLegProvider(self, "fxo")
        self.fxs = AnalogLegProvider(self, "fxs")
        self.ports: dict[int, PortRuntime] = {}
        for c in config.fxo:
            self.ports[c.port] = PortRuntime(c.port, FxoPort(c.port, c.settings), trunk=c.trunk,
                                             access_number=c.access_number)
        for s in config.fxs:
            self.ports[s.port] = PortRuntime(s.port, FxsPort(s.port, s.settings), extension=s.extension,
                                             voicemail_box=s.voicemail_box)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.card_lost: str | None = None
        self.card_id = ""  # what the card called itself when it opened
        self._unheard: dict[str, set[str]] = {}  # voicemail box -> unhandled message ids (since start)
        self._subscription: Any = None  # (the bus's subscription handle)
        self.counters = {"commands_failed": 0, "bearer_frames": 0, "port_errors": 0, "port_config_failed": 0}

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the card. A card that is missing or does not match the configuration leaves the box running
        without it: every port is faulted, health says why, and its extensions cannot be rung."""
        self._loop = asyncio.get_running_loop()
        self.card_lost = None
        try:
            info = await self.card.open(self)
        except HalError as exc:
            self._down(f"cannot open the card: {exc.message}")
            return
        self.card_id = info.card_id
        kinds = {p.port: p.kind for p in info.ports}
        wrong = [f"port {n} is configured as {rt.kind} but the card has {kinds.get(n) or 'no such port'}"
                 for n, rt in self.ports.items() if kinds.get(n) != rt.kind]
        if wrong:
            await self.card.close()
            self._down("; ".join(wrong))
            return
        for rt in self.ports.values():
            if isinstance(rt.machine, FxoPort):  # the line's impedance and region are the card's to apply
                settings = rt.machine.settings
                try:
                    await self.card.configure_port(rt.number, PortConfig(impedance=settings.impedance,
                                                                         region=settings.region))
                except HalError as exc:  # (the line may still work, mismatched: said in the log and health)
                    self.counters["port_config_failed"] += 1
                    log.error("port %s: the card refused its line settings: %s", rt.number, exc.message)
        if self.bus is not None:
            self._subscription = self.bus.subscribe(self._voicemail, {"voicemail.new", "voicemail.handled"})
        for rt in self.ports.values():
            if rt.kind == "fxs":
                self.fxs.emit(leg_events.EndpointReachable(at=time.time(), extension=rt.extension,
                                                           reachable=True))

    def _down(self, why: str) -> None:
        log.error("analog card: %s", why)
        self.card_lost = why
        for rt in self.ports.values():
            self._publish(rt, m.PortState.FAULTED, why)

    async def stop(self) -> None:
        if self.bus is not None and self._subscription is not None:
            self.bus.unsubscribe(self._subscription)
            self._subscription = None
        for rt in self.ports.values():
            if rt.leg is not None:
                self._end_leg(rt, Cause.NORMAL_CLEARING, remote=False)
        if self.card_lost is None:
            await self.card.close()
        for task in list(self._tasks):
            task.cancel()

    def listening(self) -> list[str]:
        return [f"analog {self.card.info.model} ({len(self.ports)} ports)"]

    def health(self) -> Health:
        states = [m.PortState.FAULTED if self.card_lost else rt.machine.state for rt in self.ports.values()]
        faulted = sum(1 for s in states if s == m.PortState.FAULTED)
        status = Status.DOWN if self.card_lost else (Status.DEGRADED if faulted else Status.OK)
        counters = dict(self.counters)
        for rt in self.ports.values():
            for key, value in rt.machine.counters.items():
                counters[f"{rt.kind}_{key}"] = counters.get(f"{rt.kind}_{key}", 0) + value
            counters["frames_lost"] = counters.get("frames_lost", 0) + rt.frames_lost
        gauges = {f"ports_{s.value}": float(sum(1 for x in states if x == s)) for s in m.PortState}
        gauges["legs_active"] = float(self.fxo.live_legs + self.fxs.live_legs)
        return Health.of(self.name, status, self.card_lost or f"{len(self.ports)} ports", counters=counters,
                         gauges=gauges)

    def port_status(self) -> list[dict[str, object]]:
        """What `appliance hw status` and the API list."""
        return [{"port": rt.number, "kind": rt.kind,
                 "state": m.PortState.FAULTED.value if self.card_lost else rt.machine.state.value,
                 "trunk": rt.trunk or None, "access_number": rt.access_number or None,
                 "extension": rt.extension or None, "leg": rt.leg.leg_id if rt.leg else None,
                 "counters": dict(rt.machine.counters), "frames_lost": rt.frames_lost}
                for rt in sorted(self.ports.values(), key=lambda r: r.number)]

    # ------------------------------------------------------------------------------------------ the card

    def card_event(self, event: CardEvent) -> None:
        now = self._now()
        if isinstance(event, PortSignalled):
            rt = self.ports.get(event.port)
            if rt is not None:
                self._apply(rt, rt.machine.signal(event.signal, now))
        elif isinstance(event, CardLost):
            self.card_lost = event.reason
            for rt in self.ports.values():
                if rt.leg is not None:
                    self._end_leg(rt, Cause.NETWORK_OUT_OF_ORDER, remote=True)
                self._publish(rt, m.PortState.FAULTED, f"card lost: {event.reason}")

    def bearer(self, frames: BearerFrames) -> None:
        if frames.kind != "port":
            return
        rt = self.ports.get(frames.unit)
        if rt is None:
            return
        now = self._now()
        self.counters["bearer_frames"] += 1
        if rt.last_tick is not None and frames.tick > rt.last_tick + 1:
            rt.frames_lost += frames.tick - rt.last_tick - 1
        rt.last_tick = frames.tick
        try:
            tx = self._tick(rt, frames.frames.get(1, IDLE), now)
        except Exception:  # (one port's fault must not silence the others: counted, logged, idle sent)
            self.counters["port_errors"] += 1
            log.exception("port %s: processing a frame failed", rt.number)
            tx = IDLE
        self.card.send_bearer(BearerFrames("port", rt.number, frames.tick, {1: tx}))

    def _tick(self, rt: PortRuntime, rx: bytes, now: float) -> bytes:
        """One 20 ms frame of a port: its due timers, what the line said, and what it is sent back."""
        deadline = rt.machine.next_deadline()
        if deadline is not None and deadline <= now:
            self._apply(rt, rt.machine.handle_timeout(now))
        self._apply(rt, rt.machine.audio(g711.decode(rx, "alaw"), now))
        tx = IDLE
        if rt.three_way and rt.leg is not None and rt.consult is not None:
            return self._three_way_tick(rt, rx)
        held = rt.leg if rt.consult is not None else None
        if held is not None and held.frame_port is not None:  # (still clocked, silent: its buffer stays even)
            held.frame_port.push(IDLE)
            held.frame_port.pull()
        leg = rt.consult or rt.leg
        if leg is not None and leg.frame_port is not None:
            settings = rt.machine.settings
            # (no gain set: the line's code words pass untouched, to an A-law peer without transcoding)
            leg.frame_port.push(gain(rx, settings.rx_gain_db) if settings.rx_gain_db else rx)
            tx = leg.frame_port.pull()
            if settings.tx_gain_db:
                tx = gain(tx, settings.tx_gain_db)
        if rt.lamp is not None and not rt.tx_audio and now >= rt.lamp_next and isinstance(rt.machine, FxsPort):
            outputs = rt.machine.message_waiting(rt.lamp)  # (nothing while the phone is in use: kept)
            if outputs:
                rt.lamp_sends -= 1
                rt.lamp_next = now + 2.0
                if rt.lamp_sends <= 0:
                    rt.lamp = None
                self._apply(rt, outputs)
        if rt.tx_audio:
            tx = g711.encode(rt.tx_audio.popleft(), "alaw")
        elif rt.tone is not None:
            tx = g711.encode(rt.tone.frame(), "alaw")
        return tx

    def _three_way_tick(self, rt: PortRuntime, rx: bytes) -> bytes:
        """The phone, the caller and the consulted party in one conference, mixed here: each of the three
        hears the other two (their legs are two calls to call control; the port joins them on its line)."""
        a, b = rt.leg.frame_port if rt.leg else None, rt.consult.frame_port if rt.consult else None
        if a is None or b is None:
            return IDLE
        settings = rt.machine.settings
        phone = g711.decode(gain(rx, settings.rx_gain_db) if settings.rx_gain_db else rx, "alaw").astype(np.int32)
        from_a = g711.decode(a.pull(), "alaw").astype(np.int32)
        from_b = g711.decode(b.pull(), "alaw").astype(np.int32)

        def mix(x: npt.NDArray[np.int32], y: npt.NDArray[np.int32]) -> bytes:
            return g711.encode(np.clip(x + y, -32768, 32767).astype(np.int16), "alaw")

        a.push(mix(phone, from_b))
        b.push(mix(phone, from_a))
        tx = mix(from_a, from_b)
        return gain(tx, settings.tx_gain_db) if settings.tx_gain_db else tx

    def _command(self, rt: PortRuntime, command: PortCommand) -> None:
        async def send() -> None:
            try:
                await self.card.port_command(rt.number, command)
            except Exception as exc:  # (a card that does not answer: counted, the line's timers recover)
                self.counters["commands_failed"] += 1
                log.warning("port %s: %s failed: %s", rt.number, command.value, exc)

        task = asyncio.get_running_loop().create_task(send(), name=f"analog-{rt.number}-{command.value}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------------------------------ outputs

    def _apply(self, rt: PortRuntime, outputs: list[m.PortOutput]) -> None:
        for out in outputs:
            if isinstance(out, m.SendCommand):
                self._command(rt, out.command)
            elif isinstance(out, m.SendAudio):
                pcm = np.concatenate([out.samples, np.zeros(-len(out.samples) % FRAME, np.int16)])
                rt.tx_audio.extend(pcm.reshape(-1, FRAME))
            elif isinstance(out, m.PlayTone):
                plan = PLANS.get(rt.machine.settings.tone_plan, PLANS["cn"])
                rt.tone = ToneGenerator(plan[out.tone]) if out.tone in plan else None
            elif isinstance(out, m.StateChanged):
                self._publish(rt, out.state, out.detail)
            elif isinstance(out, m.CallOffered):
                self._offered(rt, out.caller_id)
            elif isinstance(out, m.Answered):
                if rt.leg is not None and not rt.leg.ended:
                    rt.leg.state = "answered"
                    rt.leg.provider.emit(leg_events.LegAnswered(at=time.time(), leg_id=rt.leg.leg_id))
            elif isinstance(out, m.Ended):
                if rt.consult is not None and rt.leg is not None and out.why == "on hook":
                    self._transfer_on_hang_up(rt)
                elif rt.leg is not None:
                    self._end_leg(rt, out.cause, remote=out.remote)
            elif isinstance(out, m.Dialled):
                self._dialled(rt, out)
            elif isinstance(out, m.Flash):
                self._flash(rt)

    def _voicemail(self, event: Event) -> None:
        """Message waiting: the lamp of each phone whose box this is follows whether anything is unhandled."""
        box, message = getattr(event, "box", ""), getattr(event, "message_id", "")
        unheard = self._unheard.setdefault(box, set())
        if event.topic == "voicemail.new":
            unheard.add(message)
        else:
            unheard.discard(message)
        for rt in self.ports.values():
            if rt.voicemail_box == box:
                rt.lamp, rt.lamp_sends, rt.lamp_next = bool(unheard), 2, 0.0

    def _publish(self, rt: PortRuntime, state: m.PortState, detail: str) -> None:
        log.info("port %s (%s): %s — %s", rt.number, rt.kind, state.value, detail)
        if self.bus is not None:
            self.bus.publish(PortStateChanged(at=time.time(), card=self.card_id, port=rt.number, kind=rt.kind,
                                              state=state.value, detail=detail))

    def _offered(self, rt: PortRuntime, cid: callerid.CallerId | None) -> None:
        leg = self.fxo.new_leg(rt.number, outbound=False)
        rt.leg = leg
        self.fxo.incoming(leg, caller=(cid.number if cid and cid.number else ""),
                          caller_name=cid.name if cid else None, callee=rt.access_number, trunk=rt.trunk)

    def _dialled(self, rt: PortRuntime, out: m.Dialled) -> None:
        if out.in_call and rt.awaiting_code:
            rt.awaiting_code = False
            self._code(rt, out.digits)
            return
        leg = self.fxs.new_leg(rt.number, outbound=False)
        if out.in_call:  # after a flash: a consultation call, the first one held
            if rt.leg is None or rt.leg.ended or rt.consult is not None:
                self.fxs.forget(leg)
                return
            rt.consult, rt.consult_target = leg, out.digits
        else:
            rt.leg = leg
        self.fxs.incoming(leg, caller=rt.extension, caller_name=None, callee=out.digits, extension=rt.extension)

    def _transfer_on_hang_up(self, rt: PortRuntime) -> None:
        """The agent put the phone down during a consultation: the held caller goes to the consulted party —
        attended (replacing the consultation) once it answered, else blind to the number dialled."""
        held, consult = rt.leg, rt.consult
        assert held is not None and consult is not None
        if consult.state == "answered":
            self.fxs.emit(leg_events.LegTransferRequested(at=time.time(), leg_id=held.leg_id, target=None,
                                                          replaces_leg=consult.leg_id))
            return
        self._end_leg(rt, Cause.NORMAL_CLEARING, remote=True, leg=consult)
        self.fxs.emit(leg_events.LegTransferRequested(at=time.time(), leg_id=held.leg_id,
                                                      target=rt.consult_target))

    def _code(self, rt: PortRuntime, digits: str) -> None:
        """What followed a flash during a consultation: the three-way code joins the held caller in; anything
        else (or nothing) goes back to the held caller, as a second flash always did."""
        consult, leg = rt.consult, rt.leg
        if consult is None or consult.ended or leg is None or leg.ended:
            return
        if digits == rt.machine.settings.three_way_code:  # type: ignore[union-attr]
            rt.three_way = True
            log.info("port %s: three-way call of %s and %s", rt.number, leg.leg_id, consult.leg_id)
            if leg.held:
                leg.held = False
                self.fxs.emit(leg_events.LegHoldChanged(at=time.time(), leg_id=leg.leg_id, held=False))
            return
        self._end_leg(rt, Cause.NORMAL_CLEARING, remote=True, leg=consult)
        self._resume(rt)

    def _flash(self, rt: PortRuntime) -> None:
        leg = rt.leg
        if leg is None or leg.ended or not isinstance(rt.machine, FxsPort):
            return
        if rt.three_way and rt.consult is not None:  # a flash in a three-way call drops the party added last
            self._end_leg(rt, Cause.NORMAL_CLEARING, remote=True, leg=rt.consult)
            return
        if rt.consult is not None and rt.consult.state == "answered" and not rt.awaiting_code:
            rt.awaiting_code = True  # (a code may follow: 3-way; nothing within the window: back to the caller)
            self._apply(rt, rt.machine.collect_code(self._now()))
            return
        if rt.consult is not None:  # a second flash: leave the consultation, back to the held caller
            self._end_leg(rt, Cause.NORMAL_CLEARING, remote=True, leg=rt.consult)
            self._resume(rt)
            return
        if leg.held:  # a second flash before dialling: back to the caller
            self._resume(rt)
            return
        leg.held = True
        self.fxs.emit(leg_events.LegHoldChanged(at=time.time(), leg_id=leg.leg_id, held=True))
        self._apply(rt, rt.machine.collect(self._now()))

    # ------------------------------------------------------------------------------------------ legs

    def open_media(self, leg: AnalogLeg) -> None:
        try:
            port = self.media.open_frame_port("alaw")
        except Exception as exc:
            raise LegRefused(Cause.RESOURCE_UNAVAILABLE, f"no frame port: {exc}") from exc
        leg.frame_port = port
        leg.endpoint_id = port.endpoint_id

    def answer_leg(self, leg: AnalogLeg) -> None:
        rt = self.ports[leg.port]
        now = self._now()
        if isinstance(rt.machine, FxoPort):
            try:
                self._apply(rt, rt.machine.answer(now))
            except FxoError as exc:
                log.info("leg %s: %s", leg.leg_id, exc)
                self._end_leg(rt, Cause.NORMAL_CLEARING, remote=True)
        else:
            self._apply(rt, rt.machine.connected(now))
            leg.state = "answered"
            self.fxs.emit(leg_events.LegAnswered(at=time.time(), leg_id=leg.leg_id))

    def hangup_leg(self, leg: AnalogLeg, cause: Cause) -> None:
        if leg.ended:
            return
        rt = self.ports[leg.port]
        now = self._now()
        if rt.consult is not None and leg is rt.consult:  # the consulted party left: back to the held caller
            self._end_leg(rt, cause, remote=False, leg=leg)
            if rt.leg is not None and rt.machine.state == m.PortState.IN_CALL:
                self._resume(rt)
            return
        if rt.consult is not None and leg is rt.leg:  # the held caller left: the consultation goes on
            self._end_leg(rt, cause, remote=False, leg=leg)
            rt.leg, rt.consult = rt.consult, None
            return
        if isinstance(rt.machine, FxoPort):
            self._apply(rt, rt.machine.hangup(now))
        else:
            tone = "busy" if cause in (Cause.NORMAL_CLEARING, Cause.USER_BUSY) else "congestion"
            self._apply(rt, rt.machine.far_end_gone(now, tone))
        self._end_leg(rt, cause, remote=False)

    def send_digits(self, leg: AnalogLeg, digits: str) -> None:
        rt = self.ports[leg.port]
        self._apply(rt, [m.SendAudio(callerid.dtmf_signal(digits, level=-8.0, on_ms=100, off_ms=100))])

    def transfer_outcome(self, leg: AnalogLeg, failure: Cause | None) -> None:
        rt = self.ports[leg.port]
        if failure is None or rt.machine.state != m.PortState.IN_CALL:
            # handed on (or the agent is gone anyway): our legs end; a phone still up hears busy
            for other in (rt.consult, leg):
                if other is not None and not other.ended:
                    self.hangup_leg(other, Cause.NORMAL_CLEARING)
            return
        self._resume(rt)

    def _resume(self, rt: PortRuntime) -> None:
        leg = rt.leg
        if isinstance(rt.machine, FxsPort):
            self._apply(rt, rt.machine.resume(self._now()))
        if leg is not None and leg.held:
            leg.held = False
            self.fxs.emit(leg_events.LegHoldChanged(at=time.time(), leg_id=leg.leg_id, held=False))

    def dial_out(self, provider: AnalogLegProvider, request: OutboundLeg) -> AnalogLeg:
        """Hunt the trunk's lines in port order for an idle one, seize it and dial."""
        if self.card_lost:
            raise LegRefused(Cause.NETWORK_OUT_OF_ORDER, f"the analog card is down: {self.card_lost}")
        lines = sorted((rt for rt in self.ports.values()
                        if rt.kind == "fxo" and (request.trunk is None or rt.trunk == request.trunk)),
                       key=lambda r: r.number)
        if not lines:
            raise LegRefused(Cause.NO_ROUTE_TO_DESTINATION, f"no FXO line in trunk {request.trunk}")
        for rt in lines:
            if rt.leg is None and rt.machine.state == m.PortState.IDLE and isinstance(rt.machine, FxoPort):
                leg = provider.new_leg(rt.number, outbound=True)
                try:
                    self.open_media(leg)
                    outputs = rt.machine.dial(request.callee, self._now())
                except (FxoError, LegRefused) as exc:
                    provider.forget(leg)
                    if leg.endpoint_id is not None:
                        self.media.release(leg.endpoint_id)
                    raise exc if isinstance(exc, LegRefused) else LegRefused(Cause.INVALID_NUMBER_FORMAT,
                                                                             str(exc)) from exc
                rt.leg = leg
                leg.state = "ringing"
                self._apply(rt, outputs)
                return leg
        raise LegRefused(Cause.NO_CIRCUIT_AVAILABLE, f"every line of trunk {request.trunk} is busy")

    def ring_phone(self, provider: AnalogLegProvider, request: OutboundLeg) -> AnalogLeg:
        port = self.config.fxs_for(request.extension or request.callee)
        if port is None:
            raise LegRefused(Cause.SUBSCRIBER_ABSENT, f"extension {request.extension} has no analog port")
        if self.card_lost:
            raise LegRefused(Cause.DESTINATION_OUT_OF_ORDER, f"the analog card is down: {self.card_lost}")
        rt = self.ports[port.port]
        assert isinstance(rt.machine, FxsPort)
        if rt.leg is not None or rt.machine.state != m.PortState.IDLE:
            raise LegRefused(Cause.USER_BUSY, f"the phone on port {rt.number} is in use")
        leg = provider.new_leg(rt.number, outbound=True)
        self.open_media(leg)
        cid = callerid.CallerId(number=request.caller or None, name=request.caller_name or None,
                                date=time.strftime("%m%d%H%M"))
        try:
            outputs = rt.machine.ring(cid, self._now())
        except FxsError as exc:
            provider.forget(leg)
            assert leg.endpoint_id is not None
            self.media.release(leg.endpoint_id)
            raise LegRefused(Cause.USER_BUSY, str(exc)) from exc
        rt.leg = leg
        leg.state = "ringing"
        self._apply(rt, outputs)
        return leg

    def _end_leg(self, rt: PortRuntime, cause: Cause, *, remote: bool, leg: AnalogLeg | None = None) -> None:
        leg = leg or rt.leg
        if leg is None or leg.ended:
            return
        if leg is rt.consult:
            rt.consult = None
        else:
            rt.leg = None
        if rt.consult is None or rt.leg is None:  # (a conference needs both; a code needs a consultation)
            rt.three_way = rt.awaiting_code = False
        leg.state = "ended"
        if not remote and isinstance(rt.machine, FxsPort) and rt.machine.state == m.PortState.RINGING:
            self._apply(rt, rt.machine.stop_ringing(self._now()))
        leg.provider.forget(leg)
        endpoint_id, leg.endpoint_id, leg.frame_port = leg.endpoint_id, None, None
        if endpoint_id is not None:
            self.media.release(endpoint_id)
        leg.provider.emit(leg_events.LegEnded(at=time.time(), leg_id=leg.leg_id, cause=cause, remote=remote))

    def _now(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else time.monotonic()
