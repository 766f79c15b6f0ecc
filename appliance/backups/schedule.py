"""Backup schedules on APScheduler 3 (`AsyncIOScheduler`): cron-like times in the box's time zone, several jobs,
never two runs at once, and a run missed while the box was off made up once at start.

`coalesce` folds every missed tick into one run and `max_instances=1` skips a tick while the job still runs;
the service's run lock makes jobs of different schedules wait for each other. APScheduler's in-memory job store
knows nothing of the time before start, so the last time each schedule fired is kept in a small JSON file, and
a schedule whose next time after that is already past runs once at start. Weekdays are best written as names
(`mon-fri`): APScheduler 3 counts numeric weekdays from Monday, not Sunday as crontab does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from appliance.backups.errors import BackupError
from appliance.backups.models import Schedule

log = logging.getLogger(__name__)


def trigger_of(cron: str, tz: dt.tzinfo) -> CronTrigger:
    """Five crontab fields, or six with seconds first (short schedules for tests and demos)."""
    fields = cron.split()
    if len(fields) == 6:
        second, minute, hour, day, month, dow = fields
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=dow,
                           timezone=tz)
    return CronTrigger.from_crontab(cron, timezone=tz)


@dataclass
class BackupScheduler:
    """Runs `fire(schedule, trigger)` at each schedule's times; `trigger` is "schedule" or "missed"."""

    fire: Callable[[Schedule, str], Awaitable[Any]]
    state_file: Path
    time_zone: str = "UTC"
    _scheduler: AsyncIOScheduler | None = None
    _last: dict[str, float] = field(default_factory=dict)
    schedules: tuple[Schedule, ...] = ()

    @property
    def tz(self) -> dt.tzinfo:
        try:
            return ZoneInfo(self.time_zone)
        except (KeyError, ValueError):
            return dt.UTC

    async def start(self, schedules: tuple[Schedule, ...]) -> None:
        self._last = await asyncio.to_thread(self._load)
        self._scheduler = AsyncIOScheduler(
            timezone=self.tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
        self._scheduler.start()
        await self.apply(schedules, catch_up=True)

    async def stop(self) -> None:
        if self._scheduler is not None:
            scheduler, self._scheduler = self._scheduler, None
            scheduler.shutdown(wait=False)

    async def apply(self, schedules: tuple[Schedule, ...], *, catch_up: bool = False) -> None:
        """Replace every job with `schedules` (after an edit). `catch_up`: run missed schedules once now."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        scheduler.remove_all_jobs()
        self.schedules = schedules
        now = dt.datetime.now(self.tz)
        for schedule in schedules:
            trigger = trigger_of(schedule.cron, self.tz)
            scheduler.add_job(self._run, trigger, args=[schedule, "schedule"], id=schedule.name,
                              name=f"backup {schedule.name}", replace_existing=True)
            last = self._last.get(schedule.name)
            if last is None:
                self._last[schedule.name] = now.timestamp()  # a new schedule starts from now: nothing was missed
                continue
            due = trigger.get_next_fire_time(None, dt.datetime.fromtimestamp(last, self.tz))
            if catch_up and due is not None and due < now:
                log.info("backup schedule %s missed its run at %s; running it once now", schedule.name, due)
                scheduler.add_job(self._run, args=[schedule, "missed"], id=f"{schedule.name}.missed",
                                  replace_existing=True)
        await asyncio.to_thread(self._save)

    def next_runs(self) -> dict[str, str]:
        if self._scheduler is None:
            return {}
        out: dict[str, str] = {}
        for job in self._scheduler.get_jobs():
            when = getattr(job, "next_run_time", None)
            if when is not None and "." not in job.id:
                out[job.id] = when.isoformat()
        return out

    async def _run(self, schedule: Schedule, trigger: str) -> None:
        self._last[schedule.name] = dt.datetime.now(self.tz).timestamp()
        await asyncio.to_thread(self._save)
        try:
            await self.fire(schedule, trigger)
        except BackupError as exc:  # already an event and a history line; the next tick tries again
            log.warning("scheduled backup %s failed: %s", schedule.name, exc.message)

    def _load(self) -> dict[str, float]:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}
        return {}

    def _save(self) -> None:
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(self._last), encoding="utf-8")
        os.replace(tmp, self.state_file)
