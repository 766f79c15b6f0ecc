"""The card emulator as its own process, for tests: start it, open it with the serial backend, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from drivers.hal.interface import BearerFrames
from drivers.hal.models import CardEvent
from drivers.hal.serial_backend import SerialCard


@dataclass
class Recorder:
    """A `CardListener` that keeps everything and wakes waiters."""

    events: list[CardEvent] = field(default_factory=list)
    ticks: list[BearerFrames] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    keep_ticks: bool = True

    def card_event(self, event: CardEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def bearer(self, frames: BearerFrames) -> None:
        if self.keep_ticks:
            self.ticks.append(frames)

    async def wait_for(self, what: str, check: object, timeout: float = 3.0) -> None:
        assert callable(check)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def emulator(*args: str) -> AsyncIterator[dict[str, object]]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "drivers.emulator", *args,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        info = json.loads(line)
        info["process"] = proc
        yield info
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


@contextlib.asynccontextmanager
async def open_card(*args: str) -> AsyncIterator[tuple[SerialCard, Recorder, dict[str, object]]]:
    async with emulator(*args) as info:
        card = SerialCard(str(info["tty"]))
        rec = Recorder()
        await card.open(rec)
        try:
            yield card, rec, info
        finally:
            await card.close()
