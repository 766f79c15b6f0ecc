"""The agent desk (/desk) in Chromium against `appliance run`, with SIPp phones and callers.

Two agents of the sales queue sign in at their desks, each bound to a registered SIPp phone; 1003 goes busy with
a reason, so the queue offers callers to 1002. The box holds a call from last week by 1005 (a VIP customer),
with its recording and a service record.

1. 1005 calls: 1002's desk pops the customer within a second of the ring (the agent leg's creation),
   flagged VIP, with last week's call (its recording plays) and its service record, and the IVR path and keys
   the caller took. Held from the desk; the desk's WebSocket is killed on the server's side (`ss -K`) while the
   call is resumed: it reconnects and shows the call resumed, from its new reading of the state. 1002 types notes, saves a service record with the call, marks an intended customer,
   consults 1003 (whose desk pops the same customer with the notes) and goes back to the caller, then
   transfers the caller to 1003 from the desk; 1003's desk pops the same customer with 1002's notes again.
   1003 hangs up from the desk, and the service record is found from the call's CDR.
2. 1004, whom no customer has, calls: 1002 (after ending wrap-up from the desk) gets the new-customer form with
   the number filled in, beside what the customer's own CRM (a small HTTP server here) says about the caller,
   and adds the customer.
3. Click-to-dial from the desk: refused beyond the agent's dial class, else the agent's phone rings, then the
   number.
The desk is audited by axe in both languages, and the CSP is never violated.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from appliance.records.sqlite_store import RecordStore
from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import MEDIA_FIXTURES, RunningAppliance, sipp_available, start_appliance, successful
from tests.web.conftest import Browser, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed"),
              pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")]

PCAP = MEDIA_FIXTURES / "g711a.pcap"
AXE = Path(__file__).resolve().parents[2] / "web_ui" / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
FIRST, SECOND = "1002", "1003"  # agents of the sales queue
KNOWN, UNKNOWN = "1005", "1004"  # callers (extensions dialling the access number)
PASSWORDS = {FIRST: "first agent password 1", SECOND: "second agent password 2"}
POP_S = 1.0
WEEK = 7 * 86400

# The page's wall-clock time of the first change of what the test watches: the popped customer and the call.
OBSERVER = """() => {
  window.seen = [];
  const root = document.getElementById('desk');
  const last = {};
  const note = () => {
    const now = {customer: root.dataset.customer || '', newform: String(!document.getElementById('dk-cust-new').hidden),
                 caller: document.getElementById('dk-caller').textContent};
    for (const key of Object.keys(now)) {
      if (now[key] !== last[key]) { last[key] = now[key]; window.seen.push([key, now[key], Date.now() / 1000]); }
    }
  };
  note();
  new MutationObserver(note).observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    app = start_appliance(tmp_path_factory.mktemp("desk"))
    try:
        assert app.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
        assert app.api("PATCH", "/api/v1/queues/sales", {"survey_flow": None, "wrap_up_s": 60})[0] == 200
        for staff, name in ((FIRST, "wangfang"), (SECOND, "lina")):
            status, body = app.api("POST", "/api/v1/users", {"name": name, "role": "agent", "staff": staff,
                                                             "password": PASSWORDS[staff]})
            assert status in (200, 201), body
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def last_weeks_call(box: RunningAppliance, customer_id: int) -> str:
    """A call 1005 made a week ago, answered by 1002, with its recording on disk and a service record: what the
    box holds before the test."""
    started = time.time() - WEEK
    day = time.strftime("%Y%m%d", time.localtime(started))
    call_id = f"{day}-lastweek-1"
    folder = box.data / "recordings" / day
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(str(folder / f"{call_id}.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00\x20\x00" * 8000)
    cdr = {"call_id": call_id, "direction": "inbound", "caller": KNOWN, "callee": "8000", "did": "8000",
           "started": started, "answered": started + 2, "ended": started + 95, "queue": "sales", "agent": FIRST,
           "agent_answered": started + 12, "talk": 83.0, "wait": 6.0, "ivr_path": ["welcome", "menu", "sales"],
           "ivr_keys": "1", "disposition": "answered", "missed": [], "legs": [], "transfers": [],
           "recording": f"recordings/{day}/{call_id}.wav", "recordings": [f"recordings/{day}/{call_id}.wav"]}
    store = RecordStore.open(box.data / "records.sqlite3")
    try:
        store.put_cdr(cdr)
    finally:
        store.close()
    status, record = box.api("POST", f"/api/v1/customers/{customer_id}/service-records", {
        "type": "repair", "content": "Router keeps rebooting", "result": "follow_up", "follow_up": "2026-01-05",
        "call_id": call_id, "agent": FIRST})
    assert status in (200, 201), record
    return call_id


class Crm(HTTPServer):
    """The customer's own CRM: it knows the unknown caller (by another name, blacklisted), nobody else."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CrmAnswer)
        self.asked: list[str] = []


class CrmAnswer(BaseHTTPRequestHandler):
    server: Crm

    def do_GET(self) -> None:
        number = self.path.partition("number=")[2]
        self.server.asked.append(number)
        body = json.dumps({"name": "外部客户", "blacklisted": True, "url": "https://crm.example/customers/88",
                           "fields": {"level": "gold"}}).encode() if number == UNKNOWN else b"{}"
        self.send_response(200 if number == UNKNOWN else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def desk(playwright_browser: object, box: RunningAppliance, user: str, staff: str) -> Browser:
    b = open_page(playwright_browser, base_of(box))
    sign_in(b, user, PASSWORDS[staff])
    page: Any = b.page
    page.goto("/desk")
    expect(page.locator("#desk")).to_have_attribute("data-state", "live")
    expect(page.locator("nav.side a[href='/desk']")).to_have_attribute("aria-current", "page")
    expect(page.locator("#dk-extension")).to_have_value(staff)
    page.click("#dk-signin-go")
    expect(page.locator("#dk-state")).to_have_attribute("data-state", "idle")
    expect(page.locator("#dk-phone")).to_contain_text(staff)
    return b


def kill_page_sockets(box: RunningAppliance) -> None:
    """Destroy, in the kernel, the box's end of every TCP connection to its HTTP port: the pages' WebSockets."""
    result = subprocess.run(["ss", "-K", "-t", "state", "established", f"( sport = :{box.http_port} )"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and f":{box.http_port}" in result.stdout, (result.stdout, result.stderr)


def seen_at(b: Browser, key: str, value: str, after: float = 0.0) -> float:
    for k, v, at in b.page.evaluate("window.seen"):  # type: ignore[attr-defined]
        if k == key and v == value and at >= after:
            return float(at)
    raise AssertionError(f"the page never showed {key}={value}: {b.page.evaluate('window.seen')}")  # type: ignore[attr-defined]


def caller(box: RunningAppliance, extension: str) -> subprocess.Popen[str]:
    """`extension` dials the access number, presses 1 (sales) and stays until hung up."""
    scenario = box.scenario("caller_until_bye.xml", DIGIT="1", PCAP=PCAP, BEFORE_KEY_MS=1500)
    return box.sipp_background([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                                "-inf", str(box.users_csv(extension)), "-s", "8000", f"127.0.0.1:{box.sip_port}"])


def finish(*phones: subprocess.Popen[str]) -> None:
    for phone in phones:
        out, _ = phone.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]


def axe(playwright_browser: object, box: RunningAppliance, b: Browser, language: str) -> list[str]:
    audit = open_page(playwright_browser, base_of(box), language=language, bypass_csp=True)
    audit.page.context.add_cookies(b.page.context.cookies())  # type: ignore[attr-defined]
    page: Any = audit.page
    page.goto("/desk")
    expect(page.locator("#desk")).to_have_attribute("data-state", "live")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    page.context.close()
    return [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


def test_the_desk_pops_the_customer_passes_the_record_on_and_saves_a_service_record_with_the_call(
        box: RunningAppliance, playwright_browser: object) -> None:
    status, created = box.api("POST", "/api/v1/customers", {"name": "周杰", "numbers": [KNOWN], "vip": True,
                                                            "area": "021", "note": "prefers mornings"})
    assert status in (200, 201), created
    customer_id = int(created["id"])
    old_call = last_weeks_call(box, customer_id)
    ports = {staff: box.register(staff) for staff in (FIRST, SECOND)}

    second = desk(playwright_browser, box, "lina", SECOND)
    p2: Any = second.page
    p2.select_option("#dk-reason", "2")
    p2.click("#dk-busy")  # busy (training): the queue offers callers to the first agent
    expect(p2.locator("#dk-state")).to_have_attribute("data-state", "paused")
    expect(p2.locator("#dk-state")).to_contain_text("培训")
    first = desk(playwright_browser, box, "wangfang", FIRST)
    p1: Any = first.page
    sales = p1.locator("#dk-qtable tr[data-queue='sales']")
    expect(sales.locator("td").nth(2)).to_have_text("1 / 2")  # of the two logged in, 1002 is idle (1003 busy)
    expect(p1.locator("#dk-keys")).to_be_hidden()
    p1.click(".dk-help button")  # the keyboard shortcuts (an Alpine component)
    expect(p1.locator("#dk-keys")).to_be_visible()
    expect(p1.locator(".dk-help button")).to_have_attribute("aria-expanded", "true")
    first.shot("zh-desk-signed-in")
    p1.click(".dk-help button")
    expect(p1.locator("#dk-keys")).to_be_hidden()
    for b in (first, second):
        b.page.evaluate(OBSERVER)  # type: ignore[attr-defined]

    # 1. the known caller: the customer pops on the first desk within a second of the ring
    phone1 = box.answering(ports[FIRST])
    phone2 = box.answering(ports[SECOND])
    time.sleep(0.3)
    started = time.time()
    known = caller(box, KNOWN)
    expect(p1.locator("#desk")).to_have_attribute("data-customer", str(customer_id), timeout=30_000)
    call_id = box.connected_call()
    expect(p1.locator("#dk-cust-title")).to_contain_text("周杰")
    expect(p1.locator("#dk-vip")).to_be_visible()
    expect(p1.locator("#dk-black")).to_be_hidden()
    expect(p1.locator("#dk-c-numbers")).to_have_value(KNOWN)
    expect(p1.locator(f"#dk-calls tr[data-call='{old_call}']")).to_contain_text("销售")
    expect(p1.locator(f"#dk-records tr[data-call='{old_call}']")).to_contain_text("Router keeps rebooting")
    expect(p1.locator(f"#dk-records tr[data-call='{old_call}']")).to_contain_text("报修")
    expect(p1.locator("#dk-state")).to_have_attribute("data-state", "on_call")
    expect(p1.locator("#dk-phase")).to_have_text("通话中")
    expect(p1.locator("#dk-ivr")).to_contain_text("menu")
    expect(p1.locator("#dk-keys-pressed")).to_have_text("1")
    # last week's recording plays from the page
    p1.click(f"#dk-calls tr[data-call='{old_call}'] button")
    audio = p1.locator(f"#dk-calls tr[data-call='{old_call}'] audio")
    expect(audio).to_have_attribute("src", f"/api/v1/recordings/{old_call}")
    p1.wait_for_function("el => el.readyState >= 1 && el.duration > 0.9", arg=audio.element_handle())
    rang = next(leg["created"] for leg in box.api("GET", f"/api/v1/calls/{call_id}")[1]["legs"]
                if leg["agent"] == FIRST)
    popped = seen_at(first, "customer", str(customer_id), started) - rang
    print(f"screen pop {popped * 1000:.0f} ms after the ring")
    assert 0 <= popped < POP_S, popped

    # notes, a service record saved with the call, and the intended-customer mark
    p1.keyboard.press("Alt+N")
    expect(p1.locator("#dk-notes")).to_be_focused()
    p1.keyboard.type("Wants the router replaced; asked twice")
    expect(p1.locator("#dk-notes-state")).to_contain_text("已于", timeout=5_000)
    p1.select_option("#dk-r-type", "complaint")
    p1.select_option("#dk-r-result", "escalated")
    p1.fill("#dk-r-content", "Second reboot complaint; replacement promised")
    p1.fill("#dk-r-follow", "2026-12-20")
    p1.click("#dk-rec-form button[type=submit]")
    expect(p1.locator("#dk-rec-form .saved")).to_have_text("服务记录已保存。")
    expect(p1.locator(f"#dk-records tr[data-call='{call_id}']")).to_contain_text("replacement promised")
    p1.click("#dk-intended")
    expect(p1.locator("#dk-intended-done")).to_be_visible()
    first.shot("zh-desk-screen-pop")

    # hold and resume from the desk: the caller hears music meanwhile
    p1.keyboard.press("Alt+H")
    expect(p1.locator("#dk-phase")).to_have_text("保持中")
    expect(p1.locator("#dk-hold")).to_have_text("恢复")
    assert box.api("GET", f"/api/v1/calls/{call_id}")[1]["on_hold"] is True
    # the desk's stream is cut while the call is resumed elsewhere: it reconnects and shows the call as it is now
    kill_page_sockets(box)
    assert box.api("POST", f"/api/v1/calls/{call_id}/hold", {"on": False})[0] == 202
    expect(p1.locator("#desk")).to_have_attribute("data-connects", "2", timeout=10_000)
    expect(p1.locator("#desk")).to_have_attribute("data-state", "live")
    expect(p1.locator("#dk-phase")).to_have_text("通话中")
    expect(p1.locator("#desk")).to_have_attribute("data-customer", str(customer_id))
    p1.click("#dk-hold")
    expect(p1.locator("#dk-phase")).to_have_text("保持中")
    p1.click("#dk-hold")
    expect(p1.locator("#dk-phase")).to_have_text("通话中")
    assert box.api("GET", f"/api/v1/calls/{call_id}")[1]["on_hold"] is False

    # 2. the first agent consults the second (whose desk pops the record with the notes), then goes back
    expect(p1.locator("#dk-consulting")).to_be_hidden()
    p1.keyboard.press("Alt+T")
    expect(p1.locator("#dk-t-target")).to_be_focused()
    p1.keyboard.type(SECOND)
    p1.click("#dk-consult")
    expect(p1.locator("#dk-consulting")).to_be_visible()
    expect(p1.locator("#dk-blind")).to_be_hidden()
    expect(p2.locator("#desk")).to_have_attribute("data-customer", str(customer_id), timeout=10_000)
    expect(p2.locator("#dk-notes")).to_have_value("Wants the router replaced; asked twice")
    expect(p2.locator("#dk-phase")).to_have_text("通话中", timeout=10_000)
    _, during = box.api("GET", f"/api/v1/calls/{call_id}")
    assert during["on_hold"] is True, during  # the caller waits while the agents talk
    p1.click("#dk-return")
    expect(p1.locator("#dk-consulting")).to_be_hidden()
    expect(p2.locator("#dk-nocall")).to_be_visible(timeout=10_000)
    expect(p2.locator("#dk-state")).to_have_attribute("data-state", "paused")
    finish(phone2)  # the consultation's leg was hung up

    # 3. transferred from the desk to the second agent: their desk pops the same record with the notes
    phone2 = box.answering(ports[SECOND])
    time.sleep(0.3)
    p1.select_option("#dk-t-kind", "agent")
    p1.fill("#dk-t-target", SECOND)
    p1.click("#dk-blind")
    expect(p1.locator("#dk-nocall")).to_be_visible(timeout=10_000)
    expect(p1.locator("#dk-state")).to_have_attribute("data-state", "wrap_up")
    expect(p2.locator("#desk")).to_have_attribute("data-customer", str(customer_id), timeout=10_000)
    expect(p2.locator("#dk-notes")).to_have_value("Wants the router replaced; asked twice")
    expect(p2.locator("#dk-notes-state")).to_contain_text("王芳")
    expect(p2.locator("#dk-caller")).to_have_text(KNOWN)
    expect(p2.locator("#dk-phase")).to_have_text("通话中", timeout=10_000)
    expect(p2.locator(f"#dk-records tr[data-call='{call_id}']")).to_contain_text("replacement promised")
    second.shot("zh-desk-after-transfer")
    p2.keyboard.press("Alt+U")  # hang up from the desk
    expect(p2.locator("#dk-nocall")).to_be_visible(timeout=10_000)
    finish(known, phone1, phone2)

    # the service record is found from the CDR, which says the call was transferred and the caller intended
    cdr = box.wait_for_cdr("8000")
    assert cdr["call_id"] == call_id and cdr["intended_customer"] is True, cdr
    assert [(t["from"], t["to"]) for t in cdr["transfers"]] == [(FIRST, f"agent:{SECOND}")], cdr["transfers"]
    status, found = box.api("GET", f"/api/v1/service-records?call_id={cdr['call_id']}")
    assert status == 200, found
    assert [(r["customer_id"], r["type"], r["result"], r["agent"]) for r in found["items"]] == [
        (customer_id, "complaint", "escalated", FIRST)]

    # 4. an unknown caller: the first agent ends wrap-up, and the new-customer form opens with the number
    p1.click("#dk-wrapup")
    expect(p1.locator("#dk-state")).to_have_attribute("data-state", "idle")
    crm = Crm()
    threading.Thread(target=crm.serve_forever, daemon=True).start()
    assert box.api("PATCH", "/api/v1/settings",
                   {"crm_customer_url": f"http://127.0.0.1:{crm.server_port}/customer"})[0] == 200
    phone1 = box.answering(ports[FIRST])
    time.sleep(0.3)
    unknown = caller(box, UNKNOWN)
    expect(p1.locator("#dk-cust-new")).to_be_visible(timeout=30_000)
    expect(p1.locator("#dk-crm-facts")).to_contain_text("外部客户")  # what the CRM said, beside the form
    expect(p1.locator("#dk-crm-facts")).to_contain_text("gold")
    expect(p1.locator("#dk-crm-black")).to_be_visible()
    expect(p1.locator("#dk-crm-link")).to_have_attribute("href", "https://crm.example/customers/88")
    crm.shutdown()
    assert UNKNOWN in crm.asked
    expect(p1.locator("#dk-caller")).to_have_text(UNKNOWN)
    expect(p1.locator("#dk-n-numbers")).to_have_value(UNKNOWN)
    expect(p1.locator("#dk-cust-title")).to_contain_text(UNKNOWN)
    p1.fill("#dk-n-name", "新客户")
    p1.click("#dk-new-form button[type=submit]")
    expect(p1.locator("#dk-cust-found")).to_be_visible()
    expect(p1.locator("#dk-cust-title")).to_contain_text("新客户")
    status, pop = box.api("GET", f"/api/v1/customers/lookup?number={UNKNOWN}")
    assert status == 200 and pop["customer"]["name"] == "新客户", pop
    first.shot("zh-desk-new-customer")
    status, _ = box.api("POST", f"/api/v1/calls/{box.connected_call()}/hangup")
    assert status == 202
    finish(unknown, phone1)
    assert first.csp_errors() == [] and second.csp_errors() == []

    # 5. click-to-dial: beyond the dial class it is refused on the form; within it the agent's phone rings, then
    # the number (1003's phone)
    expect(p1.locator("#dk-c-dial button[data-number='1004']")).to_be_visible()
    p1.fill("#dk-dial-number", "0085212345678")
    p1.click("#dk-dial-form button[type=submit]")
    expect(p1.locator("#dk-dial-form .form-error")).to_contain_text("international")
    phone1, phone2 = box.answering(ports[FIRST]), box.answering(ports[SECOND])
    time.sleep(0.3)
    p1.fill("#dk-dial-number", SECOND)
    p1.click("#dk-dial-form button[type=submit]")
    expect(p1.locator("#dk-dial-state")).to_contain_text(SECOND)
    status, _ = box.api("POST", f"/api/v1/calls/{box.connected_call()}/hangup")
    assert status == 202
    finish(phone1, phone2)
    dialled = box.wait_for_cdr(SECOND)
    assert (dialled["extension"], dialled["callee"]) == (FIRST, SECOND), dialled

    # the same desk in English; axe finds nothing serious in either language
    p1.goto("/lang?language=en&next=/desk")
    expect(p1.locator("#desk")).to_have_attribute("data-state", "live")
    expect(p1.locator("#dk-state")).to_contain_text("Wrap-up")
    p1.keyboard.press("Alt+W")
    expect(p1.locator("#dk-state")).to_have_attribute("data-state", "idle")
    first.shot("en-desk")
    if AXE.exists():
        assert axe(playwright_browser, box, first, "en") == []
        assert axe(playwright_browser, box, second, "zh-CN") == []
