"""Bearer timing: the emulated card plays the host's answer to a tick a fixed delay later, whenever within that
delay the answer came, and counts what came too late; and the box's process keeps one BLAS thread, so no
spinning worker takes a core from the card's 20 ms clock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from drivers.emulator.model import IDLE, TX_DELAY, Card, wire

ROOT = Path(__file__).resolve().parents[3]


def back_to_back() -> Card:
    card = Card(2, [], [], [])
    wire(card.chassis, (1, 1), (1, 2))
    for span in (1, 2):
        card.configure({"span": span})
    return card


def received(out: list[tuple[str, int, int, dict[int, bytes]]], span: int) -> dict[int, bytes]:
    return next(frames for kind, unit, _tick, frames in out if kind == "span" and unit == span)


def stamped(n: int) -> bytes:
    return bytes([n]) * 160


def test_answers_late_within_the_delay_keep_their_place_and_the_delay_stays_fixed() -> None:
    card = back_to_back()
    heard: list[bytes] = []  # span 2's timeslot 1, tick by tick
    late_by = [0, 1, 0, 2, 3, 0, 0, 1, 0, 0]  # ticks each answer of span 1 comes after its own tick
    answers: dict[int, list[int]] = {}  # card tick at which to deliver -> span 1 ticks answered then
    for n in range(1, 40):
        out = card.tick()
        heard.append(received(out, 2)[1])
        tick1 = card.spans[1].tick
        if n <= len(late_by):
            answers.setdefault(n + late_by[n - 1], []).append(tick1)
        for t in answers.pop(n, []):
            card.bearer_from_host("span", 1, {1: stamped(t)}, t)
    got = [frame[0] for frame in heard if frame != IDLE]
    assert got == list(range(1, len(late_by) + 1))  # every answer, once, in order, none lost
    first = next(i for i, frame in enumerate(heard) if frame != IDLE)
    assert heard[first:first + len(late_by)] == [stamped(n) for n in range(1, len(late_by) + 1)]  # no gap
    assert first == TX_DELAY  # (heard[i] is card tick i + 1: the answer to tick 1 goes out at tick 1 + TX_DELAY)
    assert card.spans[1].counters["bearer_lost"] == 0


def test_an_answer_after_its_slot_is_counted_lost_and_idle_goes_out() -> None:
    card = back_to_back()
    for _ in range(3):
        card.tick()
    stale = card.spans[1].tick
    for _ in range(TX_DELAY + 1):
        heard = received(card.tick(), 2)[1]
        assert heard == IDLE
    card.bearer_from_host("span", 1, {1: stamped(7), 2: stamped(7)}, stale)  # two frames, too late
    card.bearer_from_host("span", 1, {1: stamped(8)}, card.spans[1].tick + 5)  # a tick not yet sent
    assert card.spans[1].counters["bearer_lost"] == 3
    assert all(received(card.tick(), 2)[1] == IDLE for _ in range(TX_DELAY + 2))
    assert not card.spans[1].tx  # nothing held for a slot that will never come


def test_a_span_without_a_far_end_holds_no_answers() -> None:
    card = Card(1, [], [], [])
    card.configure({"span": 1})
    for _ in range(50):
        card.tick()
        card.bearer_from_host("span", 1, {1: stamped(1)}, card.spans[1].tick)
    assert len(card.spans[1].tx) <= TX_DELAY + 1


def test_the_box_process_runs_blas_on_one_thread() -> None:
    """numpy loaded through the appliance packages, a batch of in-band DTMF analysis run: the process has
    only its main thread (no OpenBLAS workers spinning between ticks)."""
    code = ("import os, numpy as np\n"
            "from appliance.media import inband\n"
            "inband.analyse(np.zeros((120, 160), dtype=np.int16), np.zeros((120, 40)))\n"
            "print(len(os.listdir('/proc/self/task')))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                            "MKL_NUM_THREADS")}
    # (importing the appliance first, as `python -m appliance` and the drivers do, before numpy)
    code = "import appliance\n" + code
    threads = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True, timeout=60).stdout
    assert int(threads) == 1
