"""The supervisor console (Live operations → Supervisor console) in Chromium against `appliance run`, with SIPp
phones whose audio is the test's own RTP phones, and the supervisor's data scope on the page, the API and the
event stream. One appliance for all of it.

The supervisor (1901, managing the sales team and queue only) signs in; a caller reaches agent 1002. From the
page, by keyboard, the supervisor listens to the call (the box rings the supervisor's phone, which answers),
switches to whisper, then to barge on the same call; in each mode's window every phone's received audio is
checked for each party's tone, as the end-to-end supervisor test does (`tests.e2e.monitoring`). Then 1002 is
forced busy with a reason from the page, a new caller waits in the sales queue, shows on the page and is moved
from it to agent 1002's phone, which answers. The support team's agents and queue never appear on the page,
acting on them through the API answers 403, and the supervisor's event stream carries none of their events
while the admin's does. Last, the page's socket is killed on the box's side: it reconnects and shows from its
new snapshot what changed while it was away.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import MEDIA_FIXTURES, RunningAppliance, sipp_available, start_appliance, successful
from tests.e2e.monitoring import (
    AGENT_HZ,
    ALWAYS_OPEN,
    CALLER_HZ,
    SUPERVISOR_HZ,
    Window,
    check_modes,
    log_in,
)
from tests.e2e.rtp_phone import RtpPhone
from tests.web.conftest import Browser, base_of, open_page, sign_in
from tests.web.test_wallboard import kill_page_sockets

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

AGENT, SUPERVISOR, OTHER_AGENT = "1002", "1901", "1004"  # 1004 is in the support team, not the supervisor's
USER, PASSWORD = "zhaomin", "supervisor password 1"
SETTLE_S, WINDOW_S = 1.5, 3.0  # after a mode change, then measured for
SUPERVISOR_TALK_MS = 19_000  # the supervisor's phone hangs up after this: three windows fit well inside
AGENT_TALK_MS = 28_000  # and the agent's after that, so the supervisor's call is never cut from under it


def supervised_box(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[RunningAppliance]:
    """`appliance run`, always open, with supervisor 1901 (sign-in USER) managing the sales team and queue."""
    app = start_appliance(tmp_path_factory.mktemp(name))
    try:
        assert app.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
        assert app.api("PATCH", "/api/v1/queues/sales", {"survey_flow": None})[0] == 200  # ends with the agent
        assert app.api("PATCH", f"/api/v1/staff/{SUPERVISOR}", {"managed_groups": ["sales-team"],
                                                                 "managed_queues": ["sales"]})[0] == 200
        assert app.api("POST", "/api/v1/users", {"name": USER, "role": "supervisor", "staff": SUPERVISOR,
                                                 "password": PASSWORD})[0] in (200, 201)
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    yield from supervised_box(tmp_path_factory, "console")


def as_supervisor(box: RunningAppliance, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, session = box.api("POST", "/api/v1/login", {"name": USER, "password": PASSWORD})
    assert status == 200
    token, box.token = box.token, session["token"]
    try:
        return box.api(method, path, body)
    finally:
        box.token = token


def press(b: Browser, selector: str) -> None:
    """Keyboard only: focus the control and press Enter."""
    page: Any = b.page
    page.locator(selector).focus()
    page.keyboard.press("Enter")


def mode_window(b: Browser, mode: str) -> Window:
    """Wait until the page says the console is in `mode`, let it settle, and measure for a while."""
    expect(b.page.locator("#sc-monitor")).to_have_attribute("data-mode", mode, timeout=15_000)  # type: ignore[attr-defined]
    start = time.monotonic() + SETTLE_S
    time.sleep(SETTLE_S + WINDOW_S)
    return start, start + WINDOW_S


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_the_console_listens_whispers_and_barges_on_one_call_and_keeps_to_its_scope(
        box: RunningAppliance, playwright_browser: object) -> None:
    agent_port = log_in(box, AGENT)
    supervisor_port = box.register(SUPERVISOR)
    caller_rtp, agent_rtp, supervisor_rtp = RtpPhone(CALLER_HZ), RtpPhone(AGENT_HZ), RtpPhone(SUPERVISOR_HZ)
    phones = [caller_rtp, agent_rtp, supervisor_rtp]

    b = open_page(playwright_browser, base_of(box))
    sign_in(b, USER, PASSWORD)
    page: Any = b.page
    page.goto("/live/wallboard")  # reached from the monitor
    press(b, "a.wb-console")
    page.wait_for_url("**/live/console")
    expect(page.locator("nav.side a[href='/live/console']")).to_have_attribute("aria-current", "page")
    expect(page.locator("#console")).to_have_attribute("data-state", "live")
    expect(page.locator("#sc-extension")).to_have_value(SUPERVISOR)  # the supervisor's own phone
    row = page.locator(f"#sc-agents tr[data-agent='{AGENT}']")
    expect(row).to_have_attribute("data-state", "idle")
    # the page shows the sales team and the supervisor, never the support team
    assert sorted(page.locator("#sc-agents tbody tr").evaluate_all("rows => rows.map(r => r.dataset.agent)")) == \
        ["1001", "1002", "1003", SUPERVISOR]

    windows: dict[str, Window] = {}
    for phone in phones:
        phone.start()
    try:
        agent = box.sipp_background(box.sipp_args(
            box.scenario("agent_media.xml", RTP_PORT=agent_rtp.port, TALK_MS=AGENT_TALK_MS), agent_port))
        supervisor = box.sipp_background(box.sipp_args(
            box.scenario("agent_media.xml", RTP_PORT=supervisor_rtp.port, TALK_MS=SUPERVISOR_TALK_MS),
            supervisor_port))
        time.sleep(0.3)
        caller = box.sipp_background(box.caller_with_media(caller_rtp.port))
        expect(row).to_have_attribute("data-state", "on_call", timeout=30_000)
        box.connected_call()  # bridged, after the agent's number was spoken to the caller
        press(b, f"#sc-agents tr[data-agent='{AGENT}'] button[data-monitor='listen']")
        windows["listen"] = mode_window(b, "listen")
        expect(page.locator("#sc-monitor-status")).to_contain_text("监听中")
        b.shot("zh-live-console-listen")
        press(b, "#sc-monitor button[data-switch='whisper']")
        windows["whisper"] = mode_window(b, "whisper")
        press(b, "#sc-monitor button[data-switch='barge']")
        windows["barge"] = mode_window(b, "barge")
        expect(page.locator("#sc-monitor button[data-switch='barge']")).to_have_attribute("aria-pressed", "true")
        b.shot("zh-live-console-barge")
        # one supervisor call throughout: switched, never dropped and dialled again
        status, monitors = as_supervisor(box, "GET", "/api/v1/monitors")
        assert status == 200 and len(monitors["items"]) == 1 and monitors["items"][0]["mode"] == "barge", monitors
        for process in (supervisor, agent, caller):
            out, _ = process.communicate(timeout=60)
            assert successful(out) == 1, out[-1500:]
    finally:
        for phone in phones:
            phone.stop()
    check_modes(caller_rtp, agent_rtp, {mode: supervisor_rtp for mode in windows}, windows)
    expect(page.locator("#sc-monitor")).to_be_hidden()  # the supervisor's phone hung up: the page knows
    cdr = box.wait_for_cdr("8000")
    notes = [d for _, e, d in cdr["timeline"] if e == "monitored"]
    assert notes == [f"listen by {SUPERVISOR}"], cdr["timeline"]  # joined once

    # force busy with a reason, from the page
    page.select_option("#sc-reason", "2")
    press(b, f"#sc-agents tr[data-agent='{AGENT}'] button[data-force='busy']")
    expect(row).to_have_attribute("data-state", "paused", timeout=10_000)
    expect(row.locator(".sc-badge")).to_have_text("忙碌 · 培训")

    # a caller waits in sales (its agent is busy): shown, then moved to the agent's phone, which answers
    answering = box.answering(agent_port)
    scenario = box.scenario("caller_until_bye.xml", DIGIT="1", PCAP=MEDIA_FIXTURES / "g711a.pcap",
                            BEFORE_KEY_MS=1500)
    waiting_caller = box.sipp_background([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                                          "-inf", str(box.users_csv("1005")), "-s", "8000",
                                          f"127.0.0.1:{box.sip_port}"])
    waiting = page.locator("#sc-waiting tbody tr")
    expect(waiting).to_have_count(1, timeout=30_000)
    expect(waiting.locator(".sc-queue")).to_have_text("销售")
    call_id = waiting.get_attribute("data-call")
    options = page.locator(f"#sc-move-{call_id} option").evaluate_all("os => os.map(o => o.value)")
    assert f"agent:{OTHER_AGENT}" not in options and "queue:support" not in options, options
    # the API refuses a move out of the supervisor's scope
    assert as_supervisor(box, "POST", f"/api/v1/calls/{call_id}/move", {"agent": OTHER_AGENT})[0] == 403
    assert as_supervisor(box, "POST", f"/api/v1/calls/{call_id}/move", {"queue": "support"})[0] == 403
    b.shot("zh-live-console-waiting")
    page.select_option(f"#sc-move-{call_id}", f"agent:{AGENT}")
    press(b, f"#sc-waiting tr[data-call='{call_id}'] button[data-move]")
    expect(waiting).to_have_count(0, timeout=10_000)
    connected = box.connected_call()
    assert connected == call_id
    _, detail = box.api("GET", f"/api/v1/calls/{call_id}")
    assert [(t["kind"], t["to"]) for t in detail["transfers"]] == [("blind", f"agent:{AGENT}")], detail["transfers"]
    assert box.api("POST", f"/api/v1/calls/{call_id}/hangup")[0] == 202
    for process in (answering, waiting_caller):
        out, _ = process.communicate(timeout=60)
        assert successful(out) == 1, out[-1500:]

    # data scope, through the API: another group's agent is neither listed nor reachable
    status, agents = as_supervisor(box, "GET", "/api/v1/agents")
    assert status == 200 and OTHER_AGENT not in {a["agent"] for a in agents["items"]}
    for state in ("idle", "busy", "logged_out"):
        status, body = as_supervisor(box, "POST", f"/api/v1/agents/{OTHER_AGENT}/force", {"state": state})
        assert status == 403, body
    assert as_supervisor(box, "POST", f"/api/v1/agents/{OTHER_AGENT}/login", {})[0] == 403
    status, queues = as_supervisor(box, "GET", "/api/v1/queues/status")
    assert status == 200 and [q["queue"] for q in queues["items"]] == ["sales"]

    # and through the event stream: the admin's carries the other group's agent, the supervisor's does not
    _, session = box.api("POST", "/api/v1/login", {"name": USER, "password": PASSWORD})
    url = f"ws://127.0.0.1:{box.http_port}/api/v1/events?topics=acd.agent_state_changed"
    with connect(f"{url}&token={session['token']}") as sup_ws, connect(f"{url}&token={box.token}") as admin_ws:
        time.sleep(0.3)
        assert box.api("POST", f"/api/v1/agents/{OTHER_AGENT}/login", {})[0] == 200
        assert box.api("POST", f"/api/v1/agents/{AGENT}/force", {"state": "logged_out"})[0] == 200

        def agents_until(ws: Any, last: str) -> list[str]:
            seen: list[str] = []
            while last not in seen:
                seen.append(json.loads(ws.recv(timeout=10))["agent_id"])
            return seen

        assert OTHER_AGENT in agents_until(admin_ws, AGENT)
        assert agents_until(sup_ws, AGENT) == [AGENT]  # in order: 1004's change came first and was held back
    expect(row).to_have_attribute("data-state", "logged_out")
    expect(page.locator(f"#sc-agents tr[data-agent='{OTHER_AGENT}']")).to_have_count(0)

    # the page's socket killed on the box's side, and the agent logged in meanwhile: the page comes back and
    # shows it from its new snapshot
    kill_page_sockets(box)
    assert box.api("POST", f"/api/v1/agents/{AGENT}/login", {})[0] == 200
    expect(page.locator("#console")).to_have_attribute("data-connects", "2", timeout=10_000)
    expect(page.locator("#console")).to_have_attribute("data-state", "live")
    expect(row).to_have_attribute("data-state", "idle")
    assert b.csp_errors() == []

    # the page in English
    page.goto("/lang?language=en&next=/live/console")
    expect(page.locator("h1")).to_have_text("Supervisor console")
    expect(page.locator("#console")).to_have_attribute("data-state", "live")
    expect(row.locator(".sc-badge")).to_have_text("Idle")
    b.shot("en-live-console")
