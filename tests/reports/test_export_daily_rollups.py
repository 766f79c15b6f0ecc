"""The daily roll-ups that long reports and their exports read: every report by day, week and month from the
daily tables equals the same report from the half-hour tables, across a change of clocks (New York, the night
they go back) and after the box's time zone changes (the days cut again from the half-hours)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from appliance.records.sqlite_store import RecordStore
from appliance.reports import days, definitions
from appliance.reports.models import Kind, Period, ReportPolicy, ReportQuery
from appliance.reports.rollups import Rollup, install

NEW_YORK, SHANGHAI = ZoneInfo("America/New_York"), ZoneInfo("Asia/Shanghai")
GROUPS = {"1001": "g1", "1002": "g1", "1003": "g2"}


def batch(day: float, n: int) -> list[tuple[str, Any]]:
    """A few calls and state changes every two hours of a day, some across half-hour and day boundaries."""
    out: list[tuple[str, Any]] = []
    for hour in range(0, 24, 2):
        at = day + hour * 3600 + 1500 + n
        agent = ("1001", "1002", "1003")[hour % 3]
        call = f"d{int(day)}-{hour}"
        talk = 100.0 + hour * 7
        out += [("queue_log", (at, call, "sales" if hour % 4 else "support", "queued", None, {})),
                ("queue_log", (at + 5, call, "sales" if hour % 4 else "support", "offered", agent, {})),
                ("queue_log", (at + 9, call, "sales" if hour % 4 else "support", "answered", agent, {})),
                ("queue_log", (at + 9 + talk, call, "sales" if hour % 4 else "support", "complete_agent", agent,
                               {"talk": talk, "hold": 3.0, "answered": at + 9})),
                ("agent_log", (at + 9, agent, "idle", "on_call", "", {"duration": 4000.0})),
                ("agent_log", (at + 9 + talk, agent, "on_call", "wrap_up", "", {"duration": talk})),
                ("ivr_journey", (at - 20, call, "main", "", "started", {})),
                ("ivr_journey", (at - 19, call, "main", "menu", "node_entered", {})),
                ("ivr_journey", (at, call, "main", "menu", "ended", {"entry_flow": "main", "started_at": at - 20,
                                                                    "duration": 20.0,
                                                                    "exit_reason": "transferred_to_agent"}))]
    return out


def report(conn: sqlite3.Connection, kind: Kind, period: Period, zone: ZoneInfo, start: float, end: float,
           *, half_hours: bool = False) -> list[dict[str, Any]]:
    query = ReportQuery(kind=kind, period=period, start=start, end=end)
    if not half_hours:
        return definitions.run(conn, query, zone, ReportPolicy(), GROUPS)
    stored = days.zone_of(conn)
    conn.execute("UPDATE report_day_zone SET zone = 'none'")  # the daily tables out of use: half-hours only
    try:
        return definitions.run(conn, query, zone, ReportPolicy(), GROUPS)
    finally:
        conn.execute("UPDATE report_day_zone SET zone = ?", (stored,))


def test_daily_tables_agree_with_the_half_hours(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite3"
    RecordStore.open(path).close()
    store = RecordStore.open_writer(path)
    install(store.conn)
    zone = [NEW_YORK]
    store.after_batch = Rollup(ReportPolicy, lambda: zone[0])
    first = datetime(2024, 10, 30, tzinfo=NEW_YORK).timestamp()
    for n in range(8):  # 2024-10-30 .. 11-06: the clocks go back on 11-03
        store.write_batch(batch(first + n * 86400 + (3600 if n >= 4 else 0), n))
    conn = sqlite3.connect(path, isolation_level=None)
    end = datetime(2024, 11, 7, tzinfo=NEW_YORK).timestamp()
    assert days.zone_of(conn) == "America/New_York"
    assert conn.execute("SELECT count(*) FROM report_agent_state_day").fetchone()[0] > 0
    checked = 0
    for kind in (Kind.QUEUES, Kind.AGENT_CALLS, Kind.GROUPS, Kind.AGENT_STATES, Kind.IVR):
        for period in (Period.DAY, Period.WEEK, Period.MONTH):
            daily = report(conn, kind, period, NEW_YORK, first, end)
            assert daily == report(conn, kind, period, NEW_YORK, first, end, half_hours=True), (kind, period)
            checked += len(daily)
    assert checked > 50
    nov3 = [r for r in report(conn, Kind.QUEUES, Period.DAY, NEW_YORK, first, end)
            if r["period_label"].startswith("2024-11-03")]
    assert len(nov3) == 2 and sum(r["queued"] for r in nov3) == 12  # the 25-hour day, whole

    zone[0] = SHANGHAI  # the box moves: the next batch cuts the days again in the new zone
    store.write_batch(batch(first + 8 * 86400 + 3600, 8))
    assert days.zone_of(conn) == "Asia/Shanghai"
    start_sh = datetime(2024, 10, 31, tzinfo=SHANGHAI).timestamp()
    end_sh = datetime(2024, 11, 9, tzinfo=SHANGHAI).timestamp()
    for kind in (Kind.AGENT_CALLS, Kind.AGENT_STATES, Kind.QUEUES):
        for period in (Period.DAY, Period.MONTH):
            daily = report(conn, kind, period, SHANGHAI, start_sh, end_sh)
            assert daily and daily == report(conn, kind, period, SHANGHAI, start_sh, end_sh, half_hours=True)
    conn.close()
    store.close()
