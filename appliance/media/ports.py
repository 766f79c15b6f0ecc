"""RTP/RTCP port pairs and each leg's socket: binding, symmetric RTP (latching), connect and disconnect.

Ports are taken in even/odd pairs (RTP on the even port, RTCP on port + 1: RFC 3550 §11) round-robin through
the configured range, so a port just freed is not reused at once (late packets of the old call).

Symmetric RTP (RFC 4961): we send to where the peer's packets come from, not only to the SDP address. Once a
source is latched the socket is connected to it, so sending is `send()` with no address and the kernel drops
packets from anyone else. The peer changes when the SDP moves the media, when a new SSRC arrives (a re-INVITE
or transfer), or when the latched address has been silent for a second (a NAT binding that changed): the
socket is then disconnected (connect(2) with AF_UNSPEC) and the next packet latches again, so a stray packet
cannot hijack a leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import socket
from collections.abc import Callable

from appliance.media import rtp as rtpmod
from appliance.media.core import Core
from appliance.media.dtmf import EventReceiver
from appliance.media.endpoint import Endpoint, released
from appliance.media.errors import NoPortAvailable
from appliance.media.events import PeerLatched
from appliance.media.models import RemoteMedia

log = logging.getLogger(__name__)

# connect(2) with a sockaddr whose family is AF_UNSPEC dissolves a UDP socket's association (Linux, BSD);
# Python's socket.connect cannot express that address, so the C library's connect is called directly.
_SOCKADDR_UNSPEC = bytes(16)
_libc_connect = ctypes.CDLL(None, use_errno=True).connect
_libc_connect.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_libc_connect.restype = ctypes.c_int


def _disconnect(sock: socket.socket) -> None:
    if _libc_connect(sock.fileno(), _SOCKADDR_UNSPEC, len(_SOCKADDR_UNSPEC)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class _RtcpProtocol(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[Endpoint, bytes], None], ep: Endpoint) -> None:
        self.received = received
        self.ep = ep

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received(self.ep, data)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for an RTCP report: the RTP time-out ends a dead call, not this


class Ports:
    def __init__(self, core: Core, rtcp_received: Callable[[Endpoint, bytes], None]) -> None:
        self._core = core
        self._rtcp_received = rtcp_received
        config = core.config
        self._low = config.port_low + (config.port_low % 2)
        self._high = config.port_high
        self._cursor = self._low
        self.in_use: set[int] = set()

    @property
    def capacity(self) -> int:
        """RTP ports (pairs) in the configured range."""
        return max(0, (self._high - self._low) // 2 + 1)

    async def open(self, ep: Endpoint) -> None:
        """Bind the next free pair to `ep`: a raw non-blocking RTP socket (the packet path reads it) and an
        asyncio transport for RTCP."""
        loop = asyncio.get_running_loop()
        for _ in range(self.capacity):
            port = self._cursor
            self._cursor += 2
            if self._cursor > self._high:
                self._cursor = self._low
            if port in self.in_use:
                continue
            rtp_sock = rtcp_sock = None
            try:
                rtp_sock = self._bind(port)
                rtcp_sock = self._bind(port + 1)
            except OSError as exc:
                for s in (rtp_sock, rtcp_sock):
                    if s is not None:
                        s.close()
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            try:
                ep.rtcp_transport, _ = await loop.create_datagram_endpoint(
                    lambda: _RtcpProtocol(self._rtcp_received, ep), sock=rtcp_sock)
            except BaseException:
                for s in (rtp_sock, rtcp_sock):
                    s.close()
                raise
            ep.port = port
            self.in_use.add(port)
            ep.sock = rtp_sock
            ep.fd = rtp_sock.fileno()
            ep.recv, ep.recvfrom, ep.send, ep.sendto = rtp_sock.recv, rtp_sock.recvfrom, rtp_sock.send, rtp_sock.sendto
            return
        raise NoPortAvailable(self._core.config.port_low, self._high)

    def close(self, ep: Endpoint) -> None:
        """Close both sockets and free the pair (the packet path has stopped watching the RTP socket)."""
        self._core.own(ep)
        sock, ep.sock = ep.sock, None
        if sock is not None:
            sock.close()
            ep.fd = -1
            ep.recv = ep.recvfrom = ep.send = ep.sendto = released
            ep.connected = False
            ep.tx = 0
        if ep.rtcp_transport is not None:
            ep.rtcp_transport.close()
            ep.rtcp_transport = None
        self.in_use.discard(ep.port)

    def _bind(self, port: int) -> socket.socket:
        address = self._core.config.bind_address
        s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setblocking(False)
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            s.bind((address, port))
        except OSError:
            s.close()
            raise
        return s

    # ---------------------------------------------------------------- where we send

    def update_tx(self, ep: Endpoint) -> None:
        self._core.own(ep)  # a leg relayed into sends on this socket: it must stay connected while that is in C
        if ep.sock is None or ep.peer is None or not ep.sends:
            ep.tx = 0
        else:
            ep.tx = 1 if ep.connected else 2

    def connect(self, ep: Endpoint, addr: tuple[str, int]) -> None:
        """Connect the RTP socket to the latched source: sends need no address, others are filtered out."""
        if ep.sock is not None:
            try:
                ep.sock.connect(addr)
                ep.connected = True
            except OSError:
                self.unconnect(ep)
        self.update_tx(ep)

    def unconnect(self, ep: Endpoint) -> None:
        if ep.connected and ep.sock is not None:
            try:
                _disconnect(ep.sock)
            except OSError:
                log.warning("could not disconnect the RTP socket of %s", ep.endpoint_id)
                return  # stays connected to the old peer; the RTP time-out ends the call if it is gone
        ep.connected = False
        self.update_tx(ep)

    def apply_remote(self, ep: Endpoint, remote: RemoteMedia) -> None:
        new = (remote.address, remote.port)
        if ep.remote is not None and new != ep.remote:
            ep.latched = False  # the SDP moved the media (re-INVITE, transfer): send there until it speaks
            self.unconnect(ep)
        ep.remote = new
        if not ep.latched:
            ep.peer = ep.remote
            ep.peer_rtcp = (remote.address, remote.port + 1)
        self.update_tx(ep)

    # ---------------------------------------------------------------- whose packets we take

    def accept_source(self, ep: Endpoint, addr: tuple[str, int], ssrc: int) -> bool:
        """A packet on a socket that is not connected: the first packets of a leg, or after the peer moved."""
        if ep.latched and addr == ep.peer and ssrc == ep.peer_ssrc:
            self.connect(ep, addr)  # the latched source speaks again after a silence
            return True
        return self.latch(ep, addr, ssrc)

    def latch(self, ep: Endpoint, addr: tuple[str, int], ssrc: int) -> bool:
        """Decide whether a packet from `addr` is the peer's, and latch to it when it is: the first stream,
        a new stream (new SSRC: re-INVITE, transfer), or the same stream from a new address once the old one
        has been silent for a second (a NAT binding that changed)."""
        core = self._core
        if ep.latched and ssrc == ep.peer_ssrc and core.now() - ep.last_rx < 1.0:
            return False
        ep.latched = True
        if addr != ep.peer or not ep.connected:
            ep.peer = addr
            self.connect(ep, addr)
        ep.peer_rtcp = (addr[0], addr[1] + 1)
        if ep.peer_ssrc is not None and ssrc != ep.peer_ssrc:
            ep.stats = rtpmod.ReceiverStats(clock_rate=ep.codec.clock_rate)
            ep.dtmf_rx = EventReceiver()
            ep.resync = True
            if ep.jitter is not None:
                ep.jitter = core.new_jitter(ep)
                core.plan_dirty = True  # the tick holds the old buffer's pop
        ep.peer_ssrc = ssrc
        ep.stats.ssrc = ssrc
        core.bus.publish(PeerLatched(at=core.clock.wall(), endpoint_id=ep.endpoint_id, address=addr[0],
                                     port=addr[1]))
        return True
