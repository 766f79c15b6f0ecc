"""Call-progress tone detection with cadence checking: the far end of an FXO line hanging up is heard as the
exchange's busy (or congestion) tone, since an analog line often signals nothing else.

Tones and cadences come from the media engine's tone plan (ITU-T E.180 Suppl. 2; China: 450 Hz, busy
0.35 s on / 0.35 s off, congestion 0.7 s / 0.7 s). Detection runs per 20 ms frame:

1. Per frame, Hann-windowed single-bin DFTs at the plan's frequencies on two windows of 160 samples, 80 apart.
   A frame "has the tone" when the tone carries at least `min_level_dbm0`, holds at least `min_purity` of the
   frame's energy (a pure tone does; speech and music spread theirs over harmonics and formants), and its true
   frequency, measured from the phase advance between the two windows, is within `max_freq_dev_hz` of nominal
   (a 440 Hz note in hold music is not a 450 Hz tone).
2. Frames make on/off segments; a one-frame dropout inside a segment is bridged.
3. The cadence is recognised when the last segments are on, off, on, off — each on segment whole (it began
   after an off one) and within the cadence's tolerance — and, as guards against speech and music:
   - the tone's level is steady inside each on segment (within `max_on_ripple_db`) and alike across on segments
     (within `max_level_spread_db`): a sung or plucked note swells and decays;
   - during each off segment the tone is gone, `min_off_drop_db` below the on level — not merely masked by
     other sound.

Two whole cycles are needed, so a busy tone is reported 1.4 s after it starts (at most 2.1 s when it starts
mid-burst): within the three cycles the Chinese practice expects.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from appliance.media.tones import PLANS, ToneSpec

RATE = 8000
FRAME = 160
HALF = FRAME // 2
FRAME_S = FRAME / RATE
_FULL_SCALE_DBM0 = 3.14
_DBM0_MS = (32767.0 * 10 ** (-_FULL_SCALE_DBM0 / 20)) ** 2 / 2  # mean square of a 0 dBm0 sine
_WINDOW = np.hanning(FRAME + 2)[1:-1]
_W_SUM = float(_WINDOW.sum())


@dataclass(frozen=True, slots=True)
class Cadence:
    """A tone to recognise: its name, frequencies, and one (on, off) cycle in seconds."""

    name: str
    freqs: tuple[float, ...]
    on_s: float
    off_s: float


def plan_cadences(plan: str = "cn", names: tuple[str, ...] = ("busy", "congestion")) -> tuple[Cadence, ...]:
    """The cadenced tones of a tone plan that mean "the far end is gone"."""
    tones: dict[str, ToneSpec] = PLANS[plan]
    out = []
    for name in names:
        spec = tones[name]
        on, off = spec.cadence[0]
        out.append(Cadence(name, spec.freqs, on, off))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    min_level_dbm0: float = -40.0  # the tone's own level
    min_purity: float = 0.75  # share of the frame's energy in the tone
    max_freq_dev_hz: float = 8.0  # true frequency within this of nominal
    tolerance: float = 0.2  # each on/off within this fraction of nominal ...
    min_tolerance_s: float = 0.05  # ... or this many seconds, whichever is wider (frames are 20 ms)
    max_on_ripple_db: float = 4.0
    max_level_spread_db: float = 3.0
    min_off_drop_db: float = 15.0
    cycles: int = 2


@dataclass(slots=True)
class _Segment:
    on: bool
    frames: int = 0
    whole: bool = True  # began after another segment (the first one seen may have begun before we listened)
    levels: list[float] = field(default_factory=list)  # tone level per frame, dBm0

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_S


@dataclass
class ToneFeatures:
    """Per-frame measurements of one tone (kept apart so a test can look at them)."""

    level_dbm0: float
    purity: float
    freq_error_hz: float


class ToneCadenceDetector:
    """One line's detector. `feed` takes a 160-sample frame and returns the name of a tone once recognised
    (then stays quiet until the tone has stopped and starts again)."""

    def __init__(self, cadences: tuple[Cadence, ...] | None = None,
                 settings: DetectorSettings | None = None) -> None:
        self.cadences = cadences if cadences is not None else plan_cadences()
        self.settings = settings or DetectorSettings()
        freqs = sorted({f for c in self.cadences for f in c.freqs})
        self._freqs = np.array(freqs)
        n = np.arange(FRAME)
        self._basis = (_WINDOW[:, None] * np.exp(-2j * np.pi * np.outer(n, self._freqs) / RATE))
        self._nominal_advance = 2 * np.pi * self._freqs * HALF / RATE
        self._history = np.zeros(HALF)
        self._segments: deque[_Segment] = deque(maxlen=8)
        self._current: _Segment | None = None
        self._pending_flip = 0
        self._reported: str | None = None
        self.frames = 0

    # ------------------------------------------------------------------------------------------ per frame

    def features(self, frame: npt.NDArray[np.int16]) -> list[ToneFeatures]:
        """Level, purity and frequency error of each frequency in this frame (advances the history)."""
        x = np.concatenate([self._history, frame.astype(np.float64)])
        self._history = x[-HALF:]
        first, second = x[:FRAME], x[HALF:HALF + FRAME]
        b1, b2 = first @ self._basis, second @ self._basis
        ms = float(np.mean(second * second))
        out = []
        for i in range(len(self._freqs)):
            # |bin|^2 / (sum w)^2 * 2 = the tone's mean square (A^2/2)
            power = 2 * float(abs(b2[i]) ** 2) / _W_SUM**2
            level = 10 * math.log10(power / _DBM0_MS) if power > 0 else -120.0
            advance = float(np.angle(b2[i] * np.conj(b1[i])))
            dev = (advance - self._nominal_advance[i] + math.pi) % (2 * math.pi) - math.pi
            out.append(ToneFeatures(level, power / ms if ms > 0 else 0.0, dev * RATE / (2 * math.pi * HALF)))
        return out

    def feed(self, frame: npt.NDArray[np.int16]) -> str | None:
        self.frames += 1
        s = self.settings
        feats = self.features(frame)
        level = 10 * math.log10(sum(10 ** (f.level_dbm0 / 10) for f in feats))
        present = (all(f.level_dbm0 >= s.min_level_dbm0 - 3 for f in feats)
                   and sum(f.purity for f in feats) >= s.min_purity
                   and all(abs(f.freq_error_hz) <= s.max_freq_dev_hz for f in feats))
        return self._track(present, level)

    def _track(self, present: bool, level: float) -> str | None:
        seg = self._current
        if seg is None:
            self._current = _Segment(present, 1, whole=False, levels=[level])
            return None
        if present == seg.on:
            seg.frames += 1 + self._pending_flip
            seg.levels.append(level)
            self._pending_flip = 0
            return None
        if self._pending_flip == 0 and seg.frames >= 3:
            self._pending_flip = 1  # one odd frame: wait and see whether it was a dropout
            seg.levels.append(level)
            return None
        # the state really changed (with the frame held back, if any, belonging to the new segment)
        held = self._pending_flip
        self._pending_flip = 0
        if held:
            seg.levels.pop()
        self._segments.append(seg)
        self._current = _Segment(present, 1 + held, levels=[level] * (1 + held))
        if seg.on:
            return None
        return self._match()

    # ------------------------------------------------------------------------------------------ cadence

    def _fits(self, seconds: float, nominal: float) -> bool:
        s = self.settings
        return abs(seconds - nominal) <= max(s.tolerance * nominal, s.min_tolerance_s)

    def _match(self) -> str | None:
        """Called as an off segment completes (a new on began)."""
        s = self.settings
        need = 2 * s.cycles
        if len(self._segments) < need:
            return None
        recent = list(self._segments)[-need:]
        ons, offs = recent[0::2], recent[1::2]
        if not all(seg.on for seg in ons) or any(seg.on for seg in offs) or not all(seg.whole for seg in ons):
            return None
        on_levels = []
        for seg in ons:
            inner = seg.levels[1:-1] or seg.levels  # (the edge frames hold part of the tone)
            if max(inner) - min(inner) > s.max_on_ripple_db:
                return None
            on_levels.append(float(np.median(inner)))
        if max(on_levels) - min(on_levels) > s.max_level_spread_db:
            return None
        for seg in offs:
            inner = seg.levels[1:-1] or seg.levels
            if max(inner) > min(on_levels) - s.min_off_drop_db:
                return None
        for cadence in self.cadences:
            if all(self._fits(seg.seconds, cadence.on_s) for seg in ons) and all(
                    self._fits(seg.seconds, cadence.off_s) for seg in offs):
                if self._reported == cadence.name:
                    return None
                self._reported = cadence.name
                return cadence.name
        return None

    def reset(self) -> None:
        """Forget the cadence (a new call on the line)."""
        self._segments.clear()
        self._current = None
        self._pending_flip = 0
        self._reported = None


def detect(samples: npt.NDArray[np.int16], detector: ToneCadenceDetector | None = None) -> list[tuple[float, str]]:
    """Every tone recognised in a whole signal, with the time (seconds from its start) it was reported."""
    det = detector or ToneCadenceDetector()
    n = len(samples) // FRAME * FRAME
    found = []
    for i in range(0, n, FRAME):
        name = det.feed(samples[i:i + FRAME])
        if name is not None:
            found.append(((i + FRAME) / RATE, name))
    return found
