from __future__ import annotations

import numpy as np

from appliance.media.tones import CHINA, US, ToneGenerator
from tests.media.helpers import tone_level


def render(gen: ToneGenerator, seconds: float) -> np.ndarray:
    return np.concatenate([gen.frame() for _ in range(int(seconds * 50))])


def on_off_pattern(x: np.ndarray) -> list[bool]:
    """Per 50 ms: is there signal."""
    return [bool(np.abs(x[i:i + 400]).max() > 100) for i in range(0, len(x), 400)]


def test_chinese_plan_uses_450_hz() -> None:
    x = render(ToneGenerator(CHINA["dial"]), 1.0)
    assert tone_level(x, 450) > 20 * tone_level(x, 350) > 0


def test_chinese_ringback_is_one_second_on_four_off() -> None:
    pattern = on_off_pattern(render(ToneGenerator(CHINA["ringback"]), 10.0))
    assert pattern[:20] == [True] * 20 and pattern[20:100] == [False] * 80 and pattern[100:120] == [True] * 20


def test_chinese_busy_and_congestion_cadences() -> None:
    busy = on_off_pattern(render(ToneGenerator(CHINA["busy"]), 1.4))
    assert busy[:7] == [True] * 7 and busy[7:14] == [False] * 7 and busy[14:21] == [True] * 7
    cong = on_off_pattern(render(ToneGenerator(CHINA["congestion"]), 2.8))
    assert cong[:14] == [True] * 14 and cong[14:28] == [False] * 14


def test_us_plan_dial_is_350_plus_440() -> None:
    x = render(ToneGenerator(US["dial"]), 1.0)
    assert tone_level(x, 350) > 1000 and tone_level(x, 440) > 1000 and tone_level(x, 450) < tone_level(x, 440)


def test_no_click_at_frame_borders() -> None:
    x = render(ToneGenerator(CHINA["dial"]), 0.2).astype(np.int32)
    # a 450 Hz sine at this level moves at most ~2*pi*450/8000*A per sample
    assert np.abs(np.diff(x)).max() < 0.36 * np.abs(x).max() + 2
