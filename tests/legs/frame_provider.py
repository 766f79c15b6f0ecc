"""A leg provider of kind "test" that stands for TDM lines the way a card driver will (docs/CONVENTIONS.md,
"A new leg provider"): no SIP, no RTP, only `appliance.legs` and a media-engine frame port per leg.

Each leg owns an A-law frame port (`MediaEngine.open_frame_port("alaw")`), opened in `open_media` for an
inbound leg and at `create` for an outbound one, and reports the port's id as its `endpoint_id`. While the
leg lives, a driver task of its own clocks the line: every 20 ms (against absolute deadlines, as a card's
interrupt would) it pushes one 160-byte A-law frame of what the line says and pulls one frame of what the
line hears, and keeps everything heard with its arrival time. When the leg ends, whoever ends it, the
driver stops, the port is released (the provider measures no MOS: `mos` stays None) and `LegEnded` goes to
the factory's sink with a Q.850 cause, `remote=True` when the line hung up.

`Line` is the test's hand on the far end of one leg: what it says (silence, a tone, in-band DTMF), what it
heard (RMS and Goertzel levels over a time window, decoded with the standard library's `audioop`, not the
appliance's own G.711 tables), answer (outbound) and hang up.
"""

from __future__ import annotations

import asyncio
import audioop
import collections
import contextlib
import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from appliance.events import Event
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import CallLeg, LegRefused, LegSink, OutboundLeg
from appliance.media.frame_media import FrameMedia, FramePortLike

KIND = "test"
RATE = 8000
FRAME = 160  # samples (and A-law bytes) in 20 ms
FRAME_S = FRAME / RATE
DTMF = {"1": (697.0, 1209.0), "2": (697.0, 1336.0), "3": (697.0, 1477.0), "A": (697.0, 1633.0),
        "4": (770.0, 1209.0), "5": (770.0, 1336.0), "6": (770.0, 1477.0), "B": (770.0, 1633.0),
        "7": (852.0, 1209.0), "8": (852.0, 1336.0), "9": (852.0, 1477.0), "C": (852.0, 1633.0),
        "*": (941.0, 1209.0), "0": (941.0, 1336.0), "#": (941.0, 1477.0), "D": (941.0, 1633.0)}
DTMF_AMPLITUDE = 7000.0  # per tone: about -10 dBm0, well inside Q.24's levels
TONE_AMPLITUDE = 6000.0  # as the RTP test phone speaks


def alaw(samples: np.ndarray) -> bytes:
    return audioop.lin2alaw(np.clip(samples, -32768, 32767).astype("<i2").tobytes(), 2)


def linear(frame: bytes) -> np.ndarray:
    return np.frombuffer(audioop.alaw2lin(frame, 2), dtype="<i2")


def goertzel(pcm: np.ndarray, hz: float) -> float:
    """Relative power of `hz` in one frame (as tests/e2e/rtp_phone.py measures it)."""
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for v in pcm.astype(np.float64):
        s1, s2 = v + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (len(pcm) ** 2)


@dataclass(eq=False)
class Line:
    """The far end of one leg: the subscriber or the exchange at the other side of the B-channel."""

    leg: FrameLeg = field(repr=False)
    heard: list[tuple[float, bytes]] = field(default_factory=list)  # (monotonic arrival, A-law frame pulled)
    said: int = 0  # frames pushed
    _script: collections.deque[np.ndarray] = field(default_factory=collections.deque)  # frames to say first
    _tone: float | None = None  # then this tone, continuously (None: silence)
    _phase: int = 0

    # ---------------------------------------------------------------- what the line says

    def say_tone(self, hz: float | None) -> None:
        """Say `hz` continuously from the next frame on (None: fall silent)."""
        self._tone, self._phase = hz, 0

    def press(self, digits: str, tone_ms: int = 100, gap_ms: int = 100) -> None:
        """Keys pressed on the line: DTMF in band (ITU-T Q.23 pairs), `tone_ms` each, `gap_ms` apart."""
        samples: list[np.ndarray] = []
        for digit in digits:
            low, high = DTMF[digit]
            t = np.arange(RATE * tone_ms // 1000) / RATE
            samples.append(DTMF_AMPLITUDE * (np.sin(2 * math.pi * low * t) + np.sin(2 * math.pi * high * t)))
            samples.append(np.zeros(RATE * gap_ms // 1000))
        pcm = np.concatenate(samples)
        pcm = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME)])
        self._script.extend(pcm.reshape(-1, FRAME))

    @property
    def pressing(self) -> bool:
        return bool(self._script)

    def next_frame(self) -> bytes:
        if self._script:
            return alaw(self._script.popleft())
        if self._tone is None:
            return alaw(np.zeros(FRAME))
        t = (np.arange(FRAME) + self._phase) / RATE
        self._phase += FRAME
        return alaw(TONE_AMPLITUDE * np.sin(2 * math.pi * self._tone * t))

    # ---------------------------------------------------------------- signalling from the line

    def answer(self) -> None:
        """The called line goes off hook (an outbound leg)."""
        self.leg.provider.line_answered(self.leg)

    def hang_up(self, cause: Cause = Cause.NORMAL_CLEARING) -> None:
        """The line clears the call (on hook; Q.931 DISCONNECT)."""
        self.leg.provider.end(self.leg, cause, remote=True)

    # ---------------------------------------------------------------- what the line heard

    def _frames(self, since: float, until: float) -> list[np.ndarray]:
        return [linear(f) for at, f in self.heard if since <= at < until]

    def rms(self, since: float, until: float) -> float:
        frames = self._frames(since, until)
        if not frames:
            return 0.0
        x = np.concatenate(frames).astype(np.float64)
        return float(np.sqrt(np.mean(x * x)))

    def level(self, hz: float, since: float, until: float) -> float:
        """Relative power of `hz` heard between two monotonic times (Goertzel per 20 ms frame, averaged)."""
        frames = self._frames(since, until)
        return sum(goertzel(pcm, hz) for pcm in frames) / len(frames) if frames else 0.0


@dataclass(eq=False)
class FrameLeg:
    """One B-channel's call (implements `appliance.legs.CallLeg`)."""

    provider: FrameLineProvider = field(repr=False)
    leg_id: str
    outbound: bool
    caller: str
    callee: str
    kind: str = KIND
    endpoint_id: str | None = None
    mos: float | None = None  # a TDM line measures no MOS
    state: str = "offered"  # offered | ringing | answered | ended
    commands: list[tuple[object, ...]] = field(default_factory=list)  # what call control asked, in order
    line: Line = field(init=False)
    port: FramePortLike | None = field(default=None, repr=False)
    driver: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.line = Line(self)

    async def open_media(self) -> str:
        self.commands.append(("open_media",))
        if self.state == "ended":
            raise LegRefused(Cause.NORMAL_CLEARING, f"leg {self.leg_id} has ended")
        if self.endpoint_id is None:
            self.provider.connect(self)
        assert self.endpoint_id is not None
        return self.endpoint_id

    def progress(self) -> None:
        self.commands.append(("progress",))
        if self.state == "offered":
            self.state = "ringing"  # (Q.931 ALERTING: the line hears its ringback)

    def answer(self) -> None:
        self.commands.append(("answer",))
        if self.state == "ended":
            return
        if self.endpoint_id is None:
            raise RuntimeError(f"leg {self.leg_id}: answered before its media was opened")
        if self.state != "answered":
            self.state = "answered"
            # CONNECT goes out; the exchange's CONNECT ACKNOWLEDGE comes back a moment later
            asyncio.get_running_loop().call_soon(self.provider.line_answered, self)

    def reject(self, cause: Cause) -> None:
        self.commands.append(("reject", cause))
        self.provider.end(self, cause, remote=False)

    def hangup(self, cause: Cause = Cause.NORMAL_CLEARING) -> None:
        self.commands.append(("hangup", cause))
        self.provider.end(self, cause, remote=False)

    def send_dtmf(self, digit: str) -> None:
        self.commands.append(("send_dtmf", digit))

    def transfer_progress(self, failure: Cause | None) -> None:
        self.commands.append(("transfer_progress", failure))

    @property
    def ended(self) -> bool:
        return self.state == "ended"


@dataclass(eq=False)
class FrameLineProvider:
    """TDM lines of the test (implements `appliance.legs.LegProvider`)."""

    media: FrameMedia
    kind: str = KIND
    frame_s: float = FRAME_S
    history: list[FrameLeg] = field(default_factory=list)  # every leg, in order
    ended: list[leg_events.LegEnded] = field(default_factory=list)  # every LegEnded delivered
    _legs: dict[str, FrameLeg] = field(default_factory=dict)  # live legs
    _sink: LegSink | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ---------------------------------------------------------------- LegProvider

    def attach(self, sink: LegSink) -> None:
        self._sink = sink

    def leg(self, leg_id: str) -> CallLeg:
        return self._legs[leg_id]

    async def create(self, request: OutboundLeg) -> CallLeg:
        """Seize a line and dial `request.callee` on it; the port is there from the start (early media)."""
        leg = self._new_leg(request.caller, request.callee, outbound=True)
        try:
            self.connect(leg)
        except LegRefused:
            self._legs.pop(leg.leg_id, None)
            leg.state = "ended"
            raise
        leg.state = "ringing"
        return leg

    # ---------------------------------------------------------------- what the lines do

    def incoming(self, caller: str, callee: str, *, caller_name: str | None = None,
                 trunk: str | None = "span-1") -> Line:
        """A call arrives on a line (Q.931 SETUP, or ringing current and caller ID on an analog port)."""
        leg = self._new_leg(caller, callee, outbound=False)
        self._emit(leg_events.LegIncoming(at=time.time(), leg_id=leg.leg_id, kind=self.kind, caller=caller,
                                          caller_name=caller_name, callee=callee, trunk=trunk))
        return leg.line

    def line_answered(self, leg: FrameLeg) -> None:
        if leg.ended:
            return
        leg.state = "answered"
        self._emit(leg_events.LegAnswered(at=time.time(), leg_id=leg.leg_id))

    def connect(self, leg: FrameLeg) -> None:
        """Open the leg's frame port and start clocking the line."""
        try:
            port = self.media.open_frame_port("alaw")
        except Exception as exc:  # (an engine that cannot: nothing can be carried)
            raise LegRefused(Cause.RESOURCE_UNAVAILABLE, f"no frame port: {exc}") from exc
        leg.port = port
        leg.endpoint_id = port.endpoint_id
        leg.driver = asyncio.get_running_loop().create_task(self._drive(leg, port), name=f"line-{leg.leg_id}")

    def end(self, leg: FrameLeg, cause: Cause, *, remote: bool) -> None:
        """The leg is over, whoever ended it: stop the line's clock, release the port, tell call control."""
        if leg.ended:
            return  # a second clearing of a call that is gone: nothing to send
        leg.state = "ended"
        self._legs.pop(leg.leg_id, None)
        if leg.driver is not None:
            leg.driver.cancel()
            leg.driver = None
        endpoint_id, leg.endpoint_id, leg.port = leg.endpoint_id, None, None
        if endpoint_id is not None:
            self.media.release(endpoint_id)  # (its LegQuality is the engine's; the line measures none)
        event = leg_events.LegEnded(at=time.time(), leg_id=leg.leg_id, cause=cause, remote=remote)
        self.ended.append(event)
        self._emit(event)

    async def close(self) -> None:
        """Stop every driver still running (the test's teardown); the legs are left as they are."""
        tasks = [leg.driver for leg in self.history if leg.driver is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def live_legs(self) -> int:
        return len(self._legs)

    @property
    def drivers_running(self) -> int:
        return sum(1 for leg in self.history if leg.driver is not None and not leg.driver.done())

    # ---------------------------------------------------------------- inside

    def _new_leg(self, caller: str, callee: str, *, outbound: bool) -> FrameLeg:
        leg = FrameLeg(self, f"{self.kind}-{next(self._ids)}", outbound, caller, callee)
        self._legs[leg.leg_id] = leg
        self.history.append(leg)
        return leg

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)

    async def _drive(self, leg: FrameLeg, port: FramePortLike) -> None:
        """The line's own 20 ms clock: one frame in and one frame out per tick, on absolute deadlines (a
        late wake-up catches up, so the line's frame count follows its clock, not the loop's mood)."""
        loop = asyncio.get_running_loop()
        line = leg.line
        start = loop.time()
        for tick in itertools.count(1):
            port.push(line.next_frame())
            line.said += 1
            line.heard.append((time.monotonic(), port.pull()))
            delay = start + tick * self.frame_s - loop.time()
            await asyncio.sleep(max(0.0, delay))  # (behind: still let the loop run between frames)
