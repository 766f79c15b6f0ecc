"""The admin console in Chromium: forms with field errors, lists, languages, roles and data scope, CSRF,
cookie flags, the CSP, and the sign-in lockout."""

from __future__ import annotations

import http.client
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance
from tests.web.conftest import ADMIN_PASSWORD, Browser, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def _admin(web_box: RunningAppliance, browser: object, language: str = "zh-CN") -> Browser:
    b = open_page(browser, base_of(web_box), language=language)
    sign_in(b, "admin", ADMIN_PASSWORD)
    return b


def test_a_queue_with_a_bad_value_shows_the_field_error_then_saves(web_box: RunningAppliance,
                                                                  playwright_browser: object) -> None:
    b = _admin(web_box, playwright_browser)
    page = b.page
    page.goto("/admin/queues")
    b.shot("queues-list")
    page.click("text=新建队列")
    page.wait_for_url("**/admin/queues/new")
    page.fill("#f-id", "billing")
    page.fill("#f-name", "账单查询")
    page.fill("#f-ring_timeout_s", "2")  # the API allows 5 to 300
    page.click("form.entity button[type=submit]")
    error = page.locator("#f-ring_timeout_s-error")
    expect(error).not_to_be_empty()
    expect(page.locator("#f-ring_timeout_s")).to_have_attribute("aria-invalid", "true")
    b.shot("queue-form-error")
    assert web_box.api("GET", "/api/v1/queues/billing")[0] == 404  # nothing was saved
    page.fill("#f-ring_timeout_s", "20")
    page.select_option("#f-strategy", "round_robin")
    page.click("form.entity button[type=submit]")
    page.wait_for_url("**/admin/queues")
    expect(page.locator("#rows")).to_contain_text("账单查询")
    status, queue = web_box.api("GET", "/api/v1/queues/billing")
    assert status == 200 and queue["ring_timeout_s"] == 20 and queue["strategy"] == "round_robin"
    # search narrows the list without a reload; sorting by name works from the header
    page.fill("#q", "账单")
    expect(page.locator("#rows tbody tr")).to_have_count(1)
    b.shot("queues-search")
    assert b.csp_errors() == []


def test_deleting_something_in_use_is_refused_naming_the_user(web_box: RunningAppliance,
                                                              playwright_browser: object) -> None:
    assert web_box.api("POST", "/api/v1/skills", {"id": "french", "name": "French"})[0] == 201
    assert web_box.api("POST", "/api/v1/queues", {"id": "fr", "name": "French line",
                                                  "required_skill": "french"})[0] == 201
    b = _admin(web_box, playwright_browser)
    page = b.page
    page.goto("/admin/skills/item/french")
    page.click("[data-delete]")
    expect(page.locator("#confirm-text")).to_have_text("删除 french?此操作无法撤销。")
    page.click("#confirm-ok")
    expect(page.locator("#action-error")).to_contain_text("fr")
    b.shot("delete-refused")
    assert web_box.api("GET", "/api/v1/skills/french")[0] == 200


def test_the_language_switch_changes_the_same_page_and_is_remembered(web_box: RunningAppliance,
                                                                     playwright_browser: object) -> None:
    b = _admin(web_box, playwright_browser)
    page = b.page
    page.goto("/admin/queues")
    expect(page.locator("h1")).to_have_text("队列")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    b.shot("queues-zh")
    page.select_option("#lang-select", "en")
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text("Queues")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("nav.side")).to_contain_text("Access numbers")
    b.shot("queues-en")
    page.goto("/admin/staff")  # remembered on the next page
    expect(page.locator("h1")).to_have_text("Staff")
    # and on the account: a new browser where the admin signs in opens in English
    other = open_page(playwright_browser, base_of(web_box))
    sign_in(other, "admin", ADMIN_PASSWORD)
    expect(other.page.locator("h1")).to_have_text("Overview")
    page.select_option("#lang-select", "zh_CN")
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text("员工")


def _make_user(web_box: RunningAppliance, name: str, role: str, password: str, staff: str | None = None) -> None:
    body = {"name": name, "role": role, "password": password}
    if staff:
        body["staff"] = staff
    status, data = web_box.api("POST", "/api/v1/users", body)
    assert status == 201, data


def test_an_agent_sees_no_admin_page_and_gets_403_from_admin_routes(web_box: RunningAppliance,
                                                                     playwright_browser: object) -> None:
    _make_user(web_box, "agent7", "agent", "agent-password-7")
    b = open_page(playwright_browser, base_of(web_box))
    sign_in(b, "agent7", "agent-password-7")
    page = b.page
    expect(page.locator("h1")).to_have_text("我的账号")
    expect(page.locator("nav.side")).not_to_contain_text("队列")
    b.shot("agent-home")
    for path in ("/admin/queues", "/admin/staff", "/admin/settings", "/admin/audit"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
    expect(page.locator("h1")).to_have_text("无权访问")
    b.shot("agent-forbidden")
    status, session = web_box.api("POST", "/api/v1/login", {"name": "agent7", "password": "agent-password-7"})
    assert status == 200
    for path in ("/api/v1/queues", "/api/v1/staff", "/api/v1/settings", "/api/v1/audit"):
        req = urllib.request.Request(f"{base_of(web_box)}{path}", headers={"Authorization": f"Bearer {session['token']}"})
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError(f"{path} answered an agent")
        except urllib.error.HTTPError as e:
            assert e.code == 403, path


def test_a_supervisor_sees_only_their_groups_staff(web_box: RunningAppliance, playwright_browser: object) -> None:
    for group in ("north", "south"):
        assert web_box.api("POST", "/api/v1/work_groups", {"id": group, "name": group.title()})[0] == 201
    staff = [("7101", "North One", "agent", "north", ()), ("7201", "South One", "agent", "south", ()),
             ("7001", "Lead North", "supervisor", "north", ("north",))]
    for no, name, role, group, managed in staff:
        status, data = web_box.api("POST", "/api/v1/staff", {"employee_no": no, "name": name, "role": role,
                                                             "work_group": group, "managed_groups": list(managed)})
        assert status == 201, data
    _make_user(web_box, "leadnorth", "supervisor", "lead-north-password", staff="7001")
    b = open_page(playwright_browser, base_of(web_box))
    sign_in(b, "leadnorth", "lead-north-password")
    page = b.page
    page.goto("/admin/staff")
    rows = page.locator("#rows")
    expect(rows).to_contain_text("North One")
    expect(rows).not_to_contain_text("South One")
    expect(page.locator("text=新建员工")).to_have_count(0)  # read-only for a supervisor
    b.shot("supervisor-staff")
    assert page.goto("/admin/staff/item/7201").status == 404  # outside the scope it does not exist
    _, session = web_box.api("POST", "/api/v1/login", {"name": "leadnorth", "password": "lead-north-password"})
    req = urllib.request.Request(f"{base_of(web_box)}/api/v1/staff?limit=1000",
                                 headers={"Authorization": f"Bearer {session['token']}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        names = {s["name"] for s in json.loads(r.read())["items"]}
    assert "North One" in names and "South One" not in names


def test_a_change_without_the_csrf_token_is_refused(web_box: RunningAppliance, playwright_browser: object) -> None:
    b = _admin(web_box, playwright_browser)
    page = b.page
    page.goto("/admin/departments")
    without = page.evaluate("""async () => (await fetch('/api/v1/departments', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({id: 'forged', name: 'Forged'})})).status""")
    assert without == 403
    token = page.evaluate("() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    with_token = page.evaluate("""async (t) => (await fetch('/api/v1/departments', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': t},
        body: JSON.stringify({id: 'real', name: 'Real'})})).status""", token)
    assert with_token == 201
    assert web_box.api("GET", "/api/v1/departments/forged")[0] == 404


def test_the_session_cookie_is_httponly_and_strict(web_box: RunningAppliance, playwright_browser: object) -> None:
    b = _admin(web_box, playwright_browser)
    cookies = {c["name"]: c for c in b.page.context.cookies()}
    session = cookies["appliance_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert b.page.evaluate("() => document.cookie").find("appliance_session") == -1


def _login_from(web_box: RunningAppliance, source: str, password: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", web_box.http_port, timeout=10, source_address=(source, 0))
    conn.request("POST", "/api/v1/login", json.dumps({"name": "admin", "password": password}),
                 {"Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_ten_wrong_passwords_block_the_address_not_the_account(web_box: RunningAppliance,
                                                               playwright_browser: object) -> None:
    attacker = "127.0.0.77"
    assert [_login_from(web_box, attacker, f"guess-{i}") for i in range(10)] == [401] * 10
    assert _login_from(web_box, attacker, ADMIN_PASSWORD) == 429  # even the right one, from there
    b = open_page(playwright_browser, base_of(web_box))
    sign_in(b, "admin", ADMIN_PASSWORD)  # the owner, from their own address
    expect(b.page.locator("h1")).to_have_text("概览")
    assert f"{attacker} blocked" in web_box.log.read_text()


def test_settings_show_a_bad_time_zone_beside_its_field_then_save(web_box: RunningAppliance,
                                                                  playwright_browser: object) -> None:
    b = _admin(web_box, playwright_browser)
    page = b.page
    page.goto("/admin/settings")
    page.fill("#f-time_zone", "Mars/Olympus")
    page.click("form.entity button[type=submit]")
    expect(page.locator("#f-time_zone-error")).to_contain_text("未知时区")
    b.shot("settings-error")
    page.fill("#f-time_zone", "Asia/Urumqi")
    page.fill("#f-crm_vip_url", "http://crm.example.test/vip")
    page.click("form.entity button[type=submit]")
    expect(page.locator(".saved")).to_have_text("已保存")
    status, settings = web_box.api("GET", "/api/v1/settings")
    assert status == 200 and settings["time_zone"] == "Asia/Urumqi"
    assert settings["crm_vip_url"] == "http://crm.example.test/vip"
    page.goto("/admin/audit?kind=settings")
    expect(page.locator("table.audit tbody")).to_contain_text("admin")
    b.shot("audit-settings")
