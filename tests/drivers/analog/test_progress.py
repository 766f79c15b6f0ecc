"""Busy and congestion tone detection with cadence checking: the Chinese tones spandsp generated (fixtures/)
are found within three cadence cycles at line levels with noise; ten minutes of speech and music made with
espeak-ng and sox (corpus.py) and the hold music give no false busy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from drivers.analog.dsp import progress
from tests.drivers.analog import corpus
from tests.drivers.analog.signals import at_level, fixture, line

CYCLE_S = 0.7  # busy: 0.35 s on, 0.35 s off


def tone(hz: float, on_s: float, off_s: float, seconds: float, level: float = -15.0) -> npt.NDArray[np.float64]:
    t = np.arange(int(8000 * seconds)) / 8000
    gate = (t % (on_s + off_s)) < on_s if off_s else np.ones(len(t), bool)
    return at_level(np.sin(2 * np.pi * hz * t), level) * gate


def onset_to_detection(signal: npt.NDArray[np.int16], onset_s: float) -> list[tuple[float, str]]:
    return [(round(at - onset_s, 2), name) for at, name in progress.detect(signal)]


@pytest.mark.parametrize("level", [-35.0, -25.0, -15.0, -5.0])
@pytest.mark.parametrize("lead_s", [0.3, 0.77, 1.13])
def test_spandsp_busy_tone_is_found_within_three_cycles(level: float, lead_s: float) -> None:
    signal = line(at_level(fixture("busy_cn"), level), snr_db=20.0, lead_s=lead_s, seed=int(-level))
    found = onset_to_detection(signal, lead_s)
    assert [name for _, name in found] == ["busy"], found
    assert found[0][0] <= 3 * CYCLE_S, found


def test_spandsp_congestion_tone_is_found_as_congestion() -> None:
    signal = line(at_level(fixture("congestion_cn"), -20.0), snr_db=20.0, lead_s=0.5)
    assert [name for _, name in onset_to_detection(signal, 0.5)] == ["congestion"]


@pytest.mark.parametrize("hz", [445.0, 455.0])
def test_an_exchange_slightly_off_frequency_is_still_heard(hz: float) -> None:
    signal = line(tone(hz, 0.35, 0.35, 3.0), lead_s=0.5)
    assert [name for _, name in onset_to_detection(signal, 0.5)] == ["busy"]


@pytest.mark.parametrize(("what", "hz", "on_s", "off_s"), [
    ("dial tone", 450.0, 1.0, 0.0),
    ("ringback", 450.0, 1.0, 4.0),
    ("US busy cadence", 450.0, 0.5, 0.5),
    ("a 440 Hz note at the busy cadence", 440.0, 0.35, 0.35),
    ("short bursts", 450.0, 0.15, 0.35),
])
def test_other_tones_are_not_busy(what: str, hz: float, on_s: float, off_s: float) -> None:
    assert progress.detect(line(tone(hz, on_s, off_s, 12.0))) == [], what


def test_a_busy_tone_whose_level_swells_is_refused() -> None:
    t = np.arange(8000 * 4) / 8000
    swelling = tone(450.0, 0.35, 0.35, 4.0) * (0.3 + 0.7 * np.sin(np.pi * (t % 0.7) / 0.35) ** 2)
    assert progress.detect(line(swelling)) == []


def test_the_detector_reports_once_per_tone_and_again_after_reset() -> None:
    det = progress.ToneCadenceDetector()
    signal = line(tone(450.0, 0.35, 0.35, 6.0), lead_s=0.5)
    assert [name for _, name in progress.detect(signal, det)] == ["busy"]
    det.reset()
    assert [name for _, name in progress.detect(signal, det)] == ["busy"]


@pytest.fixture(scope="module")
def speech_and_music(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, npt.NDArray[np.int16]]]:
    if not corpus.tools_available():
        pytest.skip("espeak-ng and sox are needed")
    return corpus.corpus(tmp_path_factory.mktemp("analog-false-busy"))


@pytest.mark.slow
@pytest.mark.interop
def test_no_false_busy_on_ten_minutes_of_speech_and_music(
        speech_and_music: list[tuple[str, npt.NDArray[np.int16]]]) -> None:
    total = sum(len(s) for _, s in speech_and_music) / 8000
    assert total >= 600, total
    for name, signal in speech_and_music:
        for level, snr in ((None, None), (-30.0, 20.0)):
            x = signal.astype(np.float64) if level is None else at_level(signal.astype(np.float64), level)
            assert progress.detect(line(x, snr_db=snr)) == [], (name, level)


@pytest.mark.slow
@pytest.mark.interop
def test_busy_after_speech_and_under_an_echo_of_speech_is_found(
        speech_and_music: list[tuple[str, npt.NDArray[np.int16]]]) -> None:
    """The far end hangs up while our agent talks: the busy tone arrives with the agent's voice echoed back
    from the line's hybrid 20 dB down."""
    voice = speech_and_music[0][1].astype(np.float64)[: 8000 * 8]
    busy = at_level(fixture("busy_cn"), -15.0)
    head = at_level(voice[: 8000 * 4], -15.0)
    echo = at_level(voice[8000 * 4: 8000 * 4 + len(busy)], -35.0)
    signal = line(np.concatenate([head, busy + echo]), lead_s=0.0)
    found = onset_to_detection(signal, 4.0)
    assert [name for _, name in found] == ["busy"], found
    assert found[0][0] <= 3 * CYCLE_S, found
