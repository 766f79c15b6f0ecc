"""What the record tests share: a stand-in for call control's `calls.ended`, CDRs, waiting, a writer that fails
on demand."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from appliance.events import Event
from appliance.records.journal import Entry
from appliance.records.sqlite_store import RecordStore

WRITER_THREAD = "records-writer"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(Event):
    """Until `appliance.calls.events.CallEnded` exists: the same topic, the CDR in `cdr`."""

    topic: ClassVar[str] = "calls.ended"
    cdr: dict[str, Any]


def disk_full() -> sqlite3.OperationalError:
    """What SQLite raises when a write finds no space."""
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = sqlite3.SQLITE_FULL
    exc.sqlite_errorname = "SQLITE_FULL"
    return exc


def cdr(n: int) -> dict[str, Any]:
    return {"call_id": f"call-{n:06d}", "direction": "inbound", "caller": "13800138000", "callee": "8000",
            "did": "8000", "started": 1000.0 + n, "ended": 1060.0 + n, "queue": "sales", "agent": "1001",
            "disposition": "answered", "missed": [], "legs": [{"leg": "l1", "role": "caller"}]}


def ended(n: int) -> CallEnded:
    return CallEnded(at=1060.0 + n, cdr=cdr(n))


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WRITER_THREAD]


@dataclass
class FlakyWriter:
    """The real writer on its own connection, failing with `error` while `failing` is set; records the
    thread and size of every batch."""

    path: Path
    failing: threading.Event = field(default_factory=threading.Event)
    error: Exception = field(default_factory=lambda: disk_full())
    batches: list[tuple[str, int]] = field(default_factory=list)
    opened: int = 0

    def open(self) -> FlakyWriter.Connection:
        self.opened += 1
        return FlakyWriter.Connection(self, RecordStore.open_writer(self.path))

    @dataclass
    class Connection:
        owner: FlakyWriter
        store: RecordStore

        def write_batch(self, entries: Sequence[Entry]) -> int:
            self.owner.batches.append((threading.current_thread().name, len(entries)))
            if self.owner.failing.is_set():
                raise self.owner.error
            return self.store.write_batch(entries)

        def close(self) -> None:
            self.store.close()
