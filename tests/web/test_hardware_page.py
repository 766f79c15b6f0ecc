"""System → Hardware in Chromium, on the real `appliance run` with both card emulators as their own processes:

- the E1 card: span 1 (user side) wired to span 2 (network side) on the same card, both D-channels up; span 3
  wired to a second card nobody has configured, so our span sees loss of signal (red alarm);
- the analog card: an exchange line on port 1 (FXO) and a phone on port 2 (FXS, extension 1002).

The page shows cards, spans with alarms, counters and B-channels, and ports; it follows the line without a
reload (the far card's span configured: LOS clears; the phone lifted: the port is off hook), and an admin
puts a span into a loopback and back through the API from the page. Screenshots in both languages.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance, start_appliance
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]
ROOT = Path(__file__).resolve().parents[2]


def _in_thread(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine on a loop of its own (the sync Playwright holds this thread's loop)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(make())))
    thread.start()
    thread.join(30)
    return out[0] if out else None


def _spawn(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


class Phone:
    """The analog emulator's control socket: the far ends of its ports."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")

    def __call__(self, port: int, do: str, **args: Any) -> dict[str, Any]:
        self.file.write(json.dumps({"port": port, "do": do, **args}).encode() + b"\n")
        self.file.flush()
        answer: dict[str, Any] = json.loads(self.file.readline())
        assert answer.get("ok"), answer
        return answer


@pytest.fixture(scope="module")
def hw_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningAppliance, dict[str, Any], Phone]]:
    work = tmp_path_factory.mktemp("hw")
    e1_proc, e1 = _spawn("drivers.emulator", "--cards", "2", "--spans", "3", "--link", "1-2,1.3-2.1")
    control = str(work / "analog.sock")
    analog_proc, analog = _spawn("drivers.analog.emulator", "--ports", "fxo:1,fxs:1", "--control", control)
    try:
        async def settings() -> None:
            from appliance.app import Core

            core = Core.open(work / "data")
            try:
                await core.store.set_settings(
                    e1={"card": e1["ttys"][0], "spans": [{"span": 1, "role": "user", "name": "pri-a"},
                                                         {"span": 2, "role": "network", "name": "pri-b"},
                                                         {"span": 3, "role": "user", "name": "pri-c"}]},
                    analog={"card": analog["tty"], "fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000"}],
                            "fxs": [{"port": 2, "extension": "1002"}]})
            finally:
                core.close()

        _in_thread(settings)
        app = start_appliance(work)
        phone = Phone(control)
        try:
            yield app, e1, phone
        finally:
            phone.sock.close()
            assert app.stop() == 0, app.log.read_text()[-3000:]
    finally:
        for proc in (e1_proc, analog_proc):
            proc.terminate()
            proc.wait(10)


def test_the_hardware_page_follows_spans_channels_alarms_and_ports(
        hw_box: tuple[RunningAppliance, dict[str, Any], Phone], playwright_browser: object) -> None:
    app, e1, phone = hw_box
    status, view = app.api("GET", "/api/v1/hardware")
    assert status == 200 and [c["driver"] for c in view["cards"]][:2] == ["e1", "analog"]
    b = open_page(playwright_browser, base_of(app))
    sign_in(b, "admin", ADMIN_PASSWORD)
    page = b.page
    page.goto("/system/hardware")
    expect(page.locator("nav.side a[href='/system/hardware']")).to_have_attribute("aria-current", "page")
    expect(page.locator("h1")).to_have_text("硬件")
    for n in (1, 2):
        expect(page.locator(f"[data-span='{n}'] [data-d-channel]")).to_have_attribute("data-d-channel", "up")
        expect(page.locator(f"[data-span='{n}'] li.ch")).to_have_count(30)
    # span 3 hears nothing from the unconfigured far card: LOS, declared after 2.5 s, and RAI sent back
    expect(page.locator("[data-span='3'] [data-alarms]")).to_have_attribute("data-alarms", "los", timeout=20_000)
    expect(page.locator("#h-alarms + table")).to_contain_text("LOS")
    expect(page.locator("tr[data-port='1']")).to_have_attribute("data-state", "idle")
    b.shot("hardware-zh-alarm")

    # the phone on port 2 is lifted: the port is off hook, without a reload
    phone(2, "off_hook")
    expect(page.locator("tr[data-port='2']")).to_have_attribute("data-state", "off_hook", timeout=10_000)
    phone(2, "on_hook")
    expect(page.locator("tr[data-port='2']")).to_have_attribute("data-state", "idle", timeout=10_000)

    # the far card's span is configured: signal comes back; the alarm clears 10 s later (G.775), live
    async def configure_far() -> None:
        from drivers.hal.models import SpanConfig
        from drivers.hal.serial_backend import SerialCard
        from tests.drivers.hal.emulated import Recorder

        far = SerialCard(e1["ttys"][1])
        await far.open(Recorder(keep_ticks=False))
        try:
            await far.configure_span(1, SpanConfig())
        finally:
            await far.close()

    _in_thread(configure_far)
    expect(page.locator("[data-span='3'] [data-alarms]")).to_have_attribute("data-alarms", "", timeout=25_000)
    expect(page.locator("#h-alarms ~ p.status-ok")).to_be_visible()

    # an admin loops span 1 back locally, then takes the loopback off
    page.select_option("#lb-1", "local")
    page.click("form[data-api='/api/v1/hardware/spans/1/loopback'] button[type=submit]")
    expect(page.locator("[data-span='1'] [data-loopback]")).to_have_attribute("data-loopback", "local")
    status, span = app.api("GET", "/api/v1/hardware/spans/1")
    assert status == 200 and span["loopback"] == "local"
    b.shot("hardware-zh-loopback")
    page.select_option("#lb-1", "none")
    page.click("form[data-api='/api/v1/hardware/spans/1/loopback'] button[type=submit]")
    expect(page.locator("[data-span='1'] [data-loopback]")).to_have_attribute("data-loopback", "none")
    expect(page.locator("[data-span='1'] [data-d-channel]")).to_have_attribute("data-d-channel", "up",
                                                                              timeout=20_000)

    # the API refuses what the page cannot send: a bad mode names its field, an unknown span is not found
    status, bad = app.api("POST", "/api/v1/hardware/spans/1/loopback", {"mode": "sideways"})
    assert status == 422 and bad["details"]["fields"][0]["field"] == "mode"
    status, _ = app.api("POST", "/api/v1/hardware/spans/9/loopback", {"mode": "none"})
    assert status == 404
    page.goto("/lang?language=en&next=/system/hardware")
    expect(page.locator("h1")).to_have_text("Hardware")
    b.shot("hardware-en")
    assert b.csp_errors() == []


def test_a_supervisor_reads_the_page_without_the_loopback_forms(
        hw_box: tuple[RunningAppliance, dict[str, Any], Phone], playwright_browser: object) -> None:
    app, _e1, _phone = hw_box
    status, _ = app.api("POST", "/api/v1/users", {"name": "sup1", "role": "supervisor",
                                                  "password": "a supervisor password"})
    assert status in (200, 201), _
    b = open_page(playwright_browser, base_of(app), language="en")
    sign_in(b, "sup1", "a supervisor password")
    b.page.goto("/system/hardware")
    expect(b.page.locator("[data-span='1']")).to_be_visible()
    expect(b.page.locator("form.loopback")).to_have_count(0)
    status, _ = app.api("GET", "/api/v1/hardware/cards")
    assert status == 200


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_page_with_spans_and_ports_passes_axe(hw_box: tuple[RunningAppliance, dict[str, Any], Phone],
                                                  playwright_browser: object, language: str) -> None:
    """test_every_page audits the page of a box without cards; this one with three spans, alarms and ports."""
    from tests.web.test_every_page import AXE

    if not AXE.exists():
        pytest.skip("axe-core is not installed (make installs the front-end packages)")
    app, _e1, _phone = hw_box
    b = open_page(playwright_browser, base_of(app), language=language)
    sign_in(b, "admin", ADMIN_PASSWORD)
    if language == "en":
        b.page.goto("/lang?language=en&next=/")
    audit = open_page(playwright_browser, base_of(app), language=language, bypass_csp=True)
    audit.page.context.add_cookies(b.page.context.cookies())
    audit.page.goto("/system/hardware")
    expect(audit.page.locator("[data-span='3']")).to_be_visible()
    audit.page.add_script_tag(path=str(AXE))
    result = audit.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == []
