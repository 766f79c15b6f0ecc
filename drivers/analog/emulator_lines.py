"""The far ends of emulated analog ports, per 20 ms tick: the exchange behind an FXO port and the analog phone
on an FXS port. They speak what the real ones would — ringing cadence, caller ID in the line's audio (FSK
between the first two rings, or DTMF before the first), dial and busy tones, loop current and polarity, a
hook switch with a real flash (on hook for a few hundred milliseconds) — and hear what the box sends: digits,
tones, caller ID, which a test reads back through the emulator's control socket.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.media import g711
from appliance.media.inband import InbandDetector
from appliance.media.tones import PLANS, ToneGenerator
from drivers.analog.dsp import callerid, fsk
from drivers.hal.models import PortCommand, PortSignal

FRAME = 160
TICKS_PER_S = 50
HEARD_S = 12
TONE_LEVEL_DBM0 = -12.0


def _frames(samples: npt.NDArray[np.int16]) -> list[npt.NDArray[np.int16]]:
    pcm = np.concatenate([samples, np.zeros(-len(samples) % FRAME, np.int16)])
    return list(pcm.reshape(-1, FRAME))


@dataclass
class FarEnd:
    """What both far ends share: what they say, what they heard, their clock."""

    ticks: int = 0
    script: deque[npt.NDArray[np.int16]] = field(default_factory=deque)  # said first, frame by frame
    tone_hz: float | None = None  # then a steady test tone
    plan_tone: ToneGenerator | None = None  # or a tone of the plan
    heard: deque[tuple[int, npt.NDArray[np.int16]]] = field(default_factory=lambda: deque(maxlen=HEARD_S * 50))
    signals: list[PortSignal] = field(default_factory=list)  # to report at the next tick
    talk: npt.NDArray[np.int16] | None = None  # or this recording, looped (speech, music)
    _phase: int = 0
    _talk_at: int = 0

    def say_frame(self) -> npt.NDArray[np.int16]:
        if self.script:
            return self.script.popleft()
        if self.plan_tone is not None:
            return self.plan_tone.frame()
        if self.talk is not None and len(self.talk) >= FRAME:
            at = self._talk_at
            self._talk_at = (at + FRAME) % (len(self.talk) - FRAME)
            return self.talk[at:at + FRAME]
        if self.tone_hz is None:
            return np.zeros(FRAME, np.int16)
        t = (np.arange(FRAME) + self._phase) / 8000
        self._phase += FRAME
        amp = fsk.amplitude_of(TONE_LEVEL_DBM0)
        return np.round(amp * np.sin(2 * math.pi * self.tone_hz * t)).astype(np.int16)

    def hear(self, alaw: bytes) -> None:
        self.heard.append((self.ticks, g711.decode(alaw, "alaw")))

    def press(self, digits: str) -> None:
        self.script.extend(_frames(callerid.dtmf_signal(digits, level=-8.0, on_ms=100, off_ms=100)))

    def levels(self, freqs: list[float], seconds: float) -> dict[str, float]:
        """dBm0 of each frequency in what was heard over the last `seconds` (Goertzel per frame, averaged)."""
        since = self.ticks - int(seconds * TICKS_PER_S)
        frames = [f.astype(np.float64) for t, f in self.heard if t > since]
        out: dict[str, float] = {}
        if not frames:
            return {f"{f:g}": -120.0 for f in freqs}
        x = np.concatenate(frames)
        n = np.arange(len(x))
        for f in freqs:
            z = np.abs(np.dot(x, np.exp(-2j * math.pi * f * n / 8000))) * 2 / len(x)
            out[f"{f:g}"] = round(20 * math.log10(z / fsk.amplitude_of(0.0)), 1) if z > 0 else -120.0
        out["rms_dbm0"] = round(fsk.level_dbm0(x), 1)
        return out

    def common(self, req: dict[str, Any]) -> dict[str, Any] | None:
        what = req.get("do")
        if what == "say_tone":
            self.tone_hz = float(req["hz"]) if req.get("hz") else None
            self.plan_tone = None
            self.talk = None
            return {}
        if what == "speak":  # 16-bit little-endian 8 kHz mono, looped from `offset` seconds in
            self.talk = np.fromfile(str(req["path"]), dtype="<i2")
            self._talk_at = int(float(req.get("offset", 0.0)) * 8000) % max(1, len(self.talk) - FRAME)
            self.plan_tone = None
            return {}
        if what == "press":
            self.press(str(req["digits"]))
            return {}
        if what == "levels":
            return {"levels": self.levels([float(f) for f in req["hz"]], float(req.get("seconds", 2.0)))}
        return None


@dataclass
class Exchange(FarEnd):
    """The exchange's side of a line to a box's FXO port."""

    state: str = "idle"  # idle | ringing | connected | gone | dialling
    rings: int = 0
    ring_on: bool = False
    ring_tick: int = 0
    max_rings: int = 8
    pending_cid: list[npt.NDArray[np.int16]] = field(default_factory=list)  # FSK after the first ring
    flashes: int = 0
    dialled: str = ""
    answer_after_s: float = 2.0
    _detector: InbandDetector | None = None
    _last_digit_tick: int = 0

    def control(self, req: dict[str, Any]) -> dict[str, Any]:
        common = self.common(req)
        if common is not None:
            return common
        what = req.get("do")
        if what == "call":
            if self.state != "idle":
                raise ValueError(f"the line is {self.state}")
            cid = callerid.CallerId(number=req.get("number"), name=req.get("name"), date=req.get("date"))
            mode = str(req.get("cid", "fsk_bell202"))
            self.state, self.rings, self.ring_tick, self.ring_on = "ringing", 0, 0, False
            self.pending_cid = []
            if mode == "dtmf" and cid.number:
                self.script.extend(_frames(callerid.dtmf_signal(callerid.encode_dtmf(cid), level=-10.0)))
                self.ring_tick = -(len(self.script) + 15)  # the ring follows the digits
            elif mode.startswith("fsk"):
                message = callerid.encode_mdmf(cid) if req.get("mdmf", True) else callerid.encode_sdmf(cid)
                modem = fsk.V23 if mode == "fsk_v23" else fsk.BELL202
                level = float(req.get("cid_level", -13.5))
                self.pending_cid = _frames(callerid.fsk_signal(message, modem, level=level))
            return {}
        if what == "hang_up":
            how = str(req.get("how", "busy"))
            if how == "polarity":
                self.signals.append(PortSignal.POLARITY_REVERSAL)
            elif how == "loop":
                self.signals.append(PortSignal.LINE_CURRENT_OFF)
            if self.state == "ringing":
                if self.ring_on:
                    self.signals.append(PortSignal.RING_OFF)
                self.state = "idle"
                return {}
            self.state = "gone"
            self.tone_hz = None
            self.talk = None
            self.script.clear()
            self.plan_tone = ToneGenerator(PLANS["cn"]["busy"]) if how == "busy" else None
            return {}
        if what == "status":
            return {"state": self.state, "rings": self.rings, "flashes": self.flashes, "dialled": self.dialled}
        raise ValueError(f"unknown request {what!r} for an exchange")

    def command(self, command: PortCommand) -> list[PortSignal]:
        if command == PortCommand.OFF_HOOK:
            out = [PortSignal.LINE_CURRENT_ON]
            if self.state == "ringing":
                if self.ring_on:
                    out.insert(0, PortSignal.RING_OFF)
                self.state, self.ring_on = "connected", False
                self.script.clear()
            elif self.state == "idle":
                self.state, self.dialled = "dialling", ""
                self._detector = InbandDetector()
                self.plan_tone = ToneGenerator(PLANS["cn"]["dial"])
            return out
        if command == PortCommand.ON_HOOK:
            self.state = "idle"
            self.plan_tone = None
            self.tone_hz = None
            self.talk = None
            self.script.clear()
            return []
        if command == PortCommand.FLASH:
            self.flashes += 1
        return []

    def hear(self, alaw: bytes) -> None:
        super().hear(alaw)
        if self.state == "dialling" and self._detector is not None:
            for digit in self._detector.feed(self.heard[-1][1]):
                self.dialled += digit
                self.plan_tone = None
                self._last_digit_tick = self.ticks

    def tick(self) -> npt.NDArray[np.int16]:
        self.ticks += 1
        if self.state == "ringing":
            self.ring_tick += 1
            phase = self.ring_tick % (5 * TICKS_PER_S)
            if self.ring_tick > 0 and phase == 1:
                if self.rings >= self.max_rings:  # nobody answers: the caller gives up
                    self.state = "idle"
                else:
                    self.ring_on = True
                    self.rings += 1
                    self.signals.append(PortSignal.RING_ON)
            elif self.ring_tick > 0 and phase == TICKS_PER_S + 1 and self.ring_on:
                self.ring_on = False
                self.signals.append(PortSignal.RING_OFF)
                if self.rings == 1 and self.pending_cid:
                    self.script.extend([np.zeros(FRAME, np.int16)] * 25 + self.pending_cid)  # 0.5 s later
                    self.pending_cid = []
        if self.state == "dialling" and self.dialled and \
                self.ticks - self._last_digit_tick > self.answer_after_s * TICKS_PER_S:
            self.state = "connected"  # the called party answers (an analog line has no signal for it)
            self._detector = None
        return self.say_frame()


@dataclass
class Phone(FarEnd):
    """An analog phone on a box's FXS port."""

    off_hook: bool = False
    ringing: bool = False
    rings: int = 0
    ring_starts: list[int] = field(default_factory=list)  # ticks
    ring_stops: list[int] = field(default_factory=list)
    auto_answer_rings: int | None = None
    caller_id: dict[str, Any] | None = None
    lamp: bool = False  # message waiting, as the last indication on hook set it
    _cid_audio: list[npt.NDArray[np.int16]] = field(default_factory=list)
    _pending: list[tuple[int, PortSignal]] = field(default_factory=list)  # (tick, signal) for the hook switch

    def control(self, req: dict[str, Any]) -> dict[str, Any]:
        common = self.common(req)
        if common is not None:
            return common
        what = req.get("do")
        if what == "off_hook":
            self._lift()
            return {}
        if what == "on_hook":
            if self.off_hook:
                self.off_hook = False
                self.signals.append(PortSignal.ON_HOOK)
                self.script.clear()
                self.tone_hz = None
                self.talk = None
            return {}
        if what == "flash":  # the hook switch down for `ms`, then up again
            ms = int(req.get("ms", 300))
            self.off_hook = False
            self.signals.append(PortSignal.ON_HOOK)
            self._pending.append((self.ticks + max(1, ms // 20), PortSignal.OFF_HOOK))
            return {}
        if what == "auto_answer":
            self.auto_answer_rings = int(req["rings"]) if req.get("rings") is not None else None
            return {}
        if what == "status":
            return {"off_hook": self.off_hook, "ringing": self.ringing, "rings": self.rings,
                    "ring_starts": [t / TICKS_PER_S for t in self.ring_starts],
                    "ring_stops": [t / TICKS_PER_S for t in self.ring_stops], "caller_id": self.caller_id,
                    "lamp": self.lamp}
        raise ValueError(f"unknown request {what!r} for a phone")

    def _lift(self) -> None:
        if not self.off_hook:
            self.off_hook = True
            self.ringing = False
            self.signals.append(PortSignal.OFF_HOOK)

    def command(self, command: PortCommand) -> list[PortSignal]:
        if command == PortCommand.RING_START and not self.off_hook:
            if not self.ringing:
                self.ringing = True
                self.rings += 1
                self.ring_starts.append(self.ticks)
                if self.rings == 1:
                    self.caller_id = None
                if self.rings == 2:
                    self._decode_caller_id()
                if self.auto_answer_rings is not None and self.rings >= self.auto_answer_rings:
                    self._pending.append((self.ticks + 25, PortSignal.OFF_HOOK))  # picked up half a second in
        elif command == PortCommand.RING_STOP and self.ringing:
            self.ringing = False
            self.ring_stops.append(self.ticks)
        return []

    def hear(self, alaw: bytes) -> None:
        super().hear(alaw)
        if not self.off_hook and not self.ringing:
            self._cid_audio.append(self.heard[-1][1])
            del self._cid_audio[: -6 * TICKS_PER_S]

    def _message_waiting(self) -> None:
        """An on-hook message waiting indication (MDMF 0x82 / SDMF 0x06) sets the lamp."""
        recent = self._cid_audio[-2 * TICKS_PER_S:]
        if sum(float(np.abs(f).max()) for f in recent) == 0:
            return
        for message, _ in callerid.decode_fsk(np.concatenate(recent)):
            if isinstance(message, callerid.MessageWaiting):
                self.lamp = message.active
                self._cid_audio = []

    def _decode_caller_id(self) -> None:
        if not self._cid_audio:
            return
        audio = np.concatenate(self._cid_audio)
        self._cid_audio = []
        found = [msg for msg, _ in callerid.decode_fsk(audio) if isinstance(msg, callerid.CallerId)]
        cid = found[0] if found else callerid.decode_dtmf(audio)
        if cid is not None:
            self.caller_id = {"number": cid.number, "name": cid.name, "date": cid.date,
                              "how": "fsk" if found else "dtmf"}

    def tick(self) -> npt.NDArray[np.int16]:
        self.ticks += 1
        due = [s for t, s in self._pending if t <= self.ticks]
        self._pending = [(t, s) for t, s in self._pending if t > self.ticks]
        for sig in due:
            if sig == PortSignal.OFF_HOOK:
                if self.rings and self.caller_id is None:
                    self._decode_caller_id()
                self._lift()
        if not self.off_hook and self.ringing is False and self.rings == 1 and self.caller_id is None and \
                len(self._cid_audio) >= 3 * TICKS_PER_S:
            self._decode_caller_id()
        if not self.off_hook and not self.ringing and self.ticks % TICKS_PER_S == 0 and self._cid_audio:
            self._message_waiting()
        return self.say_frame() if self.off_hook else np.zeros(FRAME, np.int16)
