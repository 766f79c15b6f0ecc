"""Line conditions applied to the spandsp fixtures: level, twist, white noise at an SNR, and the A-law coding
the card's frames carry. Deterministic (seeded)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.media import g711
from drivers.analog.dsp import fsk

FIXTURES = Path(__file__).parent / "fixtures"


def manifest() -> dict[str, dict[str, Any]]:
    return dict(json.loads((FIXTURES / "manifest.json").read_text()))


def fixture(name: str) -> npt.NDArray[np.float64]:
    return np.frombuffer((FIXTURES / f"{name}.s16").read_bytes(), dtype="<i2").astype(np.float64)


def active_level(x: npt.NDArray[np.float64]) -> float:
    """The level (dBm0) of the part of the signal that is not silence."""
    env = np.abs(x) > 0.01 * np.max(np.abs(x))
    return fsk.level_dbm0(x[env])


def at_level(x: npt.NDArray[np.float64], level_dbm0: float) -> npt.NDArray[np.float64]:
    return x * 10 ** ((level_dbm0 - active_level(x)) / 20)


def tilt(x: npt.NDArray[np.float64], low_hz: float, high_hz: float, twist_db: float) -> npt.NDArray[np.float64]:
    """Twist: the gain rises linearly in dB with frequency so `high_hz` is `twist_db` above `low_hz` (the level
    at their mid-point is kept)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    mid = (low_hz + high_hz) / 2
    gain_db = np.clip(twist_db * (freqs - mid) / (high_hz - low_hz), -3 * abs(twist_db), 3 * abs(twist_db))
    return np.fft.irfft(spectrum * 10 ** (gain_db / 20), len(x))


def line(x: npt.NDArray[np.float64], *, snr_db: float | None = 20.0, seed: int = 0,
         lead_s: float = 0.3, tail_s: float = 0.3) -> npt.NDArray[np.int16]:
    """White noise `snr_db` below the signal's active level over the whole stretch (with noise-only lead and
    tail), then the A-law coding of the line."""
    rng = np.random.default_rng(seed)
    padded = np.concatenate([np.zeros(int(8000 * lead_s)), x, np.zeros(int(8000 * tail_s))])
    if snr_db is not None:
        rms = np.sqrt(np.mean(x[np.abs(x) > 0.01 * np.max(np.abs(x))] ** 2))
        padded = padded + rng.normal(0.0, rms * 10 ** (-snr_db / 20), len(padded))
    pcm = np.clip(np.round(padded), -32768, 32767).astype(np.int16)
    return g711.decode(g711.encode(pcm, "alaw"), "alaw")
