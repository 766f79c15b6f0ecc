"""A real full disk: the record store on a 2 MiB tmpfs, filled to the last byte while calls end.

Calls go on (the journal accepts their CDRs without blocking), `records.write_failed` says the disk is full,
and once space is freed every accepted CDR lands, in order, and `records.write_recovered` is published.
Needs root (to mount the tmpfs); skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.acd.events import CallOffered
from appliance.events import Event, EventBus
from appliance.health import Status
from appliance.records.events import RecordsWriteFailed, RecordsWriteRecovered
from appliance.records.journal import JournalConfig, RecordJournal
from appliance.records.sqlite_store import RecordStore
from tests.records.helpers import ended, until, writer_threads


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected failing writer covers the path")
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("mount/umount are not on PATH")
    disk = tmp_path / "disk"
    disk.mkdir()
    result = subprocess.run([mount, "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run([umount, str(disk)], capture_output=True).returncode != 0:
            subprocess.run([umount, "-l", str(disk)], check=True)  # something still had a file open


def fill(path: Path) -> None:
    """Write `path` until the file system has no byte left."""
    with open(path, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\xff" * 65536)
        try:
            while f.write(b"\xff"):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


async def test_a_full_disk_stalls_no_call_and_loses_no_accepted_cdr(small_disk: Path) -> None:
    records = RecordStore.open(small_disk / "records.sqlite3")
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append, {"records.*"})
    journal = RecordJournal(records, bus, JournalConfig(flush_interval=0.02, max_batch=100, retry_min=0.02,
                                                        retry_max=0.1))
    await journal.start()
    try:
        for n in range(50):
            bus.publish(ended(n))
        await until(lambda: records.count("cdr") == 50)

        fill(small_disk / "filler")
        n, slowest = 50, 0.0
        deadline = time.monotonic() + 20
        while journal.health().counters["write_failures"] < 3:  # retried (with back-off) while calls go on
            assert time.monotonic() < deadline, "the writes never failed"
            for _ in range(20):
                started = time.perf_counter()
                bus.publish(ended(n))
                bus.publish(CallOffered(at=float(n), call_id=f"c{n}", queue_id="q", agent_ids=("1",), attempt=1))
                slowest = max(slowest, time.perf_counter() - started)
                n += 1
            await asyncio.sleep(0.02)
        accepted = n
        failed = [e for e in events if isinstance(e, RecordsWriteFailed)]
        assert len(failed) == 1 and failed[0].disk_full, failed
        assert slowest < 0.05  # handing a CDR to the journal never waits for the disk
        health = journal.health()
        assert health.status == Status.DEGRADED and health.counters["rows_dropped"] == 0
        assert health.gauges["backlog"] > 0
        assert records.count("cdr") < accepted  # the reader still works on the full disk

        (small_disk / "filler").unlink()
        await until(lambda: journal.backlog == 0)
        await until(lambda: any(isinstance(e, RecordsWriteRecovered) for e in events))
        cdrs = records.cdrs(limit=accepted + 10).items
        assert sorted(c["call_id"] for c in cdrs) == [f"call-{i:06d}" for i in range(accepted)]
        queue = records.rows("queue_log", limit=accepted + 10).items
        assert [r["call_id"] for r in queue] == [f"c{i}" for i in range(50, accepted)]
        assert journal.health().status == Status.OK
        assert records.integrity() == "ok"
    finally:
        await journal.stop()
        records.close()
    assert not writer_threads()
