"""Exports of reports and call records: the agent report as .xlsx read back with openpyxl (header, frozen top
row, numbers as numbers, durations as time values, each cell equal to the report the API returns), CSV with the
byte-order mark and the agents' Chinese names, a long export as a job with progress, the viewer's scope, and
bad parameters answered 400 naming the field."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl

from appliance.records.sqlite_store import RecordStore
from appliance.reports.models import ReportPolicy
from appliance.reports.rollups import Rollup, install
from tests.api_client import Client
from tests.calls.test_http import login_as

ZONE = ZoneInfo("Asia/Shanghai")
DAY = datetime(2024, 3, 11, tzinfo=ZONE).timestamp()
T = DAY + 9 * 3600  # 09:00 local


def _cdr(call_id: str, started: float, agent: str, talk: float, hold: float, caller: str) -> dict[str, Any]:
    return {"call_id": call_id, "direction": "inbound", "caller": caller, "callee": "4008001000", "did": "4008001000",
            "started": started, "ended": started + 8 + talk + hold, "duration": 8 + talk + hold, "queue": "sales",
            "wait": 8.0, "agent": agent, "talk": talk, "hold": hold, "disposition": "answered", "missed": [],
            "hangup_side": "caller", "ivr_path": [], "recording": f"recordings/20240311/{call_id}.wav"}


def write_day(path: Any) -> None:
    """Two answered calls and an abandoned one, written as the journal's writer writes them (roll-ups too)."""
    store = RecordStore.open_writer(path)
    install(store.conn)
    store.after_batch = Rollup(lambda: ReportPolicy())
    entries: list[tuple[str, Any]] = []
    for call_id, at, agent, talk, hold in (("c1", T, "1001", 125.5, 0.0), ("c2", T + 600, "1002", 60.0, 4.0)):
        entries += [("queue_log", (at, call_id, "sales", "queued", None, {})),
                    ("queue_log", (at + 5, call_id, "sales", "offered", agent, {})),
                    ("queue_log", (at + 8, call_id, "sales", "answered", agent, {"wait": 8.0})),
                    ("queue_log", (at + 8 + talk + hold, call_id, "sales", "complete_caller", agent,
                                   {"talk": talk, "hold": hold, "answered": at + 8}))]
    entries += [("queue_log", (T + 900, "c3", "sales", "queued", None, {})),
                ("queue_log", (T + 930, "c3", "sales", "abandoned", None, {"wait": 30.0}))]
    entries += [("cdr", _cdr("c1", T, "1001", 125.5, 0.0, "13800000001")),
                ("cdr", _cdr("c2", T + 600, "1002", 60.0, 4.0, "=1+1")),
                ("cdr", {**_cdr("c3", T + 900, "", 0.0, 0.0, "13800000003"), "talk": None,
                         "disposition": "abandoned", "missed": ["queue_abandoned"]})]
    try:
        store.write_batch(entries)
    finally:
        store.close()


async def prepared(admin: Client) -> None:
    status, _ = await admin.call("PATCH", "/api/v1/settings", {"time_zone": "Asia/Shanghai"})
    assert status == 200
    await asyncio.to_thread(write_day, admin.appliance.core.records.path)


def period() -> str:
    return f"from={int(DAY)}&to={int(DAY + 86400)}&period=day"


async def test_agent_report_as_xlsx_and_csv(admin: Client) -> None:
    await prepared(admin)
    status, report = await admin.call("GET", f"/api/v1/reports/agent-calls?{period()}")
    assert status == 200 and [r["agent"] for r in report["rows"]] == ["1001", "1002"]

    response = await admin.fetch(f"/api/v1/reports/agent-calls/export?format=xlsx&{period()}")
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "agent-calls-20240311-0000-20240312-0000.xlsx" in response.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(response.body))
    ws = wb.active
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[:4] == ["时段", "工号", "姓名", "振铃次数"]  # the box's language (no account or browser choice)
    assert all(c.font.bold for c in ws[1])
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in ws.iter_rows(min_row=2)]
    cells = {row[1].value: row for row in ws.iter_rows(min_row=2)}
    assert [r["工号"] for r in rows] == ["1001", "1002"] and [r["姓名"] for r in rows] == ["张伟", "王芳"]
    for got, want in zip(rows, report["rows"], strict=True):
        assert got["时段"] == datetime(2024, 3, 11)  # the local period start, as a date-time value
        assert got["振铃次数"] == want["offered"] == 1 and isinstance(got["振铃次数"], int)
        assert got["接听次数"] == want["answered"] and got["完成通话数"] == want["completed"]
        assert got["总通话时长"] == timedelta(seconds=want["talk_total"])
        assert got["总保持时长"] == timedelta(seconds=want["hold_total"])
        assert got["接通率"] == want["answer_rate"] == 1.0
    assert rows[0]["总通话时长"] == timedelta(seconds=125.5) and rows[1]["总保持时长"] == timedelta(seconds=4)
    talk = cells["1001"][header.index("总通话时长")]
    assert talk.number_format == "[h]:mm:ss" and talk.is_date  # stored as a number of days, shown as a time
    assert cells["1001"][header.index("接通率")].number_format == "0.00%"

    english = await admin.fetch(f"/api/v1/reports/agent-calls/export?format=xlsx&lang=en&{period()}")
    header_en = [c.value for c in openpyxl.load_workbook(io.BytesIO(english.body)).active[1]]
    assert header_en[:4] == ["Period", "Agent", "Name", "Offered"]

    response = await admin.fetch(f"/api/v1/reports/agent-calls/export?format=csv&{period()}")
    assert response.status == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"))))
    assert table[0][:3] == ["时段", "工号", "姓名"]
    assert [r[1:3] for r in table[1:]] == [["1001", "张伟"], ["1002", "王芳"]]
    assert table[1][table[0].index("总通话时长")] == "0:02:06" and table[1][0] == "2024-03-11 00:00:00"


async def test_call_records_export_job_scope_and_bad_parameters(admin: Client) -> None:
    await prepared(admin)
    window = f"since={int(DAY)}&until={int(DAY + 86400)}"
    response = await admin.fetch(f"/api/v1/cdr/export?format=csv&lang=en&{window}")
    assert response.status == 200 and response.body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"))))
    ids = table[0].index("Call ID")
    assert [r[ids] for r in table[1:]] == ["c3", "c2", "c1"]  # newest first, as the list
    assert [r[table[0].index("Name")] for r in table[1:]] == ["", "王芳", "张伟"]
    assert table[2][table[0].index("Caller")] == "'=1+1"  # never a formula

    status, job = await admin.call("POST", "/api/v1/exports", {"source": "cdr", "format": "xlsx",
                                                                "params": {"since": DAY, "until": DAY + 86400}})
    assert status == 202 and job["state"] == "running", job
    for _ in range(200):
        status, job = await admin.call("GET", f"/api/v1/exports/{job['id']}")
        if job["state"] != "running":
            break
        await asyncio.sleep(0.05)
    assert status == 200 and job["state"] == "done" and job["rows_done"] == 3 and job["progress"] == 1.0, job
    response = await admin.fetch(f"/api/v1/exports/{job['id']}/file")
    assert response.status == 200
    ws = openpyxl.load_workbook(io.BytesIO(response.body)).active
    header = [c.value for c in ws[1]]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert [r[header.index("呼叫标识")] for r in rows] == ["c3", "c2", "c1"]
    formula = ws.cell(row=3, column=header.index("主叫号码") + 1)
    assert formula.value == "=1+1" and formula.data_type == "s"
    assert rows[2][header.index("通话时长")] == timedelta(seconds=125.5)

    agent = await login_as(admin, "agent1001", "agent", staff="1001")
    status, _ = await admin.call("GET", f"/api/v1/exports/{job['id']}", token=agent)
    assert status == 404  # someone else's job
    status, mine = await admin.call("POST", "/api/v1/exports", {"source": "cdr", "format": "csv"}, token=agent)
    assert status == 202
    for _ in range(200):
        status, mine = await admin.call("GET", f"/api/v1/exports/{mine['id']}", token=agent)
        if mine["state"] != "running":
            break
        await asyncio.sleep(0.05)
    response = await admin.fetch(f"/api/v1/exports/{mine['id']}/file", {"Authorization": f"Bearer {agent}"})
    assert response.status == 200
    table = list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"))))
    assert [r[table[0].index("工号")] for r in table[1:]] == ["1001"]  # an agent's own calls only
    status, _ = await admin.call("GET", f"/api/v1/reports/queues/export?{period()}", token=agent)
    assert status == 403

    bad = {f"/api/v1/reports/agent-calls/export?format=pdf&{period()}": "format",
           "/api/v1/reports/agent-calls/export?format=csv&to=1800": "from",
           f"/api/v1/reports/agent-calls/export?lang=fr&{period()}": "lang",
           "/api/v1/cdr/export?format=xlsx&since=yesterday": "since",
           "/api/v1/cdr/export?direction=sideways": "direction"}
    for path, field in bad.items():
        status, data = await admin.call("GET", path)
        assert status == 400 and [f["field"] for f in data["details"]["fields"]] == [field], (path, data)
    for body, field in (({"source": "everything"}, "source"), ({"source": "cdr", "format": "pdf"}, "format"),
                        ({"source": "queues", "params": {"from": "soon", "to": "1800"}}, "params.from"),
                        ({"source": "cdr", "params": ["x"]}, "params")):
        status, data = await admin.call("POST", "/api/v1/exports", body)
        assert status == 400 and [f["field"] for f in data["details"]["fields"]] == [field], (body, data)
    status, doc = await admin.call("GET", "/api/v1/openapi.json")
    assert {"/api/v1/reports/{kind}/export", "/api/v1/cdr/export", "/api/v1/exports", "/api/v1/exports/{job_id}",
            "/api/v1/exports/{job_id}/file"} <= set(doc["paths"])


async def test_scheduled_report_saved_and_listed(admin: Client) -> None:
    from appliance.reports.schedules import ReportSchedules, Schedule, stored

    await prepared(admin)
    status, data = await admin.call("PUT", "/api/v1/reports/schedules", {"items": [
        {"name": "daily-agents", "kind": "agent-calls", "every": "fortnightly"}]})
    assert status == 422 and [f["field"] for f in data["details"]["fields"]] == ["report_schedules.0.every"]
    status, data = await admin.call("PUT", "/api/v1/reports/schedules", {"items": [
        {"name": "daily-agents", "kind": "agent-calls", "every": "daily", "format": "csv", "at": "01:30"}]})
    assert status == 200 and data["items"][0]["period"] == "hour", data
    status, data = await admin.call("GET", "/api/v1/reports/schedules")
    assert status == 200 and [s["name"] for s in data["items"]] == ["daily-agents"]

    schedules = next(s for s in admin.appliance.services if isinstance(s, ReportSchedules))
    (daily,) = stored(admin.appliance.core.store.settings)
    morning = datetime(2024, 3, 12, 1, 30, tzinfo=ZONE)  # the run the morning after the day of the calls
    path = await asyncio.to_thread(schedules.run_sync, daily, morning)
    assert path.name == "daily-agents-20240311-20240312.csv"
    status, files = await admin.call("GET", "/api/v1/reports/files")
    assert status == 200 and [(f["schedule"], f["file"]) for f in files["items"]] == [("daily-agents", path.name)]
    response = await admin.fetch(f"/api/v1/reports/files/daily-agents/{path.name}")
    assert response.status == 200 and response.body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"))))
    assert [(r[0], r[1], r[2]) for r in table[1:]] == [("2024-03-11 09:00:00", "1001", "张伟"),
                                                      ("2024-03-11 09:00:00", "1002", "王芳")]  # by hour
    status, _ = await admin.call("GET", "/api/v1/reports/files/daily-agents/..%2Fconfig.json")
    assert status == 404
    agent = await login_as(admin, "agent1001", "agent", staff="1001")
    status, _ = await admin.call("GET", "/api/v1/reports/files", token=agent)
    assert status == 403  # a scheduled report sees every agent

    weekly = Schedule(name="w", kind=daily.kind, every="weekly", period=daily.period)
    monthly = Schedule(name="m", kind=daily.kind, every="monthly", period=daily.period)
    wednesday = datetime(2024, 3, 13, 2, 0, tzinfo=ZONE)
    assert weekly.window(wednesday) == (int(datetime(2024, 3, 4, tzinfo=ZONE).timestamp()),
                                        int(datetime(2024, 3, 11, tzinfo=ZONE).timestamp()))
    assert monthly.window(wednesday) == (int(datetime(2024, 2, 1, tzinfo=ZONE).timestamp()),
                                         int(datetime(2024, 3, 1, tzinfo=ZONE).timestamp()))
