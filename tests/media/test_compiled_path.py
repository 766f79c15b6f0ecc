"""The compiled packet path against the Python one: the same packets through each give the same packets out.

Python is the reference (`MediaConfig.compiled_relay=False`). A seeded random stream with what phones and
networks really produce — gaps, reordering, duplicates, RFC 4733 events, marker bits, RTCP sent to the RTP
port, headers with padding or a CSRC, a burst of late packets — goes through a relayed call on each engine;
the other leg must receive the same packets (sequence numbers and timestamps relative to the first, payload
types, markers, payloads), and the statistics must agree.

Scripted streams add what a source may do to its numbering mid-call: restart its sequence and timestamps under
the same SSRC (with and without a straggler from before), jump either forward, go back in timestamp only, wrap
both counters, or change SSRC. On both paths the other leg's stream must go on by one sequence number per
packet with its timestamp moving on, the marker bit set on the first packet after each discontinuity and
nowhere else.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from appliance.events import EventBus
from appliance.media import MediaConfig, MediaEngine, RemoteMedia
from tests.media.conftest import free_port_range
from tests.media.helpers import RtpPeer

ALAW, EVENT = 8, 101


@dataclass(frozen=True)
class Datagram:
    seq: int
    raw: bytes


def rtp(seq: int, ts: int, payload: bytes, *, pt: int = ALAW, marker: bool = False, ssrc: int = 0xA,
        padding: bool = False, csrc: bool = False) -> bytes:
    b0 = 0x80 | (0x20 if padding else 0) | (1 if csrc else 0)
    head = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    if csrc:
        head += struct.pack("!I", 0xC5C5)
    return head + payload + (b"\x00\x00\x00\x04" if padding else b"")


def stream(seed: int, frames: int = 160) -> Iterator[Datagram]:
    """What one phone sends, in the order it arrives, as it might after a bad network."""
    rnd = random.Random(seed)
    seq, ts = 4000 + rnd.randrange(60000), rnd.randrange(1 << 32)
    pending: list[Datagram] = []
    for _ in range(frames):
        payload = bytes(rnd.randrange(256) for _ in range(160))
        if rnd.random() < 0.05:  # an RFC 4733 event: start, update, three ends, on one timestamp
            for k, end in enumerate((0, 0, 0x80, 0x80, 0x80)):
                body = bytes([rnd.randrange(16), end | 10]) + struct.pack("!H", 160 * (k + 1))
                yield Datagram(seq, rtp(seq, ts, body, pt=EVENT, marker=k == 0))
                seq += 1
            ts += 800
            continue
        form = rnd.random()  # most headers are plain; some carry a marker, padding or a CSRC
        packet = Datagram(seq, rtp(seq, ts, payload, marker=form < 0.04, padding=0.04 <= form < 0.07,
                                   csrc=0.07 <= form < 0.1))
        seq, ts = seq + 1, ts + 160
        fate = rnd.random()
        if fate < 0.05:
            continue  # lost on the way
        if fate < 0.1:
            pending.append(packet)  # late: arrives after the next ones
            continue
        yield packet
        if fate < 0.13:
            yield packet  # duplicated by the network
        if rnd.random() < 0.02:
            yield Datagram(-1, struct.pack("!BBHI", 0x80, 200, 6, 0xA) + bytes(20))  # RTCP on the RTP port
        if pending and rnd.random() < 0.5:
            yield from pending
            pending.clear()
    yield from pending


@dataclass(frozen=True)
class Outcome:
    packets: list[tuple[int, int, int, bool, bytes]]  # (seq, ts) relative to the first, pt, marker, payload
    received: int
    lost: int
    sent: int


async def run(compiled: bool, seed: int | list[Datagram]) -> tuple[Outcome, dict[str, int]]:
    low, high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=high, compiled_relay=compiled), EventBus())
    assert engine.compiled_relay == compiled
    await engine.start()
    a, b = await RtpPeer.open(ssrc=0xA), await RtpPeer.open(ssrc=0xB)
    try:
        la = await engine.allocate(RemoteMedia("127.0.0.1", a.port, (ALAW, 0, EVENT)))
        lb = await engine.allocate(RemoteMedia("127.0.0.1", b.port, (ALAW, 0, EVENT)))
        engine.bridge(la.endpoint_id, lb.endpoint_id)
        b.send((lb.address, lb.port), bytes(160))  # b is latched first, so a's packets can be relayed in C
        await asyncio.sleep(0.05)
        for datagram in stream(seed) if isinstance(seed, int) else seed:
            a.transport.sendto(datagram.raw, (la.address, la.port))
            await asyncio.sleep(0.003)
        await asyncio.sleep(0.1)
        got = [r.packet for r in b.received]
        first = got[0]
        packets = [((p.sequence - first.sequence) & 0xFFFF, (p.timestamp - first.timestamp) & 0xFFFFFFFF,
                    p.payload_type, p.marker, p.payload) for p in got]
        stats_a, stats_b = engine.leg_stats(la.endpoint_id), engine.leg_stats(lb.endpoint_id)
        outcome = Outcome(packets, stats_a["received"], stats_a["lost"], stats_b["sent"])
        return outcome, engine.compiled_figures
    finally:
        a.close()
        b.close()
        await engine.stop()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_compiled_and_python_paths_relay_the_same_packets(seed: int) -> None:
    reference, _ = await run(False, seed)
    compiled, figures = await run(True, seed)
    assert compiled.packets == reference.packets
    assert (compiled.received, compiled.lost, compiled.sent) == (reference.received, reference.lost,
                                                                 reference.sent)
    assert reference.sent == len(reference.packets)
    kinds = {(p[2], p[3]) for p in reference.packets}
    assert {(ALAW, False), (ALAW, True), (EVENT, True), (EVENT, False)} <= kinds  # the stream had them all
    assert figures["relayed"] > len(reference.packets) // 2  # most of them went the compiled way


SPEECH = [bytes((k * 7 + n) % 256 for n in range(160)) for k in range(120)]  # a payload of its own each


def scripted(case: str) -> tuple[list[Datagram], set[int]]:
    """60 packets, one discontinuity, 60 more (one run of 120 for "wrap"); and the indices, among the packets
    the other leg gets (all of them, in this order), where a new mapping starts (the first packet is one)."""
    seq, ts, ssrc = 44000, 3_000_000, 0xA
    if case == "wrap":
        seq, ts = 0xFFFF - 59, (1 << 32) - 160 * 59
    out: list[Datagram] = []
    marks = {0}
    for k in range(120):
        if k == 60:
            marks.add(k)
            if case == "restart":
                seq, ts = seq - 235, ts - 7 * 8000  # as the issue saw: 44212 back to 43977, about 7 s back
            elif case == "straggler":  # (far back: a straggler only 235 ahead would pass for a loss)
                seq, ts = seq - 30000, ts - 7 * 8000
            elif case == "seq_jump":
                seq += 5000
            elif case == "ts_back":
                ts -= 7 * 8000
            elif case == "ts_jump":
                ts += 60 * 8000
            elif case == "new_ssrc":
                seq, ts, ssrc = 7, 123_456, 0xB0B
            else:
                marks.discard(k)
        out.append(Datagram(seq & 0xFFFF, rtp(seq, ts, SPEECH[k], ssrc=ssrc)))
        seq, ts = seq + 1, ts + 160
    if case == "straggler":  # one packet from before the restart comes after three new ones: a mapping of its
        out.insert(62, out.pop(59))  # own, then the new stream takes up again
        marks = {0, 59, 62, 63}
    return out, marks


def course(outcome: Outcome) -> list[tuple[int, int, bool, bytes]]:
    """Each packet's steps from the one before: (sequence, timestamp, marker, payload)."""
    steps = []
    prev_seq = prev_ts = None
    for seq, ts, _pt, marker, payload in outcome.packets:
        steps.append(((seq - prev_seq) & 0xFFFF if prev_seq is not None else 0,
                      (ts - prev_ts) & 0xFFFFFFFF if prev_ts is not None else 0, marker, payload))
        prev_seq, prev_ts = seq, ts
    return steps


@pytest.mark.parametrize("case", ["restart", "straggler", "seq_jump", "ts_back", "ts_jump", "wrap", "new_ssrc"])
async def test_a_relayed_stream_goes_on_by_one_across_a_discontinuity_on_both_paths(case: str) -> None:
    sent, marks = scripted(case)
    reference, _ = await run(False, sent)
    compiled, figures = await run(True, sent)
    for outcome in (reference, compiled):
        steps = course(outcome)
        assert [payload for *_, payload in steps] == [d.raw[12:] for d in sent]  # all of it, in order
        assert [s for s, *_ in steps[1:]] == [1] * (len(sent) - 1)  # on by one, whatever the source did
        assert {k for k, (_, _, marker, _) in enumerate(steps) if marker} == marks
        for k, (_, ts_step, _, _) in enumerate(steps[1:], 1):
            if k in marks:  # a new mapping: the time that passed (packets came every 3 ms: at least a frame)
                assert ts_step in range(160, 160 * 6, 160), (k, ts_step)
            else:
                assert ts_step == 160, (k, ts_step)
    # the same packets both ways (a new mapping's timestamp follows the clock, so only its sign is compared)
    assert [(q, t if k not in marks else 0, m, p) for k, (q, t, m, p) in enumerate(course(compiled))] == \
        [(q, t if k not in marks else 0, m, p) for k, (q, t, m, p) in enumerate(course(reference))]
    assert (compiled.received, compiled.lost, compiled.sent) == (reference.received, reference.lost,
                                                                 reference.sent)
    assert figures["relayed"] >= len(sent) - 3 * len(marks)  # C took the stream up again after each one
