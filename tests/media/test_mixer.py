from __future__ import annotations

import numpy as np

from appliance.media.mixer import Mixer
from appliance.media.models import PartyMask


def setup(masks: dict[str, PartyMask]) -> tuple[Mixer, dict[str, int], np.ndarray]:
    m = Mixer()
    for p, mask in masks.items():
        m.set_party("c1", p, mask)
    rows = {p: i for i, p in enumerate(masks)}
    inputs = np.zeros((len(masks), 160), dtype=np.float32)
    for i in rows.values():
        inputs[i] = 10 ** i  # party i speaks a distinct constant: 1, 10, 100, ...
    return m, rows, inputs


def heard(masks: dict[str, PartyMask]) -> dict[str, float]:
    m, rows, inputs = setup(masks)
    out = np.zeros_like(inputs)
    m.mix(inputs, rows, out)
    return {p: float(out[i, 0]) for p, i in rows.items()}


def test_three_way_call_everybody_hears_the_others() -> None:
    assert heard({"a": PartyMask(), "b": PartyMask(), "c": PartyMask()}) == {"a": 110, "b": 101, "c": 11}


def test_supervisor_listen() -> None:
    got = heard({"caller": PartyMask(), "agent": PartyMask(), "sup": PartyMask.listen()})
    assert got == {"caller": 10, "agent": 1, "sup": 11}


def test_whisper_reaches_the_agent_only() -> None:
    got = heard({"caller": PartyMask(), "agent": PartyMask(), "sup": PartyMask.whisper("agent")})
    assert got == {"caller": 10, "agent": 101, "sup": 11}


def test_barge() -> None:
    got = heard({"caller": PartyMask(), "agent": PartyMask(), "sup": PartyMask.barge()})
    assert got == {"caller": 110, "agent": 101, "sup": 11}


def test_many_conferences_are_mixed_in_one_batch() -> None:
    m = Mixer()
    rows: dict[str, int] = {}
    for c in range(50):
        size = 2 + c % 3
        for k in range(size):
            party = f"c{c}p{k}"
            rows[party] = len(rows)
            m.set_party(f"c{c}", party, PartyMask())
    rng = np.random.default_rng(0)
    inputs = rng.normal(0, 1000, (len(rows), 160)).astype(np.float32)
    out = np.zeros_like(inputs)
    m.mix(inputs, rows, out)
    assert len(m._groups) == 3
    for c in range(50):
        members = [rows[p] for p in rows if p.startswith(f"c{c}p")]
        for r in members:
            expected = inputs[[x for x in members if x != r]].sum(axis=0)
            assert np.allclose(out[r], expected, atol=0.01)
