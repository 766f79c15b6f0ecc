"""System → Firmware in Chromium, against a real RAUC service (tests/firmware/rauc_peer.py: `rauc service` on a
private D-Bus with GRUB boot counting in a grubenv file and file-backed slots): a bundle chosen in the page is
uploaded and installed into slot B with RAUC's progress shown; the reboot and the factory reset (behind the
typed word) become the requests the image's path units act on. The booted image is tests/image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance, start_appliance
from tests.firmware.rauc_peer import RaucPeer, missing, rauc_peer
from tests.web.conftest import ADMIN_PASSWORD, Browser, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.skipif(missing() is not None, reason=str(missing()))]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaucPeer]:
    with rauc_peer(tmp_path_factory.mktemp("rauc")) as p:
        yield p


@pytest.fixture(scope="module")
def box(peer: RaucPeer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBUS_SYSTEM_BUS_ADDRESS", peer.env["DBUS_SYSTEM_BUS_ADDRESS"])
        mp.setenv("APPLIANCE_FIRMWARE", "rauc")
        app = start_appliance(tmp_path_factory.mktemp("fw-web"))
    try:
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def _admin(box: RunningAppliance, browser: object, language: str = "zh-CN") -> Browser:
    b = open_page(browser, base_of(box), language=language)
    sign_in(b, "admin", ADMIN_PASSWORD)
    return b


def test_upload_installs_into_the_other_slot_with_progress(box: RunningAppliance, peer: RaucPeer,
                                                           playwright_browser: object) -> None:
    b = _admin(box, playwright_browser)
    page = b.page
    page.goto("/system/firmware")
    expect(page.locator("h1")).to_have_text("固件")
    expect(page.locator("#slots tr[data-slot=A]")).to_contain_text("运行中")
    expect(page.locator("#slots tr[data-slot=B]")).to_contain_text("备用")
    b.shot("firmware")
    page.click("#firmware-upload button[type=submit]")  # nothing chosen: said beside the control
    expect(page.locator("#f-bundle-error")).to_have_text("请先选择升级包文件。")
    bundle = peer.bundle("2.1.0")
    page.set_input_files("#f-bundle", str(bundle))
    page.click("#firmware-upload button[type=submit]")
    expect(page.locator("#install-result")).to_have_text("已将 2.1.0 安装到槽位 B。重启后生效。", timeout=30_000)
    expect(page.locator("#install-bar")).to_have_attribute("value", "100")
    b.shot("firmware-installed")
    env = peer.grubenv
    assert env["ORDER"].startswith("B") and env["B_OK"] == "1", env
    page.reload()  # the page itself now shows B as the next boot with its version
    expect(page.locator("#slots tr[data-slot=B]")).to_contain_text("2.1.0")
    assert b.csp_errors() == []


def test_a_foreign_bundle_shows_rauc_s_reason(box: RunningAppliance, peer: RaucPeer,
                                             playwright_browser: object) -> None:
    b = _admin(box, playwright_browser, language="en")
    page = b.page
    page.goto("/lang?language=en&next=/system/firmware")
    page.set_input_files("#f-bundle", str(peer.bundle("9.9.9", foreign=True)))
    page.click("#firmware-upload button[type=submit]")
    expect(page.locator("#install-result")).to_contain_text("signature verification failed", timeout=30_000)
    b.shot("firmware-refused")


def test_reboot_and_factory_reset_are_asked_for(box: RunningAppliance, playwright_browser: object) -> None:
    b = _admin(box, playwright_browser)
    page = b.page
    page.goto("/system/firmware")
    requests = box.data / "firmware"
    page.fill("#f-confirm", "reset")
    page.click("form[data-api$=factory-reset] button[type=submit]")
    expect(page.locator("#f-confirm-error")).to_contain_text("RESET")
    expect(page.locator("#f-confirm")).to_have_attribute("aria-invalid", "true")
    b.shot("firmware-reset-refused")
    assert not (requests / "factory-reset.request").exists()
    page.click("#firmware-reboot")
    expect(page.locator("#confirm-ok")).to_have_text("重启")
    with page.expect_navigation():  # the page goes back to itself once the request is taken
        page.click("#confirm-ok")
    assert _eventually(lambda: (requests / "reboot.request").exists())
    page.fill("#f-confirm", "RESET")
    page.click("form[data-api$=factory-reset] button[type=submit]")
    assert _eventually(lambda: (requests / "factory-reset.request").exists())
    assert (requests / "factory-reset.request").read_text() == "admin\n"


def _eventually(check: object, timeout: float = 10) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_the_page_is_for_admins_only(box: RunningAppliance, playwright_browser: object, tmp_path: Path) -> None:
    status, _ = box.api("POST", "/api/v1/users", {"name": "sup1", "role": "supervisor", "password": "sup1 password 1"})
    assert status == 201, _
    b = open_page(playwright_browser, base_of(box))
    sign_in(b, "sup1", "sup1 password 1")
    response = b.page.goto("/system/firmware")
    assert response is not None and response.status == 403
    assert box.api("GET", "/api/v1/firmware")[0] == 200  # the admin's API session


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_page_passes_axe(box: RunningAppliance, playwright_browser: object, language: str) -> None:
    """The every-page audit sees the page off the image; this one sees it with RAUC's slots and a result."""
    from tests.web.test_every_page import AXE

    if not AXE.exists():
        pytest.skip("axe-core is not installed (make installs the front-end packages)")
    b = _admin(box, playwright_browser, language=language)
    if language == "en":
        b.page.goto("/lang?language=en&next=/")
    audit = open_page(playwright_browser, base_of(box), language=language, bypass_csp=True)
    audit.page.context.add_cookies(b.page.context.cookies())
    audit.page.goto("/system/firmware")
    expect(audit.page.locator("#slots")).to_be_visible()
    audit.page.add_script_tag(path=str(AXE))
    result = audit.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == []
