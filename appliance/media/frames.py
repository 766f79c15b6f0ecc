"""Frame ports: the media side of E1/PRI B-channels and analog lines, where a driver moves 20 ms frames.

A driver pushes the line's audio and pulls the audio for the line, one frame each per 20 ms of its own clock:
160 bytes of A-law, or 320 bytes of 16-bit signed little-endian linear samples, at 8 kHz. Behind its
endpoint_id a frame port is an endpoint like any RTP leg — bridges, conferences, masks, prompts and tones,
recordings, in-band DTMF detection (TDM and analog lines carry no RFC 4733), media events — and the
engine's parts treat it as one, with three differences:

- No sockets: `push` and `pull` are its I/O, called from the engine's event loop (a driver running on a
  thread of its own hands its frames over with `loop.call_soon_threadsafe`). It never enters the compiled
  packet path, which stays RTP to RTP.
- Two clocks: the driver's 20 ms is not the engine's. Each direction crosses through a small bounded
  `ElasticBuffer`: the line's frames wait for the tick (line -> engine), the tick's frames wait for the
  driver (engine -> line). When one clock runs faster the buffer fills and its oldest frame is dropped; when
  it runs slower the buffer empties and the last frame is repeated (-3 dB, then -9 dB, then silence). Each
  such slip is counted; the delay stays within the buffer's few frames instead of growing.
- Passthrough: an A-law port bridged two-party to a PCMA leg, with no prompt, tone, mask or DTMF being
  sent, relays: each frame the driver pushes goes out at once as RTP on the leg's continuous outgoing
  stream (SSRC kept, sequence + 1, timestamps following the line's samples, as the packet relay does), and
  the leg's payloads reach the port untouched — jitter buffer, then the tick hands the code words to the
  port's buffer without decoding. Recordings and in-band detection read a decoded copy, as they tap a relay.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Literal

import numpy as np

from appliance.media.core import Core
from appliance.media.endpoint import FRAME, DtmfCallback, Endpoint
from appliance.media.g711 import SILENCE_BYTE, attenuation_table
from appliance.media.inband import InbandDetector
from appliance.media.models import PCMA, Codec
from appliance.media.packets import HDR

FrameLaw = Literal["alaw", "linear"]
FRAME_BYTES: dict[str, int] = {"alaw": FRAME, "linear": 2 * FRAME}
LINEAR = Codec("L16", -1)  # a linear port's codec: never on the wire, so never equal to an RTP leg's
_CONCEAL_GAINS = (0.708, 0.355)  # -3 dB, -9 dB: as the jitter buffer conceals a lost frame
_ALAW_CONCEAL = tuple(attenuation_table("alaw", g) for g in _CONCEAL_GAINS)

SendFrame = Callable[[Endpoint, bytes], None]  # how a relayed frame goes out on an RTP leg


class ElasticBuffer:
    """Frames from one clock to another, at most `capacity` deep, with the slips counted.

    Opened, it gives silence until `prime` frames are in (the start-up delay, not a slip); from then on a take
    from an empty buffer repeats the last frame (concealed), and a put into a full one drops the oldest
    (dropped). Closed, it takes nothing in and gives what it still holds, then silence (a prompt's last frames
    still reach the line when the engine stops feeding it)."""

    def __init__(self, law: FrameLaw, capacity: int = 4, prime: int = 2) -> None:
        if not 0 < prime <= capacity:
            raise ValueError("an elastic buffer needs 0 < prime <= capacity")
        self.law = law
        self.capacity = capacity
        self.prime = prime
        self._silence = bytes([SILENCE_BYTE["alaw"]]) * FRAME if law == "alaw" else bytes(2 * FRAME)
        self._frames: collections.deque[bytes] = collections.deque()
        self._open = False
        self._primed = False
        self._last = b""
        self._missing = 0  # takes in a row that found nothing
        self.dropped = 0
        self.concealed = 0
        self.deepest = 0  # the most frames it ever held: the latency bound in use

    @property
    def depth(self) -> int:
        return len(self._frames)

    @property
    def slips(self) -> int:
        return self.dropped + self.concealed

    @property
    def is_open(self) -> bool:
        return self._open

    def set_open(self, is_open: bool) -> None:
        """Open while both sides take part (the tick plans it)."""
        self._open = is_open

    def clear(self) -> None:
        """Forget what is held (frames of the line the tick no longer reads would be stale later)."""
        self._frames.clear()
        self._primed = False
        self._missing = 0

    def put(self, frame: bytes) -> None:
        if not self._open:
            return
        frames = self._frames
        if len(frames) >= self.capacity:
            frames.popleft()
            self.dropped += 1
        frames.append(frame)
        if len(frames) > self.deepest:
            self.deepest = len(frames)
        if not self._primed and len(frames) >= self.prime:
            self._primed = True
            self._missing = 0

    def take(self) -> bytes:
        if self._frames and self._primed:
            self._missing = 0
            self._last = self._frames.popleft()
            return self._last
        if not self._open or not self._primed:
            if not self._open:
                self.clear()  # drained: the next opening starts afresh
            return self._silence
        self.concealed += 1
        self._missing += 1
        return self._conceal(self._missing)

    def _conceal(self, run: int) -> bytes:
        if run > len(_CONCEAL_GAINS) or not self._last:
            return self._silence
        if self.law == "alaw":
            return self._last.translate(_ALAW_CONCEAL[run - 1])
        samples = np.frombuffer(self._last, dtype="<i2").astype(np.float32) * _CONCEAL_GAINS[run - 1]
        return samples.astype("<i2").tobytes()


class FramePort:
    """What a driver holds: `push` the line's frames, `pull` the frames for the line, one each per 20 ms of
    the driver's clock. `MediaEngine.release(endpoint_id)` closes it; after that `push` is ignored and `pull`
    gives silence (a driver's last timer may still fire)."""

    def __init__(self, ep: Endpoint, law: FrameLaw, send: SendFrame, now: Callable[[], float]) -> None:
        self.endpoint_id = ep.endpoint_id
        self.law: FrameLaw = law
        self.frame_bytes = FRAME_BYTES[law]
        self.rx = ElasticBuffer(law)  # line -> engine: the tick takes
        self.tx = ElasticBuffer(law)  # engine -> line: the driver takes
        self.ticked = False  # a row of the tick (mixed, played to, recorded or detected): see Bridges
        self.closed = False
        self.pushed = 0
        self.pulled = 0
        self.relayed = 0  # frames that went out as RTP at once (passthrough)
        self._ep = ep
        self._send = send
        self._now = now
        self._seq = 0  # the line's own frame count and sample clock, to relay onto an RTP stream
        self._ts = 0

    @property
    def slips(self) -> int:
        return self.rx.slips + self.tx.slips

    def figures(self) -> dict[str, int]:
        """Frames through the port, and its slips by direction (rx: line -> engine, tx: engine -> line), so
        a lost frame can be placed on one side of the port or the other."""
        return {"pushed": self.pushed, "pulled": self.pulled, "relayed": self.relayed, "slips": self.slips,
                "rx_dropped": self.rx.dropped, "rx_concealed": self.rx.concealed,
                "tx_dropped": self.tx.dropped, "tx_concealed": self.tx.concealed}

    def push(self, frame: bytes) -> None:
        """One frame from the line."""
        if len(frame) != self.frame_bytes:
            raise ValueError(f"a {self.law} frame is {self.frame_bytes} bytes, not {len(frame)}")
        if self.closed:
            return
        self.pushed += 1
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + FRAME) & 0xFFFFFFFF
        ep = self._ep
        target = ep.relay_to
        if target is not None and target.tx:
            # passthrough: out now, on the driver's timing, continuing the leg's outgoing stream
            now = self._now()
            seq, ts = ep.relayed_seq_ts(target, self._seq, self._ts, now)
            self._send(target, HDR.pack(0x80, target.audio_pt, seq, ts, target.ssrc) + frame)
            target.sent(seq, ts, now, -1, FRAME)
            self.relayed += 1
        self.rx.put(frame)  # (open only while the tick takes this port's frames)

    def pull(self) -> bytes:
        """One frame for the line."""
        if not self.closed:
            self.pulled += 1
        return self.tx.take()  # (closed: silence)

    def close(self) -> None:
        self.closed = True
        self.ticked = False
        for buf in (self.rx, self.tx):
            buf.set_open(False)
            buf.clear()


class FramePorts:
    """Opens and closes frame ports; keeps their figures after they are released, for the engine's health."""

    def __init__(self, core: Core, send: SendFrame) -> None:
        self._core = core
        self._send = send
        self.open_ports = 0
        self._released: collections.Counter[str] = collections.Counter()

    def open(self, law: FrameLaw, *, inband_dtmf: bool, on_dtmf: DtmfCallback | None) -> FramePort:
        if law not in FRAME_BYTES:
            raise ValueError(f"a frame port is 'alaw' or 'linear', not {law!r}")
        core = self._core
        codec = PCMA if law == "alaw" else LINEAR
        # (a linear port's law is never used: the tick puts its samples in place of a decoded row)
        ep = Endpoint(endpoint_id=core.new_id("fp"), codec=codec, law="alaw", te_pt=None)
        ep.audio_pt = codec.payload_type
        ep.sends = False  # (what goes to the line is pulled, never sent)
        ep.on_dtmf = on_dtmf
        if inband_dtmf:
            ep.inband = InbandDetector()
        port = FramePort(ep, law, self._send, core.now)
        ep.frame = port
        core.endpoints[ep.endpoint_id] = ep
        self.open_ports += 1
        return port

    def close(self, port: FramePort) -> None:
        if port.closed:
            return
        port.close()
        self.open_ports -= 1
        self._released.update(port.figures())

    def figures(self) -> dict[str, int]:
        """Frames pushed, pulled and relayed, and slips (in all and by direction), of every frame port since
        start."""
        total = collections.Counter(dict.fromkeys(("pushed", "pulled", "relayed", "slips", "rx_dropped",
                                                   "rx_concealed", "tx_dropped", "tx_concealed"), 0))
        total.update(self._released)
        for ep in self._core.endpoints.values():
            if ep.frame is not None:
                total.update(ep.frame.figures())
        return dict(total)
