"""An emulated analog card with far ends on its ports — the exchange behind each FXO port and an analog phone on
each FXS port (`emulator_lines`) — in a process of its own. It speaks the HAL's serial protocol on a pty and
its bearer datagrams on UDP (drivers/hal/PROTOCOL.md) exactly as a card would, so the driver under test opens
it with `drivers.hal.serial_backend.SerialCard`; a control socket lets a test or a benchmark work the far ends:
JSON lines `{"port": 1, "do": "call", "number": "...", "name": "...", "cid": "fsk_bell202"}` → `{"ok": true}`.

    python -m drivers.analog.emulator --ports fxo:2,fxs:2 --control /tmp/analog.sock

prints `{"tty": ..., "bearer_port": ..., "pid": ..., "control": ...}` once it is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tty
from typing import Any

from appliance.media import g711
from drivers.analog.emulator_lines import Exchange, Phone
from drivers.hal import bearer
from drivers.hal.framing import Decoder, Frame, MsgType, encode_json
from drivers.hal.interface import BearerFrames
from drivers.hal.models import IMPEDANCES, PortCommand

TICK_S = 0.020
FXS_ONLY = (PortCommand.RING_START, PortCommand.RING_STOP, PortCommand.POLARITY_REVERSE,
            PortCommand.POLARITY_NORMAL, PortCommand.LINE_OPEN)


class AnalogCardEmulator(asyncio.DatagramProtocol):
    def __init__(self, ports: list[str]) -> None:
        self.far: dict[int, Exchange | Phone] = {
            n: (Exchange() if kind == "fxo" else Phone()) for n, kind in enumerate(ports, start=1)}
        self.kinds = dict(enumerate(ports, start=1))
        self.ticks = dict.fromkeys(self.far, 0)
        self.decoder = Decoder()
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.tty = os.ttyname(self.slave)
        self.out = bytearray()
        self.writing = False
        self.cache: tuple[int, bytes, bytes] | None = None
        self.line: dict[int, dict[str, str]] = {}  # port -> impedance and region, as the host configured them
        self.host: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.master, self.readable)
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.transport = transport
        bearer.enlarge_rcvbuf(transport.get_extra_info("socket"))  # the host answers every port's tick at once
        return int(transport.get_extra_info("sockname")[1])

    async def run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while True:
            n += 1
            for port, far in self.far.items():
                self.ticks[port] += 1
                frame = g711.encode(far.tick(), "alaw")
                if self.transport is not None and self.host is not None:
                    self.transport.sendto(bearer.pack(BearerFrames("port", port, self.ticks[port], {1: frame})),
                                          self.host)
            self.signals()
            delay = start + n * TICK_S - loop.time()
            if delay < -1.0:
                start, n = loop.time(), 0
            await asyncio.sleep(max(0.0, delay))

    def signals(self) -> None:
        for port, far in self.far.items():
            for sig in far.signals:
                self.write(encode_json(MsgType.EVENT, 0, {"event": "port", "port": port, "signal": sig.value}))
            far.signals.clear()

    # ---------------------------------------------------------------- control line (PROTOCOL.md)

    def write(self, data: bytes) -> None:
        self.out += data
        self.flush()

    def flush(self) -> None:
        try:
            sent = os.write(self.master, self.out) if self.out else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            self.out.clear()
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

    def request(self, frame: Frame) -> None:
        if frame.type == MsgType.DCH_TX:
            return
        if self.cache is not None and self.cache[0] == frame.seq and self.cache[1] == frame.payload:
            self.write(self.cache[2])
            return
        try:
            data = frame.json()
            answer_type, answer = MsgType.ACK, {}
            if frame.type == MsgType.HELLO:
                answer_type = MsgType.HELLO_OK
                answer = {"card_id": f"analog-emulator-{os.getpid()}", "model": "emulated analog card",
                          "firmware": "1", "spans": [],
                          "ports": [{"port": n, "kind": k} for n, k in self.kinds.items()]}
            elif frame.type == MsgType.PORT:
                self.port_command(int(data["port"]), PortCommand(data["command"]))
            elif frame.type == MsgType.PORT_CONFIG:
                port = int(data["port"])
                if port not in self.far or data.get("impedance") not in IMPEDANCES:
                    raise ValueError(f"port {port}: no such port, or impedance {data.get('impedance')!r} not supported")
                self.line[port] = {"impedance": str(data["impedance"]), "region": str(data.get("region", "cn"))}
            elif frame.type == MsgType.BEARER:
                self.host = (str(data.get("host", "127.0.0.1")), int(data["port"]))
                assert self.transport is not None
                answer = {"host": "127.0.0.1", "port": self.transport.get_extra_info("sockname")[1]}
            else:
                raise ValueError(f"request type {frame.type:#04x} is not for an analog card")
            wire = encode_json(answer_type, frame.seq, answer)
        except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            wire = encode_json(MsgType.NAK, frame.seq, {"error": str(exc) or type(exc).__name__})
        self.cache = (frame.seq, frame.payload, wire)
        self.write(wire)
        self.signals()

    def port_command(self, port: int, command: PortCommand) -> None:
        far = self.far.get(port)
        if far is None:
            raise ValueError(f"no port {port}")
        if isinstance(far, Phone) != (command in FXS_ONLY):
            raise ValueError(f"{command.value} is not a command for an {self.kinds[port].upper()} port")
        far.signals += far.command(command)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            frames = bearer.unpack(data)
        except bearer.BearerFormatError:
            return
        far = self.far.get(frames.unit) if frames.kind == "port" else None
        if far is not None and 1 in frames.frames:
            far.hear(frames.frames[1])

    def control(self, req: dict[str, Any]) -> dict[str, Any]:
        far = self.far.get(int(req.get("port", 0)))
        if far is None:
            raise ValueError(f"no analog port {req.get('port')}")
        answer = far.control(req)
        if req.get("do") == "status":
            answer["line"] = self.line.get(int(req["port"]))  # (what the host configured the port's line as)
        self.signals()  # (what the request made the far end do reaches the host at once)
        return answer


async def serve_control(card: AnalogCardEmulator, path: str,
                        clients: set[asyncio.StreamWriter]) -> asyncio.AbstractServer:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.add(writer)
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                try:
                    answer: dict[str, Any] = {"ok": True, **card.control(json.loads(line))}
                except (ValueError, KeyError, TypeError) as exc:
                    answer = {"ok": False, "error": str(exc) or type(exc).__name__}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        clients.discard(writer)
        writer.close()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return await asyncio.start_unix_server(client, path)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m drivers.analog.emulator",
                                     description="emulated analog card with exchange and phone far ends")
    parser.add_argument("--ports", required=True, help="analog ports in order: fxo:2,fxs:2")
    parser.add_argument("--control", required=True, help="the control socket's path")
    args = parser.parse_args(argv)
    ports: list[str] = []
    for item in filter(None, args.ports.split(",")):
        kind, _, count = item.partition(":")
        if kind not in ("fxo", "fxs"):
            parser.error(f"port kind {kind!r} is not fxo or fxs")
        ports += [kind] * int(count or 1)
    card = AnalogCardEmulator(ports)
    bearer_port = await card.start()
    clients: set[asyncio.StreamWriter] = set()
    server = await serve_control(card, args.control, clients)
    print(json.dumps({"tty": card.tty, "bearer_port": bearer_port, "pid": os.getpid(),
                      "control": args.control}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = asyncio.create_task(card.run_clock())
    await stop.wait()
    clock.cancel()
    server.close()
    for writer in list(clients):  # (their handlers see the end of input and return)
        writer.transport.abort()
    await asyncio.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.control)
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
