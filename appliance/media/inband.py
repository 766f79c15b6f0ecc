"""In-band DTMF detection (ITU-T Q.23 frequencies, Q.24 receiver tolerances) for legs that cannot send
RFC 4733 events — analog lines through FXO ports.

Method: 80-sample (10 ms) Hann-windowed single-bin DFTs — the Goertzel energies — at the eight Q.23
frequencies, on windows that hop by 40 samples. Per hop the detector checks, against Q.24 §2:

- level: each tone at least `min_level_dbm0` (Q.24 table: -25 to -30 dBm0 per frequency, by administration);
- twist: high group at most `max_forward_twist_db` above the low group, at most `max_reverse_twist_db` below;
- purity: the two tones carry most of the energy in the window (speech and noise do not);
- frequency: the true frequency of each tone, measured from the phase advance of its bin between two
  windows 40 samples apart, within `max_freq_dev` (2.5 %) of nominal: Q.24 requires operation within ±1.5 %
  and non-operation beyond ±3.5 %, which energies alone cannot separate in a 10 ms window;
- duration: the same digit on enough consecutive hops to cover 35 ms of signal, so a 40 ms tone (Q.24
  minimum) is always taken and one of 23 ms or less never is; the digit is reported once, and the detector
  re-arms after a pause.

`analyse` works on a batch of legs at once (one matrix product per 20 ms tick for all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
FREQS = np.array(ROWS + COLS)
RATE = 8000
WIN = 80
HOP = 40
FRAME = 160
_HOPS_PER_FRAME = FRAME // HOP
# 0 dBm0 is a sine of 3.14 dB below a full-scale 16-bit sine (G.711 §3/§4 reference level)
_DBM0_MS = (32768.0 * 10 ** (-3.14 / 20)) ** 2 / 2

_WINDOW = np.hanning(WIN + 2)[1:-1]  # no zero end points: every sample counts
_N = np.arange(WIN)
_BASIS = (_WINDOW[:, None] * np.exp(-2j * np.pi * np.outer(_N, FREQS) / RATE)).astype(np.complex128)
_W_SUM = float(_WINDOW.sum())
_W2_SUM = float((_WINDOW**2).sum())
_NOMINAL_ADVANCE = 2 * np.pi * FREQS * HOP / RATE


@dataclass
class DetectorSettings:
    min_level_dbm0: float = -30.0
    max_forward_twist_db: float = 4.0  # high group louder than low group
    max_reverse_twist_db: float = 8.0  # low group louder than high group
    min_purity: float = 0.7
    max_freq_dev: float = 0.025
    min_hops: int = 5  # 5 hops x 40 + window (80) + first hop (40) = 35 ms of signal
    pause_hops: int = 3


def analyse(frames: npt.NDArray[np.int16], history: npt.NDArray[np.float64]) -> tuple[
        npt.NDArray[np.complex128], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """For K legs: frames (K, 160) and the previous 40 samples of each (K, 40) ->
    bins (K, 4, 8) complex, window mean-square (K, 4), and the new history (K, 40)."""
    x = np.concatenate([history, frames.astype(np.float64)], axis=1)  # (K, 200)
    k = x.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(x, WIN, axis=1)[:, ::HOP][:, :_HOPS_PER_FRAME]
    bins = (windows.reshape(k * _HOPS_PER_FRAME, WIN) @ _BASIS).reshape(k, _HOPS_PER_FRAME, 8)
    ms = ((windows * _WINDOW) ** 2).sum(axis=2) / _W2_SUM
    return bins, ms, x[:, -HOP:].copy()


@dataclass
class InbandDetector:
    """Per-leg state over the batched analysis."""

    settings: DetectorSettings = field(default_factory=DetectorSettings)
    history: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(HOP))
    _prev_bins: npt.NDArray[np.complex128] | None = None
    _prev_ms: float = 0.0
    _candidate: str | None = None
    _count: int = 0
    _reported: str | None = None
    _absent: int = 0

    def feed(self, frame: npt.NDArray[np.int16]) -> list[str]:
        """Analyse one 160-sample frame on its own (the service batches many legs through `analyse`)."""
        bins, ms, hist = analyse(frame.reshape(1, FRAME), self.history.reshape(1, HOP))
        self.history = hist[0]
        return self.consume(bins[0], ms[0])

    def consume(self, bins: npt.NDArray[np.complex128], ms: npt.NDArray[np.float64]) -> list[str]:
        digits: list[str] = []
        # Most hops on most lines hold no tone at the level floor in either group: find them for all hops at
        # once (the power _classify would compute, the same arithmetic) and classify only the others. With
        # a detector on each of 120 B-channels, classifying every hop was most of the media tick.
        hops = bins.shape[0]
        floor = _DBM0_MS * 10 ** (self.settings.min_level_dbm0 / 10)
        energy = np.abs(bins) ** 2
        if self._prev_bins is not None:
            before = np.concatenate([(np.abs(self._prev_bins) ** 2)[None, :], energy[:-1]])
            power = (before + energy) / _W_SUM**2
            loud = (power[:, :4].max(axis=1) >= floor) & (power[:, 4:].max(axis=1) >= floor)
        else:
            loud = np.zeros(hops, dtype=bool)
            loud[1:] = True  # (the first hop has nothing to compare with; the rest go the usual way)
        if not loud.any():  # (what _track(None) on each hop would leave)
            self._prev_bins = bins[-1]
            self._prev_ms = float(ms[-1])
            self._absent += hops
            self._count = 0
            self._candidate = None
            if self._absent >= self.settings.pause_hops:
                self._reported = None
            return digits
        for h in range(hops):
            current = bins[h]
            key = None
            if self._prev_bins is not None and loud[h]:
                key = self._classify(self._prev_bins, current, 0.5 * (self._prev_ms + float(ms[h])))
            self._prev_bins = current
            self._prev_ms = float(ms[h])
            digit = self._track(key)
            if digit is not None:
                digits.append(digit)
        return digits

    def _classify(self, prev: npt.NDArray[np.complex128], cur: npt.NDArray[np.complex128],
                  mean_square: float) -> str | None:
        s = self.settings
        if mean_square <= 0:
            return None
        power = (np.abs(prev) ** 2 + np.abs(cur) ** 2) / _W_SUM**2
        # power[f] is the mean square of a tone at f (A^2/2), averaged over the two windows
        r = int(np.argmax(power[:4]))
        c = 4 + int(np.argmax(power[4:]))
        pr, pc = float(power[r]), float(power[c])
        floor = _DBM0_MS * 10 ** (s.min_level_dbm0 / 10)
        if pr < floor or pc < floor:
            return None
        twist = 10 * math.log10(pc / pr)
        if twist > s.max_forward_twist_db or -twist > s.max_reverse_twist_db:
            return None
        if (pr + pc) < s.min_purity * mean_square:
            return None
        for f in (r, c):
            advance = float(np.angle(cur[f] * np.conj(prev[f])))
            dev = (advance - _NOMINAL_ADVANCE[f] + np.pi) % (2 * np.pi) - np.pi
            freq_error = dev * RATE / (2 * np.pi * HOP)
            if abs(freq_error) > s.max_freq_dev * FREQS[f]:
                return None
        return KEYS[r][c - 4]

    def _track(self, key: str | None) -> str | None:
        s = self.settings
        if key is None:
            self._absent += 1
            self._count = 0
            self._candidate = None
            if self._absent >= s.pause_hops:
                self._reported = None
            return None
        self._absent = 0
        if key != self._candidate:
            self._candidate = key
            self._count = 0
        self._count += 1
        if self._count >= s.min_hops and self._reported != key:
            self._reported = key
            return key
        return None


def detect(samples: npt.NDArray[np.int16], settings: DetectorSettings | None = None) -> list[str]:
    """Digits in a whole signal (for tests and offline analysis)."""
    det = InbandDetector(settings or DetectorSettings())
    n = len(samples) // FRAME * FRAME
    padded = np.concatenate([samples[:n], np.zeros(FRAME, dtype=np.int16)])
    digits: list[str] = []
    for i in range(0, len(padded), FRAME):
        digits.extend(det.feed(padded[i:i + FRAME]))
    return digits
