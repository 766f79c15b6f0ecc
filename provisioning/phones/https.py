"""The phone-facing HTTPS server: one route, `GET /p/<token>/<file>`, HTTP/1.1 (RFC 9112) parsed by h11, TLS
by the event loop (uvloop's, compiled), keep-alive so a phone fetches its vendor's common file and its own on
one connection.

Why not the admin API's Sanic: a power cut brings hundreds of phones back at once, and profiling the storm
showed Sanic's per-request machinery (about ten lifecycle signals dispatched per request, each a routing
look-up) costing more CPU than the TLS handshake itself. Phones need none of it: no session, no JSON, one
route.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast
from urllib.parse import unquote

import h11

log = logging.getLogger(__name__)

# (token, file name, the box's own address the phone reached, the phone's "ip:port") → the file, or None
Fetch = Callable[[str, str, str, str], bytes | None]
IDLE_SECONDS = 5.0  # a phone's connection kept open between its fetches, not longer
MAX_HEAD = 8192  # a GET from a phone is a few hundred bytes


def route(target: bytes) -> tuple[str, str] | None:
    """`/p/<token>/<file>` → (token, file); anything else None."""
    path = target.split(b"?", 1)[0].decode("ascii", "replace")
    parts = path.split("/")
    if len(parts) != 4 or parts[0] or parts[1] != "p" or not parts[2] or not parts[3]:
        return None
    token, filename = unquote(parts[2]), unquote(parts[3])
    if "/" in filename or "\\" in filename:
        return None
    return token, filename


class PhoneHttp(asyncio.Protocol):
    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.transport: asyncio.Transport | None = None
        self.local = ""
        self.peer = ""
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sockname, peername = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
        self.local = str(sockname[0]) if isinstance(sockname, tuple) else ""
        self.peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else ""
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.transport = None

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._close)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._arm()
        self.conn.receive_data(data)
        self._events()

    def eof_received(self) -> bool | None:
        self.conn.receive_data(b"")
        self._events()
        return None

    def _events(self) -> None:
        while self.transport is not None:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._error(exc.error_status_hint)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                if event is h11.PAUSED and self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                    self.conn.start_next_cycle()
                    continue
                return
            if isinstance(event, h11.ConnectionClosed):
                self._close()
                return
            if isinstance(event, h11.Request):
                self._answer(event)

    def _answer(self, request: h11.Request) -> None:
        status, body, kind = 404, b"not found\n", b"text/plain; charset=utf-8"
        if request.method not in (b"GET", b"HEAD"):
            status, body = 405, b"method not allowed\n"
        else:
            found = route(request.target)
            if found is not None:
                data = self.fetch(found[0], found[1], self.local, self.peer)
                if data is not None:
                    xml = data.lstrip().startswith(b"<?xml")
                    status, body = 200, data
                    kind = b"application/xml; charset=utf-8" if xml else b"text/plain; charset=utf-8"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store")]
        if status == 405:
            headers.append((b"allow", b"GET, HEAD"))
        self._send(h11.Response(status_code=status, headers=headers))
        self._send(h11.Data(data=body) if request.method != b"HEAD" else None)
        self._send(h11.EndOfMessage())
        if self.conn.our_state is h11.MUST_CLOSE:
            self._close()

    def _error(self, status: int) -> None:
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = b"bad request\n"
            try:
                self._send(h11.Response(status_code=status, headers=[
                    (b"content-length", str(len(body)).encode()), (b"connection", b"close")]))
                self._send(h11.Data(data=body))
                self._send(h11.EndOfMessage())
            except h11.LocalProtocolError:
                pass
        self._close()

    def _send(self, event: h11.Event | None) -> None:
        if event is None or self.transport is None:
            return
        out = self.conn.send(event)
        if out:
            self.transport.write(out)
