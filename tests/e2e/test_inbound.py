"""End to end against `appliance run`: real SIPp phones call the demo access number and reach agents."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import (
    MEDIA_FIXTURES,
    RunningAppliance,
    channel_rms,
    sipp_available,
    start_appliance,
    successful,
)
from tests.e2e.monitoring import ALWAYS_OPEN, check_modes, log_in

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

NEVER_OPEN = {"work_days": [], "work_hours": []}
PCAP = MEDIA_FIXTURES / "g711a.pcap"


def start_caller(box: RunningAppliance, wait_ms: int, digit: str = "1") -> subprocess.Popen[str]:
    """Extension 1005 calls the access number in the background, presses `digit`, stays `wait_ms`."""
    scenario = box.scenario("caller_menu.xml", DIGIT=digit, PCAP=PCAP, WAIT_MS=wait_ms, BEFORE_KEY_MS=2000)
    return box.sipp_background([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                                "-inf", str(box.users_csv("1005")), "-s", "8000", f"127.0.0.1:{box.sip_port}"])


def call_access_number(box: RunningAppliance, caller: str, digit: str, wait_ms: int) -> object:
    scenario = box.scenario("caller_menu.xml", DIGIT=digit, PCAP=PCAP, WAIT_MS=wait_ms, BEFORE_KEY_MS=2000)
    args = [*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()), "-inf", str(box.users_csv(caller)), "-s", "8000", f"127.0.0.1:{box.sip_port}"]
    return box.sipp(args, timeout=90)


def test_caller_reaches_an_agent_through_ivr_and_queue(box: RunningAppliance) -> None:
    status, _ = box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    assert status == 200
    port = log_in(box, "1002")
    agent = box.sipp_background(
        box.sipp_args(box.scenario("agent_answer.xml", PCAP=PCAP), port, media_port=free_rtp_port()))
    time.sleep(0.3)
    caller = call_access_number(box, "1005", "1", wait_ms=12000)
    assert successful(caller) == 1, caller.stdout[-2000:]  # type: ignore[attr-defined]
    out, _ = agent.communicate(timeout=60)
    assert successful(out) == 1, out[-2000:]

    cdr = box.wait_for_cdr("8000")
    assert cdr["direction"] == "inbound" and cdr["did"] == "8000"
    assert cdr["queue"] == "sales" and cdr["agent"] == "1002" and cdr["disposition"] == "answered"
    assert cdr["ivr_keys"] == "1" and cdr["ivr_path"][:2] == ["main/welcome", "main/menu"]
    assert cdr["hangup_side"] == "caller" and cdr["missed"] == []
    assert 0 <= cdr["wait"] < 5 and cdr["talk"] > 3
    assert [e for _, e, _ in cdr["timeline"]].index("agent_answered") < [e for _, e, _ in cdr["timeline"]].index(
        "bridged")
    # the queue log holds the same story with times
    rows = box.rows("SELECT event, agent, at FROM queue_log WHERE call_id = ? ORDER BY id", cdr["call_id"])
    assert [r[0] for r in rows] == ["queued", "offered", "answered", "complete_caller"]  # the caller hung up
    assert rows[1][1] == "1002" and rows[2][1] == "1002" and rows[3][1] == "1002"
    assert abs(rows[2][2] - cdr["agent_answered"]) < 1.0
    # the agent went ringing → on call → wrap-up
    states = [r[0] for r in box.rows("SELECT state_to FROM agent_log WHERE agent = '1002' ORDER BY id")]
    assert states[:4] == ["idle", "ringing", "on_call", "wrap_up"], states
    # both sides are on the recording: caller left, agent right
    recording = box.data / cdr["recording"]
    assert recording.exists()
    left, right = channel_rms(recording)
    assert left > 100 and right > 100, (left, right)


def test_off_hours_calls_go_to_voicemail(box: RunningAppliance) -> None:
    status, _ = box.api("PATCH", "/api/v1/schedules/business_hours", NEVER_OPEN)
    assert status == 200
    caller = call_access_number(box, "1005", "1", wait_ms=16000)
    assert successful(caller) == 1, caller.stdout[-2000:]  # type: ignore[attr-defined]
    cdr = box.wait_for_cdr("8000")
    assert cdr["disposition"] == "voicemail" and cdr["voicemail"]
    status, page = box.api("GET", "/api/v1/voicemail?box=general")
    assert status == 200 and page["total"] == 1
    message = page["items"][0]
    assert message["caller"] == "1005" and message["duration_s"] > 1, json.dumps(message)


def test_ring_timeout_moves_the_call_to_the_next_agent(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    status, _ = box.api("PATCH", "/api/v1/queues/sales", {"ring_timeout_s": 5, "misses_before_busy": 0})
    assert status == 200
    silent_port = log_in(box, "1001")  # logged in first: idle longest, offered first
    time.sleep(1.0)
    answer_port = log_in(box, "1002")
    silent = box.sipp_background(box.sipp_args(box.scenario("agent_ignore.xml"), silent_port))
    answering = box.sipp_background(
        box.sipp_args(box.scenario("agent_answer.xml", PCAP=PCAP), answer_port, media_port=free_rtp_port()))
    time.sleep(0.3)
    caller = call_access_number(box, "1005", "1", wait_ms=20000)
    assert successful(caller) == 1, caller.stdout[-2000:]  # type: ignore[attr-defined]
    for phone in (silent, answering):
        out, _ = phone.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]
    cdr = box.wait_for_cdr("8000")
    assert cdr["agent"] == "1002" and cdr["offered_agents"][:2] == ["1001", "1002"]
    rows = box.rows("SELECT event, agent, at FROM queue_log WHERE call_id = ? ORDER BY id", cdr["call_id"])
    events = [(r[0], r[1]) for r in rows]
    assert events[:5] == [("queued", None), ("offered", "1001"), ("returned", "1001"), ("offered", "1002"),
                          ("answered", "1002")], events
    assert 4.5 <= rows[2][2] - rows[1][2] <= 7.0  # the ring timeout, then straight to the next agent
    assert rows[3][2] - rows[2][2] < 1.0


def test_supervisor_listens_to_an_agent_call_from_a_phone(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    port = log_in(box, "1002")
    agent = box.sipp_background(
        box.sipp_args(box.scenario("agent_answer.xml", PCAP=PCAP), port, media_port=free_rtp_port()))
    time.sleep(0.3)
    caller = start_caller(box, wait_ms=20000)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # until the caller is bridged to the agent
        bridged = box.rows("SELECT count(*) FROM agent_log WHERE agent = '1002' AND state_to = 'on_call'")
        if bridged[0][0]:
            break
    time.sleep(4)  # past the agent-number announcement
    supervisor = box.phone_feature("1901", "*31*1002", free_port())  # hangs up when the call ends
    assert successful(supervisor) == 1, supervisor.stdout[-2000:]
    for phone in (caller, agent):
        out, _ = phone.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]
    cdr = box.wait_for_cdr("8000")
    monitored = [d for _, e, d in cdr["timeline"] if e == "monitored"]
    assert monitored == ["listen by 1901"], cdr["timeline"]
    sup = box.wait_for_cdr("*31*1002")
    assert ("monitor_mode", "listen") in [(e, d) for _, e, d in sup["timeline"]]
    assert sup["hangup_cause"] == "monitored_call_ended"


def test_agent_transfers_the_caller_blindly_to_another_agent(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    port_1002 = log_in(box, "1002")
    port_1003 = log_in(box, "1003")
    # 1003 is in sales too: keep it busy so the queue offers the call to 1002, who transfers it to 1003
    pause = box.phone_feature("1003", "*13", port_1003)
    assert successful(pause) == 1
    first = box.sipp_background(box.sipp_args(
        box.scenario("agent_refer.xml", PCAP=PCAP, TALK_MS=6000, TARGET="1003", BOX=f"127.0.0.1:{box.sip_port}"), port_1002,
        media_port=free_rtp_port(), auto_answer=False))  # the NOTIFYs are part of this scenario
    second = box.sipp_background(
        box.sipp_args(box.scenario("agent_answer.xml", PCAP=PCAP), port_1003, media_port=free_rtp_port()))
    time.sleep(0.3)
    caller = call_access_number(box, "1005", "1", wait_ms=20000)
    assert successful(caller) == 1, caller.stdout[-2000:]  # type: ignore[attr-defined]
    for phone in (first, second):
        out, _ = phone.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]
    cdr = box.wait_for_cdr("8000")
    assert [(t["kind"], t["from"], t["to"]) for t in cdr["transfers"]] == [("blind", "1002", "agent:1003")]
    assert cdr["agent"] == "1003" and cdr["disposition"] == "answered"
    assert len(cdr["recordings"]) == 2 and all((box.data / p).exists() for p in cdr["recordings"])
    states_1002 = [r[0] for r in box.rows("SELECT state_to FROM agent_log WHERE agent = '1002' ORDER BY id")]
    assert "wrap_up" in states_1002
    states_1003 = [r[0] for r in box.rows("SELECT state_to FROM agent_log WHERE agent = '1003' ORDER BY id")]
    assert "on_call" in states_1003


def test_agent_hangs_up_first_and_the_caller_rates_the_service(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    port = log_in(box, "1002")
    agent = box.sipp_background(box.sipp_args(
        box.scenario("agent_hangup.xml", PCAP=PCAP, TALK_MS=3000), port, media_port=free_rtp_port()))
    time.sleep(0.3)
    # the key 5 comes during the survey prompt (barge-in), after the agent hung up
    scenario = box.scenario("caller_survey.xml", DIGIT="1", SCORE="5", PCAP=PCAP, WAIT_MS=13000,
                            BEFORE_KEY_MS=2000)
    caller = box.sipp([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                       "-inf", str(box.users_csv("1005")), "-s", "8000", f"127.0.0.1:{box.sip_port}"], timeout=90)
    assert successful(caller) == 1, caller.stdout[-2000:]
    out, _ = agent.communicate(timeout=60)
    assert successful(out) == 1, out[-2000:]
    cdr = box.wait_for_cdr("8000")
    assert cdr["survey_score"] == 5, cdr["timeline"]
    assert cdr["agent"] == "1002" and cdr["hangup_side"] == "agent" and cdr["flow"] == "main"
    assert any(p.startswith("survey/") for p in cdr["ivr_path"])


def test_a_phone_that_vanishes_mid_call_is_hung_up_and_the_agent_freed(tmp_path: Path) -> None:
    box = start_appliance(tmp_path, "--rtp-timeout", "4")
    try:
        box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
        box.api("PATCH", "/api/v1/queues/sales", {"wrap_up_s": 1})
        port = log_in(box, "1002")
        agent = box.sipp_background(
            box.sipp_args(box.scenario("agent_vanish.xml", PCAP=PCAP), port, media_port=free_rtp_port()))
        time.sleep(0.3)
        scenario = box.scenario("caller_until_bye.xml", DIGIT="1", PCAP=PCAP, BEFORE_KEY_MS=2000)
        started = time.monotonic()
        caller = box.sipp([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                           "-inf", str(box.users_csv("1005")), "-s", "8000", f"127.0.0.1:{box.sip_port}"],
                          timeout=90)
        assert successful(caller) == 1, caller.stdout[-2000:]
        assert time.monotonic() - started < 40
        agent.communicate(timeout=30)
        cdr = box.wait_for_cdr("8000")
        assert cdr["hangup_cause"] == "rtp_timeout" and cdr["agent"] == "1002", cdr["timeline"]
        time.sleep(2)  # wrap-up of 1 s
        status, agents = box.api("GET", "/api/v1/agents")
        assert status == 200
        assert {a["agent"]: a["state"] for a in agents["items"]}["1002"] == "idle"
    finally:
        assert box.stop() == 0


def test_callback_keeps_the_place_then_connects_the_agent_first_and_the_customer_second(
        box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    status, _ = box.api("PATCH", "/api/v1/queues/sales", {"callback_key": "8", "survey_flow": None})
    assert status == 200
    # the customer's own phone (1005), registered, answers when called back
    customer = box.answering(box.register("1005"))
    # no agent yet: the caller presses 1 (sales), then 8 (call me back) and is let go
    scenario = box.scenario("caller_survey.xml", DIGIT="1", SCORE="8", PCAP=PCAP, WAIT_MS=7000,
                            BEFORE_KEY_MS=2000)  # 8 is pressed once the caller waits in the queue
    caller = box.sipp([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                       "-inf", str(box.users_csv("1005")), "-s", "8000", f"127.0.0.1:{box.sip_port}"], timeout=60)
    assert successful(caller) == 1, caller.stdout[-2000:]
    status, queues = box.api("GET", "/api/v1/queues/status")
    assert {q["queue"]: q["waiting"] for q in queues["items"]}["sales"] == 1  # the ticket kept its place
    # an agent comes: the agent's phone rings first, then the customer's
    agent = box.answering(box.register("1002"), "agent_hangup.xml", TALK_MS=3000)
    time.sleep(0.3)
    status, _ = box.api("POST", "/api/v1/agents/1002/login", {})
    assert status == 200
    for phone in (agent, customer):
        out, _ = phone.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]
    cdr = box.wait_for_cdr("8000")
    events = [e for _, e, _ in cdr["timeline"]]
    assert events.index("callback_registered") < events.index("agent_answered") < events.index(
        "callback_dial") < events.index("callback_answered") < events.index("bridged"), events
    assert cdr["agent"] == "1002" and cdr["variables"]["callback_number"] == "1005"
    rows = box.rows("SELECT event FROM queue_log WHERE call_id = ? ORDER BY id", cdr["call_id"])
    assert [r[0] for r in rows][:2] == ["queued", "callback_registered"]


def test_agent_feature_codes_log_in_pause_unpause_and_log_out(box: RunningAppliance) -> None:
    port = free_port()

    def state() -> str:
        _, agents = box.api("GET", "/api/v1/agents")
        return str({a["agent"]: a for a in agents["items"]}["1001"]["state"])

    pin = box.pin("1001")
    # from another agent's phone with agent number and PIN (电话座席: no PC needed)
    assert successful(box.phone_feature("1004", f"*11*1001*{pin}", port)) == 1
    assert state() == "idle"
    _, agents = box.api("GET", "/api/v1/agents")
    assert {a["agent"]: a for a in agents["items"]}["1001"]["extension"] == "1004"
    assert successful(box.phone_feature("1004", "*13*2", port)) == 1  # busy: training
    _, agents = box.api("GET", "/api/v1/agents")
    paused = {a["agent"]: a for a in agents["items"]}["1001"]
    assert paused["state"] == "paused" and paused["reason"] == "2"
    assert successful(box.phone_feature("1004", "*14", port)) == 1
    assert state() == "idle"
    assert successful(box.phone_feature("1004", "*12", port)) == 1
    assert state() == "logged_out"
    # a wrong PIN logs nobody in
    wrong = "0000" if pin != "0000" else "1111"
    assert successful(box.phone_feature("1004", f"*11*1001*{wrong}", port)) == 1
    assert state() == "logged_out"
    cdr = box.wait_for_cdr(f"*11*1001*{wrong}")
    assert "wrong" in " ".join(d for _, _, d in cdr["timeline"])


def test_a_queue_with_no_agent_overflows_to_voicemail(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    status, _ = box.api("PATCH", "/api/v1/queues/sales", {"max_wait_no_agent_s": 2})
    assert status == 200
    caller = call_access_number(box, "1005", "1", wait_ms=14000)
    assert successful(caller) == 1, caller.stdout[-2000:]  # type: ignore[attr-defined]
    cdr = box.wait_for_cdr("8000")
    assert cdr["disposition"] == "voicemail" and cdr["queue"] == "sales"
    assert cdr["missed"] == ["no_agent"], cdr["missed"]
    _, page = box.api("GET", "/api/v1/voicemail?box=sales")
    assert page["total"] == 1 and page["items"][0]["caller"] == "1005"
    rows = box.rows("SELECT event, data FROM queue_log WHERE call_id = ? ORDER BY id", cdr["call_id"])
    assert [r[0] for r in rows] == ["queued", "overflowed"] and '"no_agent"' in rows[1][1]


def test_three_way_conference_and_supervisor_monitor_through_the_api(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    agent = box.answering(log_in(box, "1002"))
    third = box.answering(box.register("1004"))
    supervisor = box.answering(box.register("1901"))
    time.sleep(0.3)
    caller = start_caller(box, wait_ms=20000)
    call_id = box.connected_call()
    status, body = box.api("POST", f"/api/v1/calls/{call_id}/conference", {"target": "1004"})
    assert status == 202, body
    status, body = box.api("POST", f"/api/v1/calls/{call_id}/monitor", {"extension": "1901", "mode": "whisper"})
    assert status == 202, body
    for phone in (caller, agent, third, supervisor):
        out, _ = phone.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]
    cdr = box.wait_for_cdr("8000")
    events = {e: d for _, e, d in cdr["timeline"]}
    assert events.get("conference") == "agent:1004" and events.get("monitored") == "whisper by 1901"
    assert any(leg["party"] == "1004" and leg["answered"] for leg in cdr["legs"])


def test_listen_whisper_and_barge_each_party_hears_what_it_should(box: RunningAppliance) -> None:
    """Distinct tones per party (caller 500 Hz, agent 1100 Hz, supervisor 1700 Hz), checked at each phone."""
    from tests.e2e.rtp_phone import RtpPhone

    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    box.api("PATCH", "/api/v1/queues/sales", {"survey_flow": None})  # the call ends when the agent hangs up
    agent_port = log_in(box, "1002")
    caller_rtp, agent_rtp = RtpPhone(500.0), RtpPhone(1100.0)
    supervisors = {mode: RtpPhone(1700.0) for mode in ("listen", "whisper", "barge")}
    phones = [caller_rtp, agent_rtp, *supervisors.values()]
    for phone in phones:
        phone.start()
    try:
        agent = box.sipp_background(box.sipp_args(
            box.scenario("agent_media.xml", RTP_PORT=agent_rtp.port, TALK_MS=32000), agent_port))
        time.sleep(0.3)
        caller = box.sipp_background(box.caller_with_media(caller_rtp.port))
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            _, calls = box.api("GET", "/api/v1/calls")
            if any(c.get("phase") == "connected" for c in calls["items"]):
                break
            time.sleep(0.2)
        windows: dict[str, tuple[float, float]] = {}
        for mode, code in (("listen", "*31*1002"), ("whisper", "*32*1002"), ("barge", "*33*1002")):
            phone = supervisors[mode]
            started = time.monotonic()
            result = box.sipp([*box.sipp_args(box.scenario("supervisor_media.xml", RTP_PORT=phone.port,
                                                           HOLD_MS=6000), free_port()),
                               "-inf", str(box.users_csv("1901")), "-s", code, f"127.0.0.1:{box.sip_port}"])
            assert successful(result) == 1, result.stdout[-1500:]
            windows[mode] = (started + 3.0, time.monotonic() - 0.5)  # settled, before the hang-up
        for process in (agent, caller):
            out, _ = process.communicate(timeout=60)
            assert successful(out) == 1, out[-1500:]
    finally:
        for phone in phones:
            phone.stop()

    # listen: nobody hears the supervisor; whisper: the agent does, the caller not; barge: everybody; and
    # throughout, the caller and the agent hear each other
    check_modes(caller_rtp, agent_rtp, supervisors, windows)
    # between the agent's answer and the bridge the caller hears the agent's number spoken (接通播报工号)
    cdr = box.wait_for_cdr("8000")
    to_mono = time.time() - time.monotonic()  # CDR times are wall clock, the test phone's arrivals monotonic
    at = {e: t - to_mono for t, e, _ in cdr["timeline"]}
    assert at["bridged"] - at["agent_answered"] > 1.0
    spoken = caller_rtp.rms(at["agent_answered"] + 0.2, at["bridged"] - 0.1)
    assert spoken > 300, spoken


def test_consult_then_complete_the_transfer_through_the_api(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    box.api("PATCH", "/api/v1/queues/sales", {"survey_flow": None})
    first = box.answering(log_in(box, "1002"))
    consulted = box.answering(box.register("1004"))
    time.sleep(0.3)
    caller = start_caller(box, wait_ms=22000)
    call_id = box.connected_call()
    status, body = box.api("POST", f"/api/v1/calls/{call_id}/consult", {"target": "1004"})
    assert status == 202, body
    time.sleep(3)  # the agent talks to 1004 while the caller hears music
    _, detail = box.api("GET", f"/api/v1/calls/{call_id}")
    assert detail["on_hold"] is True
    status, body = box.api("POST", f"/api/v1/calls/{call_id}/consult", {"step": "complete"})
    assert status == 202, body
    for phone in (caller, first, consulted):
        out, _ = phone.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]
    cdr = box.wait_for_cdr("8000")
    assert [(t["kind"], t["from"], t["to"]) for t in cdr["transfers"]] == [("attended", "1002", "1004")]
    assert cdr["agent"] == "1004" and cdr["hold"] >= 2.5
    events = [e for _, e, _ in cdr["timeline"]]
    assert events.index("consult") < events.index("consult_answered") < len(events)
