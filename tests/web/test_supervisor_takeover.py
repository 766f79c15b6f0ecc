"""Take-over (强拆) from the supervisor console in Chromium against `appliance run`, with SIPp phones whose audio
is the test's own RTP phones. The supervisor listens to a caller's call with agent 1002, then takes it over from
the page, by keyboard, on the same call to the supervisor's phone: the box hangs up the agent's phone, the caller
and the supervisor hear each other and the agent hears nobody, the page shows no more modes to switch to, and
the call's record names the take-over. When the supervisor hangs up, so does the caller's call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance, sipp_available, successful
from tests.e2e.monitoring import AGENT_HZ, CALLER_HZ, SUPERVISOR_HZ, hears, log_in
from tests.e2e.rtp_phone import RtpPhone
from tests.web.conftest import base_of, open_page, sign_in
from tests.web.test_supervisor_console import (
    AGENT,
    PASSWORD,
    SUPERVISOR,
    USER,
    mode_window,
    press,
    supervised_box,
)

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

SUPERVISOR_TALK_MS = 14_000  # the supervisor's phone hangs up after this: two windows fit well inside


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    yield from supervised_box(tmp_path_factory, "takeover")


def test_the_console_takes_a_call_over_from_listening(box: RunningAppliance, playwright_browser: object) -> None:
    agent_port = log_in(box, AGENT)
    supervisor_port = box.register(SUPERVISOR)
    caller_rtp, agent_rtp, supervisor_rtp = RtpPhone(CALLER_HZ), RtpPhone(AGENT_HZ), RtpPhone(SUPERVISOR_HZ)
    phones = [caller_rtp, agent_rtp, supervisor_rtp]
    b = open_page(playwright_browser, base_of(box))
    sign_in(b, USER, PASSWORD)
    page: Any = b.page
    page.goto("/live/console")
    expect(page.locator("#console")).to_have_attribute("data-state", "live")
    row = page.locator(f"#sc-agents tr[data-agent='{AGENT}']")
    for phone in phones:
        phone.start()
    try:
        agent = box.sipp_background(box.sipp_args(
            box.scenario("agent_media_until_bye.xml", RTP_PORT=agent_rtp.port), agent_port))
        supervisor = box.sipp_background(box.sipp_args(
            box.scenario("agent_media.xml", RTP_PORT=supervisor_rtp.port, TALK_MS=SUPERVISOR_TALK_MS),
            supervisor_port))
        time.sleep(0.3)
        caller = box.sipp_background(box.caller_with_media(caller_rtp.port))
        expect(row).to_have_attribute("data-state", "on_call", timeout=30_000)
        call_id = box.connected_call()
        press(b, f"#sc-agents tr[data-agent='{AGENT}'] button[data-monitor='listen']")
        listen = mode_window(b, "listen")
        press(b, "#sc-monitor button[data-switch='take_over']")
        taken = mode_window(b, "take_over")
        out, _ = agent.communicate(timeout=30)  # the box hung up the agent's phone
        assert successful(out) == 1, out[-1500:]
        for button in page.locator("#sc-monitor button[data-switch]").all():
            expect(button).to_be_disabled()  # there is no agent's call left to switch on
        b.shot("zh-live-console-take-over")
        for process in (supervisor, caller):  # the supervisor hangs up: the caller's call ends with it
            out, _ = process.communicate(timeout=60)
            assert successful(out) == 1, out[-1500:]
    finally:
        for phone in phones:
            phone.stop()
    assert hears(supervisor_rtp, CALLER_HZ, listen) and hears(supervisor_rtp, AGENT_HZ, listen)
    assert not hears(caller_rtp, SUPERVISOR_HZ, listen), "listen: the caller does not hear the supervisor"
    assert hears(caller_rtp, SUPERVISOR_HZ, taken) and hears(supervisor_rtp, CALLER_HZ, taken), \
        "take-over: the caller and the supervisor hear each other"
    assert not hears(caller_rtp, AGENT_HZ, taken) and not hears(agent_rtp, CALLER_HZ, taken), \
        "take-over: the agent is out of the call"
    cdr = box.wait_for_cdr("8000")
    assert cdr["call_id"] == call_id
    assert [(t["kind"], t["from"], t["to"]) for t in cdr["transfers"]] == [("take_over", AGENT, SUPERVISOR)], cdr

