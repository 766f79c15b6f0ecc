from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.media.errors import BadPrompt
from appliance.media.player import Player, load_wav
from tests.media.helpers import sine, write_wav


def test_prompt_plays_once_then_reports_finished() -> None:
    samples = np.arange(400, dtype=np.int16)
    p = Player(samples)
    frames = [p.frame() for _ in range(3)]
    assert p.finished
    assert np.array_equal(np.concatenate(frames)[:400], samples)
    assert not np.concatenate(frames)[400:].any()


def test_hold_music_loops_without_a_gap() -> None:
    samples = np.arange(1, 251, dtype=np.int16)  # 250 samples: not a whole number of frames
    p = Player(samples, loop=True)
    out = np.concatenate([p.frame() for _ in range(10)])
    assert not p.finished
    assert np.array_equal(out, np.tile(samples, 7)[:1600])


def test_wav_loading_checks_the_format(tmp_path: Path) -> None:
    good = write_wav(tmp_path / "ok.wav", sine(440, 0.1))
    assert len(load_wav(good)) == 800
    import wave
    with wave.open(str(tmp_path / "cd.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\x00\x00" * 100)
    with pytest.raises(BadPrompt):
        load_wav(tmp_path / "cd.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav")
    with pytest.raises(BadPrompt):
        load_wav(tmp_path / "junk.wav")
