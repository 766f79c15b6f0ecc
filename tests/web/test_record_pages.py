"""Records → Call records, Missed calls and Voicemail in Chromium against `appliance run`, with SIPp phones.

SIPp phones make, one after another: two calls an agent answers (recorded), one the agent's phone lets ring
out before the caller hangs up, one the caller abandons in the queue, one that overflows to voicemail with
nobody logged in, and one the caller hangs up in the IVR. Then, in the browser: the call records are
searched and a recording plays in the page (the audio element's time advances; the player's requests are
ranged and answered 206); two recordings are downloaded as one zip whose files are byte for byte the ones on
the box; the missed-calls page lists each call under its kind; a voicemail gets a note and is marked
handled; an agent signed in sees only the calls they took, in the page and the API. axe-core audits the
filled pages in both languages.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import MEDIA_FIXTURES, RunningAppliance, sipp_available, start_appliance, successful
from tests.web.conftest import ADMIN_PASSWORD, Browser, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

PCAP = MEDIA_FIXTURES / "g711a.pcap"
AXE = Path(__file__).resolve().parents[2] / "web_ui" / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
AGENT, AGENT_LOGIN, AGENT_PASSWORD = "1002", "wangfang", "wangfang's password 1"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    app = start_appliance(tmp_path_factory.mktemp("records"))
    try:
        assert app.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
        assert app.api("PATCH", "/api/v1/queues/sales", {"wrap_up_s": 1, "ring_timeout_s": 5, "misses_before_busy": 1,
                                                         "survey_flow": None})[0] == 200
        status, body = app.api("POST", "/api/v1/users", {"name": AGENT_LOGIN, "role": "agent", "staff": AGENT,
                                                         "password": AGENT_PASSWORD})
        assert status in (200, 201), body
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def call(box: RunningAppliance, caller: str, digit: str, wait_ms: int) -> None:
    """`caller` dials the access number, presses `digit` after 2 s and hangs up `wait_ms`
    later (a call is queued about 3 s after the key: the menu hands over with a prompt that cannot be skipped)."""
    scenario = box.scenario("caller_menu.xml", DIGIT=digit, PCAP=PCAP, WAIT_MS=wait_ms, BEFORE_KEY_MS=2000)
    result = box.sipp([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                       "-inf", str(box.users_csv(caller)), "-s", "8000", f"127.0.0.1:{box.sip_port}"], timeout=90)
    assert successful(result) == 1, result.stdout[-2000:]


def new_cdr(box: RunningAppliance, seen: set[str]) -> dict[str, Any]:
    """The CDR of the call to the access number that ended last and was not seen before."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with box.records() as db:
            rows = db.execute("SELECT call_id, data FROM cdr WHERE callee = '8000' ORDER BY started").fetchall()
        fresh = [json.loads(data) for call_id, data in rows if call_id not in seen]
        if fresh:
            seen.add(fresh[-1]["call_id"])
            return dict(fresh[-1])
        time.sleep(0.2)
    raise AssertionError(f"no new CDR; log:\n{box.log.read_text()[-3000:]}")


def finish(phone: subprocess.Popen[str]) -> None:
    out, _ = phone.communicate(timeout=60)
    assert successful(out) == 1, out[-2000:]


@pytest.fixture(scope="module")
def calls(box: RunningAppliance) -> dict[str, dict[str, Any]]:
    """One call of each sort, made by SIPp phones; their CDRs by name."""
    seen: set[str] = set()
    out: dict[str, dict[str, Any]] = {}
    port = free_port()
    assert successful(box.phone_feature(AGENT, "*11", port)) == 1  # registers and logs the agent in
    for name, caller in (("answered_1", "1005"), ("answered_2", "1004")):
        agent = box.answering(port)
        time.sleep(0.3)
        call(box, caller, "1", wait_ms=10_000)  # recorded once the agent's number is spoken: about 3 s
        finish(agent)
        out[name] = new_cdr(box, seen)
        time.sleep(1.5)  # the queue's wrap-up
    ignoring = box.sipp_background(box.sipp_args(box.scenario("agent_ignore.xml"), port))
    time.sleep(0.3)
    call(box, "1005", "1", wait_ms=10_000)  # rings 5 s unanswered (the agent is then made busy), caller gives up
    finish(ignoring)
    out["not_answered"] = new_cdr(box, seen)
    call(box, "1005", "1", wait_ms=7000)  # the only agent is busy: the caller gives up waiting
    out["queue_abandoned"] = new_cdr(box, seen)
    assert box.api("POST", f"/api/v1/agents/{AGENT}/logout")[0] == 200
    assert box.api("PATCH", "/api/v1/queues/sales", {"max_wait_no_agent_s": 2})[0] == 200
    call(box, "1005", "1", wait_ms=14000)  # nobody logged in: overflow to the queue's voicemail box
    out["no_agent"] = new_cdr(box, seen)
    call(box, "1005", "9", wait_ms=2000)  # a key the menu does not know, then gone while still in the IVR
    out["ivr_abandoned"] = new_cdr(box, seen)
    return out


def audit(browser: object, b: Browser, path: str) -> list[str]:
    """axe-core's serious and critical findings on `path`, in a second context on the same session (axe is
    a script the CSP rightly refuses)."""
    if not AXE.exists():
        return []
    other = open_page(browser, b.base, bypass_csp=True)
    other.page.context.add_cookies(b.page.context.cookies())  # type: ignore[attr-defined]
    other.page.goto(path)  # type: ignore[attr-defined]
    other.page.add_script_tag(path=str(AXE))  # type: ignore[attr-defined]
    result = other.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")  # type: ignore[attr-defined]
    other.page.context.close()  # type: ignore[attr-defined]
    return [f"{path}: {v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


def audio_reaches(page: Any, seconds: float, timeout: float = 15.0) -> bool:
    """Whether the page's player gets past `seconds` of playing within `timeout` (polled from here: the
    page's CSP forbids the string evaluation `wait_for_function` would do)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if float(page.evaluate("() => document.getElementById('rec-audio').currentTime")) > seconds:
            return True
        time.sleep(0.1)
    return False


def ranged(box: RunningAppliance, path: str, first: int, last: int) -> tuple[int, str, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{box.http_port}{path}",
                                 headers={"Authorization": f"Bearer {box.token}", "Range": f"bytes={first}-{last}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, str(r.headers.get("Content-Range")), r.read()


def test_records_pages_search_play_zip_missed_voicemail_and_agent_scope(
        box: RunningAppliance, calls: dict[str, dict[str, Any]], playwright_browser: object) -> None:
    expected_kinds = {"not_answered": ["not_answered", "queue_abandoned"], "queue_abandoned": ["queue_abandoned"],
                      "no_agent": ["no_agent"], "ivr_abandoned": ["ivr_abandoned"]}
    for name, kinds in expected_kinds.items():  # the box classified each call as made
        assert calls[name]["missed"] == kinds, (name, calls[name]["missed"], calls[name]["timeline"])
    answered = [calls["answered_1"], calls["answered_2"]]
    for cdr in answered:
        assert cdr["disposition"] == "answered" and cdr["agent"] == AGENT and cdr["recording"], cdr

    # the recordings route answers a range with 206 and exactly those bytes
    wav = (box.data / answered[0]["recording"]).read_bytes()
    status, content_range, part = ranged(box, f"/api/v1/recordings/{answered[0]['call_id']}", 100, 1123)
    assert (status, content_range, part) == (206, f"bytes 100-1123/{len(wav)}", wav[100:1124])

    b = open_page(playwright_browser, base_of(box))
    media: list[tuple[str, int]] = []
    b.page.on("response", lambda r: media.append((r.url, r.status)) if "/api/v1/recordings/" in r.url else None)  # type: ignore[attr-defined]
    sign_in(b, "admin", ADMIN_PASSWORD)
    page: Any = b.page
    problems: list[str] = []

    # 1. search: the agent's answered calls, found by the agent and the result
    page.goto("/records/calls")
    expect(page.locator("nav.side a[href='/records/calls']")).to_have_attribute("aria-current", "page")
    page.select_option("#rf-agent", AGENT)
    page.select_option("#rf-result", "answered")
    page.click(".rec-filters button[type=submit]")
    rows = page.locator("#rec-calls tbody tr[data-call]")
    expect(rows).to_have_count(2)
    assert {rows.nth(i).get_attribute("data-call") for i in range(2)} == {c["call_id"] for c in answered}
    assert "agent=1002" in page.url and "result=answered" in page.url
    expect(page.locator("#rec-calls button[data-dial]")).to_have_count(0)  # the admin has no phone to ring
    # the export link carries the list's filters: the CSV holds the same two calls
    export = page.locator("#rec-export-csv").get_attribute("href")
    assert export.startswith("/api/v1/cdr/export?format=csv&") and "agent=1002" in export, export
    csv = page.request.get(export)
    assert csv.status == 200, csv.text()
    body = csv.body()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    exported = {c for c in (calls[n]["call_id"] for n in calls) if c.encode() in body}
    assert exported == {c["call_id"] for c in answered}, (exported, body.decode()[:1000])
    # a number filter narrows to one caller
    page.goto(f"/records/calls?number={answered[1]['caller']}&result=answered")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-call", answered[1]["call_id"])
    expect(page.locator("#rec-export-hint")).to_be_visible()  # the export cannot filter on a number
    # sorted by a column's heading: shortest first on the second click
    page.goto("/records/calls?agent=1002&result=answered")
    page.click("#rec-calls thead a[href*='sort=duration']")
    expect(page.locator("#rec-calls th[aria-sort='descending'] a[href*='sort=duration']")).to_have_count(1)
    page.click("#rec-calls thead a[href*='sort=duration']")
    expect(page.locator("#rec-calls th[aria-sort='ascending'] a[href*='sort=duration']")).to_have_count(1)
    by_length = sorted(answered, key=lambda c: (c["ended"] - c["started"], c["started"]))
    assert [rows.nth(i).get_attribute("data-call") for i in range(2)] == [c["call_id"] for c in by_length]
    page.goto("/records/calls?agent=1002&result=answered")

    # 2. play a recording in the page: the audio element's time advances, fetched with ranged requests
    first = page.locator(f"#rec-calls tr[data-call='{answered[0]['call_id']}']")
    first.locator("button[data-play]").focus()
    page.keyboard.press("Enter")  # keyboard-usable
    assert audio_reaches(page, 1.0)
    assert page.evaluate("document.getElementById('rec-audio').paused") is False
    assert any(status == 206 for url, status in media if answered[0]["call_id"] in url), media
    b.shot("zh-records-calls-playing")

    # 3. both recordings as one zip: its files are the box's, byte for byte
    for cdr in answered:
        page.locator(f"#rec-calls tr[data-call='{cdr['call_id']}'] input[name=call_id]").check()
    with page.expect_download() as info:
        page.click("#rec-zip")
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(f"{c['call_id']}.wav" for c in answered)
    for cdr in answered:
        assert archive.read(f"{cdr['call_id']}.wav") == (box.data / cdr["recording"]).read_bytes()
    # nothing chosen: the page says so instead of downloading
    page.goto("/records/calls?agent=1002&result=answered")
    page.click("#rec-zip")
    expect(page.locator("#rec-batch-error")).not_to_be_empty()
    problems += audit(playwright_browser, b, "/records/calls?agent=1002&result=answered")

    # 4. missed calls: each call under its own kind, and every kind's tab lists only its kind
    page.goto("/records/missed")
    for name, kinds in expected_kinds.items():
        row = page.locator(f"#rec-missed tr[data-call='{calls[name]['call_id']}']")
        expect(row).to_have_attribute("data-kinds", " ".join(kinds))
    for c in answered:
        expect(page.locator(f"#rec-missed tr[data-call='{c['call_id']}']")).to_have_count(0)
    b.shot("zh-records-missed")
    problems += audit(playwright_browser, b, "/records/missed")
    for kind in ("ivr_abandoned", "no_agent", "not_answered", "queue_abandoned"):
        page.click(f".rec-kinds a[data-kind='{kind}']")
        expect(page.locator(f".rec-kinds a[data-kind='{kind}']")).to_have_attribute("aria-current", "page")
        listed = page.locator("#rec-missed tbody tr[data-call]")
        members = {n for n, ks in expected_kinds.items() if kind in ks}
        expect(listed).to_have_count(len(members))
        assert {listed.nth(i).get_attribute("data-call") for i in range(listed.count())} == \
            {calls[n]["call_id"] for n in members}
        expect(page.locator(f".rec-kinds [data-count='{kind}']")).to_have_text(str(len(members)))
    b.shot("zh-records-missed-queue-abandoned")

    # 5. voicemail: the overflowed call's message played, noted, then marked handled
    status, listing = box.api("GET", "/api/v1/voicemail?box=sales")
    message = next(m for m in listing["items"] if m["call_id"] == calls["no_agent"]["call_id"])
    page.goto("/records/voicemail")
    item = page.locator(f"#rec-voicemail li[data-message='{message['id']}']")
    item.locator("button[data-play]").click()
    assert audio_reaches(page, 0.5)
    item.locator("textarea[name=note]").fill("回访:客户想了解套餐")
    item.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(item.locator("textarea[name=note]")).to_have_value("回访:客户想了解套餐")
    assert box.api("GET", f"/api/v1/voicemail/{message['id']}")[1]["note"] == "回访:客户想了解套餐"
    b.shot("zh-records-voicemail")
    problems += audit(playwright_browser, b, "/records/voicemail")
    item.locator("button[data-handle]").click()
    expect(item).to_have_count(0)  # the list shows messages not handled yet
    handled = box.api("GET", f"/api/v1/voicemail/{message['id']}")[1]
    assert handled["handled"] and handled["handled_by"] == "admin" and handled["note"] == "回访:客户想了解套餐"
    page.goto("/records/voicemail?state=handled")
    expect(page.locator(f"#rec-voicemail li[data-message='{message['id']}'] .rec-handled")).to_be_visible()

    # 6. English too
    page.goto("/lang?language=en&next=/records/missed")
    expect(page.locator("h1")).to_have_text("Missed calls")
    b.shot("en-records-missed")
    problems += audit(playwright_browser, b, "/records/calls")
    assert problems == [], problems
    assert b.csp_errors() == []

    # 7. an agent sees only the calls they took, in the page and the API, whatever the address asks
    with box.records() as db:
        mine = {r[0] for r in db.execute("SELECT call_id FROM cdr WHERE agent = ?", (AGENT,))}
        others = db.execute("SELECT count(*) FROM cdr WHERE agent IS NOT ? ", (AGENT,)).fetchone()[0]
    assert mine and others > 0
    a = open_page(playwright_browser, base_of(box))
    sign_in(a, AGENT_LOGIN, AGENT_PASSWORD)
    agent_page: Any = a.page
    for path in ("/records/calls", "/records/calls?agent=1001", "/records/calls?number=1005"):
        agent_page.goto(path)
        listed = agent_page.locator("#rec-calls tbody tr[data-call]")
        ids = {listed.nth(i).get_attribute("data-call") for i in range(listed.count())}
        assert ids <= mine and (path.endswith("1001") or ids), (path, ids)
    agent_page.goto("/records/calls")
    expect(agent_page.locator("#rec-calls tbody tr[data-call]")).to_have_count(len(mine))
    expect(agent_page.locator("#rf-agent")).to_have_count(0)
    expect(agent_page.locator("nav.side a[href='/records/missed']")).to_have_count(0)
    a.shot("zh-records-calls-agent")
    assert agent_page.goto("/records/missed").status == 403
    token = box.api("POST", "/api/v1/login", {"name": AGENT_LOGIN, "password": AGENT_PASSWORD})[1]["token"]
    admin_token, box.token = box.token, token
    try:
        status, own = box.api("GET", "/api/v1/cdr?limit=1000")
        assert status == 200 and {c["call_id"] for c in own["items"]} == mine
        assert box.api("GET", "/api/v1/cdr?agent=1001")[0] == 403
        someone_elses = calls["no_agent"]["call_id"]
        assert box.api("GET", f"/api/v1/cdr/{someone_elses}")[0] == 403
        assert box.api("GET", f"/api/v1/recordings.zip?call_id={answered[0]['call_id']}&call_id={someone_elses}")[0] == 403
    finally:
        box.token = admin_token
    # 8. click-to-call: the customers' numbers (extensions here) are within the agent's dial class
    agent_page.goto("/records/calls")
    dial = agent_page.locator(f"#rec-calls tr[data-call='{answered[0]['call_id']}'] button[data-dial]").first
    expect(dial).to_have_attribute("data-dial", answered[0]["caller"])
    dial.click()
    expect(agent_page.locator("#rec-dial-status")).to_contain_text(answered[0]["caller"])
    placed = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not placed:  # the box rings the agent's phone first, then the number
        placed = next((c["id"] for c in box.api("GET", "/api/v1/calls")[1]["items"]
                       if c["extension"] == AGENT and c["callee"] == answered[0]["caller"]), "")
        time.sleep(0.2)
    assert placed, box.api("GET", "/api/v1/calls")
    assert box.api("POST", f"/api/v1/calls/{placed}/hangup")[0] == 202
