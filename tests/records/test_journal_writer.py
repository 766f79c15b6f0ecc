"""The journal writes on its own thread, bounded: a failing store keeps every accepted row (CDRs included)
until it takes writes again, a full backlog refuses rows without troubling the caller, stop() ends the thread."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from appliance.acd.events import CallOffered
from appliance.events import Event, EventBus
from appliance.health import Status
from appliance.records.events import RecordsBacklogFull, RecordsWriteFailed, RecordsWriteRecovered
from appliance.records.journal import JournalConfig, RecordJournal, is_disk_full
from appliance.records.sqlite_store import RecordStore
from tests.records.helpers import WRITER_THREAD, FlakyWriter, disk_full, ended, until, writer_threads

E = TypeVar("E", bound=Event)
FAST = JournalConfig(flush_interval=0.02, max_batch=50, max_backlog=1000, retry_min=0.01, retry_max=0.05,
                     drain_timeout=2.0)


@dataclass
class Rig:
    records: RecordStore
    bus: EventBus
    writer: FlakyWriter
    journal: RecordJournal
    events: list[Event]

    def offered(self, n: int) -> None:
        self.bus.publish(CallOffered(at=float(n), call_id=f"c{n:05d}", queue_id="q", agent_ids=("1",), attempt=1))

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    records = RecordStore.open(tmp_path / "records.sqlite3")
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append, {"records.*"})
    writer = FlakyWriter(records.path)
    journal = RecordJournal(records, bus, FAST, open_writer=writer.open)
    await journal.start()
    try:
        yield Rig(records, bus, writer, journal, events)
    finally:
        writer.failing.clear()
        await journal.stop()
        records.close()
    assert not writer_threads()


async def test_cdrs_from_calls_ended_are_written_by_the_writer_thread(rig: Rig) -> None:
    for n in range(120):
        rig.bus.publish(ended(n))
    await until(lambda: rig.records.count("cdr") == 120)
    page = rig.records.cdrs(where={"call_id": "call-000007"})
    assert page.items[0]["legs"] == [{"leg": "l1", "role": "caller"}] and page.items[0]["started"] == 1007.0
    assert {name for name, _ in rig.writer.batches} == {WRITER_THREAD}
    assert threading.current_thread().name != WRITER_THREAD
    assert max(size for _, size in rig.writer.batches) <= FAST.max_batch
    health = rig.journal.health()
    assert health.status == Status.OK and health.counters["rows_written"] == 120 and health.gauges["backlog"] == 0


async def test_a_full_disk_keeps_every_accepted_row_and_writes_them_in_order_when_space_returns(rig: Rig) -> None:
    rig.writer.failing.set()
    for n in range(300):
        rig.offered(n)
        if n % 3 == 0:
            rig.bus.publish(ended(n))
    await until(lambda: len(rig.writer.batches) >= 5)  # retried, with back-off
    failed = rig.of(RecordsWriteFailed)
    assert len(failed) == 1 and failed[0].disk_full
    health = rig.journal.health()
    assert health.status == Status.DEGRADED and "disk is full" in health.detail
    assert health.counters["write_failures"] >= 5 and health.gauges["backlog"] == 400
    assert rig.records.count("queue_log") == 0 and rig.records.count("cdr") == 0
    rig.writer.failing.clear()
    await until(lambda: rig.journal.backlog == 0)
    await until(lambda: bool(rig.of(RecordsWriteRecovered)))
    assert len(rig.of(RecordsWriteRecovered)) == 1 and len(rig.of(RecordsWriteFailed)) == 1
    rows = rig.records.rows("queue_log", limit=1000).items
    assert [r["call_id"] for r in rows] == [f"c{n:05d}" for n in range(300)]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)  # written in the order accepted
    assert rig.records.count("cdr") == 100
    health = rig.journal.health()
    assert health.status == Status.OK and health.counters["rows_written"] == 400
    assert health.counters["rows_dropped"] == 0


async def test_a_full_backlog_refuses_new_rows_without_blocking_or_raising(rig: Rig) -> None:
    rig.writer.failing.set()
    started = time.perf_counter()
    for n in range(1500):
        rig.offered(n)  # a raise here would reach call control; the bus would log it
    assert time.perf_counter() - started < 1.0
    health = rig.journal.health()
    assert health.counters["rows_dropped"] == 500 and health.gauges["backlog"] == FAST.max_backlog
    assert len(rig.of(RecordsBacklogFull)) == 1
    rig.writer.failing.clear()
    await until(lambda: rig.journal.backlog == 0)
    rows = rig.records.rows("queue_log", limit=2000).items
    assert [r["call_id"] for r in rows] == [f"c{n:05d}" for n in range(1000)]  # the first 1000 were accepted
    rig.offered(5000)  # room again
    await until(lambda: rig.records.count("queue_log") == 1001)
    assert rig.journal.health().counters["rows_dropped"] == 500


async def test_any_io_error_is_retried_like_a_full_disk(rig: Rig) -> None:
    rig.writer.error = OSError(errno.EIO, "Input/output error")
    rig.writer.failing.set()
    for n in range(10):
        rig.offered(n)
    await until(lambda: bool(rig.of(RecordsWriteFailed)))
    assert not rig.of(RecordsWriteFailed)[0].disk_full
    rig.writer.failing.clear()
    await until(lambda: rig.records.count("queue_log") == 10)


async def test_a_row_the_store_can_never_take_does_not_hold_up_the_others(rig: Rig) -> None:
    for n in range(10):
        rig.bus.publish(ended(n))
        if n == 4:
            rig.journal.accept(("cdr", {"started": 1.0}))  # no call_id
    await until(lambda: rig.journal.backlog == 0)
    assert rig.records.count("cdr") == 10
    health = rig.journal.health()
    assert health.counters["rows_rejected"] == 1 and health.counters["rows_written"] == 10
    assert not rig.of(RecordsWriteFailed)


async def test_stop_gives_up_after_the_drain_time_ends_the_thread_and_a_restart_writes_the_rest(
        tmp_path: Path) -> None:
    records = RecordStore.open(tmp_path / "records.sqlite3")
    writer = FlakyWriter(records.path)
    journal = RecordJournal(records, EventBus(), JournalConfig(flush_interval=10, drain_timeout=0.3,
                                                               retry_min=0.05), open_writer=writer.open)
    await journal.start()
    assert len(writer_threads()) == 1
    writer.failing.set()
    for n in range(20):
        journal.handle(ended(n))
    started = time.perf_counter()
    await journal.stop()
    assert time.perf_counter() - started < 2.0
    assert not writer_threads() and journal.health().status == Status.STARTING
    assert journal.backlog == 20 and records.count("cdr") == 0
    writer.failing.clear()
    await journal.start()
    await journal.stop()  # drains at once, without waiting for the 10 s interval
    assert records.count("cdr") == 20 and journal.backlog == 0
    assert not writer_threads()
    records.close()


def test_disk_full_is_told_apart_from_other_errors() -> None:
    assert is_disk_full(disk_full())
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_disk_full(OSError(errno.EIO, "Input/output error"))
    assert not is_disk_full(RuntimeError("database or disk is full"))


def test_a_config_cannot_hold_less_than_a_batch() -> None:
    with pytest.raises(ValueError):
        JournalConfig(max_batch=500, max_backlog=100)
