"""The far end of a PRI span in tests: an `E1Driver` in the network role on a second emulated card, whose
B-channels are `ToneLine`s (a frame port stand-in that says tones or in-band DTMF and keeps what it heard),
and the pieces to start both cards' drivers on one emulator process."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.events import Event, EventBus
from appliance.media.events import LegQuality
from appliance.media.frames import FrameLaw
from drivers.e1.models import E1Settings, SpanSettings
from drivers.e1.q931_model import Timers
from drivers.e1.service import E1Driver
from drivers.hal.serial_backend import SerialCard
from tests.drivers.hal.emulated import emulator
from tests.legs.frame_provider import (
    DTMF,
    DTMF_AMPLITUDE,
    FRAME,
    RATE,
    TONE_AMPLITUDE,
    alaw,
    goertzel,
    linear,
)


@dataclass(eq=False)
class ToneLine:
    """A frame port of the far end: what the line says (silence, a tone, DTMF) and what it heard."""

    endpoint_id: str
    heard: list[tuple[float, bytes]] = field(default_factory=list)
    tone: float | None = None
    script: collections.deque[np.ndarray] = field(default_factory=collections.deque)
    phase: int = 0
    pulled: int = 0

    def push(self, frame: bytes) -> None:
        self.heard.append((time.monotonic(), frame))

    def pull(self) -> bytes:
        self.pulled += 1
        if self.script:
            return alaw(self.script.popleft())
        if self.tone is None:
            return alaw(np.zeros(FRAME))
        t = (np.arange(FRAME) + self.phase) / RATE
        self.phase += FRAME
        return alaw(TONE_AMPLITUDE * np.sin(2 * np.pi * self.tone * t))

    def press(self, digits: str, tone_ms: int = 100, gap_ms: int = 100) -> None:
        for digit in digits:
            low, high = DTMF[digit]
            t = np.arange(RATE * tone_ms // 1000) / RATE
            pcm = np.concatenate([DTMF_AMPLITUDE * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)),
                                  np.zeros(RATE * gap_ms // 1000)])
            pcm = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME)])
            self.script.extend(pcm.reshape(-1, FRAME))

    def level(self, hz: float, since: float, until: float) -> float:
        frames = [linear(f) for at, f in self.heard if since <= at < until]
        return sum(goertzel(p, hz) for p in frames) / len(frames) if frames else 0.0

    def rms(self, since: float, until: float) -> float:
        frames = [linear(f) for at, f in self.heard if since <= at < until]
        if not frames:
            return 0.0
        x = np.concatenate(frames).astype(np.float64)
        return float(np.sqrt(np.mean(x * x)))


@dataclass
class ToneMedia:
    """A stand-in media engine for a driver: every frame port is a `ToneLine`."""

    lines: dict[str, ToneLine] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def open_frame_port(self, law: FrameLaw = "alaw") -> ToneLine:
        line = ToneLine(f"tone{next(self._ids)}")
        self.lines[line.endpoint_id] = line
        return line

    def release(self, endpoint_id: str) -> LegQuality | None:
        self.lines.pop(endpoint_id)
        self.released.append(endpoint_id)
        return None


@dataclass
class Sink:
    """A leg sink that keeps every leg event."""

    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


FAST = Timers(t303=2.0, t305=4.0, t308=2.0, t310=10.0, t313=2.0)


def far_settings(tty: str, spans: int = 1) -> E1Settings:
    return E1Settings(device=tty, spans=tuple(SpanSettings(span=n, role="network", name=f"exchange-{n}")
                                              for n in range(1, spans + 1)), t200=0.5, timers=FAST,
                      alarm_set_s=0.2, alarm_clear_s=0.5)


@contextlib.asynccontextmanager
async def two_cards(spans: int = 1) -> AsyncIterator[dict[str, Any]]:
    """The emulator with two cards wired span to span (1.n - 2.n); card 2 runs the far end's driver."""
    links = ",".join(f"1.{n}-2.{n}" for n in range(1, spans + 1))
    async with emulator("--cards", "2", "--spans", str(spans), "--link", links) as info:
        far_bus = EventBus()
        far_media = ToneMedia()
        far = E1Driver(far_settings(str(info["ttys"][1]), spans), SerialCard(str(info["ttys"][1])),  # type: ignore[index]
                       far_media, far_bus)
        far_sink = Sink()
        far.attach(far_sink)
        await far.start()
        try:
            yield {"tty": info["ttys"][0], "far": far, "far_media": far_media, "far_sink": far_sink,  # type: ignore[index]
                   "process": info["process"]}
        finally:
            await far.stop()


async def until(what: str, check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
