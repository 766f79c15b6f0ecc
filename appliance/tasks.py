"""Stopping a service's background task the one way every `stop()` needs: cancelled, then awaited, so
nothing it started is still running when `stop()` returns (symmetric lifecycles)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
