"""One media endpoint: a phone's RTP stream as the engine holds it (socket, peer, statistics, outgoing stream,
jitter buffer, player, DTMF, recordings), or a frame port (`frame`: a driver's line, no socket).
`service.MediaEngine` owns them; the compiled path (`fast_relay`) holds some of their per-packet state while
a leg is handed over to it (never a frame port's)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.media import g711
from appliance.media import rtp as rtpmod
from appliance.media.dtmf import EventReceiver, EventSender
from appliance.media.inband import InbandDetector
from appliance.media.jitter import FRAME, JitterBuffer
from appliance.media.models import PCMA, Codec, Direction
from appliance.media.player import Player
from appliance.media.tones import ToneGenerator

if TYPE_CHECKING:
    from appliance.media.frames import FramePort
    from appliance.media.srtp import SrtpContext

TICK = 0.02  # the engine's clock: one frame of FRAME samples
# What a relayed source may do and still be the same stream on the other leg (RFC 3550 A.1's MAX_DROPOUT and
# MAX_MISORDER; shared with _rtp_relay.c): a sequence number more than MAX_DROPOUT ahead or MAX_MISORDER
# behind, or an audio timestamp moving back or on by more than TS_STEP_MAX per sequence number (250 ms at
# 8 kHz: more than any packet holds), is a discontinuity: a restart, a jump or a new source.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
TS_STEP_MAX = 2000

DtmfCallback = Callable[[str, str], None]  # (endpoint_id, digit)

__all__ = ["FRAME", "MAX_DROPOUT", "MAX_MISORDER", "TICK", "TS_STEP_MAX", "DtmfCallback", "Endpoint", "released"]


def released(*_args: object) -> Any:
    """Stands for the socket methods of an endpoint without a socket: a late call fails like a closed socket."""
    raise OSError(errno.EBADF, "endpoint released")



@dataclass(eq=False, slots=True, kw_only=True)
class Endpoint:
    # Slots are laid out in this order: the fields every relayed packet touches come first, so they share a
    # few cache lines (with thousands of endpoints, each packet's endpoints are cold in the cache).
    # the socket's bound methods, looked up once (each lookup would build a bound-method object per packet)
    recv: Callable[[int], bytes] = released
    send: Callable[[bytes], int] = released
    connected: bool = False  # the socket is connected to `peer`
    tx: int = 0  # how we send: 0 not at all, 1 send() on the connected socket, 2 sendto(peer)
    peer_ssrc: int | None = None
    last_rx: float = 0.0
    stats: rtpmod.ReceiverStats = field(default_factory=rtpmod.ReceiverStats)
    relay_to: Endpoint | None = None  # relay (fast path): packets from this endpoint go there
    audio_pt: int = -1  # codec.payload_type, kept as a plain attribute for the per-packet paths
    resync: bool = True
    seq_off: int = 0
    ts_off: int = 0
    in_seq: int = -1  # the source's sequence number and timestamp of the newest audio packet relayed since the
    in_ts: int = 0  # offsets were fixed (or of the telephone event they were fixed at): the stream's course
    ssrc: int = 0
    # outgoing stream: continuous across relay and mixing
    out_seq: int = 0
    out_ts: int = 0
    out_time: float = 0.0
    out_tick: int = -1  # engine tick of the last packet we generated; -1 after a relayed one
    tx_packets: int = 0
    tx_octets: int = 0
    last_in_ts: int = 0
    last_in_payload: bytes = b""
    jitter: JitterBuffer | None = None
    # the rest
    endpoint_id: str = ""
    port: int = 0
    codec: Codec = PCMA
    law: g711.Law = "alaw"
    te_pt: int | None = None
    direction: Direction = Direction.SENDRECV
    sends: bool = True  # direction.we_send, likewise
    sock: socket.socket | None = None  # RTP: raw, non-blocking, in the engine's epoll set
    fd: int = -1
    recvfrom: Callable[[int], tuple[bytes, Any]] = released
    sendto: Callable[[bytes, Any], int] = released
    rtcp_transport: asyncio.DatagramTransport | None = None
    remote: tuple[str, int] | None = None  # from SDP
    peer: tuple[str, int] | None = None  # where we send: latched source, else the SDP address
    peer_rtcp: tuple[str, int] | None = None
    latched: bool = False
    timed_out: bool = False
    # mixing
    bridge_id: str | None = None
    player: Player | ToneGenerator | None = None
    player_what: str = ""
    player_barge_in: bool = False
    dtmf_rx: EventReceiver = field(default_factory=EventReceiver)
    dtmf_tx: list[EventSender] = field(default_factory=list)
    inband: InbandDetector | None = None
    on_dtmf: DtmfCallback | None = None
    rtt: float | None = None
    last_rtcp: float = 0.0
    recordings: set[str] = field(default_factory=set)
    fast: int = 0  # handed over to the compiled packet path (fast_relay.MODE_*): its receive side, and with
    # MODE_RELAY the target's send side
    fast_received: int = 0  # stats.received when last handed over or synced (has C relayed since?)
    fast_tx_packets: int = 0  # likewise for tx_packets
    frame: FramePort | None = None  # a frame port's (frames.py): no socket, a driver pushes and pulls frames
    srtp: SrtpContext | None = None  # an encrypted leg's (srtp.py): sits between the endpoint and its socket;
    # such a leg never goes to the compiled path

    def next_out(self, now: float, tick: int = -1) -> tuple[int, int]:
        """Sequence number and timestamp of the next packet we generate. While we generate, the timestamp
        moves by one frame per tick of the engine's clock (a late tick must not stretch the timeline); after
        relayed packets (or a pause) it moves by the time that really passed."""
        if self.out_time == 0.0:
            ts = self.out_ts
        elif tick >= 0 and self.out_tick >= 0:
            ts = self.out_ts + max(1, tick - self.out_tick) * FRAME
        else:
            ticks = max(1, round((now - self.out_time) / TICK))
            ts = self.out_ts + ticks * FRAME
        return (self.out_seq + 1) & 0xFFFF, ts & 0xFFFFFFFF

    def relayed_seq_ts(self, target: Endpoint, seq: int, ts: int, now: float) -> tuple[int, int]:
        """Where a packet of this leg goes on `target`'s outgoing stream (see `relay_header`)."""
        oseq, ots, _ = self.relay_header(target, seq, ts, True, now)
        return oseq, ots

    def relay_header(self, target: Endpoint, seq: int, ts: int, audio: bool, now: float) -> tuple[int, int, int]:
        """Where a packet of this leg goes on `target`'s outgoing stream, and its marker bit (0x80 or 0): the
        sequence number and timestamp shifted by offsets fixed at the first packet after a resync, so the
        stream stays continuous. (`PacketPath.drain` has the in-order case inline: it runs for every relayed
        packet; `_rtp_relay.c` has it too.)"""
        d = (seq - self.in_seq) & 0xFFFF
        if self.resync or not 0 < d < MAX_DROPOUT or (audio and (ts - self.in_ts) & 0xFFFFFFFF > d * TS_STEP_MAX):
            marker = self.remap(target, seq, ts, d, now)
            if not audio:
                marker = 0  # an event's marker says where the event begins: it goes through as sent
        else:
            marker = 0
            if audio:  # (an event's timestamp stays at its start: the audio after it is checked from before it)
                self.in_seq, self.in_ts = seq, ts
        return (seq + self.seq_off) & 0xFFFF, (ts + self.ts_off) & 0xFFFFFFFF, marker

    def remap(self, target: Endpoint, seq: int, ts: int, d: int, now: float) -> int:
        """A packet off the relayed stream's course (`d`: its sequence number less the newest one's, modulo
        2^16). A duplicate or a late one keeps its place; anything else (the first packet after a resync, a
        sequence or timestamp restart or jump, a new source) starts the mapping afresh: the packet becomes the
        next of `target`'s outgoing stream, so the far side sees its sequence number go on by one and its
        timestamp by the time that passed, with the marker bit (0x80, returned) telling its jitter buffer to
        take the new timing. A receiver that dropped what goes back (baresip does) would otherwise lose
        everything up to where the source left off."""
        if not self.resync and (d == 0 or d > 0xFFFF - MAX_MISORDER):
            return 0
        nseq, nts = target.next_out(now)
        self.seq_off = nseq - seq
        self.ts_off = nts - ts
        self.resync = False
        self.in_seq = seq
        self.in_ts = ts
        return 0x80

    def sent(self, seq: int, ts: int, now: float, tick: int, octets: int) -> None:
        """Account for a packet of our outgoing stream: `tick` is the engine tick it was generated on, -1 for
        a relayed one (see `next_out`). The per-packet paths have these lines inline."""
        self.out_seq, self.out_ts, self.out_time, self.out_tick = seq, ts, now, tick
        self.tx_packets += 1
        self.tx_octets += octets
