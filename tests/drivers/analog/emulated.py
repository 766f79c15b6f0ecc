"""The analog card emulator (`python -m drivers.analog.emulator`) as its own process for tests: start it,
open it with the HAL's serial backend, and work the far ends of its ports through the control socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.hal.serial_backend import SerialCard


@dataclass
class FarEnds:
    """The control socket: `await far(1, "call", number="...")` -> the answer (raises on an error)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def __call__(self, port: int, do: str, **args: Any) -> dict[str, Any]:
        self.writer.write(json.dumps({"port": port, "do": do, **args}).encode() + b"\n")
        await self.writer.drain()
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(self.reader.readline(), 5))
        if not answer.pop("ok"):
            raise RuntimeError(answer["error"])
        return answer

    async def until(self, what: str, port: int, check: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Poll a far end's status until `check(status)` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = await self(port, "status")
            if check(status):
                return status
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {status}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def analog_card(work: Path, ports: str) -> AsyncIterator[tuple[SerialCard, FarEnds, dict[str, Any]]]:
    """The emulator process with `ports` ("fxo:1,fxs:2"), a `SerialCard` for it (not opened: the driver
    opens it) and the far ends' control."""
    control = str(work / "analog.sock")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "drivers.analog.emulator", "--ports", ports,
                                                "--control", control, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(await asyncio.wait_for(proc.stdout.readline(), 15))
        reader, writer = await asyncio.open_unix_connection(control)
        try:
            yield SerialCard(str(info["tty"])), FarEnds(reader, writer), info
        finally:
            writer.close()
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
