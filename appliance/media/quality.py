"""Call quality estimate: the E-model (ITU-T G.107) transmission rating R and its MOS (G.107 Annex B).

Simplified to what a media engine measures: default values for everything acoustic (Ro - Is = 93.2),
the delay impairment Id from one-way mouth-to-ear delay (G.107 §3.6 simplified as in G.107 Appendix / the
common "Cole-Rosenbluth" fit), and the effective equipment impairment Ie-eff from packet loss (G.107 §3.7,
with Ie and Bpl for G.711 from G.113 Appendix I: Ie = 0, Bpl = 25.1 with loss concealment).
Jitter counts as delay, because the jitter buffer turns it into delay.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quality:
    r_factor: float
    mos: float


def r_factor(loss_fraction: float, jitter_ms: float, delay_ms: float, ie: float = 0.0, bpl: float = 25.1,
             burst_ratio: float = 1.0) -> float:
    # mouth-to-ear: network delay + a jitter buffer of ~2x jitter + 20 ms packetisation + 10 ms codec/lookahead
    d = max(0.0, delay_ms) + 2.0 * max(0.0, jitter_ms) + 30.0
    i_d = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    ppl = 100.0 * min(max(loss_fraction, 0.0), 1.0)
    ie_eff = ie + (95.0 - ie) * ppl / (ppl / burst_ratio + bpl)
    return 93.2 - i_d - ie_eff


def mos_from_r(r: float) -> float:
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def estimate(loss_fraction: float, jitter_ms: float, delay_ms: float) -> Quality:
    r = r_factor(loss_fraction, jitter_ms, delay_ms)
    return Quality(round(r, 1), round(mos_from_r(r), 2))
