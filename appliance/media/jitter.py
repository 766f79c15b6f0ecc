"""Adaptive jitter buffer for G.711 streams, with simple loss concealment and clock-drift tolerance.

Sans-IO: `put()` takes a packet with its arrival time (seconds, any monotonic origin); `pop()` is called once
per 20 ms tick and gives exactly one 160-sample frame of code words. Packets may carry any ptime (SIPp's
g711a.pcap uses 30 ms): the buffer works on the RTP timestamp axis (RFC 3550 §5.1), unwrapped to 64 bits, and
cuts frames of 160 samples out of whatever was received.

- Playout delay adapts to the interarrival jitter (RFC 3550 §A.8 estimator): target = 20 ms + 3 × jitter,
  bounded by `min_delay`/`max_delay`; it grows at once when jitter rises and shrinks one frame at a time, only
  when the buffer is deep, so it never cuts audio mid-word.
- Drift: a sender whose clock runs fast fills the buffer, so a frame is skipped when the depth exceeds the
  target by two frames; one running slow empties it, so when nothing newer than the playout point has arrived
  (an underrun, not a loss) the playout point waits instead of running ahead.
- Loss (a gap with newer packets behind it): the last frame is repeated at -3 dB, then -9 dB, then silence —
  done with `bytes.translate` tables so concealment costs no decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.media.g711 import SILENCE_BYTE, Law, attenuation_table

FRAME = 160  # samples per 20 ms at 8 kHz


@dataclass
class JitterStats:
    played: int = 0
    concealed: int = 0
    late_dropped: int = 0
    drift_skipped: int = 0
    underruns: int = 0


@dataclass
class JitterBuffer:
    law: Law
    min_delay: float = 0.02
    max_delay: float = 0.2
    clock_rate: int = 8000
    stats: JitterStats = field(default_factory=JitterStats)
    _chunks: dict[int, bytes] = field(default_factory=dict)  # unwrapped timestamp -> code words
    _ext_base: int = -1  # last unwrapped timestamp, to unwrap the next one
    _playout: int = -1  # unwrapped timestamp of the next frame to play
    _newest_end: int = -1
    _last_frame: bytes = b""
    _lost_run: int = 0
    _held: int = 0
    _max_packet: int = FRAME
    _puts: int = 0
    _jitter: float = 0.0  # samples
    _transit: float | None = None
    _target: int = FRAME * 2
    _conceal: tuple[bytes, ...] = ()
    _silence: bytes = b""

    def __post_init__(self) -> None:
        self._conceal = (attenuation_table(self.law, 0.708), attenuation_table(self.law, 0.355))
        self._silence = bytes([SILENCE_BYTE[self.law]]) * FRAME
        self._target = max(FRAME, -(-int(self.min_delay * self.clock_rate) // FRAME) * FRAME)

    @property
    def target_delay(self) -> float:
        return self._target / self.clock_rate

    @property
    def jitter_ms(self) -> float:
        return self._jitter * 1000.0 / self.clock_rate

    @property
    def depth(self) -> int:
        """Samples buffered ahead of the playout point."""
        return 0 if self._playout < 0 else max(0, self._newest_end - self._playout)

    def seed(self, timestamp: int, last_frame: bytes) -> None:
        """Start just after a frame that was already played elsewhere (the relay), so a switch to mixing has
        no gap: concealment repeats `last_frame` until the next packet is due."""
        ext = self._unwrap(timestamp)
        self._playout = ext + len(last_frame)
        self._newest_end = self._playout
        self._last_frame = last_frame[:FRAME].ljust(FRAME, bytes([SILENCE_BYTE[self.law]]))

    def _unwrap(self, timestamp: int) -> int:
        if self._ext_base < 0:
            self._ext_base = timestamp
            return timestamp
        delta = (timestamp - self._ext_base) & 0xFFFFFFFF
        if delta >= 0x80000000:
            delta -= 1 << 32
        ext = self._ext_base + delta
        if delta > 0:
            self._ext_base = ext
        return ext

    def put(self, timestamp: int, payload: bytes, arrival: float) -> None:
        base = self._ext_base
        delta = (timestamp - base) & 0xFFFFFFFF
        if 0 < delta < 0x80000000 and base >= 0:  # the usual next packet: _unwrap inlined
            ext = self._ext_base = base + delta
        else:
            ext = self._unwrap(timestamp)
        if len(payload) > self._max_packet:
            self._max_packet = min(len(payload), int(self.max_delay * self.clock_rate))
        transit = arrival * self.clock_rate - ext
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < self.clock_rate:  # a jump of a second is a new talk spurt or a clock step, not jitter
                self._jitter += (d - self._jitter) / 16.0
        self._transit = transit
        self._puts += 1
        if self._playout < 0 or not self._puts & 7:  # the estimate moves slowly: adapt every 8th packet
            self._adapt()
        if self._playout < 0:
            self._playout = ext - self._target
        if ext + len(payload) <= self._playout:
            if self._playout - ext > self._target + 4 * FRAME:
                # far behind: the sender paused (silence suppression, hold) and resumed; start over from it
                self._chunks.clear()
                self._playout = ext - self._target
                self._newest_end = ext
            else:
                self.stats.late_dropped += 1
                return
        self._chunks[ext] = payload
        end = ext + len(payload)
        if end > self._newest_end:
            self._newest_end = end

    def _adapt(self) -> None:
        # a frame can be cut only once the packet holding its end is in: longer packets need more delay
        wanted = int(self._max_packet + 3 * self._jitter)
        wanted = max(int(self.min_delay * self.clock_rate), min(wanted, int(self.max_delay * self.clock_rate)))
        wanted = -(-wanted // FRAME) * FRAME  # whole frames keep the playout point on the packet grid
        if wanted > self._target:
            self._target = wanted
        elif wanted < self._target and self.depth > self._target:
            self._target -= FRAME

    def pop(self) -> bytes:
        """One 160-sample frame for this tick."""
        if self._playout < 0:
            return self._silence
        depth = self._newest_end - self._playout
        if depth > self._target + 2 * FRAME:
            self._drop_before(self._playout + FRAME)
            self._playout += FRAME
            self.stats.drift_skipped += 1
            depth -= FRAME
        start = self._playout
        frame = self._chunks.pop(start, None)
        if frame is not None and len(frame) == FRAME:
            self._playout = start + FRAME
        else:
            if frame is not None:
                self._chunks[start] = frame
            frame = self._assemble(start)
            if frame is None:
                if depth < FRAME and self._held < 2:
                    # nothing newer has arrived: a sender behind us (slow clock) or a loss we cannot see
                    # yet; hold the playout point for up to two ticks, then treat it as a loss
                    self._held += 1
                    self.stats.underruns += 1
                    return self._concealed()
                self._playout = start + FRAME
                return self._concealed()
            self._playout = start + FRAME
        self._lost_run = 0
        self._held = 0
        self._last_frame = frame
        self.stats.played += 1
        return frame

    def _concealed(self) -> bytes:
        self.stats.concealed += 1
        self._lost_run += 1
        if self._lost_run == 1 and self._last_frame:
            return self._last_frame.translate(self._conceal[0])
        if self._lost_run == 2 and self._last_frame:
            return self._last_frame.translate(self._conceal[1])
        return self._silence

    def _assemble(self, start: int) -> bytes | None:
        """Cut [start, start+160) out of chunks of other sizes; None when nothing of it arrived."""
        end = start + FRAME
        if self._newest_end < end:
            return None  # the end of this frame is not in yet: wait rather than play half of it
        out = bytearray(self._silence)
        found = False
        for ts in sorted(self._chunks):
            chunk = self._chunks[ts]
            chunk_end = ts + len(chunk)
            if chunk_end <= start:
                del self._chunks[ts]
                continue
            if ts >= end:
                break
            lo, hi = max(ts, start), min(chunk_end, end)
            out[lo - start:hi - start] = chunk[lo - ts:hi - ts]
            found = True
            if chunk_end <= end:
                del self._chunks[ts]
        return bytes(out) if found else None

    def _drop_before(self, limit: int) -> None:
        for ts in [t for t in self._chunks if t + len(self._chunks[t]) <= limit]:
            del self._chunks[ts]
