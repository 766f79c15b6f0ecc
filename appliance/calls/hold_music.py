"""The default music on hold: a soft, slowly repeating phrase synthesised once into the data directory.

Queues can name an uploaded prompt as their music instead; this is what plays when none is set, so a
caller never waits in silence (silence makes callers think the line dropped).
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from appliance.store.atomic import atomic_write_bytes

RATE = 8000
# A pentatonic phrase (Hz) — pleasant through G.711 and telephone band-pass, no sharp transients.
PHRASE = (392.0, 440.0, 523.25, 587.33, 523.25, 440.0, 392.0, 329.63)


def render(note_s: float = 0.6) -> bytes:
    t = np.arange(int(RATE * note_s)) / RATE
    envelope = np.sin(np.pi * t / note_s) ** 2  # fade each note in and out
    notes = [0.25 * envelope * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) for f in PHRASE]
    signal = np.concatenate([*notes, np.zeros(int(RATE * 0.8))])
    pcm = (np.clip(signal, -1, 1) * 12000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def ensure_hold_music(directory: Path) -> Path:
    path = directory / "hold_music.wav"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, render(), mode=0o644)
    return path
