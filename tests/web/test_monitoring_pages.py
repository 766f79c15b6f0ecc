"""The monitoring pages in Chromium against `appliance run`: thresholds changed in the page make the real
monitor raise an alarm that the alarms page lists, then clear it into the history; the resources page shows
the monitor's figures; SNMP settings saved in the page reach the agent (net-snmp's snmpget answers with the
new community) and their secrets are never sent back to the page."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance, start_appliance, wait_until
from tests.web.conftest import ADMIN_PASSWORD, Browser, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]

COMMUNITY = "noc-page-community-7f3a"
AUTH_KEY, PRIV_KEY = "page-auth-key-1234", "page-priv-key-5678"
SYS_NAME = "1.3.6.1.2.1.1.5.0"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    app = start_appliance(tmp_path_factory.mktemp("monitoring-web"), "--snmp-port", "0")
    try:
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


@pytest.fixture
def admin(box: RunningAppliance, playwright_browser: object) -> Browser:
    b = open_page(playwright_browser, base_of(box))
    sign_in(b, "admin", ADMIN_PASSWORD)
    return b


def _alarm(box: RunningAppliance, name: str) -> dict[str, object] | None:
    status, body = box.api("GET", "/api/v1/alarms")
    assert status == 200
    return next((a for a in body["items"] if a["name"] == name), None)


def test_a_threshold_set_in_the_page_raises_an_alarm_the_alarms_page_lists(box: RunningAppliance,
                                                                            admin: Browser) -> None:
    page = admin.page
    page.goto("/system/thresholds")
    expect(page.locator("nav.side a[href='/system/thresholds']")).to_have_attribute("aria-current", "page")
    # the API's validation, shown beside the control that is wrong
    page.fill("#t-open_files_high-set_level", "10")
    page.fill("#t-open_files_high-clear_level", "20")
    page.click("#thresholds button[type=submit]")
    expect(page.locator("#t-open_files_high-clear_level-error")).not_to_be_empty()
    expect(page.locator("#t-open_files_high-clear_level")).to_have_attribute("aria-invalid", "true")
    admin.shot("zh-system-thresholds-error")
    # the process always has more than one file open: the next sample raises open_files_high
    page.fill("#t-open_files_high-set_level", "1")
    page.fill("#t-open_files_high-clear_level", "0")
    page.select_option("#t-open_files_high-severity", "critical")
    page.click("#thresholds button[type=submit]")
    expect(page.locator("#thresholds .saved")).not_to_be_empty()
    status, body = box.api("GET", "/api/v1/monitoring/thresholds")
    assert status == 200
    stored = next(t for t in body["items"] if t["name"] == "open_files_high")
    assert (stored["set_level"], stored["clear_level"], stored["severity"]) == (1.0, 0.0, "critical")

    # the alarms page, open before the alarm exists, shows it without a reload (its tables refresh in place)
    page.goto("/system/alarms")
    row = page.locator("#alarms-active tr[data-alarm='open_files_high']")
    expect(row).to_contain_text("打开文件过多", timeout=25_000)
    wait_until("open_files_high raised", lambda: (_alarm(box, "open_files_high") or {}).get("active") is True, 5)
    expect(row).to_contain_text("严重")
    expect(row.locator("td.count")).to_have_text("1")
    status, body = box.api("GET", "/api/v1/alarms?active=true")
    assert status == 200
    expect(page.locator("#alarms-summary")).to_contain_text(str(body["active"]))  # (the test machine may have more)
    assert page.locator("#alarms-active tr[data-alarm]").count() == body["active"]
    admin.shot("zh-system-alarms-active")

    # back to the defaults: cleared at the next sample, and it moves to the history with its times
    assert box.api("PATCH", "/api/v1/monitoring/thresholds",
                   {"open_files_high": {"set_level": 50000, "clear_level": 40000, "severity": "minor"}})[0] == 200
    wait_until("open_files_high cleared", lambda: (_alarm(box, "open_files_high") or {}).get("active") is False, 20)
    page.goto("/lang?language=en&next=/system/alarms")
    page.wait_for_url("**/system/alarms")
    assert page.locator("#alarms-active tr[data-alarm='open_files_high']").count() == 0
    old = page.locator("#alarms-history tr[data-alarm='open_files_high']")
    expect(old).to_contain_text("Too many open files")
    alarm = _alarm(box, "open_files_high")
    assert alarm is not None and alarm["cleared_at"] and alarm["count"] == 1
    assert len(old.locator("td").all_inner_texts()[3]) > 8  # the cleared time is written out
    admin.shot("en-system-alarms-history")
    assert admin.csp_errors() == []


def test_the_resources_page_shows_the_monitors_figures(box: RunningAppliance, admin: Browser) -> None:
    page = admin.page
    page.goto("/system/resources")
    status, body = box.api("GET", "/api/v1/monitoring/system")
    assert status == 200 and body["sample"] is not None
    disks = body["sample"]["disks"]
    data_row = page.locator(f"#disks tr[data-mount='{disks[0]['mount']}']")
    expect(data_row).to_contain_text("数据")  # the data partition first, marked
    assert page.locator("#disks tbody tr").count() == len(disks)
    expect(page.locator("dd[data-figure='cpu_percent']")).to_contain_text("%")
    expect(page.locator("dd[data-figure='open_files']")).not_to_be_empty()
    expect(page.locator("dd[data-figure='ntp']")).not_to_be_empty()
    admin.shot("zh-system-resources")
    assert admin.csp_errors() == []


def _snmpget(port: int, community: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["snmpget", "-v2c", "-c", community, "-m", "", "-On", "-t", "1", "-r", "0",
                           f"udp:127.0.0.1:{port}", SYS_NAME], capture_output=True, text=True, timeout=20)


def _snmp_port(box: RunningAppliance) -> int:
    status, health = box.api("GET", "/api/v1/health")
    assert status == 200
    detail = health["services"]["snmp"]["detail"]  # "udp PORT, N receivers"
    return int(detail.split(",")[0].removeprefix("udp "))


def test_snmp_settings_saved_in_the_page_reach_the_agent_and_secrets_stay_hidden(box: RunningAppliance,
                                                                                   admin: Browser) -> None:
    if shutil.which("snmpget") is None:
        pytest.fail("snmpget (Debian snmp) is not installed")
    port = _snmp_port(box)
    assert _snmpget(port, COMMUNITY).returncode != 0  # no community yet: no answer
    page = admin.page
    page.goto("/system/snmp")
    engine_id = page.locator("#engine-id").inner_text()
    assert len(engine_id) == 26 and engine_id.startswith("80007ed9")  # PEN 32473 with the top bit, format 5
    # rows are added by keyboard; a weak community is refused beside its own cell
    communities, users = page.locator("[data-rows=communities]"), page.locator("[data-rows=users]")
    communities.locator("[data-add-row]").focus()
    page.keyboard.press("Enter")
    name = communities.locator("tbody tr").nth(0).locator("[data-key=name]")
    expect(name).to_be_focused()
    page.keyboard.type("public")
    page.click("#snmp-settings button[type=submit]")
    expect(communities.locator("[data-field='communities.0.name'] .error")).to_contain_text("public")
    name.fill(COMMUNITY)
    users.locator("[data-add-row]").click()
    user = users.locator("tbody tr").nth(0)
    user.locator("[data-key=name]").fill("noc")
    user.locator("[data-key=auth_protocol]").select_option("sha256")
    user.locator("[data-key=auth_key]").fill(AUTH_KEY)
    user.locator("[data-key=priv_protocol]").select_option("aes128")
    user.locator("[data-key=priv_key]").fill(PRIV_KEY)
    receivers = page.locator("[data-rows=trap_receivers]")
    receivers.locator("[data-add-row]").click()  # a row added and removed again leaves nothing behind
    expect(receivers.locator("tbody tr")).to_have_count(1)
    receivers.locator("[data-remove-row]").click()
    expect(receivers.locator("tbody tr")).to_have_count(0)
    page.fill("#s-location", "Rack 4, Shanghai")
    page.click("#snmp-settings button[type=submit]")
    page.wait_for_load_state("load")
    expect(page.locator("#s-location")).to_have_value("Rack 4, Shanghai")
    html = page.content()
    assert COMMUNITY not in html and AUTH_KEY not in html and PRIV_KEY not in html
    expect(page.locator("[data-rows=users] [data-key=auth_key]")).to_have_value("********")
    expect(page.locator("[data-rows=communities] [data-key=name]")).to_have_value("********")
    expect(page.locator("[data-rows=trap_receivers] tbody tr")).to_have_count(0)
    admin.shot("zh-system-snmp")

    deadline = time.monotonic() + 10
    while (answer := _snmpget(port, COMMUNITY)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert answer.returncode == 0 and SYS_NAME in answer.stdout, answer.stderr
    # saved again as shown (masked): the stored secrets are kept, and the agent still answers
    page.fill("#s-location", "Rack 5, Shanghai")
    page.click("#snmp-settings button[type=submit]")
    expect(page.locator("#s-location")).to_have_value("Rack 5, Shanghai")
    deadline = time.monotonic() + 10
    while (answer := _snmpget(port, COMMUNITY)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert answer.returncode == 0, answer.stderr
    v3 = subprocess.run(["snmpget", "-v3", "-l", "authPriv", "-u", "noc", "-a", "SHA-256", "-A", AUTH_KEY, "-x",
                         "AES", "-X", PRIV_KEY, "-m", "", "-On", "-t", "1", "-r", "1", f"udp:127.0.0.1:{port}",
                         "1.3.6.1.2.1.1.6.0"], capture_output=True, text=True, timeout=20)
    assert v3.returncode == 0 and "Rack 5, Shanghai" in v3.stdout, v3.stderr
    assert admin.csp_errors() == []


def test_the_menu_lists_the_monitoring_pages(box: RunningAppliance, admin: Browser) -> None:
    page = admin.page
    page.goto("/system/health")
    for href in ("/system/alarms", "/system/resources", "/system/thresholds", "/system/snmp"):
        expect(page.locator(f"nav.side a[href='{href}']")).to_have_count(1)
    page.keyboard.press("Tab")  # the skip link first: the pages are reached by keyboard like the rest
    expect(page.locator("a.skip")).to_be_focused()


def test_a_supervisor_reads_alarms_and_thresholds_but_not_snmp_and_an_agent_nothing(
        box: RunningAppliance, playwright_browser: object) -> None:
    assert box.api("POST", "/api/v1/work_groups", {"id": "noc", "name": "NOC"})[0] == 201
    for no, role, managed in (("8101", "agent", []), ("8001", "supervisor", ["noc"])):
        status, data = box.api("POST", "/api/v1/staff", {"employee_no": no, "name": f"Staff {no}", "role": role,
                                                         "work_group": "noc", "managed_groups": managed})
        assert status == 201, data
    for name, role, staff in (("noclead", "supervisor", "8001"), ("nocagent", "agent", "8101")):
        status, data = box.api("POST", "/api/v1/users", {"name": name, "role": role, "password": f"{name}-password",
                                                         "staff": staff})
        assert status == 201, data

    b = open_page(playwright_browser, base_of(box))
    sign_in(b, "noclead", "noclead-password")
    page = b.page
    for path in ("/system/alarms", "/system/resources", "/system/thresholds"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
    expect(page.locator("#t-cpu_high-set_level")).to_be_disabled()  # read-only for a supervisor
    expect(page.locator("#thresholds button[type=submit]")).to_have_count(0)
    expect(page.locator("nav.side a[href='/system/snmp']")).to_have_count(0)
    b.shot("zh-system-thresholds-supervisor")
    response = page.goto("/system/snmp")
    assert response is not None and response.status == 403

    a = open_page(playwright_browser, base_of(box))
    sign_in(a, "nocagent", "nocagent-password")
    for path in ("/system/alarms", "/system/resources", "/system/thresholds", "/system/snmp"):
        response = a.page.goto(path)
        assert response is not None and response.status == 403, path
    expect(a.page.locator("nav.side a[href='/system/alarms']")).to_have_count(0)
