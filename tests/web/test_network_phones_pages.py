"""The phones page (inventory, add with field errors, provisioning state after a real HTTPS fetch, revoke,
new token) and the network page (the live state read through netlink; on a box managing a namespace's port,
a VLAN, DNS and a static route applied from the page with the countdown and kept), in the browser."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance
from tests.provisioning.netns import Namespace, kernel_has_vlan
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, sign_in
from tests.web.test_setup_wizard import appliance_managing_a_port

pytestmark = [pytest.mark.slow, pytest.mark.interop]
MAC = "805ec0aabb01"


@pytest.fixture
def managed_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RunningAppliance, Namespace]]:
    with appliance_managing_a_port(tmp_path, monkeypatch) as box:
        yield box


def _fetch(url: str) -> tuple[int, bytes]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_phones_page_adds_shows_the_state_and_revokes(web_box: RunningAppliance, playwright_browser: object) -> None:
    b = open_page(playwright_browser, base_of(web_box))
    page = b.page
    sign_in(b, "admin", ADMIN_PASSWORD)
    page.goto("/admin/phones")
    expect(page.locator("h1")).to_have_text("话机")
    expect(page.locator("#templates")).to_contain_text("y000000000000.cfg")
    expect(page.locator("#templates")).to_contain_text("cfg<mac>.xml")

    # each bad field is named beside its control
    page.fill("#p-mac", "80:5e:c0")
    page.fill("#p-extension", "99999")
    page.click("form[data-api='/api/v1/phones'] button[type=submit]")
    expect(page.locator("#p-mac-error")).not_to_be_empty()
    expect(page.locator("#p-mac")).to_have_attribute("aria-invalid", "true")
    page.fill("#p-mac", "80:5E:C0:AA:BB:01")
    page.click("form[data-api='/api/v1/phones'] button[type=submit]")
    expect(page.locator("#p-extension-error")).to_contain_text("99999")
    b.shot("phones-add-errors")

    page.fill("#p-extension", "1003")
    page.select_option("#p-vendor", "yealink")
    page.fill("#p-model", "T54W")
    page.fill("#p-label", "Front desk")
    page.click("form[data-api='/api/v1/phones'] button[type=submit]")
    row = page.locator(f"tr[data-mac='{MAC}']")
    expect(row).to_contain_text("1003")
    expect(row).to_contain_text("等待话机")
    expect(row).to_contain_text("T54W")

    # the phone fetches its file over HTTPS with its token: the page shows it as provisioned
    status, info = web_box.api("GET", f"/api/v1/phones/{MAC}/url")
    assert status == 200
    code, body = _fetch(info["url"] + f"{MAC}.cfg")
    assert code == 200 and b"account.1.user_name = 1003" in body
    page.reload()
    expect(row).to_contain_text("已获取")
    expect(row).to_contain_text(f"{MAC}.cfg")
    b.shot("phones")

    # revoked: the page says so and the phone's files are refused; a new token brings them back
    row.get_by_role("button", name="吊销").click()
    expect(row).to_contain_text("已吊销")
    assert _fetch(info["url"] + f"{MAC}.cfg")[0] == 404
    row.get_by_role("button", name="新令牌").click()
    expect(row).not_to_contain_text("已吊销")
    status, fresh = web_box.api("GET", f"/api/v1/phones/{MAC}/url")
    assert fresh["url"] != info["url"] and _fetch(fresh["url"] + f"{MAC}.cfg")[0] == 200
    b.shot("phones-reissued")
    assert b.csp_errors() == []


def test_network_page_shows_the_live_state(web_box: RunningAppliance, playwright_browser: object) -> None:
    b = open_page(playwright_browser, base_of(web_box))
    page = b.page
    sign_in(b, "admin", ADMIN_PASSWORD)
    page.goto("/admin/network")
    expect(page.locator("h1")).to_have_text("网络")
    status, state = web_box.api("GET", "/api/v1/network")
    assert status == 200
    shown = [link["name"] for link in state["live"]["links"] if link["name"] != "lo"]
    for name in shown:
        expect(page.locator("#links")).to_contain_text(name)
    # a developer's machine: read, never changed
    expect(page.locator("#network-unmanaged")).to_be_visible()
    expect(page.locator("form[data-network-apply]")).to_have_count(0)
    b.shot("network")
    assert b.csp_errors() == []


def test_network_page_applies_a_vlan_and_a_route_with_the_countdown(
        managed_box: tuple[RunningAppliance, Namespace], playwright_browser: object) -> None:
    app, ports = managed_box
    status, _ = app.api("POST", "/api/v1/setup", {"token": app.setup_token, "password": ADMIN_PASSWORD})
    assert status == 200
    b = open_page(playwright_browser, base_of(app))
    page = b.page
    sign_in(b, "admin", ADMIN_PASSWORD)
    page.goto("/admin/network")
    expect(page.locator("#links")).to_contain_text("10.78.0.2/24")
    form = page.locator("form[data-network-apply]")
    port, vlan_row, route = (form.locator(f"[data-rows={k}] tbody tr").nth(0) for k in ("interfaces", "vlans", "routes"))
    expect(port.locator("[data-key=name]")).to_have_value("eth0")  # an example until something is saved
    port.locator("[data-key=dhcp]").uncheck()
    port.locator("[data-key=addresses]").fill("10.78.0.2/24")
    port.locator("[data-key=gateway]").fill("10.78.0.1")
    form.locator("#n-dns").fill("10.78.0.1")
    route.locator("[data-key=gateway]").fill("10.78.0.254")
    route.locator("[data-key=interface]").fill("eth9")

    # a VLAN on a port that is not in the list is refused in the page, beside its own cell
    vlan_row.locator("[data-key=interface]").fill("eth7")
    form.locator("button[type=submit]").click()
    expect(vlan_row.locator("[data-field='vlans.0.interface'] .error")).not_to_be_empty()
    vlan = kernel_has_vlan(ports)
    if vlan:
        vlan_row.locator("[data-key=interface]").fill("eth0")
        vlan_row.locator("[data-key=addresses]").fill("10.20.0.1/24")
    else:
        vlan_row.locator("[data-remove-row]").click()
        expect(form.locator("[data-rows=vlans] tbody tr")).to_have_count(0)
    # a route through an interface the settings do not have: the box refuses it beside the cell, nothing changes
    form.locator("button[type=submit]").click()
    expect(route.locator("[data-field='routes.0.interface'] .error")).not_to_be_empty()
    assert "default" not in json.dumps(ports.routes())

    route.locator("[data-key=interface]").fill("eth0")
    form.locator("button[type=submit]").click()
    expect(page.locator("#network-pending")).to_be_visible()
    b.shot("network-countdown")
    page.click("#network-confirm")
    expect(page.locator("#network-result")).to_contain_text("已保留")
    routes = {(r["dst"], r.get("gateway")) for r in ports.routes()}
    assert ("default", "10.78.0.1") in routes and ("10.30.0.0/16", "10.78.0.254") in routes
    page.reload()
    expect(page.locator("#routes")).to_contain_text("10.30.0.0/16")
    if vlan:
        assert ports.addresses("eth0.20") == ["10.20.0.1/24"]
        expect(page.locator("#links")).to_contain_text("eth0.20")
        expect(page.locator("#links")).to_contain_text("VLAN 20")
    b.shot("network-applied")
    assert b.csp_errors() == []
