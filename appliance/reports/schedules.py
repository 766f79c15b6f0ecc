"""Scheduled reports: a report run daily, weekly or monthly over the period just ended, saved as a file on the
box and listed for download.

The setting `report_schedules` holds `items`, a list of `{name, kind, every, period, format, at, queue, agent, group,
flow}`: `every` daily (yesterday), weekly (last ISO week, Monday to Monday) or monthly (last month), in the
box's time zone; `at` the local time it runs ("HH:MM", default 01:00: after the day's last calls are
written); `period` the rows' period size (default: hour for daily, day otherwise). Times come from
APScheduler's cron triggers in the box's zone, as backups' do. Files go to `<data dir>/reports/<name>/`,
the newest `KEEP` of each schedule kept. A scheduled report sees every agent (it is configured by an
admin), so only admins and QA list and download the files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from appliance.configuration.service import ConfigService
from appliance.errors import FieldError, NotFound, ValidationFailed
from appliance.health import Health, Status
from appliance.reports import export
from appliance.reports.export import REPORT_COLUMNS, Format
from appliance.reports.export_http import names_of, staff_groups_of
from appliance.reports.models import Kind, Period, ReportQuery
from appliance.reports.service import ReportService

log = logging.getLogger(__name__)
SETTING = "report_schedules"
EVERY = ("daily", "weekly", "monthly")
KEEP = 100
MAX_SCHEDULES = 50
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_AT = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_FILE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,120}$")


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    kind: Kind
    every: str
    period: Period
    format: Format = Format.XLSX
    at: str = "01:00"
    queues: tuple[str, ...] | None = None
    agents: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None
    flows: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind.value, "every": self.every,
                               "period": self.period.value, "format": self.format.value, "at": self.at}
        for key, values in (("queue", self.queues), ("agent", self.agents), ("group", self.groups),
                            ("flow", self.flows)):
            if values is not None:
                out[key] = list(values)
        return out

    def window(self, now: datetime) -> tuple[int, int]:
        """The period just ended before `now` (local): yesterday, last week or last month."""
        today = now.date()
        if self.every == "daily":
            first, end = today - timedelta(days=1), today
        elif self.every == "weekly":
            end = today - timedelta(days=today.weekday())
            first = end - timedelta(days=7)
        else:
            end = today.replace(day=1)
            first = (end - timedelta(days=1)).replace(day=1)
        return _midnight(first, now.tzinfo), _midnight(end, now.tzinfo)


def _midnight(day: date, zone: Any) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def _bad(where: str, rule: str, message: str, message_zh: str) -> FieldError:
    return FieldError(where, rule, f"{where}: {message}", f"{where}: {message_zh}")


def _ids(where: str, raw: Any, problems: list[FieldError]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or len(raw) > 200 or not all(
            isinstance(v, str) and 0 < len(v) <= 64 for v in raw):
        problems.append(_bad(where, "list", "a list of 1 to 200 ids", "应为 1 到 200 个标识的列表"))
        return None
    return tuple(raw)


def parse(raw: Any) -> tuple[Schedule, ...]:
    """The setting checked whole; every problem named by its place (`report_schedules.2.every`)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_SCHEDULES:
        raise ValidationFailed([_bad(SETTING, "type", f"a list of at most {MAX_SCHEDULES} schedules",
                                     f"应为最多 {MAX_SCHEDULES} 个计划的列表")], SETTING)
    problems: list[FieldError] = []
    out: list[Schedule] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        at = f"{SETTING}.{i}"
        if not isinstance(item, Mapping):
            problems.append(_bad(at, "type", "an object", "应为对象"))
            continue
        known = {"name", "kind", "every", "period", "format", "at", "queue", "agent", "group", "flow"}
        for extra in sorted(set(item) - known):
            problems.append(_bad(f"{at}.{extra}", "unknown", "no such field", "没有此字段"))
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name) or name in names:
            problems.append(_bad(f"{at}.name", "pattern", "a unique name of lower-case letters, digits, - and _",
                                 "应为唯一的名称(小写字母、数字、- 和 _)"))
            name = f"_{i}"
        names.add(name)
        kinds = [k.value for k in Kind if k in REPORT_COLUMNS and k.value in ("queues", "agent-calls", "groups",
                                                                               "agent-states", "ivr")]
        kind = item.get("kind")
        if kind not in kinds:
            problems.append(_bad(f"{at}.kind", "choice", f"one of {', '.join(kinds)}", f"应为 {', '.join(kinds)} 之一"))
            kind = Kind.QUEUES.value
        every = item.get("every")
        if every not in EVERY:
            problems.append(_bad(f"{at}.every", "choice", "daily, weekly or monthly", "应为 daily、weekly 或 monthly"))
            every = "daily"
        period = item.get("period") or ("hour" if every == "daily" else "day")
        if period not in [p.value for p in Period]:
            problems.append(_bad(f"{at}.period", "choice", "half_hour, hour, day, week or month",
                                 "应为 half_hour、hour、day、week 或 month"))
            period = "day"
        fmt = item.get("format") or "xlsx"
        if fmt not in ("xlsx", "csv"):
            problems.append(_bad(f"{at}.format", "choice", "xlsx or csv", "应为 xlsx 或 csv"))
            fmt = "xlsx"
        when = item.get("at") or "01:00"
        if not isinstance(when, str) or not _AT.match(when):
            problems.append(_bad(f"{at}.at", "pattern", "a local time HH:MM", "应为本地时间 HH:MM"))
            when = "01:00"
        out.append(Schedule(name=name, kind=Kind(kind), every=str(every), period=Period(period), format=Format(fmt),
                            at=when, queues=_ids(f"{at}.queue", item.get("queue"), problems),
                            agents=_ids(f"{at}.agent", item.get("agent"), problems),
                            groups=_ids(f"{at}.group", item.get("group"), problems),
                            flows=_ids(f"{at}.flow", item.get("flow"), problems)))
    if problems:
        raise ValidationFailed(problems, SETTING)
    return tuple(out)


def stored(settings: Mapping[str, Any]) -> tuple[Schedule, ...]:
    """The schedules as stored (`{"items": [...]}`)."""
    raw = settings.get(SETTING)
    try:
        return parse(raw.get("items") if isinstance(raw, Mapping) else None)
    except ValidationFailed:  # a stored value that no longer parses runs nothing (never stops a box)
        return ()


@dataclass
class ReportSchedules:
    """Runs the schedules (a service the box starts and stops) and keeps their files."""

    service: ReportService
    folder: Path
    config: ConfigService  # the staff's work groups (the groups report) and the names beside ids
    name: str = "report_schedules"
    _scheduler: AsyncIOScheduler | None = None
    _runs: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0})

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=self.service.zone(),
                                           job_defaults={"coalesce": True, "max_instances": 1,
                                                         "misfire_grace_time": 3600})
        self._scheduler.start()
        self.apply(stored(self.service.settings()))

    async def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)

    def apply(self, schedules: tuple[Schedule, ...]) -> None:
        """Replaces every job (after the setting changed)."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        scheduler.remove_all_jobs()
        zone = self.service.zone()
        for s in schedules:
            hour, minute = (int(p) for p in s.at.split(":"))
            trigger = CronTrigger(hour=hour, minute=minute, timezone=zone,
                                  day_of_week="mon" if s.every == "weekly" else None,
                                  day=1 if s.every == "monthly" else None)
            scheduler.add_job(self.run, trigger, args=[s], id=s.name, name=f"report {s.name}", replace_existing=True)

    def next_runs(self) -> dict[str, str]:
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time.isoformat() for job in self._scheduler.get_jobs()
                if getattr(job, "next_run_time", None) is not None}

    async def run(self, schedule: Schedule, now: datetime | None = None) -> Path:
        try:
            path = await asyncio.to_thread(self.run_sync, schedule, now)
        except Exception:
            self._runs["failed"] += 1
            log.exception("scheduled report %s failed", schedule.name)
            raise
        self._runs["ok"] += 1
        return path

    def run_sync(self, schedule: Schedule, now: datetime | None = None) -> Path:
        zone = self.service.zone()
        start, end = schedule.window(now.astimezone(zone) if now else datetime.now(zone))
        query = ReportQuery(kind=schedule.kind, period=schedule.period, start=start, end=end,
                            queues=schedule.queues, agents=schedule.agents, groups=schedule.groups,
                            flows=schedule.flows)
        report = self.service.run_sync(query, staff_groups_of(self.config) if schedule.kind is Kind.GROUPS else None)
        columns = REPORT_COLUMNS[schedule.kind]
        language = str(self.service.settings().get("language") or "zh_CN")
        folder = self.folder / schedule.name
        folder.mkdir(parents=True, exist_ok=True)
        stamp = f"{datetime.fromtimestamp(start, zone):%Y%m%d}-{datetime.fromtimestamp(end, zone):%Y%m%d}"
        path = folder / f"{schedule.name}-{stamp}.{schedule.format.value}"
        part = path.with_name(path.name + ".part")
        with part.open("wb") as out:
            export.write(schedule.format, out, columns, report.rows, header=export.headers(columns, language),
                         zone=zone, title=schedule.kind.value, names=names_of(self.config))
        part.replace(path)
        for old in sorted(folder.glob(f"*.{schedule.format.value}"), key=lambda p: p.stat().st_mtime)[:-KEEP]:
            with contextlib.suppress(OSError):
                old.unlink()
        return path

    def files(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.folder.is_dir():
            return out
        for folder in sorted(p for p in self.folder.iterdir() if p.is_dir()):
            for f in folder.iterdir():
                if f.is_file() and f.suffix in (".xlsx", ".csv"):
                    st = f.stat()
                    out.append({"schedule": folder.name, "file": f.name, "size": st.st_size, "made": st.st_mtime})
        return sorted(out, key=lambda f: f["made"], reverse=True)

    def file(self, schedule: str, name: str) -> Path:
        if not _NAME.match(schedule) or not _FILE.match(name):
            raise NotFound("report file", f"{schedule}/{name}")
        path = self.folder / schedule / name
        if not path.is_file() or path.suffix not in (".xlsx", ".csv"):
            raise NotFound("report file", f"{schedule}/{name}")
        return path

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        return Health.of(self.name, Status.OK, f"{len(self.next_runs())} report schedules",
                         counters={"scheduled_reports_made": self._runs["ok"],
                                   "scheduled_reports_failed": self._runs["failed"]})
