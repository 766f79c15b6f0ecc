"""Run the card emulator: `python -m drivers.emulator --help`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from drivers.emulator.model import Card, Chassis, wire
from drivers.emulator.process import Emulator


def pairs(text: str) -> list[tuple[int, int]]:
    out = []
    for item in filter(None, text.split(",")):
        a, _, b = item.partition("-")
        out.append((int(a), int(b)))
    return out


def span_ref(text: str) -> tuple[int, int]:
    """"2" is span 2 of card 1; "2.1" is span 1 of card 2."""
    card, _, span = text.rpartition(".")
    return int(card or 1), int(span)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m drivers.emulator", description="emulated E1/analog card")
    parser.add_argument("--cards", type=int, default=1, help="cards, each with its own pty (the spans are per card)")
    parser.add_argument("--spans", type=int, default=2)
    parser.add_argument("--link", default="", help="spans wired back to back: 1-2,3-4, or across cards: 1.1-2.1")
    parser.add_argument("--external", action="append", default=[],
                        help="SPAN:PATH: the span's D-channel on a Unix SEQPACKET socket (e.g. for libpri)")
    parser.add_argument("--ports", default="", help="analog ports in order: fxs:1,fxo:1")
    parser.add_argument("--port-link", default="", help="ports wired to each other: 1-2")
    args = parser.parse_args(argv)
    ports: list[str] = []
    for item in filter(None, args.ports.split(",")):
        kind, _, count = item.partition(":")
        if kind not in ("fxo", "fxs"):
            parser.error(f"port kind {kind!r} is not fxo or fxs")
        ports += [kind] * int(count or 1)
    external = {int(s): p for s, _, p in (e.partition(":") for e in args.external)}
    chassis: Chassis = {}
    rack: dict[int, Emulator] = {}
    for n in range(1, args.cards + 1):
        card = Card(args.spans, ports, pairs(args.port_link), list(external) if n == 1 else [], card=n,
                    chassis=chassis)
        Emulator(card, external if n == 1 else {}, rack)
    for item in filter(None, args.link.split(",")):
        a, _, b = item.partition("-")
        wire(chassis, span_ref(a), span_ref(b))
    ports_out = [await rack[n].start() for n in sorted(rack)]
    emulator = rack[1]
    print(json.dumps({"tty": emulator.tty, "bearer_port": ports_out[0], "pid": os.getpid(),
                      "ttys": [rack[n].tty for n in sorted(rack)]}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = asyncio.create_task(emulator.run_clock())
    await stop.wait()
    clock.cancel()
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
