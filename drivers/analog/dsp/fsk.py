"""1200 baud FSK for on-hook data (caller ID, message waiting): Bell 202 and ITU-T V.23 channel 1, with the
asynchronous character framing both carry (Telcordia GR-30-CORE §3.2, ETSI EN 300 659-2 §5 / -3).

- Bell 202: mark (1) 1200 Hz, space (0) 2200 Hz; V.23: mark 1300 Hz, space 2100 Hz. Both at 1200 bit/s, so
  one receiver serves both: the signal is mixed down around the 1700 Hz mid-point, low-pass filtered and
  demodulated by its phase advance per sample (a quadrature discriminator). Mark lies below the mid-point in
  both systems; the discriminator's output does not depend on the level, which the lines vary from -40 to
  0 dBm0.
- Transmit is phase-continuous with fractional bit lengths (8000 / 1200 = 6⅔ samples a bit), so the bit
  clock does not drift over a long message.
- Characters: start bit (space), eight data bits LSB first, stop bit(s) (mark) — GR-30 §3.2.2, V.23 framing
  per EN 300 659-2 §5.2.

Pure numpy, no state between calls: a port buffers its samples and calls `demodulate` / `read_bytes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RATE = 8000
BAUD = 1200
SAMPLES_PER_BIT = RATE / BAUD
_FULL_SCALE_DBM0 = 3.14  # a full-scale 16-bit sine is +3.14 dBm0 (ITU-T G.711)
_CENTRE_HZ = 1700.0
_LPF_TAPS = 25
_LPF_CUTOFF_HZ = 1000.0


@dataclass(frozen=True, slots=True)
class FskModem:
    name: str
    mark_hz: float
    space_hz: float


BELL202 = FskModem("bell202", 1200.0, 2200.0)
V23 = FskModem("v23", 1300.0, 2100.0)
MODEMS = {m.name: m for m in (BELL202, V23)}


def amplitude_of(level_dbm0: float) -> float:
    """Peak amplitude (16-bit linear) of a sine at `level_dbm0`."""
    return float(32767.0 * 10 ** ((level_dbm0 - _FULL_SCALE_DBM0) / 20))


def level_dbm0(samples: npt.NDArray[np.int16] | npt.NDArray[np.float64]) -> float:
    """The level of a signal in dBm0 (its RMS against a 0 dBm0 sine's)."""
    x = np.asarray(samples, dtype=np.float64)
    ms = float(np.mean(x * x)) if len(x) else 0.0
    if ms <= 0:
        return -120.0
    return 10 * math.log10(ms / (amplitude_of(0.0) ** 2 / 2))


# ---------------------------------------------------------------------------------------------- transmit

def uart_bits(data: bytes, stop_bits: int = 1) -> npt.NDArray[np.uint8]:
    """Characters framed for the line: a start bit (0), eight data bits LSB first, then stop bits (1)."""
    out: list[int] = []
    for byte in data:
        out.append(0)
        out.extend((byte >> i) & 1 for i in range(8))
        out.extend([1] * stop_bits)
    return np.array(out, dtype=np.uint8)


def modulate(bits: npt.NDArray[np.uint8], modem: FskModem, level: float = -13.5,
             phase: float = 0.0) -> npt.NDArray[np.int16]:
    """Phase-continuous FSK of `bits` at `level` dBm0; sample n carries bit floor(n * 1200 / 8000)."""
    n_samples = math.ceil(len(bits) * SAMPLES_PER_BIT)
    index = np.minimum((np.arange(n_samples) * BAUD) // RATE, len(bits) - 1)
    freq = np.where(bits[index] == 1, modem.mark_hz, modem.space_hz)
    phases = phase + 2 * np.pi * np.cumsum(freq) / RATE
    return np.round(amplitude_of(level) * np.sin(phases)).astype(np.int16)


# ---------------------------------------------------------------------------------------------- receive

def _lowpass_taps() -> npt.NDArray[np.float64]:
    n = np.arange(_LPF_TAPS) - (_LPF_TAPS - 1) / 2
    h: npt.NDArray[np.float64] = np.sinc(2 * _LPF_CUTOFF_HZ / RATE * n) * np.hamming(_LPF_TAPS)
    return h / float(h.sum())


_TAPS = _lowpass_taps()


def demodulate(samples: npt.NDArray[np.int16] | npt.NDArray[np.float64], *,
               min_level_dbm0: float = -50.0) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Soft bits per sample (> 0: mark, < 0: space, scaled so ±1 is a Bell 202 tone) and where a carrier is
    present (the in-band power at least `min_level_dbm0`). Works for Bell 202 and V.23 alike."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < 2:
        return np.zeros(len(x)), np.zeros(len(x), dtype=bool)
    n = np.arange(len(x))
    baseband = np.convolve(x * np.exp(-2j * np.pi * _CENTRE_HZ * n / RATE), _TAPS, mode="same")
    advance = np.angle(baseband[1:] * np.conj(baseband[:-1]))
    offset_hz = np.concatenate([[0.0], advance]) * RATE / (2 * np.pi)
    # a short average over about half a bit takes off the discriminator's noise spikes
    soft = -np.convolve(offset_hz, np.ones(3) / 3, mode="same") / 500.0
    # |baseband|^2 is a quarter of the band's mean square (a real tone splits into two complex ones)
    power = np.convolve(np.abs(baseband) ** 2, np.ones(8) / 8, mode="same") * 2
    floor = amplitude_of(min_level_dbm0) ** 2 / 2
    return soft, power >= floor


def read_bytes(soft: npt.NDArray[np.float64], start: int, count: int) -> tuple[bytes, int] | None:
    """`count` asynchronous characters whose first start bit's leading edge is near `start`; each next start
    bit is found by its edge after the previous stop bit (stop bits may run long). None on a framing error.
    Returns the bytes and the index after the last stop bit's middle."""
    out = bytearray()
    edge = start
    n = len(soft)
    for _ in range(count):
        byte = 0
        for k in range(10):
            centre = edge + (k + 0.5) * SAMPLES_PER_BIT
            lo, hi = int(centre - 1), int(centre + 2)
            if hi > n:
                return None
            value = float(soft[lo:hi].mean())
            if k == 0 and value >= 0:
                return None  # no start bit
            if k == 9 and value <= 0:
                return None  # no stop bit
            if 1 <= k <= 8 and value > 0:
                byte |= 1 << (k - 1)
        out.append(byte)
        after_stop = int(edge + 9.5 * SAMPLES_PER_BIT)
        nxt = _next_falling_edge(soft, after_stop, limit=int(40 * SAMPLES_PER_BIT))
        if nxt is None:
            if len(out) < count:
                return None
            return bytes(out), after_stop
        edge = nxt
    return bytes(out), int(edge)


def _next_falling_edge(soft: npt.NDArray[np.float64], begin: int, limit: int) -> int | None:
    """The first mark-to-space crossing at or after `begin`, within `limit` samples."""
    window = soft[begin:begin + limit]
    if len(window) < 2:
        return None
    crossings = np.flatnonzero((window[:-1] > 0) & (window[1:] <= 0))
    if not len(crossings):
        return None
    return begin + int(crossings[0]) + 1


def message_starts(soft: npt.NDArray[np.float64], carrier: npt.NDArray[np.bool_],
                   min_mark_bits: int = 10) -> list[int]:
    """Candidate first start bits of a message: mark-to-space edges after at least `min_mark_bits` of steady
    mark with a carrier (the mark signal that precedes every message, GR-30 §3.2.1, EN 300 659-2 §5.3)."""
    mark = (soft > 0) & carrier
    edges = np.flatnonzero(mark[:-1] & ~mark[1:] & carrier[1:]) + 1
    need = int(min_mark_bits * SAMPLES_PER_BIT)
    if not len(edges):
        return []
    # length of the mark run that ends at each edge
    run_start = np.flatnonzero(np.concatenate([[True], ~mark[:-1]]) & mark)
    starts_before = np.searchsorted(run_start, edges, side="right") - 1
    runs = edges - run_start[np.maximum(starts_before, 0)]
    return [int(e) for e, r in zip(edges, runs, strict=True) if r >= need]
