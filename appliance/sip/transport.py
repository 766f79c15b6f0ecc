"""UDP, TCP and TLS transports for the SIP shell (RFC 3261 §18; TLS per RFC 3261 §26.2 / RFC 5630 hop-by-hop).

Each transport turns socket input into `(bytes, Address)` for one callback and sends `(bytes, Address)`.
Streams are framed with `StreamFramer` (Content-Length); a connection whose framing breaks is closed.
Outgoing TCP/TLS to an address without a connection opens one and queues until it is up; a failed connect
is reported to the core as a transport error. The box's certificate comes from `appliance.security.certificates`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import cast

from appliance.sip.errors import SipParseError
from appliance.sip.parser import StreamFramer
from appliance.sip.transaction import Address

log = logging.getLogger(__name__)

Deliver = Callable[[bytes, Address], None]
Failed = Callable[[Address], None]


# Linux's IP_MULTICAST_ALL (not in every Python's socket module): 0 = only the groups this socket joined.
_IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)


def udp_socket(host: str, port: int, *, shared_with_pnp: bool = False) -> socket.socket:
    """The SIP UDP socket, bound. `shared_with_pnp`: the phones' plug-and-play listener is bound to the "all
    SIP servers" group (224.0.1.75) on the same port, so both sides set SO_REUSEADDR, and this socket takes no
    multicast at all (IP_MULTICAST_ALL off): a phone's multicast SUBSCRIBE gets one answer, the listener's,
    and unicast SIP reaches only this socket. Otherwise the port is this socket's alone (a second bind fails
    loudly instead of sharing it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if shared_with_pnp:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET:
            try:
                sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
            except OSError:
                log.debug("IP_MULTICAST_ALL is not supported here")
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, deliver: Deliver) -> None:
        self.deliver = deliver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not an asyncio.DatagramTransport subclass, so no isinstance check
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.deliver(data, Address("UDP", str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: UDP has no connection to report it on; timers will notice
        log.debug("UDP error: %s", exc)


class StreamConnection(asyncio.Protocol):
    def __init__(self, owner: StreamTransport) -> None:
        self.owner = owner
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Address | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        self.peer = Address(self.owner.name, str(peer[0]), int(peer[1]))
        self.owner.connections[self.peer] = self
        for data in self.pending:
            self.transport.write(data)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.transport is not None
        try:
            for msg in self.framer.feed(data):
                self.owner.deliver(msg, self.peer)
        except SipParseError as e:
            log.info("closing %s: %s", self.peer, e)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.owner.connections.get(self.peer) is self:
            del self.owner.connections[self.peer]


class StreamTransport:
    """A TCP or TLS listener plus the connections it accepted or opened."""

    def __init__(self, name: str, deliver: Deliver, failed: Failed, ssl_server: ssl.SSLContext | None = None,
                 ssl_client: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.deliver = deliver
        self.failed = failed
        self.ssl_server = ssl_server
        self.ssl_client = ssl_client
        self.server: asyncio.Server | None = None
        self.connections: dict[Address, StreamConnection] = {}
        self._connecting: dict[Address, StreamConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: StreamConnection(self), host, port, ssl=self.ssl_server)
        return int(self.server.sockets[0].getsockname()[1])

    def send(self, data: bytes, dest: Address) -> None:
        conn = self.connections.get(dest)
        if conn is not None and conn.transport is not None and not conn.transport.is_closing():
            conn.transport.write(data)
            return
        pending = self._connecting.get(dest)
        if pending is not None:
            pending.pending.append(data)
            return
        conn = StreamConnection(self)
        conn.pending.append(data)
        self._connecting[dest] = conn
        task = asyncio.get_running_loop().create_task(self._connect(dest, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, dest: Address, conn: StreamConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.create_connection(
                lambda: conn, dest.host, dest.port, ssl=self.ssl_client,
                server_hostname=dest.host if self.ssl_client else None), 10.0)
            if conn.peer is not None and conn.peer != dest:
                self.connections[dest] = conn  # reachable under the name we dialled as well
        except (TimeoutError, OSError, ssl.SSLError) as e:
            log.info("%s connect to %s:%d failed: %s", self.name, dest.host, dest.port, e)
            self.failed(dest)
        finally:
            self._connecting.pop(dest, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        self.connections.clear()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


def client_context(verify: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        # carriers and phones commonly present self-signed certificates; verification is a trunk option
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_default_certs()
    return ctx
