"""The report pages (Reports → …) in Chromium against `appliance run`.

The box's records are a known day (`tests/reports/day.py`: answered, held, abandoned, timed-out, overflowed and
transferred calls, pauses, an IVR hang-up) driven through the real call control, ACD, IVR and record journal
in virtual time, written into the running box's record store by the journal's own writer (roll-ups and all);
the day is today, in the box's time zone, so the dashboard shows it too. Each report page shows the figures
the API gives for the same query (every cell of the first page, and the row count), its chart is drawn as
SVG, the period-size switch changes the periods, a column sorts, the export links carry the same query and
give a workbook or a CSV file, and an agent sees only their own figures.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from playwright.sync_api import expect

from appliance.reports.models import Kind, ReportPolicy
from tests.e2e.harness import RunningAppliance, start_appliance
from tests.reports.day import run_day
from tests.web.conftest import ADMIN_PASSWORD, Browser, base_of, open_page, sign_in
from web_ui.pages.report_pages import COLUMNS, flatten

pytestmark = [pytest.mark.slow, pytest.mark.interop]

ZONE = "America/New_York"  # the known day routes to the queues all night on a special working day there
KINDS = ("queues", "agent-calls", "agent-states", "groups", "ivr", "queue-calls", "agent-state-log", "ivr-journeys")
AGENT_PASSWORD = "agent password 1001"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    work = tmp_path_factory.mktemp("reports")
    app = start_appliance(work)
    try:
        assert app.api("PATCH", "/api/v1/settings", {"time_zone": ZONE})[0] == 200
        status, policy = app.api("PATCH", "/api/v1/reports/settings", {
            "short_abandon_s": 5, "queues": {"support": {"target_s": 10, "basis": "answered"}}})
        assert status == 200, policy
        today = datetime.now(ZoneInfo(ZONE)).date()
        start = datetime(today.year, today.month, today.day, 0, 20, tzinfo=ZoneInfo(ZONE)).timestamp()
        with ThreadPoolExecutor(1) as pool:  # its own event loop, beside Playwright's
            pool.submit(run_day, work / "harness", app.data / "records.sqlite3", start, ReportPolicy.parse(policy),
                        special_workday=today.isoformat()).result()
        status, _ = app.api("POST", "/api/v1/users", {"name": "agent1001", "role": "agent", "staff": "1001",
                                                      "password": AGENT_PASSWORD})
        assert status in (200, 201), _
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def today_range() -> tuple[str, str]:
    today = datetime.now(ZoneInfo(ZONE)).date()
    return today.isoformat(), (today + timedelta(days=1)).isoformat()


def api_report(b: Browser, kind: str, query: str) -> dict[str, Any]:
    response = b.page.request.get(f"/api/v1/reports/{kind}?{query}")  # type: ignore[attr-defined]
    assert response.status == 200, response.text()
    return dict(response.json())


def table_values(b: Browser) -> list[dict[str, Any]]:
    """The first page's rows as the page holds them: each cell's figure as the API gave it."""
    script = """() => [...document.querySelectorAll('#report-table tbody tr')]
        .filter(tr => !tr.querySelector('.empty'))
        .map(tr => Object.fromEntries([...tr.children].map(c => [c.dataset.col, JSON.parse(c.dataset.value)])))"""
    return list(b.page.evaluate(script))  # type: ignore[attr-defined]


def same(value: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(value, int | float):
        return abs(value - want) < 1e-6
    return bool(value == want)


def check_page(b: Browser, kind: str, query: str) -> dict[str, Any]:
    """The page shows the API's rows for the same query (count and every cell of page one) and a SVG chart."""
    page = b.page
    response = page.goto(f"/reports/{kind}?{query}")  # type: ignore[attr-defined]
    assert response is not None and response.status == 200, kind
    data = api_report(b, kind, query)
    rows = [flatten(Kind(kind), r) for r in data["rows"]]
    assert rows, f"{kind}: the known day gives no rows"
    shown = table_values(b)
    assert len(shown) == min(50, len(rows)), kind
    for got, want in zip(shown, rows, strict=False):
        for column in COLUMNS[Kind(kind)]:
            assert same(got[column.key], want.get(column.key)), (kind, column.key, got, want)
    count = page.locator("#report-count").inner_text()  # type: ignore[attr-defined]
    assert str(len(rows)) in count, (kind, count)
    expect(page.locator("#report-chart svg").first).to_be_visible()  # type: ignore[attr-defined]
    assert page.locator("#report-chart").get_attribute("data-rendered") == "svg"  # type: ignore[attr-defined]
    assert page.locator("#report-chart svg text").count() > 3  # type: ignore[attr-defined]
    return data


def test_report_pages_show_the_api_figures_with_svg_charts(box: RunningAppliance, playwright_browser: object) -> None:
    b = open_page(playwright_browser, base_of(box), language="en")
    sign_in(b, "admin", ADMIN_PASSWORD)
    b.page.goto("/lang?language=en&next=/reports")  # type: ignore[attr-defined]
    page = b.page
    first, end = today_range()
    query = urllib.parse.urlencode({"from": first, "to": end, "period": "hour"})
    for kind in KINDS:
        data = check_page(b, kind, query)
        b.shot(f"en-reports-{kind}")
        for fmt in ("xlsx", "csv"):  # the export of the very same query
            href = page.locator(f"#export-{fmt}").get_attribute("href")  # type: ignore[attr-defined]
            parts = urllib.parse.urlsplit(href)
            assert parts.path == f"/api/v1/reports/{kind}/export"
            assert dict(urllib.parse.parse_qsl(parts.query)) == {"from": first, "to": end, "period": "hour",
                                                                 "format": fmt}
            exported = page.request.get(href)  # type: ignore[attr-defined]
            assert exported.status == 200, (kind, fmt, exported.text()[:300])
            body = exported.body()
            assert body.startswith(b"PK" if fmt == "xlsx" else b"\xef\xbb\xbf"), (kind, fmt)  # a zip; a BOM
        if kind == "queues":  # the definitions in the header
            definitions = page.locator(".report-definitions").inner_text()  # type: ignore[attr-defined]
            assert ZONE in definitions and "5 s" in definitions and "10 s" in definitions
            assert data["header"]["service_level"]["support"]["basis"] == "answered"
            chart = json.loads(page.locator("#report-chart").get_attribute("data-chart"))  # type: ignore[attr-defined]
            hours = (datetime.fromisoformat(end).replace(tzinfo=ZoneInfo(ZONE)).timestamp()
                     - datetime.fromisoformat(first).replace(tzinfo=ZoneInfo(ZONE)).timestamp()) / 3600
            assert len(chart["x"]) == hours  # every hour of the day (23 or 25 when the clocks change)
            answered = next(s for s in chart["series"] if s["name"] == "Answered")["data"]
            assert sum(answered) == sum(r["answered"] for r in data["rows"])  # the quiet hours are zeros

    # every period size shows what the API gives for it (the API's figures are checked against the raw logs
    # for each period size in tests/reports)
    for period in ("half_hour", "day", "week", "month"):
        for kind in ("queues", "agent-calls", "groups", "ivr"):
            check_page(b, kind, urllib.parse.urlencode({"from": first, "to": end, "period": period}))

    # the period-size switch (by keyboard: focus the control, choose, and the form goes)
    page.goto(f"/reports/queues?{query}")  # type: ignore[attr-defined]
    page.focus("#rf-period")  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.select_option("#rf-period", "day")  # type: ignore[attr-defined]
    assert "period=day" in page.url  # type: ignore[attr-defined]
    day = api_report(b, "queues", urllib.parse.urlencode({"from": first, "to": end, "period": "day"}))
    shown = table_values(b)
    assert [r["queue"] for r in shown] == [r["queue"] for r in day["rows"]] and len({r["period_start"] for r in shown}) == 1
    assert [r["answered"] for r in shown] == [r["answered"] for r in day["rows"]]
    hourly = api_report(b, "queues", query)
    assert len(hourly["rows"]) > len(day["rows"])

    # sorting on a column, by its header link
    page.goto(f"/reports/agent-state-log?{urllib.parse.urlencode({'from': first, 'to': end})}")  # type: ignore[attr-defined]
    page.click("#report-table thead th[data-col=duration] a")  # type: ignore[attr-defined]
    expect(page.locator("#report-table thead th[data-col=duration]")).to_have_attribute("aria-sort", "descending")  # type: ignore[attr-defined]
    lengths = [r["duration"] for r in table_values(b) if r["duration"] is not None]
    assert lengths == sorted(lengths, reverse=True) and len(lengths) > 3
    b.shot("en-reports-agent-state-log-sorted")
    status, listing = box.api("GET", "/api/v1/pause_reasons?limit=100")
    assert status == 200
    pauses = {str(r["code"]): r["name"] for r in listing["items"]}
    paused = page.locator("""#report-table tbody tr:has(td[data-col=state][data-value='"paused"'])""")  # type: ignore[attr-defined]
    assert paused.count() >= 3  # the day's pauses, each shown with its reason's name, not its code
    for i in range(paused.count()):
        row = paused.nth(i)
        code = json.loads(row.locator("td[data-col=reason]").get_attribute("data-value"))
        assert row.locator("td[data-col=reason]").inner_text() == pauses[code]

    # the dashboard: today's figures are the day's sums, with two charts
    page.goto("/reports")  # type: ignore[attr-defined]
    day_rows = day["rows"]
    answered = sum(r["answered"] for r in day_rows)
    expect(page.locator("[data-tile=answered] .tile-value")).to_have_text(str(answered))  # type: ignore[attr-defined]
    expect(page.locator("[data-tile=abandoned] .tile-value")).to_have_text(  # type: ignore[attr-defined]
        str(sum(r["abandoned"] for r in day_rows)))
    assert page.locator("#chart-hours svg").count() == 1 and page.locator("#chart-days svg").count() == 1  # type: ignore[attr-defined]
    b.shot("en-reports-dashboard")
    page.goto("/lang?language=zh_CN&next=/reports")  # type: ignore[attr-defined]
    expect(page.locator("h1")).to_have_text("今日数据")  # type: ignore[attr-defined]
    b.shot("zh-reports-dashboard")
    page.goto(f"/reports/queues?{query}")  # type: ignore[attr-defined]
    b.shot("zh-reports-queues")

    # the agent report's Excel and CSV, downloaded by its buttons as a manager does (in Chinese now)
    page.goto(f"/reports/agent-calls?{query}")  # type: ignore[attr-defined]
    want = api_report(b, "agent-calls", query)["rows"]
    status, staff = box.api("GET", "/api/v1/staff?limit=100")
    assert status == 200
    names = {str(s["employee_no"]): s["name"] for s in staff["items"]}
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("#export-xlsx")  # type: ignore[attr-defined]
    assert download.value.suggested_filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["时段", "工号", "姓名"] and "接听次数" in header and "总通话时长" in header, header
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b  # a frozen, bold header row
    at = {name: i for i, name in enumerate(header)}
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == len(want) > 3
    for got, row in zip(rows, want, strict=True):
        assert got[at["工号"]] == row["agent"] and got[at["姓名"]] == names[row["agent"]]
        assert isinstance(got[at["接听次数"]], int) and got[at["接听次数"]] == row["answered"]  # a number
        talk = got[at["总通话时长"]]  # a time value ([h]:mm:ss), not text
        assert isinstance(talk, timedelta) and abs(talk.total_seconds() - row["talk_total"]) < 1, (talk, row)
        assert isinstance(got[at["时段"]], datetime)
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("#export-csv")  # type: ignore[attr-defined]
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM, so Excel reads it as UTF-8
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:3] == ["时段", "工号", "姓名"] and len(table) == len(want) + 1
    assert {r[2] for r in table[1:]} == {names[r["agent"]] for r in want}  # the Chinese names, intact
    assert b.csp_errors() == []


def test_an_agent_sees_only_their_own_figures(box: RunningAppliance, playwright_browser: object) -> None:
    b = open_page(playwright_browser, base_of(box), language="en")
    sign_in(b, "agent1001", AGENT_PASSWORD)
    page = b.page
    page.goto("/lang?language=en&next=/reports")  # type: ignore[attr-defined]
    first, end = today_range()
    query = urllib.parse.urlencode({"from": first, "to": end, "period": "hour"})
    for kind in ("agent-calls", "agent-states", "agent-state-log"):
        check_page(b, kind, query)
        assert {r["agent"] for r in table_values(b)} == {"1001"}, kind
        options = page.locator("#rf-agent option").all_inner_texts()  # type: ignore[attr-defined]
        assert len(options) == 2 and "1001" in options[1]  # "All" and themself
    b.shot("en-reports-agent-own-calls")
    menu = page.locator("nav.side").inner_text()  # type: ignore[attr-defined]
    assert "Queue statistics" not in menu and "Agent call statistics" in menu
    for kind in ("queues", "groups", "ivr", "queue-calls", "ivr-journeys"):
        response = page.goto(f"/reports/{kind}?{query}")  # type: ignore[attr-defined]
        assert response is not None and response.status == 403, kind
    response = page.goto(f"/reports/agent-calls?{query}&agent=1002")  # type: ignore[attr-defined]
    assert response is not None and response.status == 403
    page.goto("/reports")  # type: ignore[attr-defined]
    mine = api_report(b, "agent-calls", urllib.parse.urlencode({"from": first, "to": end, "period": "day"}))
    expect(page.locator("[data-tile=answered] .tile-value")).to_have_text(  # type: ignore[attr-defined]
        str(sum(r["answered"] for r in mine["rows"])))
    assert json.dumps(mine["rows"]).count('"agent": "1002"') == 0
    b.shot("en-reports-agent-dashboard")
