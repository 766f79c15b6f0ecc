"""Prompt and hold-music player: 8 kHz 16-bit mono WAV read into memory once, played in 20 ms frames.

Barge-in stop (a DTMF digit ends a prompt that allows it) and looping (hold music) are flags of one play
request; the service decides when to stop, the player only produces frames.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from appliance.media.errors import BadPrompt

FRAME = 160


def load_wav(path: Path) -> npt.NDArray[np.int16]:
    """An 8 kHz 16-bit PCM WAV (mono, or stereo mixed down); anything else is refused with a clear error."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2 or w.getframerate() != 8000 or w.getnchannels() not in (1, 2):
                raise BadPrompt(str(path), "must be 8 kHz 16-bit PCM, mono or stereo")
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
            if w.getnchannels() == 2:
                data = (data.reshape(-1, 2).astype(np.int32).sum(axis=1) // 2).astype(np.int16)
            return data.astype(np.int16)
    except (wave.Error, EOFError, OSError) as exc:
        raise BadPrompt(str(path), str(exc)) from exc


@dataclass
class Player:
    samples: npt.NDArray[np.int16]
    loop: bool = False
    barge_in: bool = False
    _pos: int = 0
    finished: bool = field(default=False)

    def frame(self) -> npt.NDArray[np.int16]:
        n = len(self.samples)
        if self.finished or n == 0:
            self.finished = True
            return np.zeros(FRAME, dtype=np.int16)
        out = np.zeros(FRAME, dtype=np.int16)
        filled = 0
        while filled < FRAME:
            take = min(FRAME - filled, n - self._pos)
            out[filled:filled + take] = self.samples[self._pos:self._pos + take]
            filled += take
            self._pos += take
            if self._pos >= n:
                if not self.loop:
                    self.finished = True
                    break
                self._pos = 0
        return out
