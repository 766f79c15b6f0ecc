"""End to end with baresip as the agent's phone: a caller (SIPp, with the test's own RTP) dials the demo
access number, presses 1, and the call is offered to agent 1002 on a baresip softphone that registers with
digest and answers by itself. Audio is checked both ways by tone: the phone sends 1100 Hz (aufile) and
records what it hears (sndfile); the caller sends 500 Hz."""

from __future__ import annotations

import time

import pytest

from tests.baresip_peer import baresip_agent, baresip_modules
from tests.e2e.harness import (
    RunningAppliance,
    channel_rms,
    sipp_available,
    successful,
    tone_share,
    wait_until,
)
from tests.e2e.rtp_phone import RtpPhone

MODULES = baresip_modules()
pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed"),
              pytest.mark.skipif(MODULES is None, reason="baresip (with its modules) is not installed")]

ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
CALLER_HZ, AGENT_HZ = 500.0, 1100.0
AGENT_TALKS_S = 10.0  # baresip hangs up when its aufile source ends


def test_a_baresip_agent_phone_answers_a_queued_caller_and_both_hear_each_other(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    box.api("PATCH", "/api/v1/queues/sales", {"survey_flow": None})
    folder = box.work / "baresip-1002"
    phone = baresip_agent(f"sip:1002@127.0.0.1:{box.sip_port}", box.password("1002"), folder,
                          seconds=AGENT_TALKS_S, hz=AGENT_HZ, rtp_ports=(21000, 21100), timeout_s=90)
    caller_rtp = RtpPhone(CALLER_HZ)
    caller_rtp.start()
    try:
        wait_until("baresip's registration", lambda: b"200 OK" in (folder / "out.log").read_bytes(), 20)
        status, agent = box.api("POST", "/api/v1/agents/1002/login", {})
        assert status == 200 and agent["state"] == "idle", agent
        caller = box.sipp(box.caller_with_media(caller_rtp.port), timeout=90)
        assert successful(caller) == 1, caller.stdout[-3000:]  # the agent's phone hung up: BYE to the caller
    finally:
        caller_rtp.stop()
        phone.terminate()
        phone.wait(timeout=10)

    cdr = box.wait_for_cdr("8000")
    assert cdr["queue"] == "sales" and cdr["agent"] == "1002" and cdr["disposition"] == "answered", cdr
    assert cdr["hangup_side"] == "agent" and cdr["talk"] > AGENT_TALKS_S - 4, cdr
    to_mono = time.time() - time.monotonic()  # CDR times are wall clock, the test phone's arrivals monotonic
    bridged = next(at for at, e, _ in cdr["timeline"] if e == "bridged") - to_mono
    ended = cdr["ended"] - to_mono
    # the caller hears the agent's phone
    heard = caller_rtp.level(AGENT_HZ, bridged + 0.5, ended - 0.5)
    assert heard > 1000.0 and heard > 20 * caller_rtp.level(CALLER_HZ, bridged + 0.5, ended - 0.5), heard
    # the agent's phone heard the caller (baresip's own recording of what it decoded)
    (decoded,) = folder.glob("*-dec.wav")
    assert tone_share(decoded, CALLER_HZ, (AGENT_HZ,)) > 0.9
    # queue log, agent log and the recording tell the same call
    rows = box.rows("SELECT event, agent FROM queue_log WHERE call_id = ? ORDER BY id", cdr["call_id"])
    # (baresip hangs up when its tone ends: the agent completed the call)
    assert [r[0] for r in rows] == ["queued", "offered", "answered", "complete_agent"] and rows[2][1] == "1002", rows
    states = [r[0] for r in box.rows("SELECT state_to FROM agent_log WHERE agent = '1002' ORDER BY id")]
    assert states[:4] == ["idle", "ringing", "on_call", "wrap_up"], states
    left, right = channel_rms(box.data / cdr["recording"])
    assert left > 100 and right > 100, (left, right)
