"""The custom customer fields' page (自定义字段) in Chromium: an admin defines a select field with its choices
from the keyboard, a bad name is refused beside its control, a customer is given a choice on their form and is
found by it in the customers' search, deleting the field takes it off the form, and the audit log shows each
change."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def test_an_admin_defines_a_select_field_uses_it_and_deletes_it(web_box: RunningAppliance,
                                                                playwright_browser: object) -> None:
    status, customer = web_box.api("POST", "/api/v1/customers", {"name": "王五", "numbers": ["13800000001"]})
    assert status == 201, customer
    web_box.api("POST", "/api/v1/customers", {"name": "赵六", "numbers": ["13800000002"]})
    b = open_page(playwright_browser, base_of(web_box), language="en")
    sign_in(b, "admin", ADMIN_PASSWORD)
    page = b.page
    page.goto("/lang?language=en&next=/customers")
    page.get_by_role("link", name="Custom fields").click()
    expect(page.locator("#customer-fields")).to_contain_text("No custom fields yet.")
    page.get_by_role("link", name="New field").click()

    page.fill("#f-name", "Grade!")  # not a field name: refused by the API, shown beside the control
    page.fill("#f-label", "Grade")
    page.keyboard.press("Enter")

    expect(page.locator("[data-field=name] .error")).not_to_be_empty()

    page.fill("#f-name", "grade")
    page.fill("#f-label_zh", "等级")
    page.select_option("#f-type", "select")
    page.fill("#f-options", "Gold\nSilver")
    page.check("#f-required")
    page.focus("#f-position")
    page.keyboard.press("Enter")
    page.wait_for_url("**/customers/fields")
    row = page.locator("tr[data-field-name=grade]")
    expect(row).to_contain_text("Select from a list")
    expect(row).to_contain_text("Gold, Silver")
    b.shot("customer-fields-list")
    status, listing = web_box.api("GET", "/api/v1/customer-fields")
    assert status == 200 and listing["items"] == [{"name": "grade", "label": "Grade", "label_zh": "等级",
                                                   "type": "select", "options": ["Gold", "Silver"],
                                                   "required": True, "position": 0}]

    page.goto(f"/customers/{customer['id']}")
    page.select_option("#f-fields-grade", "Silver")
    page.click("#customer-form button[type=submit]")
    page.wait_for_url("**/customers")
    assert web_box.api("GET", f"/api/v1/customers/{customer['id']}")[1]["fields"] == {"grade": "Silver"}

    page.select_option("#f-field", "grade")
    page.fill("#f-value", "Silver")
    page.click("form[role=search] button[type=submit]")
    expect(page.locator("#customers tbody tr")).to_have_count(1)
    expect(page.locator("#customers")).to_contain_text("王五")
    b.shot("customers-by-field")

    page.goto("/customers/fields/grade")
    expect(page.locator("#f-name")).to_be_disabled()  # its customers' values are kept under it
    page.fill("#f-options", "Gold\nSilver\nBronze")
    page.click("#field-form button[type=submit]")
    page.wait_for_url("**/customers/fields")
    expect(page.locator("tr[data-field-name=grade]")).to_contain_text("Gold, Silver, Bronze")
    page.goto("/customers/fields/grade")
    page.click("button[data-delete]")
    page.click("#confirm-ok")
    page.wait_for_url("**/customers/fields")
    expect(page.locator("#customer-fields")).to_contain_text("No custom fields yet.")
    page.goto(f"/customers/{customer['id']}")
    expect(page.locator("#f-fields-grade")).to_have_count(0)
    page.goto("/admin/audit?kind=customer_field")  # who defined, changed and deleted it
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Custom customer field grade")
    b.shot("audit-customer-fields")
    assert b.csp_errors() == []
