from __future__ import annotations

from appliance.media.quality import estimate, mos_from_r, r_factor


def test_clean_g711_call_rates_about_4_4() -> None:
    q = estimate(0.0, 0.0, 0.0)
    assert 90 < q.r_factor <= 93.2 and 4.3 < q.mos < 4.45


def test_loss_delay_and_jitter_lower_the_score() -> None:
    base = r_factor(0.0, 0.0, 20.0)
    assert r_factor(0.02, 0.0, 20.0) < base - 5
    assert r_factor(0.0, 0.0, 300.0) < base - 15
    assert r_factor(0.0, 40.0, 20.0) < base


def test_mos_mapping_end_points() -> None:
    assert mos_from_r(0) == 1.0 and mos_from_r(100) == 4.5
    assert abs(mos_from_r(50) - 2.58) < 0.01
