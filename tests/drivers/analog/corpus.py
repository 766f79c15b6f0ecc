"""Ten minutes of speech and music that must never be taken for a busy tone, made here with espeak-ng and sox
(and the appliance's own music on hold), kept in a cache directory between runs.

Speech: Mandarin and English passages in several voices, pitches and speeds. Music: the hold music; plucked
and flute-like melodies with 350 ms notes and 350 ms rests (the busy cadence itself), some on A4 = 440 Hz, ten
hertz from the busy tone; a chord swelling at the busy tone's rate; fast arpeggios with reverb.
"""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.calls.assets import render as render_hold_music

VERSION = "2"
SECONDS_EACH = 60
MANDARIN = ("您好，欢迎致电客户服务中心。我们的工作时间是周一至周五上午九点到下午六点。"
            "请问您需要查询账户余额，还是办理新的业务？如果您的问题比较紧急，请直接按零转人工服务。"
            "感谢您的耐心等待，座席人员马上为您服务。今天天气不错，我们周末一起去公园散步吧。")
ENGLISH = ("Thank you for calling. Your call is important to us and will be answered in the order received. "
           "Please have your account number ready. Our opening hours are nine to six, Monday to Friday. "
           "The quick brown fox jumps over the lazy dog, and then it runs back home for dinner.")
SPEAKERS = (("cmn", 50, 150, MANDARIN), ("cmn+f3", 70, 170, MANDARIN), ("en-us", 40, 160, ENGLISH),
            ("en-gb+f2", 80, 180, ENGLISH), ("cmn+m3", 25, 130, MANDARIN))
MELODY = ("A4", "C5", "E5", "A4", "G4", "A4", "D5", "C5", "A4", "E4", "A4", "B4")


def tools_available() -> bool:
    return shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


def _run(args: list[str]) -> bytes:
    return subprocess.run(args, check=True, capture_output=True, timeout=120).stdout


def _pcm(wav: bytes) -> npt.NDArray[np.int16]:
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def _sox(effects: list[str], *inputs: str) -> npt.NDArray[np.int16]:
    """sox with the given inputs (none: -n) to 8 kHz 16-bit mono, `SECONDS_EACH` long, normalised."""
    sources = list(inputs) or ["-n"]
    return _pcm(_run(["sox", "-q", *sources, "-r", "8000", "-c", "1", "-b", "16", "-t", "wav", "-", *effects,
                      "repeat", "20", "trim", "0", str(SECONDS_EACH), "norm", "-12"]))


def _synth(work: Path, name: str, chains: list[str], effects: list[str] | None = None) -> npt.NDArray[np.int16]:
    """A phrase of sox effect chains (joined by ':') rendered once, then looped to length."""
    phrase = work / f"{name}.wav"
    _run(["sox", "-q", "-n", "-r", "8000", "-c", "1", "-b", "16", str(phrase), *chains])
    return _sox(effects or [], str(phrase))


def speech(work: Path) -> list[tuple[str, npt.NDArray[np.int16]]]:
    out = []
    for voice, pitch, speed, text in SPEAKERS:
        path = work / f"speech-{voice}.wav"
        _run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text * 3])
        out.append((f"speech {voice}", _sox(["rate", "8000"], str(path))))
    return out


def _melody(instrument: str, note_s: float, rest_s: float, notes: tuple[str, ...]) -> list[str]:
    chains: list[str] = []
    for note in notes:
        chains += ["synth", str(note_s), instrument, note, "fade", "0.01", str(note_s), "0.03",
                   "pad", "0", str(rest_s), ":"]
    return chains[:-1]


def music(work: Path) -> list[tuple[str, npt.NDArray[np.int16]]]:
    hold = work / "hold.wav"
    hold.write_bytes(render_hold_music())
    out = [("hold music", _sox([], str(hold)))]
    out.append(("plucked melody, busy cadence", _synth(work, "pluck", _melody("pluck", 0.35, 0.35, MELODY))))
    out.append(("flute A4, busy cadence", _synth(work, "flute", _melody("sine", 0.35, 0.35, ("A4",) * 8 + MELODY))))
    chord = ["synth", "30", "sine", "440", "sine", "554.37", "sine", "659.25", "remix", "-", "tremolo", "1.43", "90"]
    out.append(("chord swelling at the busy rate", _sox(chord)))
    arpeggio = list(itertools.chain.from_iterable(
        ["synth", "0.12", "pluck", n, ":"] for n in ("A3", "C4", "E4", "A4", "E4", "C4") * 4))[:-1]
    out.append(("arpeggios with reverb", _synth(work, "arpeggio", arpeggio, ["reverb", "50"])))
    return out


def corpus(cache: Path) -> list[tuple[str, npt.NDArray[np.int16]]]:
    """Every signal of the corpus (made once per cache directory)."""
    stamp = cache / f"corpus-{VERSION}.npz"
    if stamp.exists():
        with np.load(stamp) as data:
            return [(str(name), data[f"s{i}"]) for i, name in enumerate(data["names"])]
    work = cache / "work"
    work.mkdir(parents=True, exist_ok=True)
    signals = speech(work) + music(work)
    arrays: dict[str, Any] = {f"s{i}": s for i, (_, s) in enumerate(signals)}
    np.savez(stamp, names=np.array([n for n, _ in signals]), **arrays)
    shutil.rmtree(work, ignore_errors=True)
    return signals
