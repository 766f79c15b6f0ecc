"""Calls that are not for the call center: extension to extension (内线互打), and out through a trunk with
dialling permissions (toll fraud)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import MEDIA_FIXTURES, RunningAppliance, sipp_available, successful

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]
PCAP = MEDIA_FIXTURES / "g711a.pcap"


def dial(box: RunningAppliance, caller: str, number: str, scenario: str = "caller_menu.xml") -> object:
    path = box.scenario(scenario, DIGIT="1", PCAP=PCAP, WAIT_MS=5000, BEFORE_KEY_MS=1000)
    return box.sipp([*box.sipp_args(path, free_port(), media_port=free_rtp_port()), "-inf", str(box.users_csv(caller)),
                     "-s", number, f"127.0.0.1:{box.sip_port}"], timeout=60)


def test_extension_calls_extension(box: RunningAppliance) -> None:
    phone = box.answering(box.register("1002"))
    time.sleep(0.3)
    caller = dial(box, "1005", "1002")
    assert successful(caller) == 1, caller.stdout[-2000:]  # type: ignore[attr-defined]
    out, _ = phone.communicate(timeout=30)
    assert successful(out) == 1
    cdr = box.wait_for_cdr("1002")
    assert cdr["direction"] == "internal" and cdr["caller"] == "1005" and cdr["disposition"] == "answered"
    assert cdr["hangup_side"] == "caller" and cdr["recording"]


def test_outbound_through_a_trunk_only_with_permission(box: RunningAppliance) -> None:
    carrier_port = free_port()
    status, _ = box.api("POST", "/api/v1/trunks", {"id": "carrier", "name": "Carrier", "host": "127.0.0.1",
                                                   "port": carrier_port, "outbound_caller_id": "01088886666"})
    assert status == 201
    # 1005 may not dial out at all (the default): refused before anything leaves the box
    refused = dial(box, "1005", "13800138000", "caller_refused.xml")
    assert successful(refused) == 1, refused.stdout[-2000:]  # type: ignore[attr-defined]
    cdr = box.wait_for_cdr("13800138000")
    assert cdr["direction"] == "outbound" and cdr["hangup_cause"] == "dial_not_allowed"
    # national permission: mobile numbers go out, international ones still do not
    status, _ = box.api("PATCH", "/api/v1/extensions/1005", {"dial_class": "national"})
    assert status == 200
    carrier = box.sipp_background([*box.sipp_args(box.scenario("agent_answer.xml", PCAP=PCAP), carrier_port,
                                                  media_port=free_rtp_port()), "-trace_msg"])
    time.sleep(0.3)
    caller = dial(box, "1005", "13800138000")
    assert successful(caller) == 1, caller.stdout[-2000:]  # type: ignore[attr-defined]
    out, _ = carrier.communicate(timeout=30)
    assert successful(out) == 1, out[-2000:]
    seen = "".join(p.read_text(errors="replace") for p in box.work.glob("agent_answer-*_messages.log"))
    invite = seen[seen.index("INVITE sip:13800138000"):]
    assert "From: " in invite and "01088886666" in invite.split("\n\n")[0]  # the trunk's caller ID
    cdr = box.wait_for_cdr("13800138000")
    assert cdr["disposition"] == "answered" and cdr["trunk"] == "carrier"
    international = dial(box, "1005", "0012125551234", "caller_refused.xml")
    assert successful(international) == 1
