"""The wallboard (Live operations → Wallboard) in Chromium against `appliance run`, with SIPp phones.

A call enters the sales queue while its agent is busy: the queue's waiting count changes on the page within
a second of the queue log's time. The agent is made idle and answers: the tile turns "on a call" within a
second of the agent log's time; after 16 s of talk the call is hung up: wrap-up, then idle, each within a second,
and the seed's counters (IVR entries, queue entries, waiting, calls over 15 s) follow from the events. The page's
WebSocket is then killed on the server's side (`ss -K`) mid-call: the page reconnects and shows the call
still up; killed again just before the call ends, it shows wrap-up from its new snapshot (the event went by
while it was away). Times on the page are taken by a MutationObserver as the DOM changes; times on the box
are the journal's rows. A supervisor of one work group sees only that group's agents and their queue.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import MEDIA_FIXTURES, RunningAppliance, sipp_available, start_appliance, successful
from tests.web.conftest import ADMIN_PASSWORD, Browser, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

PCAP = MEDIA_FIXTURES / "g711a.pcap"
ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
AGENT, CALLER = "1002", "1005"
LIVE_S = 1.0  # the bound from the box's event to the page

# Records, with the page's wall clock, each change of what the test watches: the sales queue's waiting count,
# the agent's tile state and the connection's state.
OBSERVER = """([agent]) => {
  window.seen = [];
  const last = {};
  const read = () => ({
    waiting: (document.querySelector('#wb-queues tr[data-queue="sales"] td[data-col="waiting"] .wb-v') || {}).textContent,
    agent: (document.querySelector(`#wb-agents li[data-agent="${agent}"]`) || {dataset: {}}).dataset.state,
    link: document.getElementById('wallboard').dataset.state,
  });
  const note = () => {
    const now = read();
    for (const key of Object.keys(now)) {
      if (now[key] !== last[key]) { last[key] = now[key]; window.seen.push([key, now[key], Date.now() / 1000]); }
    }
  };
  note();
  new MutationObserver(note).observe(document.getElementById('wallboard'),
    {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    app = start_appliance(tmp_path_factory.mktemp("wallboard"))
    try:
        assert app.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
        assert app.api("PATCH", "/api/v1/queues/sales", {"wrap_up_s": 3})[0] == 200
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def seen_at(b: Browser, key: str, value: str, after: float = 0.0) -> float:
    """When the page first showed `value` for `key` after `after` (wall clock, seconds)."""
    for k, v, at in b.page.evaluate("window.seen"):  # type: ignore[attr-defined]
        if k == key and v == value and at >= after:
            return float(at)
    raise AssertionError(f"the page never showed {key}={value}: {b.page.evaluate('window.seen')}")  # type: ignore[attr-defined]


def journal_at(box: RunningAppliance, sql: str, *args: object) -> float:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = box.rows(sql, *args)
        if rows:
            return float(rows[0][0])
    raise AssertionError(f"no journal row for {sql} {args}")


def agent_state_at(box: RunningAppliance, state: str, after: float) -> float:
    return journal_at(box, "SELECT at FROM agent_log WHERE agent = ? AND state_to = ? AND at >= ? ORDER BY id LIMIT 1",
                      AGENT, state, after)


def kill_page_sockets(box: RunningAppliance) -> None:
    """Destroy, in the kernel, the box's end of every TCP connection to its HTTP port: the page's WebSocket."""
    result = subprocess.run(["ss", "-K", "-t", "state", "established", f"( sport = :{box.http_port} )"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and f":{box.http_port}" in result.stdout, (result.stdout, result.stderr)


def start_call(box: RunningAppliance, port: int) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """The agent's phone (answers the next call) and a caller who presses 1 (sales) and stays until hung up."""
    agent = box.answering(port)
    time.sleep(0.3)
    scenario = box.scenario("caller_until_bye.xml", DIGIT="1", PCAP=PCAP, BEFORE_KEY_MS=1500)
    caller = box.sipp_background([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                                  "-inf", str(box.users_csv(CALLER)), "-s", "8000", f"127.0.0.1:{box.sip_port}"])
    return agent, caller


def finish(*phones: subprocess.Popen[str]) -> None:
    for phone in phones:
        out, _ = phone.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]


def api_state(box: RunningAppliance, agent: str) -> str:
    status, body = box.api("GET", "/api/v1/agents")
    assert status == 200
    return str(next(a["state"] for a in body["items"] if a["agent"] == agent))


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_the_wallboard_follows_a_call_live_and_resyncs_after_its_socket_is_killed(
        box: RunningAppliance, playwright_browser: object) -> None:
    port = free_port()
    assert successful(box.phone_feature(AGENT, "*11", port)) == 1  # the agent's phone registers and logs in
    assert box.api("POST", f"/api/v1/agents/{AGENT}/pause", {"reason": "1"})[0] == 200

    b = open_page(playwright_browser, base_of(box))
    sign_in(b, "admin", ADMIN_PASSWORD)
    page: Any = b.page
    page.goto("/live/wallboard")
    expect(page.locator("nav.side a[href='/live/wallboard']")).to_have_attribute("aria-current", "page")
    expect(page.locator("#wallboard")).to_have_attribute("data-state", "live")
    tile = page.locator(f"#wb-agents li[data-agent='{AGENT}']")
    expect(tile).to_have_attribute("data-state", "paused")
    expect(tile).to_contain_text("休息")  # busy, with its reason
    waiting = page.locator("#wb-queues tr[data-queue='sales'] td[data-col='waiting'] .wb-v")
    expect(waiting).to_have_text("0")
    page.evaluate(OBSERVER, [AGENT])

    # 1. the call waits in the queue (its only agent is busy)
    started = time.time()
    agent_phone, caller = start_call(box, port)
    expect(waiting).to_have_text("1", timeout=30_000)
    queued = journal_at(box, "SELECT at FROM queue_log WHERE event = 'queued' AND at >= ? ORDER BY id LIMIT 1", started)
    assert 0 <= seen_at(b, "waiting", "1", started) - queued < LIVE_S
    longest = page.locator("#wb-queues tr[data-queue='sales'] td[data-col='longest'] .wb-v")
    expect(longest).to_have_text(re.compile(r"^00:0[2-9]$"), timeout=5_000)  # counts up, from the call's arrival
    counter = {name: page.locator(f"#wb-counters [data-counter='{name}']") for name in (
        "ivr_entries", "ivr_abandoned", "queue_entries", "waiting", "long_calls")}
    expect(counter["ivr_entries"]).to_have_text("1")  # live, from ivr.started
    expect(counter["queue_entries"]).to_have_text("1")
    expect(counter["waiting"]).to_have_text("1")

    # 2. the agent is made idle: the call rings the phone, which answers
    assert box.api("POST", f"/api/v1/agents/{AGENT}/unpause")[0] == 200
    expect(tile).to_have_attribute("data-state", "on_call", timeout=10_000)
    assert 0 <= seen_at(b, "agent", "on_call", started) - agent_state_at(box, "on_call", started) < LIVE_S
    expect(waiting).to_have_text("0")
    expect(tile.locator(".wb-a-call")).to_have_text(f"{CALLER} · 销售")
    b.shot("zh-live-wallboard")
    call_id = box.connected_call()
    expect(counter["waiting"]).to_have_text("0")
    time.sleep(16)  # talked for over 15 s: one of the seed's calls over 15 s

    # 3. hung up: wrap-up (3 s in this queue), then idle
    hung_up = time.time()
    assert box.api("POST", f"/api/v1/calls/{call_id}/hangup")[0] == 202
    expect(tile).to_have_attribute("data-state", "wrap_up", timeout=5_000)
    assert 0 <= seen_at(b, "agent", "wrap_up", hung_up) - agent_state_at(box, "wrap_up", hung_up) < LIVE_S
    expect(tile).to_have_attribute("data-state", "idle", timeout=10_000)
    assert 0 <= seen_at(b, "agent", "idle", hung_up) - agent_state_at(box, "idle", hung_up) < LIVE_S
    finish(agent_phone, caller)
    row = page.locator("#wb-queues tr[data-queue='sales']")
    expect(row.locator("td[data-col='answered'] .wb-v")).to_have_text("1")
    expect(row.locator("td[data-col='offered'] .wb-v")).to_have_text("1")
    expect(tile.locator(".wb-a-count")).to_have_text("1")
    expect(row.locator("td[data-col='long_calls'] .wb-v")).to_have_text("1")  # live, from records.call_completed
    expect(counter["long_calls"]).to_have_text("1")
    expect(counter["ivr_abandoned"]).to_have_text("0")
    # what the page counted from events is what the reports' roll-ups say
    status, snap = box.api("GET", "/api/v1/wallboard")
    assert status == 200
    sales = next(q for q in snap["queues"] if q["queue"] == "sales")
    assert (sales["today"]["queued"], sales["today"]["answered"], sales["today"]["long_calls"]) == (1, 1, 1), sales
    assert snap["ivr_today"] == {"entries": 1, "abandoned": 0}, snap["ivr_today"]
    assert next(a for a in snap["agents"] if a["agent"] == AGENT)["answered_today"] == 1

    # 4. a second call; the page's socket is killed mid-call: it comes back and shows the call still up
    assert box.api("PATCH", "/api/v1/queues/sales", {"wrap_up_s": 30})[0] == 200
    agent_phone, caller = start_call(box, port)
    expect(tile).to_have_attribute("data-state", "on_call", timeout=30_000)
    kill_page_sockets(box)
    expect(page.locator("#wallboard")).to_have_attribute("data-connects", "2", timeout=10_000)
    expect(page.locator("#wallboard")).to_have_attribute("data-state", "live")
    expect(tile).to_have_attribute("data-state", "on_call")
    assert seen_at(b, "link", "down") > 0  # it did lose the stream

    # 5. killed again, and the call ends while the page is away: its new snapshot shows wrap-up
    call_id = box.connected_call()
    kill_page_sockets(box)
    away = time.time()
    assert box.api("POST", f"/api/v1/calls/{call_id}/hangup")[0] == 202
    expect(page.locator("#wallboard")).to_have_attribute("data-connects", "3", timeout=10_000)
    expect(tile).to_have_attribute("data-state", "wrap_up")
    assert api_state(box, AGENT) == "wrap_up"
    back = seen_at(b, "link", "live", after=away)
    assert seen_at(b, "agent", "wrap_up", after=away) >= back  # drawn from the snapshot, not a live event
    expect(row.locator("td[data-col='answered'] .wb-v")).to_have_text("2")
    expect(tile.locator(".wb-a-count")).to_have_text("2")
    expect(counter["ivr_entries"]).to_have_text("2")
    expect(counter["long_calls"]).to_have_text("1")  # the second call was shorter
    finish(agent_phone, caller)
    assert b.csp_errors() == []

    # the same board in English, full-screen TV mode
    page.goto("/lang?language=en&next=/live/wallboard")
    expect(page.locator("#wallboard")).to_have_attribute("data-state", "live")
    expect(tile).to_contain_text("Wrap-up")
    page.click("#wb-tv")
    expect(page.locator("html")).to_have_class(re.compile(r"\bwb-tv\b"))
    expect(page.locator("nav.side")).to_be_hidden()
    b.shot("en-live-wallboard-tv")
    assert box.api("POST", f"/api/v1/agents/{AGENT}/logout")[0] == 200
    expect(tile).to_have_attribute("data-state", "logged_out")


def test_thresholds_colour_the_longest_wait(box: RunningAppliance, playwright_browser: object) -> None:
    """With the long-wait alarm's levels at 2 s (clear) and 4 s (raise), a waiting call's cell turns amber,
    then red; its text says so for a screen reader too. The current-calls list shows the call while it waits
    and drops it when it is hung up."""
    assert box.api("PATCH", "/api/v1/monitoring/thresholds",
                   {"queue_wait_long": {"set_level": 4, "clear_level": 2}})[0] == 200
    b = open_page(playwright_browser, base_of(box))
    sign_in(b, "admin", ADMIN_PASSWORD)
    page: Any = b.page
    page.goto("/live/wallboard?queue=sales")
    expect(page.locator("#wallboard")).to_have_attribute("data-state", "live")
    expect(page.locator("#wb-queues tbody tr")).to_have_count(1)  # the filter: sales alone
    expect(page.locator("#wb-agents li")).to_have_count(3)  # its members
    scenario = box.scenario("caller_until_bye.xml", DIGIT="1", PCAP=PCAP, BEFORE_KEY_MS=1500)
    caller = box.sipp_background([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                                  "-inf", str(box.users_csv(CALLER)), "-s", "8000", f"127.0.0.1:{box.sip_port}"])
    try:
        cell = page.locator("#wb-queues tr[data-queue='sales'] td[data-col='longest']")
        expect(cell).to_have_class("count wb-amber", timeout=30_000)
        expect(cell).to_have_class("count wb-red", timeout=5_000)
        expect(cell.locator(".sr-only")).to_have_text("(超过告警值)")
        b.shot("zh-live-wallboard-red")

        # the same call on Records → Current calls (当前通话列表), gone from it when it ends
        page.goto("/records/current-calls")
        expect(page.locator("#current-calls")).to_have_attribute("data-state", "live")
        row = page.locator("#cc-calls tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-phase", "queued")
        texts = row.locator("td").all_inner_texts()
        assert (texts[0], texts[1], texts[4], texts[5], texts[6], texts[7]) == (
            CALLER, "8000", "呼入", "在队列中等待", "销售", "8000"), texts
        assert re.fullmatch(r"00:[0-5]\d", texts[3]), texts  # its duration, counting
        b.shot("zh-current-calls")
        _, calls = box.api("GET", "/api/v1/calls")
        assert box.api("POST", f"/api/v1/calls/{calls['items'][0]['id']}/hangup")[0] == 202
        expect(row).to_have_count(0, timeout=5_000)
        expect(page.locator("#cc-empty")).to_be_visible()
    finally:
        _, calls = box.api("GET", "/api/v1/calls")
        for c in calls["items"]:
            box.api("POST", f"/api/v1/calls/{c['id']}/hangup")
        caller.communicate(timeout=30)
        box.api("PATCH", "/api/v1/monitoring/thresholds", {"queue_wait_long": {"set_level": 120, "clear_level": 60}})


def test_a_supervisor_sees_only_the_agents_and_queues_they_manage(box: RunningAppliance,
                                                                   playwright_browser: object) -> None:
    assert box.api("PATCH", "/api/v1/staff/1901", {"managed_groups": ["support-team"],
                                                   "managed_queues": ["support"]})[0] == 200
    status, _ = box.api("POST", "/api/v1/users", {"name": "zhaomin", "role": "supervisor", "staff": "1901",
                                                  "password": "supervisor password 1"})
    assert status in (200, 201)
    status, session = box.api("POST", "/api/v1/login", {"name": "zhaomin", "password": "supervisor password 1"})
    assert status == 200
    token, box.token = box.token, session["token"]
    try:
        status, snap = box.api("GET", "/api/v1/wallboard")
    finally:
        box.token = token
    assert status == 200, snap
    assert sorted(a["agent"] for a in snap["agents"]) == ["1004", "1005", "1901"]  # support-team, and themself
    assert [q["queue"] for q in snap["queues"]] == ["support"]

    b = open_page(playwright_browser, base_of(box))
    sign_in(b, "zhaomin", "supervisor password 1")
    page: Any = b.page
    page.goto("/live/wallboard")
    expect(page.locator("#wallboard")).to_have_attribute("data-state", "live")
    expect(page.locator("#wb-agents li")).to_have_count(3)
    expect(page.locator("#wb-agents li[data-agent='1002']")).to_have_count(0)
    expect(page.locator("#wb-queues tbody tr")).to_have_count(1)
    assert [o for o in page.locator("#wb-f-queue option").all_inner_texts()] == ["全部", "技术支持"]
    assert page.locator("#wb-f-group option").all_inner_texts() == ["全部", "技术支持组"]
    b.shot("zh-live-wallboard-supervisor")
    assert json.loads(page.locator("#wallboard").get_attribute("data-thresholds"))["queue_wait_long"]["red"] == 120
