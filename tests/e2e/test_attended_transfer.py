"""Attended transfer from the phone (RFC 3515 REFER with RFC 3891 Replaces) against `appliance run`.

A caller reaches agent 1002 through the access number; 1002's phone holds the caller, calls agent 1003 on a
second line, then sends REFER on the caller's dialog with Refer-To carrying Replaces for the second dialog (or,
as some phones do, on the second dialog with Replaces naming the caller's). The caller and 1003 then hear each
other, 1002's two dialogs end, and the CDR and recording carry on.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import RunningAppliance, channel_rms, sipp_available, successful, wait_until
from tests.e2e.rtp_phone import RtpPhone

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
CALLER_HZ, TARGET_HZ = 500.0, 1100.0
# the REFER's dialog lines and Refer-To in agent_attended.xml, for each way a phone sends it ({BOX} filled later)
REFER_ON = {
    "caller_dialog": (
        "From: [$me];tag=[pid]SIPpTag07[call_number]\nTo: [$caller]\nCall-ID: [call_id]\nCSeq: 102 REFER",
        "Refer-To: <sip:1003@{BOX}?Replaces=consult%2F%2F%2F[$cid_local]%40[$cid_host]%3Bto-tag%3D[$consult_tag]"
        "%3Bfrom-tag%3D[pid]SIPpTag08[call_number]>"),
    "consultation_dialog": (
        "From: <sip:[field0]@{BOX}>;tag=[pid]SIPpTag08[call_number]\nTo: [$consult_to]\n"
        "Call-ID: consult///[call_id]\nCSeq: 3 REFER",
        "Refer-To: <sip:caller@{BOX}?Replaces=[$cid_local]%40[$cid_host]%3Bto-tag%3D[$caller_tag]"
        "%3Bfrom-tag%3D[pid]SIPpTag07[call_number]>"),
}



@pytest.mark.parametrize("refer_on", sorted(REFER_ON))
def test_agent_phone_transfers_the_caller_after_consulting_another_agent(box: RunningAppliance,
                                                                          refer_on: str) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    box.api("PATCH", "/api/v1/queues/sales", {"survey_flow": None})  # the call ends when 1003 hangs up
    port_a = free_port()
    assert successful(box.phone_feature("1002", "*11", port_a)) == 1
    port_b = free_port()
    assert successful(box.phone_feature("1003", "*11", port_b)) == 1
    # 1003 is in sales too: paused, so the queue offers the caller to 1002 (an agent may still be called)
    assert successful(box.phone_feature("1003", "*13", port_b)) == 1

    caller_rtp, target_rtp = RtpPhone(CALLER_HZ), RtpPhone(TARGET_HZ)
    for phone in (caller_rtp, target_rtp):
        phone.start()
    try:
        transferor = box.sipp_background([
            *box.sipp_args(box.scenario("agent_attended.xml", REFER_DIALOG=REFER_ON[refer_on][0],
                                        REFER_TO=REFER_ON[refer_on][1], TALK_MS=4000, CONSULT_MS=3000,
                                        TARGET="1003", BOX=f"127.0.0.1:{box.sip_port}"),
                           port_a, media_port=free_rtp_port(), auto_answer=False),  # NOTIFYs are in the scenario
            "-inf", str(box.users_csv("1002")), "-trace_msg"])
        target = box.sipp_background(box.sipp_args(
            box.scenario("agent_media.xml", RTP_PORT=target_rtp.port, TALK_MS=14000), port_b))
        time.sleep(0.3)
        caller = box.sipp_background(box.caller_with_media(caller_rtp.port))

        # while 1002 consults, the caller is on hold and is not put through to 1003 yet
        call_id = box.connected_call(timeout=30)
        wait_until("the consultation call", lambda: any(
            c["id"] != call_id and c.get("phase") == "connected" for c in box.api("GET", "/api/v1/calls")[1]["items"]))
        _, during = box.api("GET", f"/api/v1/calls/{call_id}")
        assert during["on_hold"] is True and during["agent"] == "1002", during
        out, _ = transferor.communicate(timeout=60)
        assert successful(out) == 1, out[-3000:]
        # through the calls API: one call left, the caller's, now with 1003
        _, after = box.api("GET", f"/api/v1/calls/{call_id}")
        assert after["agent"] == "1003" and after["phase"] == "connected" and after["on_hold"] is False, after
        _, calls = box.api("GET", "/api/v1/calls")
        assert [c["id"] for c in calls["items"]] == [call_id]
        for process in (target, caller):
            out, _ = process.communicate(timeout=60)
            assert successful(out) == 1, out[-3000:]
    finally:
        for phone in (caller_rtp, target_rtp):
            phone.stop()

    # 1002's phone saw the final NOTIFY and a BYE on each of its two dialogs
    messages = "".join(p.read_text(errors="replace") for p in box.work.glob("agent_attended-*_messages.log"))
    byes = re.findall(r"^BYE sip:.*?^Call-ID: *(\S+)", messages, re.M | re.S)
    assert len(byes) == 2 and len({b.startswith("consult///") for b in byes}) == 2, byes

    cdr = box.wait_for_cdr("8000")
    consultation = box.wait_for_cdr("1003")
    to_mono = time.time() - time.monotonic()  # CDR times are wall clock, the phones' arrivals monotonic
    consulted = next(at for at, e, _ in consultation["timeline"] if e == "bridged") - to_mono
    transferred = cdr["transfers"][0]["at"] - to_mono
    ended = cdr["ended"] - to_mono

    def hears(phone: RtpPhone, hz: float, since: float, until: float) -> bool:
        wanted = phone.level(hz, since, until)
        reference = max(phone.level(f, since, until) for f in (CALLER_HZ, TARGET_HZ))
        return wanted > 0.05 * reference and wanted > 1000.0

    assert transferred - consulted > 2.0 and ended - transferred > 5.0
    # during the consultation 1003 talks to 1002 only; the caller is held
    assert not hears(target_rtp, CALLER_HZ, consulted + 0.5, transferred - 0.2)
    assert not hears(caller_rtp, TARGET_HZ, consulted + 0.5, transferred - 0.2)
    # then the caller and 1003 hear each other
    assert hears(caller_rtp, TARGET_HZ, transferred + 1.0, ended - 0.5), "the caller hears 1003"
    assert hears(target_rtp, CALLER_HZ, transferred + 1.0, ended - 0.5), "1003 hears the caller"

    assert [(t["kind"], t["from"], t["to"]) for t in cdr["transfers"]] == [("attended", "1002", "1003")], cdr
    assert cdr["agent"] == "1003" and cdr["disposition"] == "answered" and cdr["hold"] >= 2.0
    assert cdr["hangup_side"] == "agent"
    assert any(leg["party"] == "1003" and leg["agent"] == "1003" and leg["answered"] for leg in cdr["legs"])
    # the recording carries on after the transfer: a second segment with the caller and 1003 on it
    assert len(cdr["recordings"]) == 2 and all((box.data / p).exists() for p in cdr["recordings"])
    left, right = channel_rms(box.data / cdr["recordings"][1])
    assert left > 100 and right > 100, (left, right)
    assert consultation["caller"] == "1002" and consultation["hangup_cause"] == "attended_transfer"
    states_1002 = [r[0] for r in box.rows("SELECT state_to FROM agent_log WHERE agent = '1002' ORDER BY id")]
    assert "wrap_up" in states_1002
    states_1003 = [r[0] for r in box.rows("SELECT state_to FROM agent_log WHERE agent = '1003' ORDER BY id")]
    assert states_1003[-2:] == ["on_call", "paused"], states_1003  # back to where 1003 was
