"""The emulator's shell: the pty (control line), the bearer UDP socket, external D-channel sockets and the
card's 20 ms clock, around the state in `model.py`. Requests are answered from a cache when repeated with
the same sequence number (PROTOCOL.md, "Retries")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import tty
from typing import Any

from drivers.emulator.model import Card
from drivers.hal import bearer
from drivers.hal.framing import Decoder, Frame, MsgType, encode, encode_json
from drivers.hal.interface import BearerFrames

TICK_S = 0.020


class Emulator(asyncio.DatagramProtocol):
    """One emulated card: its pty and bearer socket. `rack` holds every card of the process by number, so a
    D-channel frame crosses to the card at the other end of the cable."""

    def __init__(self, card: Card, external: dict[int, str], rack: dict[int, Emulator] | None = None) -> None:
        self.card = card
        self.rack: dict[int, Emulator] = rack if rack is not None else {}
        self.rack[card.card] = self
        self.decoder = Decoder()
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no line discipline between the card and pyserial: bytes as they are
        os.set_blocking(self.master, False)
        self.tty = os.ttyname(self.slave)
        self.out = bytearray()
        self.writing = False
        self.cache: tuple[int, bytes, bytes] | None = None  # (seq, request, answer)
        self.host: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.external_paths = external
        self.external: dict[int, socket.socket] = {}  # span -> connected peer
        self.listeners: list[socket.socket] = []

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.master, self.readable)
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.transport = transport
        bearer.enlarge_rcvbuf(transport.get_extra_info("socket"))  # the host answers every unit's tick at once
        for span, path in self.external_paths.items():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            srv.bind(path)
            srv.listen(1)
            srv.setblocking(False)
            self.listeners.append(srv)
            loop.add_reader(srv.fileno(), self.accept, srv, span)
        return int(transport.get_extra_info("sockname")[1])

    def tick(self) -> None:
        for kind, unit, tick, frames in self.card.tick():
            if self.transport is not None and self.host is not None:
                self.transport.sendto(bearer.pack(BearerFrames(kind, unit, tick, frames)), self.host)  # type: ignore[arg-type]

    async def run_clock(self) -> None:
        """The rack's one 20 ms clock (every card's framer runs on it, as cards sharing a line clock do)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            n += 1
            for emulator in self.rack.values():
                emulator.tick()
            self.all_defects()
            delay = start + n * TICK_S - loop.time()
            if delay < -1.0:  # far behind (a stopped process): re-anchor rather than burst
                start, n = loop.time(), 0
            await asyncio.sleep(max(0.0, delay))

    # ---------------------------------------------------------------- control line

    def write(self, data: bytes) -> None:
        self.out += data
        self.flush()

    def flush(self) -> None:
        try:
            sent = os.write(self.master, self.out) if self.out else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self.out.clear()  # nobody holds the line open: what we say is lost, as on a real UART
            sent = 0
        del self.out[:sent]
        loop = asyncio.get_running_loop()
        if self.out and not self.writing:
            loop.add_writer(self.master, self.flush)
            self.writing = True
        elif not self.out and self.writing:
            loop.remove_writer(self.master)
            self.writing = False

    def readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return
        for frame in self.decoder.feed(data):
            self.request(frame)

    def events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.write(encode_json(MsgType.EVENT, 0, event))

    def request(self, frame: Frame) -> None:
        if frame.type == MsgType.DCH_TX:
            if len(frame.payload) >= 1:
                self.deliver(self.card.dchannel_from_host(frame.payload[0], frame.payload[1:]))
            return
        if self.cache is not None and self.cache[0] == frame.seq and self.cache[1] == frame.payload:
            self.write(self.cache[2])
            return
        events: list[dict[str, Any]] = []
        try:
            data = frame.json()
            answer_type, answer = MsgType.ACK, {}
            if frame.type == MsgType.HELLO:
                answer_type, answer = MsgType.HELLO_OK, self.card.info()
            elif frame.type == MsgType.CONFIGURE:
                self.card.configure(data)
            elif frame.type == MsgType.STATUS:
                answer_type, answer = MsgType.STATUS_OK, self.card.status(data["span"])
            elif frame.type == MsgType.LOOPBACK:
                self.card.set_loopback(data)
            elif frame.type == MsgType.PORT:
                events = self.card.port_command(data)
            elif frame.type == MsgType.PORT_CONFIG:
                self.card.configure_port(data)
            elif frame.type == MsgType.BEARER:
                self.host = (str(data.get("host", "127.0.0.1")), int(data["port"]))
                assert self.transport is not None
                answer = {"host": "127.0.0.1", "port": self.transport.get_extra_info("sockname")[1]}
            elif frame.type == MsgType.INJECT:
                events = self.card.inject(data)
            else:
                raise ValueError(f"unknown request type {frame.type:#04x}")
            wire = encode_json(answer_type, frame.seq, answer)
        except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            wire = encode_json(MsgType.NAK, frame.seq, {"error": str(exc) or type(exc).__name__})
        self.cache = (frame.seq, frame.payload, wire)
        self.write(wire)
        self.events(events)
        self.all_defects()

    def all_defects(self) -> None:
        """A change on one card's line may change the defects its far end sees: every card reports."""
        for emulator in self.rack.values():
            emulator.events(emulator.card.changed_defects())

    def deliver(self, outbox: list[tuple[str, Any]]) -> None:
        for what, (card, span, frame) in outbox:
            if what == "dch" and card in self.rack:
                self.rack[card].write(encode(MsgType.DCH_RX, 0, bytes((span,)) + frame))
            elif what == "external" and span in self.external:
                with contextlib.suppress(OSError):
                    self.external[span].send(frame)

    # ---------------------------------------------------------------- bearer and external peers

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            frames = bearer.unpack(data)
        except bearer.BearerFormatError:
            return
        self.card.bearer_from_host(frames.kind, frames.unit, dict(frames.frames), frames.tick)

    def accept(self, srv: socket.socket, span: int) -> None:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.external[span] = conn
        asyncio.get_running_loop().add_reader(conn.fileno(), self.external_readable, conn, span)

    def external_readable(self, conn: socket.socket, span: int) -> None:
        try:
            frame = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            frame = b""
        if not frame:
            asyncio.get_running_loop().remove_reader(conn.fileno())
            conn.close()
            self.external.pop(span, None)
            return
        self.deliver(self.card.dchannel_from_external(span, frame))
