"""Sounds call control needs that are not speech, synthesised once into the data directory.

- Music on hold: a soft, slowly repeating phrase. Queues can name an uploaded prompt as their music instead;
  this is what plays when none is set, so a caller never waits in silence (silence makes callers think the
  line dropped).
- The voicemail beep: the "tone" prompts ask the caller to speak after.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from appliance.store.atomic import atomic_write_bytes

RATE = 8000
# A pentatonic phrase (Hz) — pleasant through G.711 and telephone band-pass, no sharp transients.
PHRASE = (392.0, 440.0, 523.25, 587.33, 523.25, 440.0, 392.0, 329.63)


def _wav(signal: npt.NDArray[np.float64]) -> bytes:
    pcm = (np.clip(signal, -1, 1) * 12000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def render_beep(hz: float = 1000.0, seconds: float = 0.4) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    ramp = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms ramps: no click
    return _wav(0.5 * ramp * np.sin(2 * np.pi * hz * t))


def render(note_s: float = 0.6) -> bytes:
    t = np.arange(int(RATE * note_s)) / RATE
    envelope = np.sin(np.pi * t / note_s) ** 2  # fade each note in and out
    notes = [0.25 * envelope * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) for f in PHRASE]
    return _wav(np.concatenate([*notes, np.zeros(int(RATE * 0.8))]))


@dataclass(frozen=True, slots=True)
class MediaAssets:
    hold_music: Path
    beep: Path


def ensure_assets(directory: Path) -> MediaAssets:
    directory.mkdir(parents=True, exist_ok=True)
    paths = MediaAssets(directory / "hold_music.wav", directory / "beep.wav")
    for path, render_fn in ((paths.hold_music, render), (paths.beep, render_beep)):
        if not path.exists():
            atomic_write_bytes(path, render_fn(), mode=0o644)
    return paths
