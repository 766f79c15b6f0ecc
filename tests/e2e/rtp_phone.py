"""The audio side of a test phone: sends one tone as RTP (G.711 A-law, RFC 3550) and keeps what it hears.

It learns where to send from the first packet the appliance sends it (the appliance plays prompts or relays
the other party first), the way a phone behind NAT is reached. `restart` makes its stream jump back under the
same SSRC, as a phone or gateway may after a re-INVITE, hold or failover. Decoding uses the standard library's
`audioop`, independent of the appliance's own G.711 tables.
"""

from __future__ import annotations

import audioop
import contextlib
import math
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np

RATE = 8000
FRAME = 160  # 20 ms


@dataclass
class RtpPhone:
    tone_hz: float
    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    peer: tuple[str, int] | None = None
    heard: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (arrival, 16-bit samples)
    sent: list[float] = field(default_factory=list)  # when each frame left (monotonic)
    restarted_at: float | None = None
    _restart: tuple[int, int, float] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> None:
        for target in (self._receive, self._send):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.sock.close()

    def restart(self, seq_back: int, ts_back: int, tone_hz: float) -> None:
        """From the next frame on, the sequence number and timestamp go back by these amounts (same SSRC) and the
        tone becomes `tone_hz`, so what is heard after the restart can be told from what came before."""
        self._restart = (seq_back, ts_back, tone_hz)

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            if len(data) < 12 or data[1] & 0x7F != 8:
                continue
            self.peer = self.peer or addr
            pcm = np.frombuffer(audioop.alaw2lin(data[12:], 2), dtype="<i2")
            self.heard.append((time.monotonic(), pcm))

    def _send(self) -> None:
        ssrc, seq, ts, n = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32), 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += 0.02
            if self.peer is not None:
                if self._restart is not None:
                    seq_back, ts_back, self.tone_hz = self._restart
                    self._restart = None
                    seq, ts = seq - seq_back, ts - ts_back
                    self.restarted_at = time.monotonic()
                t = (np.arange(FRAME) + n * FRAME) / RATE
                pcm = (6000 * np.sin(2 * math.pi * self.tone_hz * t)).astype("<i2").tobytes()
                header = struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
                with contextlib.suppress(OSError):
                    self.sock.sendto(header + audioop.lin2alaw(pcm, 2), self.peer)
                    self.sent.append(time.monotonic())
                seq, ts, n = seq + 1, ts + FRAME, n + 1
            time.sleep(max(0.0, next_at - time.monotonic()))

    def rms(self, since: float, until: float) -> float:
        """RMS of what was heard between two monotonic times."""
        frames = [pcm for at, pcm in self.heard if since <= at < until]
        if not frames:
            return 0.0
        x = np.concatenate(frames).astype(np.float64)
        return float(np.sqrt(np.mean(x * x)))

    def level(self, hz: float, since: float, until: float) -> float:
        """Relative power of `hz` in what was heard between two monotonic times (Goertzel per 20 ms frame)."""
        frames = [pcm for at, pcm in self.heard if since <= at < until]
        if not frames:
            return 0.0
        total = 0.0
        for pcm in frames:
            x = pcm.astype(np.float64)
            coeff = 2 * math.cos(2 * math.pi * hz / RATE)
            s1 = s2 = 0.0
            for v in x:
                s1, s2 = v + coeff * s1 - s2, s1
            total += (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (len(x) ** 2)
        return total / len(frames)
