"""The Customers pages in Chromium against `appliance run`: a customer created through the form (a bad number
named beside its control first), found by a number's start, a service record added on its page; an import with
a bad row lists that row and column and takes the others; the export downloads as CSV with a BOM; the list
speaks English too; no CSP violation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, playwright_browser, sign_in, web_box

pytestmark = [pytest.mark.slow, pytest.mark.interop]
__all__ = ["playwright_browser", "web_box"]  # the browser tests' fixtures, used here


def test_customers_pages(web_box: RunningAppliance, playwright_browser: object) -> None:
    b = open_page(playwright_browser, base_of(web_box), language="zh-CN")
    sign_in(b, "admin", ADMIN_PASSWORD)
    page: Any = b.page
    page.goto("/customers")
    expect(page.locator("h1")).to_have_text("客户")
    expect(page.locator("nav a[href='/customers']")).to_be_visible()  # in the menu
    page.click("a[href='/customers/new']")
    page.fill("#f-name", "王小明")
    page.fill("#f-numbers", "138 0013 8000\n12")
    page.fill("#f-account_manager", "1001")
    page.check("#f-vip")
    page.click("#customer-form button[type=submit]")
    error = page.locator("[data-field='numbers'] .error")
    expect(error).to_contain_text("电话号码")  # numbers.1, shown beside the control, in Chinese
    b.shot("customer-new-bad-number")
    page.fill("#f-numbers", "138 0013 8000\n010-8888-6666")
    page.click("#customer-form button[type=submit]")
    page.wait_for_url("**/customers")
    page.fill("#q", "0108")
    page.press("#q", "Enter")
    rows = page.locator("#customers tbody tr[data-customer]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("13800138000")
    b.shot("customers-search")
    status, pop = web_box.api("GET", "/api/v1/customers/lookup?number=%2B8613800138000")
    assert status == 200 and pop["customer"]["vip"] is True and pop["customer"]["account_manager"] == "1001"
    rows.first.locator("a").click()
    page.wait_for_url(f"**/customers/{pop['customer']['id']}")
    page.fill("#r-type", "咨询")
    page.fill("#r-content", "询问套餐资费")
    page.fill("#r-follow-up", "2026-12-20")
    page.click("#record-form button[type=submit]")
    expect(page.locator("#service-records tbody")).to_contain_text("询问套餐资费")
    expect(page.locator("#service-records tbody")).to_contain_text("2026-12-20")
    b.shot("customer-with-service-record")

    page.goto("/customers/import")
    csv_text = "姓名,号码,VIP\n李雷,13900139000,是\n韩梅梅,13800138000,否\n"  # row 3: 王小明's number
    page.set_input_files("#f-file", files=[{"name": "c.csv", "mimeType": "text/csv",
                                             "buffer": csv_text.encode("utf-8-sig")}])
    page.click("button[value=import]")
    errors = page.locator("#bulk-errors")
    expect(errors).to_be_visible()
    expect(errors.locator("tbody tr")).to_have_count(1)
    expect(errors.locator("tbody th")).to_have_text("3")
    expect(errors.locator("tbody td").first).to_have_text("numbers")
    expect(page.locator("#bulk-summary")).to_contain_text("新建 1")
    b.shot("customers-import-bad-row")
    assert web_box.api("GET", "/api/v1/customers/lookup?number=13900139000")[1]["customer"]["name"] == "李雷"

    page.goto("/customers")
    with page.expect_download() as info:
        page.click("a[href^='/api/v1/customers/export?format=csv']")
    data = open(info.value.path(), "rb").read()  # noqa: SIM115
    assert data.startswith(b"\xef\xbb\xbf") and "王小明" in data.decode("utf-8-sig")
    page.goto("/lang?language=en&next=/customers")
    expect(page.locator("h1")).to_have_text("Customers")
    expect(page.locator("#customers tbody tr[data-customer]")).to_have_count(2)
    b.shot("customers-list-en")
    assert b.csp_errors() == []
