"""Reports → Exports and scheduled reports (`/reports/exports`) in Chromium against `appliance run`.

The box's records are the known day of `tests/reports/day.py` (as in test_report_pages.py). An admin starts a
background export of the agent report as .xlsx from the page, sees its progress reach done, downloads it by the
page's link and opens it with openpyxl: the header is the API's columns and the rows are the API's report for the
same query. Then a daily schedule is added and saved from the page (the API then holds it), run now, and its file
is listed (newest first) and downloaded by its link.
"""

from __future__ import annotations

import csv
import io
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from playwright.sync_api import expect

from appliance.reports.models import ReportPolicy
from tests.e2e.harness import RunningAppliance, start_appliance
from tests.reports.day import run_day
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, sign_in
from tests.web.test_report_pages import ZONE, api_report, today_range

pytestmark = [pytest.mark.slow, pytest.mark.interop]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    work = tmp_path_factory.mktemp("exports")
    app = start_appliance(work)
    try:
        assert app.api("PATCH", "/api/v1/settings", {"time_zone": ZONE})[0] == 200
        status, policy = app.api("GET", "/api/v1/reports/settings")
        assert status == 200, policy
        today = datetime.now(ZoneInfo(ZONE)).date()
        start = datetime(today.year, today.month, today.day, 0, 20, tzinfo=ZoneInfo(ZONE)).timestamp()
        with ThreadPoolExecutor(1) as pool:  # its own event loop, beside Playwright's
            pool.submit(run_day, work / "harness", app.data / "records.sqlite3", start, ReportPolicy.parse(policy),
                        special_workday=today.isoformat()).result()
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def test_background_export_and_scheduled_reports(box: RunningAppliance, playwright_browser: object) -> None:
    b = open_page(playwright_browser, base_of(box), language="en")
    sign_in(b, "admin", ADMIN_PASSWORD)
    page = b.page
    page.goto("/lang?language=en&next=/reports/exports")  # type: ignore[attr-defined]
    expect(page.locator("h1")).to_have_text("Exports and scheduled reports")  # type: ignore[attr-defined]
    assert "/reports/exports" in page.locator("nav.side").inner_text() or page.locator(  # type: ignore[attr-defined]
        "nav.side a[href='/reports/exports']").count() == 1

    # 1. a background export of the agent report, by keyboard where a manager would tab through
    first, end = today_range()
    page.select_option("#ex-source", "agent-calls")  # type: ignore[attr-defined]
    page.fill("#ex-from", f"{first}T00:00")  # type: ignore[attr-defined]
    page.fill("#ex-to", f"{end}T00:00")  # type: ignore[attr-defined]
    page.select_option("#ex-period", "hour")  # type: ignore[attr-defined]
    page.select_option("#ex-format", "xlsx")  # type: ignore[attr-defined]
    page.focus("#ex-start")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    expect(page.locator("#ex-state")).to_have_attribute("data-state", "done", timeout=60_000)  # type: ignore[attr-defined]
    want = api_report(b, "agent-calls", urllib.parse.urlencode({"from": first, "to": end, "period": "hour"}))["rows"]
    assert len(want) > 3
    rows_text = page.locator("#ex-rows").inner_text()  # type: ignore[attr-defined]
    assert f"{len(want)} of {len(want)} rows" == rows_text, rows_text
    assert page.locator("#ex-progress").evaluate("p => p.value") == 1  # type: ignore[attr-defined]
    expect(page.locator("#ex-error")).to_be_hidden()  # type: ignore[attr-defined]
    b.shot("en-reports-exports-done")
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("#ex-download")  # type: ignore[attr-defined]
    assert download.value.suggested_filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    direct = page.request.get(  # type: ignore[attr-defined]
        f"/api/v1/reports/agent-calls/export?{urllib.parse.urlencode({'from': first, 'to': end, 'period': 'hour'})}")
    assert direct.status == 200
    same = openpyxl.load_workbook(io.BytesIO(direct.body())).active
    header = [c.value for c in sheet[1]]
    assert header == [c.value for c in same[1]] and "Answered" in header, header
    got = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(got) == len(want)
    at = {name: i for i, name in enumerate(header)}
    assert [r[at["Answered"]] for r in got] == [r["answered"] for r in want]
    assert [r[at["Agent"]] for r in got] == [r["agent"] for r in want]

    # the call records of the same day as CSV: the page turns the box's local times into the API's epoch range
    page.select_option("#ex-source", "cdr")  # type: ignore[attr-defined]
    expect(page.locator("#ex-period-field")).to_be_hidden()  # type: ignore[attr-defined]  # no period for a list
    page.select_option("#ex-format", "csv")  # type: ignore[attr-defined]
    page.click("#ex-start")  # type: ignore[attr-defined]
    expect(page.locator("#ex-name")).to_contain_text("call-records-")  # type: ignore[attr-defined]
    expect(page.locator("#ex-state")).to_have_attribute("data-state", "done", timeout=60_000)  # type: ignore[attr-defined]
    since = datetime.fromisoformat(first).replace(tzinfo=ZoneInfo(ZONE)).timestamp()
    until = datetime.fromisoformat(end).replace(tzinfo=ZoneInfo(ZONE)).timestamp()
    status, cdrs = box.api("GET", f"/api/v1/cdr?since={since:.0f}&until={until:.0f}&limit=1")
    assert status == 200 and cdrs["total"] > 3, cdrs
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("#ex-download")  # type: ignore[attr-defined]
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and download.value.suggested_filename.endswith(".csv")
    assert len(list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))) == cdrs["total"] + 1  # the header and each call

    # a bad range is said in words, and nothing starts
    page.fill("#ex-to", f"{first}T00:00")  # type: ignore[attr-defined]
    page.click("#ex-start")  # type: ignore[attr-defined]
    expect(page.locator("#ex-error")).to_be_visible()  # type: ignore[attr-defined]
    assert "end must be after the start" in page.locator("#ex-error").inner_text()  # type: ignore[attr-defined]

    # 2. a daily schedule added and saved from the page, run now, its file listed and downloaded
    expect(page.locator("#sc-empty")).to_be_visible()  # type: ignore[attr-defined]
    page.click("#sc-add")  # type: ignore[attr-defined]
    row = page.locator("#sc-table tbody tr").last  # type: ignore[attr-defined]
    page.keyboard.type("daily-agents")  # type: ignore[attr-defined]  # the new row's name has the focus
    row.locator("select[name=kind]").select_option("agent-calls")
    row.locator("select[name=every]").select_option("daily")
    row.locator("select[name=format]").select_option("xlsx")
    row.locator("input[name=at]").fill("02:30")
    page.click("#sc-save")  # type: ignore[attr-defined]
    expect(page.locator("#sc-status")).to_have_text("Schedules saved.")  # type: ignore[attr-defined]
    status, listing = box.api("GET", "/api/v1/reports/schedules")
    assert status == 200
    [saved] = listing["items"]
    assert {k: saved[k] for k in ("name", "kind", "every", "format", "at")} == {
        "name": "daily-agents", "kind": "agent-calls", "every": "daily", "format": "xlsx", "at": "02:30"}
    assert saved["next_run"] and "02:30" in saved["next_run"]
    expect(page.locator("#sc-table tbody tr td").nth(6)).not_to_be_empty()  # type: ignore[attr-defined]  # next run
    page.click("#sc-table button[data-run='daily-agents']")  # type: ignore[attr-defined]
    expect(page.locator("#sc-status")).to_contain_text("Made daily-agents-")  # type: ignore[attr-defined]
    status, files = box.api("GET", "/api/v1/reports/files")
    assert status == 200 and files["total"] == 1
    made = files["items"][0]
    link = page.locator("#sc-files tbody tr").first.locator("a.file-link")  # type: ignore[attr-defined]
    expect(link).to_have_text(made["file"])
    b.shot("en-reports-exports-schedule")
    with page.expect_download() as download:  # type: ignore[attr-defined]
        link.click()
    assert download.value.suggested_filename == made["file"]
    book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    zh_header = openpyxl.load_workbook(io.BytesIO(page.request.get(  # type: ignore[attr-defined]
        f"/api/v1/reports/agent-calls/export?{urllib.parse.urlencode({'from': first, 'to': end, 'lang': 'zh_CN'})}"
    ).body())).active[1]
    assert [c.value for c in book[1]] == [c.value for c in zh_header]  # in the box's language

    # a schedule the API refuses is named in words
    page.click("#sc-add")  # type: ignore[attr-defined]
    page.keyboard.type("Bad Name")  # type: ignore[attr-defined]
    page.click("#sc-save")  # type: ignore[attr-defined]
    expect(page.locator("#sc-error")).to_contain_text("report_schedules.1.name")  # type: ignore[attr-defined]
    assert len(box.api("GET", "/api/v1/reports/schedules")[1]["items"]) == 1

    page.goto("/lang?language=zh_CN&next=/reports/exports")  # type: ignore[attr-defined]
    expect(page.locator("h1")).to_have_text("导出与定时报表")  # type: ignore[attr-defined]
    expect(page.locator("#sc-files tbody tr")).to_have_count(1)  # type: ignore[attr-defined]
    b.shot("zh-reports-exports")
    assert b.csp_errors() == []

    # QA reads the schedules and their files but changes nothing; an agent has no such page
    for name, role in (("qa1", "qa"), ("agent1001", "agent")):
        extra = {"staff": "1001"} if role == "agent" else {}
        status, made_user = box.api("POST", "/api/v1/users", {"name": name, "role": role, "password": f"{name} password 1",
                                                             **extra})
        assert status in (200, 201), made_user
        other = open_page(playwright_browser, base_of(box), language="en")
        sign_in(other, name, f"{name} password 1")
        response = other.page.goto("/reports/exports")  # type: ignore[attr-defined]
        assert response is not None
        if role == "agent":
            assert response.status == 403
            assert other.page.locator("nav.side a[href='/reports/exports']").count() == 0  # type: ignore[attr-defined]
            continue
        assert response.status == 200
        expect(other.page.locator("#sc-files a.file-link")).to_have_text(made["file"])  # type: ignore[attr-defined]
        expect(other.page.locator("#sc-table tbody tr")).to_have_count(1)  # type: ignore[attr-defined]
        assert other.page.locator("#sc-save, #sc-add, #sc-table button").count() == 0  # type: ignore[attr-defined]
        assert other.page.locator("#sc-table input[name=name]").is_disabled()  # type: ignore[attr-defined]
        assert other.csp_errors() == []
