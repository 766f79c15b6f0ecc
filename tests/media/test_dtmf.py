from __future__ import annotations

import pytest

from appliance.media import rtp
from appliance.media.dtmf import EventReceiver, EventSender, TelephoneEvent, build_event, parse_event
from tests.media.helpers import FIXTURES, read_pcap_udp

CAPTURES = {f"dtmf_2833_{n}.pcap": d for n, d in
            [*((str(i), str(i)) for i in range(10)), ("star", "*"), ("pound", "#")]}


@pytest.mark.parametrize(("name", "digit"), sorted(CAPTURES.items()))
def test_sipp_capture_is_detected_exactly_once(name: str, digit: str) -> None:
    packets = [rtp.parse_rtp(d.payload) for d in read_pcap_udp(FIXTURES / name)]
    assert len(packets) == 10  # start, updates, three end packets in the capture
    rx = EventReceiver()
    found = []
    for i, p in enumerate(packets):
        got = rx.receive(p.timestamp, p.payload, i * 0.02)
        if got is not None:
            found.append(got.digit)
    assert found == [digit]


def test_a_lost_start_is_recovered_from_an_update() -> None:
    rx = EventReceiver()
    payloads = [build_event(TelephoneEvent(5, False, 10, d)) for d in (320, 480)]
    assert rx.receive(8000, payloads[0], 0.0) is not None
    assert rx.receive(8000, payloads[1], 0.02) is None


def test_two_presses_of_the_same_key_are_two_digits() -> None:
    rx = EventReceiver()
    first = [rx.receive(1000, build_event(TelephoneEvent(1, e, 10, 800)), 0.0) for e in (False, True, True, True)]
    second = [rx.receive(3000, build_event(TelephoneEvent(1, e, 10, 800)), 0.3) for e in (False, True, True)]
    assert [d.digit for d in first + second if d is not None] == ["1", "1"]
    # a late retransmission of the first event's end is still a duplicate
    assert rx.receive(1000, build_event(TelephoneEvent(1, True, 10, 800)), 0.4) is None


def test_event_without_end_times_out() -> None:
    rx = EventReceiver(timeout=1.0)
    rx.receive(1000, build_event(TelephoneEvent(7, False, 10, 160)), 5.0)
    assert rx.next_deadline() == 6.0
    rx.handle_timeout(6.0)
    assert rx.next_deadline() is None


def test_sender_follows_rfc4733_packet_sequence() -> None:
    tx = EventSender("#", duration_ms=100)
    packets = []
    while (p := tx.next_packet(123_456)) is not None:
        packets.append(p)
    events = [parse_event(body) for _, _, body in packets]
    assert [m for m, _, _ in packets] == [True] + [False] * (len(packets) - 1)
    assert {ts for _, ts, _ in packets} == {123_456}
    assert all(e.event == 11 for e in events)
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]


def test_sender_output_is_received_as_one_digit() -> None:
    tx = EventSender("9")
    rx = EventReceiver()
    got = [rx.receive(ts, body, 0.0) for _, ts, body in iter(lambda: tx.next_packet(42), None)]
    assert [g.digit for g in got if g is not None] == ["9"]


def test_garbage_payload_is_ignored() -> None:
    assert EventReceiver().receive(1, b"\x01", 0.0) is None
    with pytest.raises(ValueError):
        EventSender("X")


def test_packed_events_with_redundant_earlier_event_are_each_reported_once() -> None:
    rx = EventReceiver()
    one_end = build_event(TelephoneEvent(1, True, 10, 400))
    two_start = build_event(TelephoneEvent(2, False, 10, 160))
    two_end = build_event(TelephoneEvent(2, True, 10, 480))
    got = [d.digit for d in rx.receive_all(8000, one_end + two_start, 0.0)]
    # the next packet repeats "1" ahead of the update of "2": nothing new
    got += [d.digit for d in rx.receive_all(8000, one_end + two_end, 0.02)]
    got += [d.digit for d in rx.receive_all(8400, two_end, 0.04)]  # "2" alone, at its own start
    assert got == ["1", "2"]
