"""RTP and RTCP packets and per-stream statistics (RFC 3550).

- RTP fixed header, CSRC list, header extension and padding: §5.1, §5.3.1.
- Sequence-number tracking with wrap-around, cumulative loss and fraction lost: §6.4.1 and Appendix A.1/A.3.
- Interarrival jitter in timestamp units: §6.4.1 and Appendix A.8.
- RTCP sender and receiver reports with report blocks (§6.4.1, §6.4.2), SDES CNAME (§6.5.1), BYE (§6.6), and
  compound packets (§6.1): every report we send carries an SDES CNAME, as §6.1 requires.
- NTP timestamp format of the SR and the LSR/DLSR round-trip rule: §4 and §6.4.1.

Sans-IO: functions map bytes to values and back; arrival times are passed in. The packet path does not build
`RtpPacket` objects: it uses `struct` on the raw bytes (see `packets.py`); these types are for everything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
_HDR = struct.Struct("!BBHII")
_RTCP_HDR = struct.Struct("!BBH")
_REPORT_BLOCK = struct.Struct("!IIIIII")
_SR_INFO = struct.Struct("!IIIII")
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203


class RtpParseError(ValueError):
    """The peer sent something that is not a valid RTP or RTCP packet."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()


def is_rtcp(data: bytes) -> bool:
    """RTP and RTCP on one port (RFC 5761 §4): RTCP packet types 200-204 sit where RTP has M+PT 72-76."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12:
        raise RtpParseError("shorter than an RTP header")
    b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        raise RtpParseError("not RTP version 2")
    offset = 12 + 4 * (b0 & 0x0F)
    if len(data) < offset:
        raise RtpParseError("CSRC list truncated")
    csrcs = struct.unpack_from(f"!{b0 & 0x0F}I", data, 12) if b0 & 0x0F else ()
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            raise RtpParseError("extension header truncated")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:  # padding: last octet counts the padding octets, itself included
        pad = data[-1]
        if pad == 0 or end - pad < offset:
            raise RtpParseError("bad padding")
        end -= pad
    if offset > end:
        raise RtpParseError("header longer than packet")
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, bytes(data[offset:end]), bool(b1 & 0x80), tuple(csrcs))


def build_rtp(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes,
              marker: bool = False) -> bytes:
    return _HDR.pack(0x80, (0x80 if marker else 0) | payload_type, sequence & 0xFFFF,
                     timestamp & 0xFFFFFFFF, ssrc) + payload


def ntp_timestamp(wall: float) -> tuple[int, int]:
    seconds = int(wall) + NTP_EPOCH_OFFSET
    return seconds & 0xFFFFFFFF, int((wall % 1.0) * (1 << 32)) & 0xFFFFFFFF


def ntp_middle32(wall: float) -> int:
    hi, lo = ntp_timestamp(wall)
    return ((hi & 0xFFFF) << 16) | (lo >> 16)


@dataclass(slots=True)
class ReceiverStats:
    """What a receiver knows about one source (RFC 3550 Appendix A.1, A.3, A.8).

    `update` is called once per received packet with the arrival time already in timestamp units, so the
    caller decides how to read the clock.
    """

    clock_rate: int = 8000
    ssrc: int = 0
    base_seq: int = -1
    max_seq: int = 0
    cycles: int = 0
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    transit: int = 0
    jitter: float = 0.0  # in timestamp units, the §A.8 estimator (gain 1/16)
    bad_seq: int = -1
    duplicates_or_late: int = 0
    last_sr_middle: int = 0
    last_sr_arrival: float = 0.0

    def update(self, seq: int, timestamp: int, arrival_units: int) -> None:
        """Count one received packet: A.1 sequence tracking, A.8 interarrival jitter. The one implementation
        in Python: the engine's Python packet path calls it for every packet, and `_rtp_relay.c` mirrors the
        in-order branch (tests/media/test_compiled_path.py checks they agree)."""
        max_seq = self.max_seq
        if 0 < (seq - max_seq) & 0xFFFF < 3000 and self.base_seq >= 0:
            # in order (or after a loss of fewer than MAX_DROPOUT): the branch almost every packet takes
            if seq < max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
        elif not self._sequence_rare(seq, timestamp, arrival_units):
            return
        self.received += 1
        transit = arrival_units - timestamp
        d = transit - self.transit
        self.transit = transit
        if d < 0:
            d = -d
        self.jitter += (d - self.jitter) * 0.0625  # gain 1/16

    def _sequence_rare(self, seq: int, timestamp: int, arrival_units: int) -> bool:
        """A.1 for everything but an in-order packet; False when the packet is not counted (yet)."""
        if self.base_seq < 0:  # the first packet: its transit is the baseline, no jitter sample yet
            self.base_seq = seq
            self.max_seq = seq
            self.received = 1
            self.transit = arrival_units - timestamp
            return False
        delta = (seq - self.max_seq) & 0xFFFF
        if delta == 0 or delta > 0xFFFF - 100:
            # a duplicate, or reordered within MAX_MISORDER: still counted as received, as A.1 does (loss
            # may go negative)
            self.duplicates_or_late += 1
            return True
        # a big jump: the source restarted; take it after two in a row (A.1)
        if seq != self.bad_seq:
            self.bad_seq = (seq + 1) & 0xFFFF
            return False
        self.base_seq = seq
        self.max_seq = seq
        self.cycles = 0
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        return True

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return 0 if self.base_seq < 0 else self.extended_max - self.base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def loss_fraction_total(self) -> float:
        expected = self.expected
        return 0.0 if expected <= 0 else self.cumulative_lost / expected

    @property
    def jitter_ms(self) -> float:
        return self.jitter * 1000.0 / self.clock_rate

    def report_block(self, wall_now: float) -> ReportBlock:
        """A report block for this source; moves the 'prior' interval marks forward (A.3)."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        dlsr = 0
        if self.last_sr_middle:
            dlsr = int((wall_now - self.last_sr_arrival) * 65536) & 0xFFFFFFFF
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 255),
            cumulative_lost=min(self.cumulative_lost, 0x7FFFFF),
            highest_seq=self.extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=self.last_sr_middle,
            dlsr=dlsr,
        )


@dataclass(frozen=True, slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # loss in the last interval, as a fixed-point fraction of 256
    cumulative_lost: int
    highest_seq: int
    jitter: int  # timestamp units
    lsr: int = 0
    dlsr: int = 0  # 1/65536 s

    def pack(self) -> bytes:
        return _REPORT_BLOCK.pack(self.ssrc, (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF),
                                  self.highest_seq, self.jitter, self.lsr, self.dlsr)

    @classmethod
    def unpack(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:  # signed 24-bit: duplicates can make it negative
            cumulative -= 1 << 24
        return cls(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)

    def round_trip(self, arrival_middle32: int) -> float | None:
        """Round-trip time in seconds per §6.4.1 (A - LSR - DLSR), None when the peer had no SR from us."""
        if not self.lsr:
            return None
        rtt = (arrival_middle32 - self.lsr - self.dlsr) & 0xFFFFFFFF
        return rtt / 65536.0 if rtt < 0x80000000 else None


@dataclass(frozen=True, slots=True)
class SenderInfo:
    ntp_sec: int
    ntp_frac: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int


@dataclass(frozen=True, slots=True)
class RtcpReport:
    """One SR or RR."""

    packet_type: int
    ssrc: int
    sender: SenderInfo | None
    blocks: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class RtcpCompound:
    reports: tuple[RtcpReport, ...] = ()
    cnames: dict[int, str] = field(default_factory=dict)
    bye: tuple[int, ...] = ()


def build_sr(ssrc: int, sender: SenderInfo, blocks: list[ReportBlock], cname: str) -> bytes:
    body = _SR_INFO.pack(sender.ntp_sec, sender.ntp_frac, sender.rtp_timestamp & 0xFFFFFFFF,
                         sender.packet_count & 0xFFFFFFFF, sender.octet_count & 0xFFFFFFFF)
    body += b"".join(b.pack() for b in blocks[:31])
    return _rtcp(RTCP_SR, len(blocks[:31]), struct.pack("!I", ssrc) + body) + build_sdes(ssrc, cname)


def build_rr(ssrc: int, blocks: list[ReportBlock], cname: str) -> bytes:
    body = b"".join(b.pack() for b in blocks[:31])
    return _rtcp(RTCP_RR, len(blocks[:31]), struct.pack("!I", ssrc) + body) + build_sdes(ssrc, cname)


def build_sdes(ssrc: int, cname: str) -> bytes:
    text = cname.encode()[:255]
    item = struct.pack("!IBB", ssrc, 1, len(text)) + text + b"\x00"
    item += b"\x00" * (-len(item) % 4)  # chunks end on a 32-bit boundary with at least one null octet
    return _rtcp(RTCP_SDES, 1, item)


def build_bye(ssrc: int) -> bytes:
    return _rtcp(RTCP_BYE, 1, struct.pack("!I", ssrc))


def _rtcp(packet_type: int, count: int, body: bytes) -> bytes:
    return _RTCP_HDR.pack(0x80 | count, packet_type, len(body) // 4) + body


def parse_rtcp(data: bytes) -> RtcpCompound:
    reports: list[RtcpReport] = []
    cnames: dict[int, str] = {}
    bye: list[int] = []
    offset = 0
    while offset + 4 <= len(data):
        b0, packet_type, words = _RTCP_HDR.unpack_from(data, offset)
        if b0 >> 6 != RTP_VERSION:
            raise RtpParseError("not RTCP version 2")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtpParseError("RTCP packet truncated")
        count = b0 & 0x1F
        body = offset + 4
        if packet_type in (RTCP_SR, RTCP_RR):
            if end < body + 4:
                raise RtpParseError("report without SSRC")
            (ssrc,) = struct.unpack_from("!I", data, body)
            pos = body + 4
            sender = None
            if packet_type == RTCP_SR:
                if end < pos + 20:
                    raise RtpParseError("SR sender info truncated")
                sender = SenderInfo(*_SR_INFO.unpack_from(data, pos))
                pos += 20
            if end < pos + 24 * count:
                raise RtpParseError("report blocks truncated")
            blocks = tuple(ReportBlock.unpack(data, pos + 24 * i) for i in range(count))
            reports.append(RtcpReport(packet_type, ssrc, sender, blocks))
        elif packet_type == RTCP_SDES:
            pos = body
            for _ in range(count):
                if pos + 4 > end:
                    break
                (ssrc,) = struct.unpack_from("!I", data, pos)
                pos += 4
                while pos < end and data[pos] != 0:
                    item, length = data[pos], data[pos + 1]
                    if item == 1:
                        cnames[ssrc] = bytes(data[pos + 2:pos + 2 + length]).decode(errors="replace")
                    pos += 2 + length
                pos += 4 - (pos % 4) if pos % 4 else 4  # skip the terminating nulls up to the next word
                pos = min(pos, end)
        elif packet_type == RTCP_BYE:
            bye.extend(struct.unpack_from(f"!{count}I", data, body) if end >= body + 4 * count else ())
        offset = end
    return RtcpCompound(tuple(reports), cnames, tuple(bye))
