from __future__ import annotations

import struct

import pytest

from appliance.media import rtp


def test_build_and_parse_round_trip() -> None:
    data = rtp.build_rtp(8, 65535, 0xFFFFFFF0, 0xDEADBEEF, b"\xd5" * 160, marker=True)
    p = rtp.parse_rtp(data)
    assert (p.payload_type, p.sequence, p.timestamp, p.ssrc, p.marker) == (8, 65535, 0xFFFFFFF0, 0xDEADBEEF, True)
    assert p.payload == b"\xd5" * 160


def test_csrc_extension_and_padding_are_skipped() -> None:
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0, 7, 160, 1)
    csrcs = struct.pack("!II", 11, 22)
    ext = struct.pack("!HH", 0xBEDE, 1) + b"\x01\x02\x03\x04"
    data = header + csrcs + ext + b"abc" + b"\x00\x00\x03"
    p = rtp.parse_rtp(data)
    assert p.csrcs == (11, 22) and p.payload == b"abc"


@pytest.mark.parametrize("bad", [b"", b"\x80" * 11, b"\x40" + b"\x00" * 11, b"\x83" + b"\x00" * 11])
def test_malformed_packets_are_refused(bad: bytes) -> None:
    with pytest.raises(rtp.RtpParseError):
        rtp.parse_rtp(bad)


def test_receiver_stats_count_loss_across_sequence_wrap() -> None:
    s = rtp.ReceiverStats()
    seqs = [65530 + i for i in range(6)] + list(range(0, 20))
    seqs = [q & 0xFFFF for q in seqs]
    lost = {65533, 2, 3, 10}
    for i, q in enumerate(seqs):
        if q in lost:
            continue
        s.update(q, i * 160, i * 160)
    assert s.expected == 26
    assert s.cumulative_lost == 4
    assert s.jitter == 0.0  # perfectly paced
    block = s.report_block(0.0)
    assert block.fraction_lost == (4 << 8) // 26
    assert block.highest_seq == (1 << 16) + 19


def test_interarrival_jitter_follows_rfc3550_estimator() -> None:
    s = rtp.ReceiverStats()
    # every other packet 80 samples (10 ms) late: |D| = 80 from the second packet on
    for i in range(200):
        s.update(i, i * 160, i * 160 + (80 if i % 2 else 0))
    assert 75 < s.jitter <= 80
    assert abs(s.jitter_ms - s.jitter / 8) < 1e-9


def test_duplicates_do_not_count_as_received_twice_in_loss() -> None:
    s = rtp.ReceiverStats()
    for q in [1, 2, 3, 3, 4]:
        s.update(q, q * 160, q * 160)
    assert s.duplicates_or_late == 1
    assert s.cumulative_lost == 0


def test_a_restarted_source_is_taken_after_two_packets_in_a_row() -> None:
    """RFC 3550 A.1: a jump beyond MAX_DROPOUT is a stray packet until the next one follows it."""
    s = rtp.ReceiverStats()
    for q in range(100, 110):
        s.update(q, q * 160, q * 160)
    s.update(40000, 0, 1600)  # a stray jump: not counted
    assert (s.received, s.max_seq, s.base_seq) == (10, 109, 100)
    s.update(110, 110 * 160, 110 * 160)  # the old stream goes on
    assert (s.received, s.max_seq) == (11, 110)
    s.update(50000, 0, 3200)
    s.update(50001, 160, 3360)  # two in a row: the source restarted
    assert (s.base_seq, s.max_seq, s.received, s.cycles) == (50001, 50001, 1, 0)
    s.update(50002, 320, 3520)
    assert (s.received, s.expected, s.cumulative_lost) == (2, 2, 0)


def test_sender_report_compound_round_trip_and_round_trip_time() -> None:
    info = rtp.SenderInfo(*rtp.ntp_timestamp(1000.5), 123456, 50, 8000)
    block = rtp.ReportBlock(ssrc=7, fraction_lost=12, cumulative_lost=3, highest_seq=99, jitter=40,
                            lsr=rtp.ntp_middle32(999.0), dlsr=int(0.25 * 65536))
    data = rtp.build_sr(42, info, [block], "agent@box")
    assert rtp.is_rtcp(data)
    c = rtp.parse_rtcp(data)
    assert c.cnames == {42: "agent@box"}
    (report,) = c.reports
    assert report.packet_type == rtp.RTCP_SR and report.ssrc == 42 and report.sender == info
    assert report.blocks == (block,)
    rtt = report.blocks[0].round_trip(rtp.ntp_middle32(999.75))
    assert rtt is not None and abs(rtt - 0.5) < 0.001


def test_receiver_report_and_bye() -> None:
    data = rtp.build_rr(5, [], "x") + rtp.build_bye(5)
    c = rtp.parse_rtcp(data)
    assert c.reports[0].packet_type == rtp.RTCP_RR and c.reports[0].sender is None
    assert c.bye == (5,)


def test_negative_cumulative_loss_is_signed() -> None:
    raw = rtp.ReportBlock(1, 0, -2 & 0xFFFFFF, 0, 0).pack()
    assert rtp.ReportBlock.unpack(raw, 0).cumulative_lost == -2
