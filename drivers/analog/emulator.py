"""An emulated card whose analog ports have far ends: the exchange behind each FXO port and an analog phone on
each FXS port (`emulator_lines`), in a process of its own, speaking the HAL's serial protocol on a pty like
the card emulator it extends (`drivers.emulator`), plus a control socket through which a test or a benchmark
works the far ends: JSON lines `{"port": 1, "do": "call", "number": "...", "name": "...", "cid": "fsk_bell202"}`
→ `{"ok": true, ...}`.

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
from typing import Any

from drivers.analog.emulator_lines import Exchange, Phone
from drivers.emulator.model import Card
from drivers.emulator.process import Emulator
from drivers.hal.models import PortCommand

FXS_ONLY = (PortCommand.RING_START, PortCommand.RING_STOP, PortCommand.POLARITY_REVERSE,
            PortCommand.POLARITY_NORMAL, PortCommand.LINE_OPEN)


class AnalogCard(Card):
    """The card emulator's model with a far end on every analog port."""

    def __init__(self, ports: list[str], spans: int = 0) -> None:
        super().__init__(spans, ports, [], [], [])
        self.far: dict[int, Exchange | Phone] = {
            n: (Exchange() if kind == "fxo" else Phone()) for n, kind in enumerate(ports, start=1)}

    def port_command(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        n = int(data["port"])
        far = self.far.get(n)
        if far is None:
            return super().port_command(data)
        command = PortCommand(data["command"])
        if isinstance(far, Phone) != (command in FXS_ONLY):
            kind = "fxs" if isinstance(far, Phone) else "fxo"
            raise ValueError(f"{command.value} is not a command for an {kind.upper()} port")
        return [{"event": "port", "port": n, "signal": s.value} for s in far.command(command)]

    def bearer_from_host(self, kind: str, unit: int, frames: dict[int, bytes]) -> None:
        far = self.far.get(unit) if kind == "port" else None
        if far is None:
            super().bearer_from_host(kind, unit, frames)
        elif 1 in frames:
            far.hear(frames[1])

    def tick(self) -> list[tuple[str, int, int, dict[int, bytes]]]:
        from appliance.media import g711

        out = []
        for kind, unit, tick, frames in super().tick():
            far = self.far.get(unit) if kind == "port" else None
            if far is not None:
                frames = {1: g711.encode(far.tick(), "alaw")}
            out.append((kind, unit, tick, frames))
        return out

    def changed_defects(self) -> list[dict[str, Any]]:
        events = super().changed_defects()
        for n, far in self.far.items():
            events += [{"event": "port", "port": n, "signal": s.value} for s in far.signals]
            far.signals.clear()
        return events

    def control(self, req: dict[str, Any]) -> dict[str, Any]:
        far = self.far.get(int(req.get("port", 0)))
        if far is None:
            raise ValueError(f"no analog port {req.get('port')}")
        return far.control(req)


async def serve_control(card: AnalogCard, emulator: Emulator, path: str) -> asyncio.AbstractServer:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                try:
                    answer: dict[str, Any] = {"ok": True, **card.control(json.loads(line))}
                except (ValueError, KeyError, TypeError) as exc:
                    answer = {"ok": False, "error": str(exc) or type(exc).__name__}
                emulator.events(card.changed_defects())  # (signals the request caused go out at once)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
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
    card = AnalogCard(ports)
    emulator = Emulator(card, {})
    bearer_port = await emulator.start()
    server = await serve_control(card, emulator, args.control)
    print(json.dumps({"tty": emulator.tty, "bearer_port": bearer_port, "pid": os.getpid(),
                      "control": args.control}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = asyncio.create_task(emulator.run_clock())
    await stop.wait()
    clock.cancel()
    server.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.control)
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
