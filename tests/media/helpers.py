"""Test helpers: a pcap reader, an RTP peer on loopback, and a tone meter independent of the engine."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from appliance.media import rtp

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class PcapUdp:
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def read_pcap_udp(path: Path) -> list[PcapUdp]:
    """UDP datagrams of a classic pcap file (Ethernet or Linux cooked capture, IPv4)."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    offset = 24
    out = []
    while offset + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from(endian + "IIII", data, offset)
        frame = data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        link = {1: 14, 113: 16, 101: 0}[linktype]
        ip = frame[link:]
        if not ip or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        src = ".".join(map(str, ip[12:16]))
        dst = ".".join(map(str, ip[16:20]))
        sport, dport, length = struct.unpack_from("!HHH", ip, ihl)
        out.append(PcapUdp(sec + usec / 1e6, (src, sport), (dst, dport), bytes(ip[ihl + 8:ihl + length])))
    return out


def read_wav(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy(), w.getnchannels()


def write_wav(path: Path, samples: npt.NDArray[np.int16]) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def sine(freq: float, seconds: float, amplitude: float = 8000.0) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * 8000)) / 8000.0
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def tone_level(samples: npt.NDArray[np.int16], freq: float) -> float:
    """RMS amplitude of the component at `freq` (a plain DFT bin over the whole signal, Hann window)."""
    x = samples.astype(np.float64)
    if len(x) == 0:
        return 0.0
    w = np.hanning(len(x))
    n = np.arange(len(x))
    bin_ = np.abs(np.sum(x * w * np.exp(-2j * np.pi * freq * n / 8000.0)))
    return float(2 * bin_ / w.sum() / np.sqrt(2))


@dataclass
class Received:
    arrival: float
    packet: rtp.RtpPacket
    source: tuple[str, int]


class _PeerProtocol(asyncio.DatagramProtocol):
    peer: RtpPeer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        if rtp.is_rtcp(data):
            self.peer.rtcp.append(data)
            return
        with contextlib.suppress(rtp.RtpParseError):
            self.peer.received.append(Received(time.monotonic(), rtp.parse_rtp(data), addr))


@dataclass
class RtpPeer:
    """A phone on loopback: sends RTP frames on a 20 ms schedule, keeps what it receives."""

    transport: asyncio.DatagramTransport
    port: int
    ssrc: int = 0x1234
    seq: int = 1000
    ts: int = 50_000
    payload_type: int = 8
    received: list[Received] = field(default_factory=list)
    rtcp: list[bytes] = field(default_factory=list)

    @classmethod
    async def open(cls, ssrc: int = 0x1234, payload_type: int = 8) -> RtpPeer:
        loop = asyncio.get_running_loop()
        protocol = _PeerProtocol()
        transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0))
        peer = cls(transport, transport.get_extra_info("sockname")[1], ssrc=ssrc, payload_type=payload_type)
        protocol.peer = peer
        return peer

    def send(self, dest: tuple[str, int], payload: bytes, *, pt: int | None = None, ts: int | None = None,
             marker: bool = False, advance: bool = True) -> None:
        self.transport.sendto(rtp.build_rtp(self.payload_type if pt is None else pt, self.seq,
                                            self.ts if ts is None else ts, self.ssrc, payload, marker), dest)
        self.seq = (self.seq + 1) & 0xFFFF
        if advance:
            self.ts = (self.ts + len(payload)) & 0xFFFFFFFF

    async def stream(self, dest: tuple[str, int], coded: bytes, frame: int = 160) -> None:
        """Send coded audio in frames, paced against absolute deadlines."""
        start = time.monotonic()
        for i in range(0, len(coded) - frame + 1, frame):
            self.send(dest, coded[i:i + frame])
            delay = start + (i // frame + 1) * frame / 8000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def audio(self, law: str = "alaw", pt: int = 8) -> npt.NDArray[np.int16]:
        from appliance.media import g711
        pkts = [r.packet for r in self.received if r.packet.payload_type == pt]
        return g711.decode(b"".join(p.payload for p in pkts), law)  # type: ignore[arg-type]

    def close(self) -> None:
        self.transport.close()
