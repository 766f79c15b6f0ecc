"""The reports service: runs a report on a worker thread, on a read connection of its own, with the box's time
zone and the reports' policy as stored now."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.configuration.settings import current
from appliance.health import Health, Status
from appliance.records.journal import BatchWriter
from appliance.reports import definitions
from appliance.reports.models import Kind, Report, ReportPolicy, ReportQuery, policy_of
from appliance.reports.rollups import writer_opener

_BUSY_TIMEOUT_S = 5.0


class ReportService:
    def __init__(self, records_path: Path, settings: Callable[[], Mapping[str, Any]]) -> None:
        self.records_path = Path(records_path)
        self.settings = settings
        self.reports_run = 0

    def policy(self) -> ReportPolicy:
        return policy_of(self.settings())

    def zone(self) -> ZoneInfo:
        name = current(dict(self.settings())).time_zone
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def open_writer(self) -> Callable[[], BatchWriter]:
        """The journal's writer, keeping the roll-ups with the rows (see `rollups`)."""
        return writer_opener(self.records_path, self.policy, self.zone)

    def run_sync(self, query: ReportQuery, groups: Mapping[str, str] | None = None) -> Report:
        """`groups`: agent → work group, for the groups report (the staff as configured now)."""
        zone, policy = self.zone(), self.policy()
        conn = sqlite3.connect(self.records_path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            rows = definitions.run(conn, query, zone, policy, groups or {})
        finally:
            conn.close()
        self.reports_run += 1
        header: dict[str, Any] = {"short_abandon_s": policy.short_abandon_s}
        if query.kind in (Kind.QUEUES, Kind.QUEUE_CALLS):
            queues = sorted({str(r["queue"]) for r in rows} | set(query.queues or ()))
            header["service_level"] = {q: policy.level(q).to_dict() for q in queues}
            header["default_service_level"] = policy.service_level.to_dict()
        return Report(kind=query.kind, period=query.period, start=query.start, end=query.end,
                      time_zone=zone.key, header=header, rows=tuple(rows))

    async def run(self, query: ReportQuery, groups: Mapping[str, str] | None = None) -> Report:
        return await asyncio.to_thread(self.run_sync, query, groups)

    def health(self) -> Health:
        return Health.of("reports", Status.OK, f"{self.reports_run} reports run",
                         counters={"reports_run": self.reports_run})
