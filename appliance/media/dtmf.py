"""RFC 4733 telephone-events (DTMF digits 0-9, *, #, A-D) — receive and send.

- Payload format (event, E bit, volume, duration): RFC 4733 §2.3.
- Receiver: one event is one RTP timestamp (§2.5.2.1); updates with the same timestamp are the same key press,
  so a digit is reported once however many updates and retransmitted end packets arrive (§2.5.1.4 sends the
  final packet three times). A lost start is recovered from any later update (§2.5.2.2); an event whose end
  never arrives is closed after a time-out. A payload carrying several events back to back (§2.5.1.5: short
  events packed into one packet, which also repeats earlier events as redundancy) yields each event once: the
  n-th starts at the packet's timestamp plus the durations of the ones before it.
- Sender: start packet with the marker bit (§2.5.1.2), updates every packetisation interval with the duration
  so far and the same timestamp (§2.5.1.3), and three end packets (§2.5.1.4). Events longer than the 16-bit
  duration are not needed for DTMF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

EVENT_CODES = "0123456789*#ABCD"
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # -dBm0, 0..63
    duration: int  # timestamp units

    @property
    def digit(self) -> str | None:
        return EVENT_CODES[self.event] if self.event < len(EVENT_CODES) else None


def parse_event(payload: bytes) -> TelephoneEvent:
    if len(payload) < 4:
        raise ValueError("telephone-event payload shorter than 4 octets")
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def build_event(ev: TelephoneEvent) -> bytes:
    return _PAYLOAD.pack(ev.event, (0x80 if ev.end else 0) | (ev.volume & 0x3F), ev.duration & 0xFFFF)


@dataclass(frozen=True, slots=True)
class DigitDetected:
    digit: str
    timestamp: int  # RTP timestamp that identifies the event
    duration_ms: float  # 0 until the end is known (reported on the start)


@dataclass
class EventReceiver:
    """Duplicate suppression for RFC 4733 events of one stream. Feed every packet of the telephone-event
    payload type; a digit comes out once, on the first packet seen for its timestamp."""

    clock_rate: int = 8000
    timeout: float = 1.0  # an event with no update for this long is over even without an end packet
    _current_ts: int | None = None
    _current_ended: bool = False
    _last_update: float = 0.0
    _recent: list[int] = field(default_factory=list)  # timestamps of finished events

    def receive_all(self, timestamp: int, payload: bytes, now: float) -> list[DigitDetected]:
        """Every new digit in a payload of one or more event blocks."""
        found = []
        start = timestamp
        for offset in range(0, len(payload) - 3, 4):
            block = payload[offset:offset + 4]
            got = self.receive(start & 0xFFFFFFFF, block, now)
            if got is not None:
                found.append(got)
            start += parse_event(block).duration
        return found

    def receive(self, timestamp: int, payload: bytes, now: float) -> DigitDetected | None:
        try:
            ev = parse_event(payload)
        except ValueError:
            return None
        if ev.digit is None:
            return None  # events other than DTMF (fax tones etc.) are not ours to report
        if timestamp == self._current_ts or timestamp in self._recent:
            self._last_update = now
            if ev.end:
                self._current_ended = True
            return None
        if self._current_ts is not None:
            self._remember(self._current_ts)
        self._current_ts = timestamp
        self._current_ended = ev.end
        self._last_update = now
        return DigitDetected(ev.digit, timestamp, ev.duration * 1000.0 / self.clock_rate if ev.end else 0.0)

    def _remember(self, ts: int) -> None:
        self._recent.append(ts)
        del self._recent[:-8]

    def next_deadline(self) -> float | None:
        if self._current_ts is None or self._current_ended:
            return None
        return self._last_update + self.timeout

    def handle_timeout(self, now: float) -> None:
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            self._current_ended = True


@dataclass
class EventSender:
    """Turns one digit into the packets of §2.5.1: (marker, timestamp, payload) per 20 ms tick."""

    digit: str
    timestamp: int | None = None  # taken from the stream when the first packet goes out
    duration_ms: int = 100
    volume: int = 10
    ptime_samples: int = 160
    end_repeats: int = 3
    _sent_updates: int = 0
    _sent_ends: int = 0

    def __post_init__(self) -> None:
        if self.digit not in EVENT_CODES:
            raise ValueError(f"not a DTMF digit: {self.digit!r}")

    @property
    def done(self) -> bool:
        return self._sent_ends >= self.end_repeats

    @property
    def total_samples(self) -> int:
        return max(self.ptime_samples, self.duration_ms * 8)

    def next_packet(self, stream_timestamp: int) -> tuple[bool, int, bytes] | None:
        """(marker, RTP timestamp, payload) for this tick, or None when finished. All packets of one event
        carry the timestamp of its start (§2.5.1.2), whatever the stream's clock says by then."""
        if self.done:
            return None
        if self.timestamp is None:
            self.timestamp = stream_timestamp
        code = EVENT_CODES.index(self.digit)
        elapsed = (self._sent_updates + 1) * self.ptime_samples
        if elapsed < self.total_samples:
            marker = self._sent_updates == 0
            self._sent_updates += 1
            return marker, self.timestamp, build_event(TelephoneEvent(code, False, self.volume, elapsed))
        marker = self._sent_updates == 0 and self._sent_ends == 0
        self._sent_ends += 1
        return marker, self.timestamp, build_event(TelephoneEvent(code, True, self.volume, self.total_samples))
