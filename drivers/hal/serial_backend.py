"""`CardBackend` over a serial line speaking PROTOCOL.md, with bearer frames on a UDP socket.

The line is opened with pyserial (a card's UART, or the emulator's pty) and read and written without
blocking from the event loop (`add_reader` / `add_writer` on its descriptor). Requests carry a sequence
number and are repeated, same number, when no answer comes within `timeout` (the card answers a repeat
from its cache, so a repeated CONFIGURE is applied once); after `retries` the request fails with
`CardTimeout`. D-channel frames go unacknowledged: the CRC drops a damaged one and LAPD recovers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from typing import Any

import serial

from appliance.health import Health, Status
from drivers.hal import bearer
from drivers.hal.errors import CardRefused, CardTimeout, HalError
from drivers.hal.framing import Decoder, Frame, MsgType, encode, encode_json
from drivers.hal.interface import BearerFrames, CardListener
from drivers.hal.models import (
    CardInfo,
    CardLost,
    DChannelReceived,
    Defect,
    DefectsChanged,
    Loopback,
    PortCommand,
    PortConfig,
    PortSignal,
    PortSignalled,
    SpanConfig,
    SpanCounters,
    SpanStatus,
)

log = logging.getLogger(__name__)


# Datagrams read per wake-up of the bearer socket. asyncio's datagram transport reads one per turn of the
# loop, and a loop that turns a few hundred times a second (the media engine, the stacks) then falls behind
# a card sending thousands a second: the kernel drops the rest. Draining is bounded so one socket cannot
# hold the loop for long (256 datagrams: ~5 ticks of a 48-port card).
DRAIN_MAX = 256


class SerialCard:
    """One card behind a serial line. Implements `drivers.hal.interface.CardBackend`."""

    def __init__(self, path: str, *, baudrate: int = 921600, timeout: float = 0.5, retries: int = 3,
                 bearer_host: str = "127.0.0.1") -> None:
        self.path = path
        self.baudrate = baudrate
        self.timeout = timeout
        self.retries = retries
        self.bearer_host = bearer_host
        self._serial: serial.Serial | None = None
        self._listener: CardListener | None = None
        self._decoder = Decoder()
        self._out = bytearray()
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._seq = 0
        self._info: CardInfo | None = None
        self._sock: socket.socket | None = None  # the bearer socket (UDP), read by draining
        self._card_bearer: tuple[str, int] | None = None
        self._writing = False
        self.rcvbuf = 0  # the bearer socket's receive buffer as the kernel granted it
        self.counters = {"requests": 0, "retries": 0, "timeouts": 0, "dch_tx": 0, "dch_rx": 0, "events": 0,
                         "bearer_rx": 0, "bearer_tx": 0, "bearer_bad": 0, "bearer_tx_dropped": 0}

    # ---------------------------------------------------------------- CardBackend

    @property
    def info(self) -> CardInfo:
        if self._info is None:
            raise HalError(f"card {self.path} is not open")
        return self._info

    async def open(self, listener: CardListener) -> CardInfo:
        loop = asyncio.get_running_loop()
        self._listener = listener
        try:
            self._serial = serial.Serial(self.path, baudrate=self.baudrate, timeout=0, write_timeout=0)
        except serial.SerialException as exc:
            raise HalError(f"cannot open {self.path}: {exc}", error_id="hal_open_failed") from exc
        fd = self._serial.fileno()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)
        try:
            hello = await self.request(MsgType.HELLO, {})
            self._info = CardInfo.from_wire(hello, backend="serial", path=self.path)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock = sock
            sock.setblocking(False)
            sock.bind((self.bearer_host, 0))
            self.rcvbuf = bearer.enlarge_rcvbuf(sock)
            loop.add_reader(sock.fileno(), self._bearer_readable)
            port = sock.getsockname()[1]
            ack = await self.request(MsgType.BEARER, {"host": self.bearer_host, "port": port})
            self._card_bearer = (str(ack.get("host", self.bearer_host)), int(ack["port"]))
        except BaseException:
            await self.close()
            raise
        return self._info

    async def close(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._serial is not None:
            loop = asyncio.get_running_loop()
            fd = self._serial.fileno()
            loop.remove_reader(fd)
            if self._writing:
                loop.remove_writer(fd)
                self._writing = False
            with contextlib.suppress(OSError):
                self._serial.close()
            self._serial = None

    async def configure_span(self, span: int, config: SpanConfig) -> None:
        await self.request(MsgType.CONFIGURE, {"span": span, **config.to_wire()})

    async def span_status(self, span: int) -> SpanStatus:
        return SpanStatus.from_wire(await self.request(MsgType.STATUS, {"span": span}))

    async def loopback(self, span: int, mode: Loopback) -> None:
        await self.request(MsgType.LOOPBACK, {"span": span, "mode": mode})

    async def port_command(self, port: int, command: PortCommand) -> None:
        await self.request(MsgType.PORT, {"port": port, "command": str(command)})

    async def configure_port(self, port: int, config: PortConfig) -> None:
        await self.request(MsgType.PORT_CONFIG, {"port": port, **config.to_wire()})

    async def inject(self, **condition: Any) -> dict[str, Any]:
        """Line conditions on the emulator (PROTOCOL.md, INJECT); a real card NAKs it."""
        return await self.request(MsgType.INJECT, condition)

    def send_dchannel(self, span: int, frame: bytes) -> None:
        self.counters["dch_tx"] += 1
        self._write(encode(MsgType.DCH_TX, 0, bytes((span,)) + frame))

    def send_bearer(self, frames: BearerFrames) -> None:
        if self._sock is None or self._card_bearer is None:
            return
        try:
            self._sock.sendto(bearer.pack(frames), self._card_bearer)
        except (BlockingIOError, InterruptedError):  # (a full send buffer: this tick's frames are lost, as late)
            self.counters["bearer_tx_dropped"] += 1
            return
        except OSError as exc:
            self.counters["bearer_tx_dropped"] += 1
            log.debug("card %s: bearer send failed: %s", self.path, exc)
            return
        self.counters["bearer_tx"] += 1

    def health(self) -> Health:
        status = Status.OK if self._serial is not None and self._info is not None else Status.DOWN
        counters = dict(self.counters, bad_crc=self._decoder.bad_crc, skipped_bytes=self._decoder.skipped)
        return Health.of(f"card {self.path}", status, counters=counters, gauges={"bearer_rcvbuf": self.rcvbuf})

    # ---------------------------------------------------------------- requests

    async def request(self, type_: MsgType, data: dict[str, Any]) -> dict[str, Any]:
        if self._serial is None:
            raise HalError(f"card {self.path} is not open")
        self._seq = self._seq % 255 + 1
        seq = self._seq
        wire = encode_json(type_, seq, data)
        self.counters["requests"] += 1
        for attempt in range(self.retries + 1):
            fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
            self._pending[seq] = fut
            if attempt:
                self.counters["retries"] += 1
            self._write(wire)
            try:
                answer = await asyncio.wait_for(fut, self.timeout)
            except TimeoutError:
                continue
            finally:
                self._pending.pop(seq, None)
            if answer.type == MsgType.NAK:
                raise CardRefused(type_.name.lower(), str(answer.json().get("error", "refused")))
            return answer.json()
        self.counters["timeouts"] += 1
        raise CardTimeout(type_.name.lower())

    # ---------------------------------------------------------------- the line

    def _write(self, data: bytes) -> None:
        if self._serial is None:
            return
        self._out += data
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        if self._serial is None:
            return
        fd = self._serial.fileno()
        try:
            sent = os.write(fd, self._out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._lost(f"write failed: {exc}")
            return
        del self._out[:sent]
        loop = asyncio.get_running_loop()
        if self._out and not self._writing:
            loop.add_writer(fd, self._flush)
            self._writing = True
        elif not self._out and self._writing:
            loop.remove_writer(fd)
            self._writing = False

    def _readable(self) -> None:
        if self._serial is None:
            return
        try:
            data = os.read(self._serial.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(f"read failed: {exc}")
            return
        if not data:
            self._lost("the line closed")
            return
        for frame in self._decoder.feed(data):
            self._frame_in(frame)

    def _lost(self, reason: str) -> None:
        log.warning("card %s lost: %s", self.path, reason)
        if self._serial is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._serial.fileno())
            if self._writing:
                loop.remove_writer(self._serial.fileno())
                self._writing = False
            with contextlib.suppress(OSError):
                self._serial.close()
            self._serial = None
        if self._listener is not None:
            self._listener.card_event(CardLost(reason=reason))

    def _frame_in(self, frame: Frame) -> None:
        if frame.type in (MsgType.ACK, MsgType.NAK, MsgType.HELLO_OK, MsgType.STATUS_OK):
            fut = self._pending.get(frame.seq)
            if fut is not None and not fut.done():
                fut.set_result(frame)
            return
        listener = self._listener
        if listener is None:
            return
        if frame.type == MsgType.DCH_RX and len(frame.payload) >= 2:
            self.counters["dch_rx"] += 1
            listener.card_event(DChannelReceived(span=frame.payload[0], frame=frame.payload[1:]))
        elif frame.type == MsgType.EVENT:
            self.counters["events"] += 1
            try:
                event = frame.json()
                if event["event"] == "defects":
                    listener.card_event(DefectsChanged(
                        span=int(event["span"]), defects=frozenset(Defect(d) for d in event["defects"]),
                        counters=SpanCounters.from_wire(event.get("counters", {}))))
                elif event["event"] == "port":
                    listener.card_event(PortSignalled(port=int(event["port"]), signal=PortSignal(event["signal"])))
            except (KeyError, ValueError, json.JSONDecodeError) as exc:
                log.warning("card %s: an event it sent is not understood: %s", self.path, exc)

    def _bearer_readable(self) -> None:
        sock = self._sock
        for _ in range(DRAIN_MAX):
            if sock is None or sock is not self._sock:  # (closed by a listener meanwhile)
                return
            try:
                data = sock.recv(8192)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("card %s: bearer receive failed: %s", self.path, exc)
                return
            self._bearer_in(data)

    def _bearer_in(self, data: bytes) -> None:
        try:
            frames = bearer.unpack(data)
        except bearer.BearerFormatError:
            self.counters["bearer_bad"] += 1
            return
        self.counters["bearer_rx"] += 1
        if self._listener is not None:
            self._listener.bearer(frames)
