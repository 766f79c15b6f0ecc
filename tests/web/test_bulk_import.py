"""Bulk import in Chromium: a staff CSV with one bad row is refused naming the row, nothing imported; a good
file is checked (dry run), imported, and its staff appear in the list; the exports download."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance
from tests.web.conftest import ADMIN_PASSWORD, Browser, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]

HEADER = "employee_no,name,role,work_group,skills,level\n"


def _csv(text: str, name: str = "staff.csv") -> dict[str, object]:
    return {"name": name, "mimeType": "text/csv", "buffer": text.encode("utf-8")}


def _admin(web_box: RunningAppliance, browser: object, language: str = "zh-CN") -> Browser:
    b = open_page(browser, base_of(web_box), language=language)
    sign_in(b, "admin", ADMIN_PASSWORD)
    return b


def test_a_staff_csv_with_a_bad_row_is_refused_then_a_good_one_imports(web_box: RunningAppliance,
                                                                       playwright_browser: object) -> None:
    assert web_box.api("POST", "/api/v1/work_groups", {"id": "import-team", "name": "Import team"})[0] == 201
    b = _admin(web_box, playwright_browser)
    page = b.page
    page.goto("/admin/staff")
    b.shot("staff-list-bulk-buttons")
    page.click("a[href='/admin/staff/import']")
    page.wait_for_url("**/admin/staff/import")
    expect(page.locator("h1")).to_contain_text("员工")
    bad = HEADER + "8801,批量一,agent,import-team,,3\n8802,批量二,agent,import-team,,42\n"  # row 3: level 42
    page.set_input_files("#f-file", files=[_csv(bad)])
    page.click("button[value=import]")
    errors = page.locator("#bulk-errors")
    expect(errors).to_be_visible()
    expect(errors.locator("tbody tr")).to_have_count(1)
    expect(errors.locator("tbody tr th")).to_have_text("3")
    expect(errors.locator("tbody tr td").first).to_have_text("level")
    expect(page.locator(".form-error")).to_contain_text("3")  # the summary names the row too, in Chinese
    expect(page.locator(".form-error")).to_contain_text("未导入")
    b.shot("staff-import-refused")
    assert web_box.api("GET", "/api/v1/staff/8801")[0] == 404  # not even the good row
    good = bad.replace(",42\n", ",4\n")
    page.set_input_files("#f-file", files=[_csv(good)])
    page.click("button[value=check]")
    expect(page.locator("#bulk-summary")).to_contain_text("2")
    expect(errors).to_be_hidden()
    assert web_box.api("GET", "/api/v1/staff/8801")[0] == 404  # a check changes nothing
    b.shot("staff-import-checked")
    page.click("button[value=import]")
    expect(page.locator("#bulk-done")).to_be_visible()
    b.shot("staff-import-done")
    page.click("#bulk-done a")
    page.wait_for_url("**/admin/staff")
    page.fill("#q", "批量")
    expect(page.locator("#rows tbody tr")).to_have_count(2)
    expect(page.locator("#rows")).to_contain_text("批量二")
    status, member = web_box.api("GET", "/api/v1/staff/8802")
    assert status == 200 and member["level"] == 4 and member["work_group"] == "import-team"
    assert b.csp_errors() == []


def test_the_exports_download_and_the_page_speaks_english(web_box: RunningAppliance,
                                                         playwright_browser: object) -> None:
    b = _admin(web_box, playwright_browser)
    page = b.page
    page.goto("/lang?language=en&next=/admin/vip_list")
    expect(page.locator("h1")).to_have_text("VIP list")
    with page.expect_download() as info:
        page.click("text=Export CSV")
    csv_text = open(info.value.path(), encoding="utf-8-sig").read()  # noqa: SIM115
    assert csv_text.splitlines()[0] == "number,name,queues,note"
    with page.expect_download() as info:
        page.click("text=Export Excel")
    assert open(info.value.path(), "rb").read(4) == b"PK\x03\x04"  # noqa: SIM115
    page.goto("/admin/vip_list/import")
    page.set_input_files("#f-file", files=[_csv("number,colour\n123,red\n", "vip.csv")])
    page.click("button[value=check]")
    expect(page.locator("#bulk-errors tbody tr th").first).to_have_text("1")
    expect(page.locator("#bulk-errors")).to_contain_text("unknown column 'colour'")
    b.shot("vip-import-bad-columns-en")
    assert b.csp_errors() == []
