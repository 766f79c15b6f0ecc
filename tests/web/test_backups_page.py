"""The backup pages in Chromium against the real appliance and real restic: a local directory target and an SFTP
target on a real sshd (its host key fetched and its fingerprint confirmed in the page), a schedule, the
retention, "back up now" with its progress and history, "verify", the snapshot list with size and verified
state, and a restore previewed, confirmed and done beside the live data."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.backups import conftest as backup_fixtures
from tests.backups.conftest import Sshd
from tests.e2e.harness import RunningAppliance
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]

sshd = backup_fixtures.sshd  # the backup tests' real sshd, as a fixture here too


def _fingerprint(pub: Path) -> str:
    return subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], check=True, capture_output=True,
                          text=True).stdout.split()[1]


def test_targets_schedule_retention_and_host_key(web_box: RunningAppliance, playwright_browser: object,
                                                 sshd: Sshd, tmp_path: Path) -> None:
    b = open_page(playwright_browser, base_of(web_box))
    sign_in(b, "admin", ADMIN_PASSWORD)
    page = b.page
    page.goto("/admin/backups")
    expect(page.locator("nav.side a[href='/admin/backups']")).to_have_attribute("aria-current", "page")
    b.shot("backups-empty")

    # a local directory: a relative path is refused beside its field, then saved
    page.click("a[href='/admin/backups/targets/new']")
    page.fill("#t-name", "disk")
    page.select_option("#t-kind", "removable")  # the disks connected now are offered
    expect(page.locator("#t-label-disks")).to_be_visible()
    expect(page.locator("#t-host")).to_be_hidden()
    page.select_option("#t-kind", "local")
    expect(page.locator("#t-host")).to_be_hidden()
    expect(page.locator("#t-label")).to_be_hidden()
    page.fill("#t-path", "relative/dir")
    page.click("#target-form button[type=submit]")
    expect(page.locator("#t-path-error")).not_to_be_empty()
    page.fill("#t-path", str(web_box.work / "repo-disk"))
    page.click("#target-form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/backups$"))
    expect(page.locator("tr[data-target='disk']")).to_be_visible()

    # an SFTP server: its host key fetched, the fingerprint shown, confirmed, and pinned with the target
    page.goto("/admin/backups/targets/new")
    page.fill("#t-name", "nas")
    page.select_option("#t-kind", "sftp")
    expect(page.locator("#t-label")).to_be_hidden()
    expect(page.locator("#t-public-key")).to_have_value(re.compile(r"^ssh-ed25519 "))
    page.fill("#t-host", "127.0.0.1")
    page.fill("#t-port", str(sshd.port))
    page.fill("#t-user", "root")
    page.fill("#t-path", str(sshd.root / "repo"))
    page.click("#hk-scan")
    expected = _fingerprint(Path(str(sshd.host_key) + ".pub"))
    key_row = page.locator("#hk-keys li", has_text=expected)
    expect(key_row).to_be_visible()
    b.shot("backups-target-sftp-host-key")
    key_row.locator("button").click()
    expect(page.locator("#hk-current")).to_contain_text(expected)
    page.click("#target-form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/backups$"))
    status, settings = web_box.api("GET", "/api/v1/backups/settings")
    nas = next(t for t in settings["targets"] if t["name"] == "nas")
    assert status == 200 and nas["host_key"] == sshd.host_key_line()
    page.goto("/admin/backups/targets/nas")
    expect(page.locator("#hk-current code")).to_have_text(expected)  # the pinned key's fingerprint, on edit too
    b.shot("backups-target-sftp")

    # a schedule and the retention
    page.goto("/admin/backups/schedules/new")
    page.fill("#s-name", "nightly")
    page.select_option("#s-target", "disk")
    page.fill("#s-cron", "61 2 * * *")
    page.click("#schedule-form button[type=submit]")
    expect(page.locator("#s-cron-error")).not_to_be_empty()
    page.fill("#s-cron", "30 2 * * *")
    page.click("#schedule-form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/backups$"))
    b.shot("backups-schedule")
    page.fill("#r-daily", "0")
    page.click("#retention button[type=submit]")
    expect(page.locator("#r-daily-error")).not_to_be_empty()
    page.fill("#r-daily", "5")
    page.click("#retention button[type=submit]")
    expect(page.locator("#retention .saved")).not_to_be_empty()  # saved in place
    status, settings = web_box.api("GET", "/api/v1/backups/settings")
    crons = {s["name"]: (s["cron"], s["verify_subset"]) for s in settings["schedules"]}
    assert settings["retention"]["daily"] == 5 and crons["nightly"] == ("30 2 * * *", False)
    assert crons["disk-check"] == ("30 3 * * 0", True)  # the target's own weekly data check
    assert "nightly" in settings["next_runs"]

    # a target a schedule uses cannot go; the schedule can, then the target
    page.goto("/admin/backups/targets/disk")
    page.click("button[data-delete]")
    page.click("#confirm-ok")
    expect(page.locator("#action-error")).to_contain_text("nightly")
    page.goto("/admin/backups/schedules/nightly")
    page.click("button[data-delete]")
    page.click("#confirm-ok")
    page.wait_for_url(re.compile(r"/admin/backups$"))
    page.goto("/admin/backups/targets/disk")
    page.click("button[data-delete]")
    page.click("#confirm-ok")
    page.wait_for_url(re.compile(r"/admin/backups$"))
    expect(page.locator("tr[data-target='disk']")).to_have_count(0)
    assert b.csp_errors() == []


def test_back_up_verify_list_and_restore(web_box: RunningAppliance, playwright_browser: object) -> None:
    status, _ = web_box.api("POST", "/api/v1/backups/targets",
                            {"name": "local", "kind": "local", "path": str(web_box.work / "repo-local")})
    assert status == 201
    b = open_page(playwright_browser, base_of(web_box))
    sign_in(b, "admin", ADMIN_PASSWORD)
    page = b.page
    page.goto("/admin/backups")
    row = page.locator("tr[data-target='local']")
    row.locator("button[data-post$='/run']").click()
    # the page follows the run and reloads with the history when it ends
    history = page.locator("#history tbody tr").first
    expect(history).to_contain_text("local", timeout=120_000)
    expect(history.locator(".badge-ok")).to_be_visible()
    expect(row.locator(".badge-ok")).to_be_visible()
    b.shot("backups-after-run")

    row = page.locator("tr[data-target='local']")
    row.locator("button[data-post$='/verify']").click()
    expect(page.locator("#history tbody tr").nth(1)).to_be_visible(timeout=120_000)
    status, hist = web_box.api("GET", "/api/v1/backups/history")
    assert [h["kind"] for h in hist["items"][:2]] == ["verify", "backup"] and hist["items"][0]["ok"], hist

    page.goto("/admin/backups/targets/local/snapshots")
    rows = page.locator("#snapshots tbody tr")
    expect(rows.first).to_have_attribute("data-snapshot", re.compile(r"^[0-9a-f]{8}$"))
    expect(rows.first.locator(".badge-ok")).to_be_visible()  # verified after it was taken
    assert re.search(r"\d (KiB|MiB)", rows.first.inner_text())
    b.shot("backups-snapshots")

    # the preview says what would change in the live data, and changes nothing
    page.select_option("#rs-parts", "config")
    page.click("#rs-preview")
    expect(page.locator("#rs-result")).to_contain_text("config")
    # the real restore asks first; cancelled, nothing happens
    page.click("#rs-restore")
    expect(page.locator("#restore-confirm")).to_be_visible()
    page.locator("#restore-confirm button[value=cancel]").click()
    expect(page.locator("#rs-result p")).to_have_count(1)
    page.click("#rs-restore")
    page.click("#rc-ok")
    result = page.locator("#rs-result")
    expect(result).to_contain_text(str(web_box.data.parent), timeout=120_000)
    expect(result).to_contain_text("ok")
    b.shot("backups-restored")
    restored = [p for p in web_box.data.parent.iterdir() if p.name.startswith(f"{web_box.data.name}.restored-")]
    assert restored and (restored[0] / "config.json").exists()

    # into the running box itself: a safety backup first, the configuration taken live, what it replaced kept
    status, before = web_box.api("GET", "/api/v1/extensions?limit=500")
    page.select_option("#rs-where", "live")
    page.click("#rs-restore")
    expect(page.locator("#rc-text")).not_to_be_empty()
    page.click("#rc-ok")
    expect(result).to_contain_text(f"{web_box.data.name}.before-restore-", timeout=120_000)
    b.shot("backups-restored-live")
    status, after = web_box.api("GET", "/api/v1/extensions?limit=500")
    assert status == 200 and after["items"] == before["items"]  # the box runs on, with the same configuration
    status, hist = web_box.api("GET", "/api/v1/backups/history")
    assert [h["kind"] for h in hist["items"][:2]] == ["restore", "backup"]  # the safety backup, then the restore
    assert hist["items"][1]["trigger"] == "safety"

    # a USB disk that is not there: the run fails at once, says why, and the page shows it
    status, _ = web_box.api("POST", "/api/v1/backups/targets", {"name": "usb", "kind": "removable",
                                                                "label": "ABSENT-DISK", "path": "callcenter"})
    assert status == 201
    page.goto("/admin/backups")
    page.locator("tr[data-target='usb'] button[data-post$='/run']").click()
    usb = page.locator("tr[data-target='usb']")
    expect(usb.locator(".badge-down")).to_be_visible(timeout=60_000)
    expect(usb).to_contain_text("ABSENT-DISK")
    expect(usb).to_contain_text("未连接卷标为")  # the reason in the reader's language
    b.shot("backups-usb-absent")

    # the repository password, once
    page.goto("/admin/backups")
    page.click("#show-password")
    expect(page.locator("#password-value")).to_have_text(re.compile(r"^\S{32,}$"))
    page.reload()
    expect(page.locator("#show-password")).to_have_count(0)
    assert b.csp_errors() == []
