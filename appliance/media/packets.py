"""The per-packet path: one epoll set over every RTP socket, read once per wake-up.

Every RTP socket is a raw non-blocking socket in one `epoll` set of the engine's, and that one epoll
descriptor is the only thing registered with the event loop: a wake-up reads exactly one packet from each
ready socket (level-triggered, so a second queued packet is reported again) instead of a protocol callback per
packet and a read until EAGAIN per socket. In a two-party bridge whose legs share a codec and that nobody
listens to or plays into, a packet is relayed at once: a new 12-byte header (our SSRC, the sequence number and
timestamp shifted by per-leg offsets) plus the original payload, no decoding and no numpy. Otherwise the
payload goes to the leg's jitter buffer, which the tick reads. Every packet of the latched stream is counted
by `rtp.ReceiverStats.update` (RFC 3550 A.1, A.8), the one Python implementation, which the C loop mirrors.

Where the compiled packet path is built (`_rtp_relay.c` through `fast_relay.py`), a leg whose plain packets
can go that way is handed over to it — relayed, passed up to the jitter buffer, or sent from the tick in C —
and taken back before anything else touches its state (`FastRelay.hand_over`, `own`, `sync`); `drain` then
sees only the packets C leaves to it. An ICMP error reported on a connected socket is read and dropped: the
RTP time-out ends a dead call, not a socket error.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import struct
from collections.abc import Callable

from appliance.media import rtp as rtpmod
from appliance.media.core import Core
from appliance.media.endpoint import MAX_DROPOUT, TS_STEP_MAX, Endpoint
from appliance.media.fast_relay import MODES_RX
from appliance.media.ports import Ports

HDR = struct.Struct("!BBHII")
_RECV_SIZE = 2048

DigitCallback = Callable[[Endpoint, str, str], None]  # (endpoint, digit, "rfc4733" | "inband")


class PacketPath:
    def __init__(self, core: Core, ports: Ports, digit: DigitCallback) -> None:
        self._ports = ports
        self._digit = digit
        self._fast = core.fast
        self._now = core.now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoll: select.epoll | None = None  # every RTP socket; its descriptor is the loop's one reader
        self._rx: dict[int, Endpoint] = {}  # RTP socket descriptor -> endpoint
        self.drains = 0  # wake-ups, and the ready sockets they found
        self.drained = 0
        self.relayed = 0  # packets relayed here (the compiled path counts its own)
        self.send_failures = 0  # sends the kernel refused (a full buffer, an ICMP error): lost, as on the wire

    def _poller(self) -> select.epoll:
        if self._epoll is None:
            loop = asyncio.get_running_loop()
            self._epoll = select.epoll()
            self._loop = loop
            loop.add_reader(self._epoll.fileno(), self.drain)
        return self._epoll

    def start(self) -> None:
        self._poller()

    def stop(self) -> None:
        if self._epoll is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None

    def watch(self, ep: Endpoint) -> None:
        self._poller().register(ep.fd, select.EPOLLIN)
        self._rx[ep.fd] = ep

    def unwatch(self, ep: Endpoint) -> None:
        if self._rx.pop(ep.fd, None) is not None and self._epoll is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(ep.fd)

    def send(self, ep: Endpoint, packet: bytes) -> None:
        try:
            if ep.tx == 1:
                ep.send(packet)
            elif ep.tx == 2:
                ep.sendto(packet, ep.peer)
        except OSError:
            self.send_failures += 1  # a full buffer or an ICMP error from the peer: a lost packet, as on the wire

    def drain(self) -> None:
        """One packet from every ready RTP socket. The hot path: locals, struct calls and attribute access;
        anything unusual (a new source, DTMF, odd headers, out-of-order sequence numbers) leaves it."""
        epoll = self._epoll
        if epoll is None:
            return
        now = self._now()
        units = int(now * 8000.0)  # arrival time in RTP timestamp units (RFC 3550 A.8; G.711 runs at 8 kHz)
        fast = self._fast
        rx = self._rx
        ready: list[tuple[int, int | bytes]]
        if fast is None:
            try:
                ready = epoll.poll(0)  # type: ignore[assignment]
            except InterruptedError:
                return
            self.drained += len(ready)
        else:
            # the compiled path reads every ready socket it was handed and does what it can; left here are
            # sockets it was not handed (fd, 0), packets it read but leaves to us (fd, bytes), and payloads for
            # jitter buffers
            ready, ups = fast.drain(epoll.fileno(), now, units)
            for fd, ts, payload in ups:
                ep = rx.get(fd)
                if ep is not None and ep.jitter is not None:
                    ep.jitter.put(ts, payload, now)
            self.drained += fast.last_ready
        self.drains += 1
        size = _RECV_SIZE
        unpack = HDR.unpack_from
        pack = HDR.pack
        relayed = 0
        dropout, ts_step = MAX_DROPOUT, TS_STEP_MAX
        data: bytes
        for fd, got in ready:
            try:
                ep = rx[fd]
            except KeyError:
                continue  # released while this batch was handled
            handed = got.__class__ is bytes
            if handed or ep.connected:
                if handed:
                    # read by the compiled relay and left to us (a new SSRC, an event, out of order...) on a
                    # socket it holds connected: the leg's state comes back from C first, and the leg is
                    # handed over again at its next plain packet
                    data = got  # type: ignore[assignment]
                    fast.own(ep)  # type: ignore[union-attr]
                else:
                    try:
                        data = ep.recv(size)
                    except OSError:
                        continue  # nothing queued after all, or an ICMP error reported on the connected socket
                if len(data) < 12:
                    continue
                b0, b1, seq, ts, ssrc = unpack(data)
                # a new SSRC is a new stream (re-INVITE, transfer); RTCP sent to the RTP port (RFC 5761 §4:
                # packet types 200-204 where RTP has marker + payload type 72-76) is not one
                if ssrc != ep.peer_ssrc and (b0 & 0xC0 != 0x80 or 192 <= b1 <= 223 or ep.peer is None
                                             or not self._ports.latch(ep, ep.peer, ssrc)):
                    continue
            else:
                try:
                    data, addr = ep.recvfrom(size)
                except OSError:
                    continue
                if len(data) < 12:
                    continue
                b0, b1, seq, ts, ssrc = unpack(data)
                if b0 & 0xC0 != 0x80 or 192 <= b1 <= 223 or not self._ports.accept_source(ep, addr, ssrc):
                    continue
            ep.last_rx = now
            ep.stats.update(seq, ts, units)  # RFC 3550 A.1, A.8 (mirrored in _rtp_relay.c)
            if b0 != 0x80 or (b1 & 0x7F) != ep.audio_pt:
                if b0 & 0xC0 == 0x80:
                    self._slow(ep, data, seq, ts, now)
                continue
            target = ep.relay_to
            if target is None:  # a mixed leg (or one nobody hears yet): the tick takes it from here
                jitter = ep.jitter
                if jitter is not None:
                    jitter.put(ts, data[12:], now)
                    if fast is not None and not ep.fast & MODES_RX and ep.srtp is None:
                        fast.hand_over(ep)  # (an encrypted leg stays here: not offered per packet to be refused)
                continue
            # relay: same codec on both legs, so the marker bit and payload type go through unchanged, but for
            # the marker of a packet after a discontinuity (Endpoint.relay_header and Endpoint.sent, inline)
            d = (seq - ep.in_seq) & 0xFFFF
            if ep.resync or not 0 < d < dropout or (ts - ep.in_ts) & 0xFFFFFFFF > d * ts_step:
                b1 |= ep.remap(target, seq, ts, d, now)
            else:
                ep.in_seq = seq
                ep.in_ts = ts
            oseq = (seq + ep.seq_off) & 0xFFFF
            ots = (ts + ep.ts_off) & 0xFFFFFFFF
            payload = data[12:]
            tx = target.tx
            if tx:
                try:
                    if tx == 1:
                        target.send(pack(0x80, b1, oseq, ots, target.ssrc) + payload)
                    else:
                        target.sendto(pack(0x80, b1, oseq, ots, target.ssrc) + payload, target.peer)
                except OSError:
                    self.send_failures += 1  # a full buffer or an ICMP error from the peer: lost, as on the wire
                target.out_seq = oseq
                target.out_ts = ots
                target.out_time = now
                target.out_tick = -1
                target.tx_packets += 1
                target.tx_octets += len(payload)
                relayed += 1
            ep.last_in_ts = ts
            ep.last_in_payload = payload
            if ep.jitter is not None:  # tapped for a recording or in-band detection, or feeding a frame port
                ep.jitter.put(ts, payload, now)
            if fast is not None and not ep.fast & MODES_RX and ep.srtp is None and target.srtp is None:
                fast.hand_over(ep)
        self.relayed += relayed

    def _slow(self, ep: Endpoint, data: bytes, seq: int, ts: int, now: float) -> None:
        """Everything but a plain audio packet: telephone events, headers with padding, CSRCs or extensions,
        and payload types we did not negotiate."""
        if data[0] == 0x80:
            payload = data[12:]
        else:
            try:
                payload = rtpmod.parse_rtp(data).payload
            except rtpmod.RtpParseError:
                return
        b1 = data[1]
        pt = b1 & 0x7F
        audio = pt == ep.audio_pt
        if not audio:
            if pt != ep.te_pt:
                return  # a payload type we did not negotiate (comfort noise, video...): not ours to play
            for detected in ep.dtmf_rx.receive_all(ts, payload, now):
                self._digit(ep, detected.digit, "rfc4733")
        target = ep.relay_to
        out_pt = pt if audio else (target.te_pt if target is not None else None)
        if target is not None and out_pt is not None and target.tx:
            oseq, ots, marker = ep.relay_header(target, seq, ts, audio, now)
            self.send(target, HDR.pack(0x80, (b1 & 0x80) | marker | out_pt, oseq, ots, target.ssrc) + payload)
            target.sent(oseq, ots, now, -1, len(payload))
            self.relayed += 1
        if audio:
            if target is not None:
                ep.last_in_ts = ts
                ep.last_in_payload = payload
            if ep.jitter is not None:
                ep.jitter.put(ts, payload, now)
