"""End to end against `appliance run`: an agent answers their ringing phone through the API, where the phone
supports it (the BroadSoft talk event), and gets a clear 409 where it does not.

One queue call rings agent 1001 first (a SIPp phone without `talk` in its Allow-Events), then, after the
queue's ring time-out, agent 1002 (a SIPp phone listing `talk, hold, conference`, which answers only when the
box's NOTIFY Event: talk arrives in the early dialog). Agent 1002 answers from the agent desk in Chromium, with
the keyboard: the desk's Answer button is the API's answer."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import MEDIA_FIXTURES, RunningAppliance, sipp_available, successful, wait_until
from tests.e2e.monitoring import ALWAYS_OPEN, log_in
from tests.web.conftest import base_of, open_page, playwright_browser, sign_in

__all__ = ["playwright_browser"]  # the module's Chromium (a fixture)

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

PCAP = MEDIA_FIXTURES / "g711a.pcap"
PASSWORDS = {"1001": "agent one's password 1", "1002": "agent two's password 2"}


def as_agent(box: RunningAppliance, staff: str) -> RunningAppliance:
    """The same box, spoken to through an agent-role login linked to staff member `staff`."""
    name = f"agent{staff}"
    status, body = box.api("POST", "/api/v1/users", {"name": name, "role": "agent", "staff": staff,
                                                     "password": PASSWORDS[staff]})
    assert status in (200, 201), body
    status, session = box.api("POST", "/api/v1/login", {"name": name, "password": PASSWORDS[staff]})
    assert status == 200, session
    return dataclasses.replace(box, token=session["token"])


def ringing_leg(box: RunningAppliance, agent: str) -> tuple[str, dict[str, Any]] | None:
    """(call id, leg) of `agent`'s phone ringing with a call now, else None."""
    _, calls = box.api("GET", "/api/v1/calls")
    for call in calls["items"]:
        for leg in call["legs"]:
            if leg["agent"] == agent and leg["role"] == "agent" and leg["answered"] is None and leg["ended"] is None:
                return str(call["id"]), leg
    return None


def keep(found: list[tuple[str, dict[str, Any]]], ringing: tuple[str, dict[str, Any]] | None, *,
         answerable: bool = False) -> bool:
    """For `wait_until`: note a ringing leg (one that may be answered from here, with `answerable`)."""
    if ringing is None or (answerable and not ringing[1]["remote_answer"]):
        return False
    found.append(ringing)
    return True


def agent_state(box: RunningAppliance, agent: str) -> str:
    _, agents = box.api("GET", "/api/v1/agents")
    return next(str(a["state"]) for a in agents["items"] if a["agent"] == agent)


def test_the_agent_answers_from_the_desk_where_the_phone_supports_it(box: RunningAppliance,
                                                                     playwright_browser: object) -> None:
    assert box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
    status, body = box.api("PATCH", "/api/v1/queues/sales", {"ring_timeout_s": 5, "misses_before_busy": 0})
    assert status == 200, body
    one, two = as_agent(box, "1001"), as_agent(box, "1002")
    plain_port = log_in(box, "1001")  # logged in first: idle longest, offered first
    time.sleep(1.0)
    talk_port = log_in(box, "1002")
    desk = open_page(playwright_browser, base_of(box))  # in Chinese
    sign_in(desk, "agent1002", PASSWORDS["1002"])
    page: Any = desk.page
    page.goto("/desk")
    expect(page.locator("#desk")).to_have_attribute("data-state", "live")
    expect(page.locator("#dk-state")).to_have_attribute("data-state", "idle")
    plain = box.sipp_background(box.sipp_args(box.scenario("agent_ignore.xml"), plain_port))
    talking = box.sipp_background(box.sipp_args(box.scenario("agent_talk_answer.xml", PCAP=PCAP), talk_port,
                                                media_port=free_rtp_port()))
    time.sleep(0.3)
    scenario = box.scenario("caller_menu.xml", DIGIT="1", PCAP=PCAP, WAIT_MS=20000, BEFORE_KEY_MS=2000)
    caller = box.sipp_background([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                                  "-inf", str(box.users_csv("1005")), "-s", "8000", f"127.0.0.1:{box.sip_port}"])
    try:
        # 1001's phone rings; it never offered talk: a clear 409, and the call keeps ringing there
        found: list[tuple[str, dict[str, Any]]] = []
        try:
            wait_until("1001's phone to ring",
                       lambda: keep(found, ringing_leg(box, "1001")))
        except AssertionError:
            caller.kill()
            raise AssertionError(f"{box.api('GET', '/api/v1/calls')}\n{caller.communicate()[0][-3000:]}\n"
                                 f"{box.log.read_text()[-3000:]}") from None
        call_id = found[-1][0]
        time.sleep(0.3)  # (its 180 is in)
        still = ringing_leg(box, "1001")
        assert still is not None and still[1]["remote_answer"] is False, still
        status, body = one.api("POST", f"/api/v1/calls/{call_id}/answer", {})
        assert status == 409, body
        assert "does not support" in body["message"] and body["message_zh"], body
        # another agent's call is out of an agent's reach
        status, body = two.api("POST", f"/api/v1/calls/{call_id}/answer", {})
        assert status == 403, body
        assert ringing_leg(box, "1001") is not None

        # the ring time-out moves the call to 1002, whose phone offered talk: the API answers it
        found.clear()
        wait_until("1002's phone to ring, answerable from here",
                   lambda: keep(found, ringing_leg(box, "1002"), answerable=True),
                   timeout=20)
        assert found[-1][0] == call_id
        assert agent_state(box, "1002") == "ringing"
        button = page.locator("#dk-answer")
        expect(button).to_be_visible(timeout=5000)
        expect(button).to_have_text("接听")
        expect(page.locator("#dk-answer-here")).to_be_visible()
        expect(page.locator("#dk-answer-hint")).to_be_hidden()
        desk.shot("desk-remote-answer-ringing")
        with page.expect_response(lambda r: r.url.endswith(f"/api/v1/calls/{call_id}/answer")) as answered:
            page.keyboard.press("Alt+KeyA")
        assert answered.value.status == 202
        assert answered.value.json() == {"call_id": call_id, "accepted": True, "agent": "1002"}
        wait_until("1002 on the call", lambda: agent_state(box, "1002") == "on_call", timeout=10)
        expect(button).to_be_hidden()
        expect(page.locator("#dk-state")).to_have_attribute("data-state", "on_call")
        assert desk.csp_errors() == []
        # nothing rings any more: answering again is a conflict, not a second NOTIFY
        status, body = two.api("POST", f"/api/v1/calls/{call_id}/answer", {})
        assert status == 409 and "ringing" in body["message"], body

        out, _ = talking.communicate(timeout=90)
        assert successful(out) == 1, out[-3000:]  # NOTIFY received and checked, answered, BYE at the end
        out, _ = caller.communicate(timeout=90)
        assert successful(out) == 1, out[-3000:]
        out, _ = plain.communicate(timeout=30)
        assert successful(out) == 1, out[-3000:]
    finally:
        for phone in (plain, talking, caller):
            if phone.poll() is None:
                phone.kill()
                phone.wait()

    cdr = box.wait_for_cdr("8000")
    assert cdr["call_id"] == call_id
    assert cdr["agent"] == "1002" and cdr["disposition"] == "answered", cdr
    assert cdr["offered_agents"][:2] == ["1001", "1002"]
    steps = [e for _, e, _ in cdr["timeline"]]
    assert "remote_answer" in steps and steps.index("remote_answer") < steps.index("agent_answered"), steps
    states = [r[0] for r in box.rows("SELECT state_to FROM agent_log WHERE agent = '1002' ORDER BY id")]
    assert states[:4] == ["idle", "ringing", "on_call", "wrap_up"], states
    rows = box.rows("SELECT event, agent FROM queue_log WHERE call_id = ? ORDER BY id", call_id)
    assert ("answered", "1002") in rows, rows
