"""A state change whose duration is absurd (the box booted with its clock in 1970 and NTP set it while an agent
was logged in) is spread over at most STATE_SPAN_MAX of half-hours, not over every half-hour since 1970."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.records.sqlite_store import RecordStore
from appliance.reports.models import ReportPolicy
from appliance.reports.rollups import SLOT, STATE_SPAN_MAX, Rollup, install


def test_a_state_time_from_a_clock_jump_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite3"
    RecordStore.open(path).close()
    store = RecordStore.open_writer(path)
    install(store.conn)
    store.after_batch = Rollup(ReportPolicy)
    at = 1_796_621_400.0  # on a half-hour
    store.write_batch([("agent_log", (at, "1001", "idle", "on_call", "", {"duration": at})),  # "idle since 1970"
                       ("agent_log", (at + 60, "1001", "on_call", "wrap_up", "", {"duration": 60.0}))])
    store.close()
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT state, count(*), sum(seconds), min(slot) FROM report_agent_state_hh "
                        "GROUP BY state ORDER BY state").fetchall()
    assert rows == [("idle", STATE_SPAN_MAX // SLOT, float(STATE_SPAN_MAX), at - STATE_SPAN_MAX),
                    ("on_call", 1, 60.0, at)]
