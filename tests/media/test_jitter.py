from __future__ import annotations

import numpy as np

from appliance.media import g711
from appliance.media.jitter import FRAME, JitterBuffer


def frames(n: int, start: int = 0) -> list[bytes]:
    return [(start + i + 1).to_bytes(2, "big") * (FRAME // 2) for i in range(n)]


def run(jb: JitterBuffer, arrivals: list[tuple[float, int, bytes]], ticks: int) -> list[bytes]:
    """Feed packets by arrival time and pop one frame every 20 ms."""
    out = []
    arrivals = sorted(arrivals, key=lambda a: a[0])
    k = 0
    for t in range(ticks):
        now = t * 0.02
        while k < len(arrivals) and arrivals[k][0] <= now:
            jb.put(arrivals[k][1], arrivals[k][2], arrivals[k][0])
            k += 1
        out.append(jb.pop())
    return out


def test_in_order_stream_plays_every_frame_once() -> None:
    data = frames(50)
    jb = JitterBuffer("alaw")
    out = run(jb, [(i * 0.02, 1000 + i * FRAME, d) for i, d in enumerate(data)], 60)
    first = out.index(data[0])
    assert first <= 2  # the initial playout delay
    assert out[first:first + 50] == data  # then every frame once, in order, nothing concealed


def test_reordered_packets_come_out_in_order() -> None:
    data = frames(40)
    arrivals = [(i * 0.02 + (0.015 if i % 5 == 2 else 0.0), i * FRAME, d) for i, d in enumerate(data)]
    jb = JitterBuffer("alaw", min_delay=0.04)
    out = run(jb, arrivals, 50)
    assert [f for f in out if f in data] == data


def test_lost_frame_is_concealed_by_attenuated_repeat_then_silence() -> None:
    data = frames(30)
    lost = {10, 20, 21, 22, 23}
    arrivals = [(i * 0.02, i * FRAME, d) for i, d in enumerate(data) if i not in lost]
    jb = JitterBuffer("ulaw")
    out = run(jb, arrivals, 40)
    i9 = out.index(data[9])
    assert out[i9 + 1] == data[9].translate(g711.attenuation_table("ulaw", 0.708))
    assert out[i9 + 2] == data[11]
    i19 = out.index(data[19])
    i24 = out.index(data[24])
    gap = out[i19 + 1:i24]
    assert gap[0] == data[19].translate(g711.attenuation_table("ulaw", 0.708))
    assert gap[1] == data[19].translate(g711.attenuation_table("ulaw", 0.355))
    assert gap[2:] and set(gap[2:]) == {bytes([0xFF]) * FRAME}  # from the third loss on: silence
    assert out[i24:i24 + 6] == data[24:30]


def test_thirty_ms_packets_are_cut_into_twenty_ms_frames() -> None:
    pcm = (np.arange(240 * 20) % 200 * 50).astype(np.int16)
    coded = g711.encode(pcm, "alaw")
    arrivals = [(i * 0.03, i * 240, coded[i * 240:(i + 1) * 240]) for i in range(20)]
    jb = JitterBuffer("alaw", min_delay=0.06)
    out = b"".join(run(jb, arrivals, 40))
    start = out.index(coded[:160])
    assert out[start:start + len(coded) - 240] == coded[:len(coded) - 240]


def test_target_delay_grows_with_jitter() -> None:
    rng = np.random.default_rng(1)
    data = frames(200)
    arrivals = [(i * 0.02 + float(rng.uniform(0, 0.06)), i * FRAME, d) for i, d in enumerate(data)]
    jb = JitterBuffer("alaw")
    out = run(jb, arrivals, 230)
    assert jb.target_delay >= 0.05
    assert jb.stats.late_dropped < 10
    assert len([f for f in out if f in data]) > 185


def test_fast_sender_clock_drift_does_not_grow_delay_without_bound() -> None:
    # sender clock 1 % fast: 101 frames every 100 ticks
    data = frames(1000)
    arrivals = [(i * 0.02 / 1.01, i * FRAME, d) for i, d in enumerate(data)]
    jb = JitterBuffer("alaw")
    run(jb, arrivals, 990)
    assert jb.stats.drift_skipped >= 5
    assert jb.depth <= jb._target + 3 * FRAME


def test_slow_sender_clock_drift_waits_instead_of_dropping() -> None:
    data = frames(500)
    arrivals = [(i * 0.02 * 1.01, i * FRAME, d) for i, d in enumerate(data)]
    jb = JitterBuffer("alaw")
    out = run(jb, arrivals, 510)
    assert jb.stats.underruns >= 3
    assert jb.stats.late_dropped == 0
    assert [f for f in out if f in data] == data[:len([f for f in out if f in data])]


def test_timestamp_wrap_is_continuous() -> None:
    data = frames(20)
    base = 0xFFFFFFFF - 5 * FRAME
    arrivals = [(i * 0.02, (base + i * FRAME) & 0xFFFFFFFF, d) for i, d in enumerate(data)]
    jb = JitterBuffer("alaw")
    out = run(jb, arrivals, 25)
    assert [f for f in out if f in data] == data
