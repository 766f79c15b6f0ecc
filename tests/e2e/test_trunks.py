"""SIP trunks edited through the API while `appliance run` runs: a registering trunk registers to the carrier at
once, an edit of its registration settings removes the old binding (Expires: 0) and registers afresh, and a
deleted trunk's binding is removed. SIPp is the carrier's registrar and checks every digest."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.conftest import free_port
from tests.e2e.harness import RunningAppliance, sipp_available, successful, wait_until

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

PASSWORD = "carrier-secret-9"


def registrar_log(box: RunningAppliance) -> str:
    return "".join(p.read_text(errors="replace") for p in box.work.glob("carrier_registrar-*_messages.log"))


def messages(box: RunningAppliance) -> list[str]:
    """The messages in the registrar's log (written as it goes), each from its first line."""
    blocks = re.split(r"^-{10,}.*\n.*message (?:sent|received).*\n", registrar_log(box), flags=re.M)
    return [b.strip() for b in blocks if b.strip()]


def accepted(box: RunningAppliance, user: str) -> bool:
    """Whether the registrar has accepted a registration of `user` (a 200 with a non-zero expiry)."""
    return any(m.startswith("SIP/2.0 200") and f"sip:{user}@" in m and "expires=300" in m for m in messages(box))



def register_requests(box: RunningAppliance) -> list[tuple[str, str, bool]]:
    """(user, Expires, with a digest) of every REGISTER the registrar received, in order."""
    out = []
    for head in messages(box):
        if not head.startswith("REGISTER sip:"):
            continue
        user = re.search(r"^From: <sip:([^@]+)@", head, re.M)
        expires = re.search(r"^Expires: *(\d+)", head, re.M)
        out.append((user.group(1) if user else "", expires.group(1) if expires else "",
                    "Authorization: Digest" in head))
    return out


def registered_trunk(box: RunningAppliance, user: str, registrations: int,
                     timeout: int) -> subprocess.Popen[str]:
    """SIPp as the carrier's registrar for `registrations` registrations (each with its removal), and a trunk
    "carrier" added through the API that registers to it as `user`; returns once the registrar accepted it."""
    carrier_port = free_port()
    registrar = box.sipp_background([
        "sipp", "-sf", str(box.scenario("carrier_registrar.xml", PASSWORD=PASSWORD)), "-i", "127.0.0.1",
        "-p", str(carrier_port), "-m", str(registrations), "-nostdin", "-trace_err", "-trace_msg",
        "-timeout", str(timeout)])
    time.sleep(0.3)
    status, body = box.api("POST", "/api/v1/trunks", {
        "id": "carrier", "name": "Carrier", "host": "127.0.0.1", "port": carrier_port, "username": user,
        "password": PASSWORD, "register": True})
    assert status == 201, body
    wait_until(f"the registration of {user}", lambda: accepted(box, user))
    return registrar


def test_trunk_registration_follows_api_edits(box: RunningAppliance) -> None:
    registrar = registered_trunk(box, "7001", registrations=2, timeout=90)
    # an edit that does not touch the registration leaves it alone
    status, body = box.api("PATCH", "/api/v1/trunks/carrier", {"outbound_caller_id": "01088886666"})
    assert status == 200, body
    # a new account: 7001's binding is removed, 7002 registers
    status, body = box.api("PATCH", "/api/v1/trunks/carrier", {"username": "7002"})
    assert status == 200, body
    wait_until("the registration of 7002", lambda: accepted(box, "7002"))
    status, _ = box.api("DELETE", "/api/v1/trunks/carrier")
    assert status in (200, 204)
    out, _ = registrar.communicate(timeout=60)
    assert successful(out) == 2, out[-3000:]
    seen = register_requests(box)
    # each account: challenged, registered; later challenged and removed with Expires: 0
    for user in ("7001", "7002"):
        assert [(e, auth) for u, e, auth in seen if u == user] == [
            ("600", False), ("600", True), ("0", False), ("0", True)], seen
    # 7001 was removed when the account changed, before the trunk was deleted (7002's removal comes last)
    assert seen[-2:] == [("7002", "0", False), ("7002", "0", True)], seen


def test_a_stopping_box_removes_its_trunk_registrations(box: RunningAppliance) -> None:
    """At shutdown the box un-registers (Expires: 0) from its carriers, so they stop sending calls to it."""
    registrar = registered_trunk(box, "7003", registrations=1, timeout=60)
    assert box.stop() == 0, box.log.read_text()[-3000:]
    out, _ = registrar.communicate(timeout=30)
    assert successful(out) == 1, out[-3000:]  # the registrar checked the removal's digest and accepted it
    assert [(e, auth) for u, e, auth in register_requests(box) if u == "7003"] == [
        ("600", False), ("600", True), ("0", False), ("0", True)]
