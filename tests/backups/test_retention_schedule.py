"""Retention over a simulated month of snapshots, and schedules: a run missed while the box was off runs once at
start, and runs never overlap."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import pytest

from appliance.backups import operations as ops
from appliance.backups.models import Part
from appliance.backups.restic import Repository
from appliance.backups.service import BackupService
from appliance.clock import SystemClock
from tests.backups.conftest import Box, local_target

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def reference_keep(times: list[dt.datetime], daily: int, weekly: int, monthly: int) -> set[dt.datetime]:
    """restic's policy, written from its manual: newest first, each rule keeps the newest snapshot of each of its
    last N distinct periods (day, ISO week, month); a snapshot kept by any rule stays."""
    keep: set[dt.datetime] = set()
    for count, fmt in ((daily, "%Y-%m-%d"), (weekly, "%G-%V"), (monthly, "%Y-%m")):
        last = None
        for t in sorted(times, reverse=True):
            if count == 0:
                break
            bucket = t.strftime(fmt)
            if bucket != last:
                keep.add(t)
                last = bucket
                count -= 1
    return keep


def _time_of(snapshot_time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(snapshot_time[:19]).replace(second=0)


async def test_retention_over_a_simulated_month(box: Box, tmp_path: Path) -> None:
    repo_dir = tmp_path / "repo"
    await local_target(box, repo_dir, retention={"daily": 7, "weekly": 4, "monthly": 12})
    repo = Repository("local", str(repo_dir))
    # the simulated past is test set-up, not what is measured: at normal priority on a shared machine
    restic = dataclasses.replace(box.service.restic, low_priority=False, max_procs=2)
    assert await ops.open_repository(restic, repo, may_init=True)  # made by hand, as the nights before today
    staging = box.service.state / "staging-sim"
    staging.mkdir()
    (staging / "stamp").write_text("the same content every night: only the snapshots' times differ")
    now = dt.datetime.now().replace(second=0, microsecond=0)
    times = [(now - dt.timedelta(days=day)).replace(hour=hour, minute=0)
             for day in range(1, 46) for hour in ((2, 14) if day % 5 == 0 else (2,))]  # 45 nights, some twice
    gate = asyncio.Semaphore(3)  # restic's backup takes a shared lock: a few at once

    async def one(at: dt.datetime) -> None:
        async with gate:
            await ops.backup_part(restic, repo, Part.CONFIG, [staging], at=at)

    await asyncio.gather(*(one(at) for at in times))
    before = await box.service.list_snapshots("local", Part.CONFIG)
    assert len(before) == 45 + 9

    run = await box.service.run_backup("local", [Part.CONFIG])  # today's first run applies retention at its end
    assert run.ok
    after = await box.service.list_snapshots("local", Part.CONFIG)
    newest = [s for s in after if s.id.startswith(run.snapshots[0])]  # the summary names it by its short id
    assert len(newest) == 1
    all_times = [_time_of(s.time) for s in before] + [_time_of(newest[0].time)]
    expected = reference_keep(all_times, 7, 4, 12)
    assert sorted(_time_of(s.time) for s in after) == sorted(expected)
    assert after[-1] == newest[0]  # the newest (the last good backup) stays
    forgotten = box.events.of("backups.forgotten")
    removed = {sid for e in forgotten for sid in e.snapshots}  # type: ignore[attr-defined]
    assert removed == {s.id for s in before} - {s.id for s in after}
    assert len(removed) == len(before) + 1 - len(after)


async def _service(box: Box, schedules: list[dict[str, object]], state: dict[str, float] | None) -> BackupService:
    await box.service.stop()
    raw = {"targets": [{"name": "local", "kind": "local", "path": str(box.data.parent / "repo")}],
           "schedules": schedules}
    await box.service.save_settings(raw)
    assert (await box.service.run_backup("local", [Part.CONFIG])).ok  # the repository exists (made by hand)
    if state is not None:
        (box.service.state / "schedule-state.json").write_text(json.dumps(state))
    box.events.events.clear()
    service = BackupService(box.data, box.store, box.bus, SystemClock(), host="box-test")
    await service.start()
    return service


async def test_missed_run_runs_once_at_start(box: Box) -> None:
    two_days_ago = time.time() - 2 * 86400
    service = await _service(box, [{"name": "nightly", "target": "local", "parts": ["config"], "cron": "0 3 * * *"},
                                   {"name": "weekly", "target": "local", "parts": ["config"],
                                    "cron": "0 4 * * sun", "verify_subset": True}],
                             {"nightly": two_days_ago, "weekly": time.time() - 3600})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not box.events.of("backups.succeeded"):
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # room for a second (wrong) run
        started = box.events.of("backups.started")
        assert [(e.trigger, e.kind) for e in started] == [("missed", "backup")]  # type: ignore[attr-defined]
        assert len(box.events.of("backups.succeeded")) == 1
        assert set(service.next_runs()) == {"nightly", "weekly"}
    finally:
        await service.stop()


async def test_scheduled_runs_never_overlap(box: Box) -> None:
    service = await _service(box, [
        {"name": "every-second", "target": "local", "parts": ["config"], "cron": "* * * * * *"},
        {"name": "also-every-second", "target": "local", "parts": ["config"], "cron": "* * * * * *"}], None)
    try:
        await asyncio.sleep(6)
    finally:
        await service.stop()
    sequence = [e.topic for e in box.events.events if e.topic in ("backups.started", "backups.succeeded",
                                                                   "backups.failed")]
    assert sequence.count("backups.started") >= 2
    running = 0
    for topic in sequence:
        running += 1 if topic == "backups.started" else -1
        assert running in (0, 1), sequence
    assert not box.events.of("backups.failed")
    assert {e.trigger for e in box.events.of("backups.started")} == {"schedule"}  # type: ignore[attr-defined]
