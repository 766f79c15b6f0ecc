"""The first-run wizard in the browser, from the console's setup token to a working sign-in and the box's own
settings: the appliance manages the ports of a network namespace (a veth pair made by the test stands for the
box's port and the LAN), so a static address is applied for real, shown counting down, reverted when not
kept and kept when confirmed; then host name, time zone and NTP, the SIP domain, the cards; then the wizard
is finished, and run again from the menu."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance, start_appliance
from tests.provisioning.netns import Namespace, can_make_namespaces, veth
from tests.web.conftest import ADMIN_PASSWORD, Browser, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]
BOX_ADDR, NEW_ADDR, LAN_ADDR = "10.78.0.2/24", "10.78.0.9/24", "10.78.0.1/24"


def _wait(what: str, check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@contextlib.contextmanager
def appliance_managing_a_port(tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RunningAppliance, Namespace]]:
    """`appliance run` managing the port of a namespace joined to a LAN namespace by a veth pair; the admin
    password not set yet (its token is in `setup_token`)."""
    if not can_make_namespaces():
        pytest.skip("network namespaces need root and iproute2")
    ports = Namespace.create("wbox")
    lan = Namespace.create("wlan")
    try:
        veth(ports, "eth0", lan, "eth0")
        ports.ip("addr", "add", BOX_ADDR, "dev", "eth0")
        lan.ip("addr", "add", LAN_ADDR, "dev", "eth0")
        monkeypatch.setenv("APPLIANCE_NETWORK_NETNS", ports.name)
        app = start_appliance(tmp_path, set_up=False)
        try:
            yield app, ports
        finally:
            code = app.stop()
            assert code == 0, app.log.read_text()[-3000:]
    finally:
        ports.delete()
        lan.delete()


@pytest.fixture
def box_in_lan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RunningAppliance, Namespace]]:
    with appliance_managing_a_port(tmp_path, monkeypatch) as box:
        yield box


def _apply_static(b: Browser, seconds: int) -> None:
    page = b.page
    page.select_option("#n-name", "eth0")  # type: ignore[attr-defined]
    page.select_option("#n-mode", "static")  # type: ignore[attr-defined]
    page.fill("#n-address", NEW_ADDR)  # type: ignore[attr-defined]
    page.fill("#n-gateway", LAN_ADDR.split("/")[0])  # type: ignore[attr-defined]
    page.fill("#n-dns", LAN_ADDR.split("/")[0])  # type: ignore[attr-defined]
    page.fill("#n-seconds", str(seconds))  # type: ignore[attr-defined]
    page.click("form[data-network-apply] button[type=submit]")  # type: ignore[attr-defined]


def test_wizard_from_the_setup_token_to_a_configured_box(box_in_lan: tuple[RunningAppliance, Namespace],
                                                         playwright_browser: object) -> None:
    app, ports = box_in_lan
    b = open_page(playwright_browser, base_of(app))
    page = b.page
    page.goto("/")
    page.wait_for_url("**/setup")
    page.fill("#f-token", app.setup_token)
    page.fill("#f-password", ADMIN_PASSWORD)
    page.fill("#f-password_again", ADMIN_PASSWORD)
    page.click("form[data-api] button[type=submit]")
    # the token and the new password sign the installer in: straight on to the wizard
    page.wait_for_url("**/setup/wizard")
    expect(page.locator("h1")).to_have_text("设置向导")
    expect(page.locator("#f-time_zone")).to_have_value("Asia/Shanghai")  # the default
    b.shot("wizard")

    # DHCP has no address of its own to type; a static address has
    page.select_option("#n-mode", "dhcp")
    expect(page.locator("#n-address")).to_be_hidden()
    # a bad address is refused beside its field, and nothing changes
    page.select_option("#n-mode", "static")
    expect(page.locator("#n-address")).to_be_visible()
    page.fill("#n-address", "10.78.0.300/24")
    page.click("form[data-network-apply] button[type=submit]")
    expect(page.locator("#n-address-error")).not_to_be_empty()
    assert ports.addresses("eth0") == [BOX_ADDR]

    # a static address not confirmed: the countdown is shown, then the old address comes back
    _apply_static(b, 4)
    expect(page.locator("#network-pending")).to_be_visible()
    expect(page.locator("#network-new-address a")).to_contain_text("10.78.0.9")
    _wait("the new address", lambda: ports.addresses("eth0") == [NEW_ADDR])
    seconds = int(page.locator("#network-seconds").inner_text())
    assert 0 < seconds <= 5  # the window and the half second before the kernel is changed
    b.shot("wizard-network-countdown")
    expect(page.locator("#network-result")).to_contain_text("之前的设置已恢复", timeout=15_000)
    expect(page.locator("#network-pending")).to_be_hidden()
    _wait("the old address back", lambda: ports.addresses("eth0") == [BOX_ADDR])
    b.shot("wizard-network-reverted")

    # applied again and confirmed in time: kept, with its gateway, after the window too
    _apply_static(b, 30)
    expect(page.locator("#network-pending")).to_be_visible()
    page.click("#network-confirm")
    expect(page.locator("#network-result")).to_contain_text("已保留")
    assert ports.addresses("eth0") == [NEW_ADDR]
    assert any(r.get("gateway") == "10.78.0.1" for r in ports.ipj("route", "show", "default"))
    page.reload()
    expect(page.locator("#network-pending")).to_be_hidden()
    expect(page.locator("#n-address")).to_have_value(NEW_ADDR)  # the saved settings read back

    # host name, time zone and NTP, SIP domain: each saved on its own
    page.fill("#f-host_name", "bad_name!")
    page.locator("form[data-api='/api/v1/system/host-name'] button[type=submit]").click()
    expect(page.locator("#f-host_name-error")).not_to_be_empty()
    page.fill("#f-host_name", "cc-floor-3")
    page.locator("form[data-api='/api/v1/system/host-name'] button[type=submit]").click()
    expect(page.locator("form[data-api='/api/v1/system/host-name'] .saved")).to_have_text("已保存")
    page.select_option("#f-time_zone", "Asia/Urumqi")
    page.fill("#f-ntp_servers", "ntp.aliyun.com\n10.78.0.1")
    page.locator("form[data-api='/api/v1/system/time'] button[type=submit]").click()
    expect(page.locator("form[data-api='/api/v1/system/time'] .saved")).to_have_text("已保存")
    page.fill("#f-sip_domain", "cc.example.cn")
    page.locator("form[data-api='/api/v1/system/sip-domain'] button[type=submit]").click()
    expect(page.locator("form[data-api='/api/v1/system/sip-domain'] .saved")).to_have_text("已保存")
    expect(page.locator("#cards")).to_contain_text("未检测到 E1/PRI 或模拟板卡")  # this machine has none
    b.shot("wizard-saved")

    page.locator("form[data-api='/api/v1/setup/complete'] button[type=submit]").click()
    page.wait_for_url(lambda url: url.endswith("/"))
    expect(page.locator("h1")).to_have_text("概览")
    assert b.csp_errors() == []

    # run again from the menu: every value read back, the same values saved again change nothing
    page.get_by_role("navigation").get_by_role("link", name="设置向导").click()
    page.wait_for_url("**/setup/wizard")
    expect(page.locator("#f-host_name")).to_have_value("cc-floor-3")
    expect(page.locator("#f-time_zone")).to_have_value("Asia/Urumqi")
    expect(page.locator("#f-ntp_servers")).to_have_value("ntp.aliyun.com\n10.78.0.1")
    expect(page.locator("#f-sip_domain")).to_have_value("cc.example.cn")
    expect(page.locator("main")).to_contain_text("之前已完成设置")
    page.locator("form[data-api='/api/v1/system/host-name'] button[type=submit]").click()
    expect(page.locator("form[data-api='/api/v1/system/host-name'] .saved")).to_have_text("已保存")
    b.shot("wizard-again")

    # the password set at the start still signs in
    page.locator("form[action='/logout'] button").click()
    page.wait_for_url("**/login")
    sign_in(b, "admin", ADMIN_PASSWORD)
    expect(page.locator("h1")).to_have_text("概览")
    assert b.csp_errors() == []
