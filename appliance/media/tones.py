"""Call-progress tones (ITU-T E.180 and its supplement 2 for national plans), generated per 20 ms frame.

The Chinese plan (GB/T 3380 / YD/T 1069 as listed in E.180 Supplement 2) is the default: all tones at 450 Hz —
dial continuous, ringback 1 s on / 4 s off, busy 0.35 s / 0.35 s, congestion 0.7 s / 0.7 s. The ITU/US plan
(E.180 §2 recommended values and the North American precise tones) is chosen by configuration.

A cadence is a list of (on, off) seconds repeated forever; an off time of 0 means continuous. Phase is kept
across frames so a tone has no clicks at frame borders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

RATE = 8000
FRAME = 160


@dataclass(frozen=True, slots=True)
class ToneSpec:
    freqs: tuple[float, ...]
    cadence: tuple[tuple[float, float], ...]  # (on seconds, off seconds) repeated
    level_dbm0: float = -10.0


TonePlan = dict[str, ToneSpec]

CHINA: TonePlan = {
    "dial": ToneSpec((450.0,), ((1.0, 0.0),)),
    "ringback": ToneSpec((450.0,), ((1.0, 4.0),)),
    "busy": ToneSpec((450.0,), ((0.35, 0.35),)),
    "congestion": ToneSpec((450.0,), ((0.7, 0.7),)),
    "call_waiting": ToneSpec((450.0,), ((0.4, 4.0),)),
}

US: TonePlan = {
    "dial": ToneSpec((350.0, 440.0), ((1.0, 0.0),), -13.0),
    "ringback": ToneSpec((440.0, 480.0), ((2.0, 4.0),), -19.0),
    "busy": ToneSpec((480.0, 620.0), ((0.5, 0.5),), -24.0),
    "congestion": ToneSpec((480.0, 620.0), ((0.25, 0.25),), -24.0),
    "call_waiting": ToneSpec((440.0,), ((0.3, 9.7),), -13.0),
}

PLANS: dict[str, TonePlan] = {"cn": CHINA, "us": US}

_FULL_SCALE_DBM0 = 3.14  # a full-scale 16-bit sine is +3.14 dBm0 (G.711)


@dataclass
class ToneGenerator:
    spec: ToneSpec
    _sample: int = 0
    _amplitude: float = field(init=False)
    _period: int = field(init=False)
    _on_mask: npt.NDArray[np.bool_] = field(init=False)

    def __post_init__(self) -> None:
        per_tone = self.spec.level_dbm0 - 10 * np.log10(len(self.spec.freqs))
        self._amplitude = float(32767 * 10 ** ((per_tone - _FULL_SCALE_DBM0) / 20))
        segments = []
        for on, off in self.spec.cadence:
            segments.append(np.ones(round(on * RATE), dtype=bool))
            segments.append(np.zeros(round(off * RATE), dtype=bool))
        self._on_mask = np.concatenate(segments)
        self._period = len(self._on_mask)

    def frame(self) -> npt.NDArray[np.int16]:
        n = np.arange(self._sample, self._sample + FRAME)
        self._sample += FRAME
        t = n / RATE
        signal = np.zeros(FRAME)
        for f in self.spec.freqs:
            signal += np.sin(2 * np.pi * f * t)
        on = self._on_mask[n % self._period]
        return (signal * self._amplitude * on).astype(np.int16)

    @property
    def finished(self) -> bool:
        return False  # tones run until stopped
