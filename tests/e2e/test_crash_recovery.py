"""A real `appliance run` killed with SIGKILL in the middle of a call, then started again on the same data
directory: the call has a CDR marked interrupted that names its repaired recording, the agent is not left on
the call, the phone's registration is still there, and a call that ended just before a kill keeps its CDR."""

from __future__ import annotations

import io
import signal
import subprocess
import time
import urllib.request
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import (
    ADMIN_PASSWORD,
    MEDIA_FIXTURES,
    RunningAppliance,
    sipp_available,
    start_appliance,
    successful,
    wait_until,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
PCAP = MEDIA_FIXTURES / "g711a.pcap"


def kill_9(box: RunningAppliance) -> None:
    box.proc.send_signal(signal.SIGKILL)
    box.proc.wait(timeout=10)
    if box.proc.stdout is not None:
        box.proc.stdout.close()


def restart(work: Path) -> RunningAppliance:
    box = start_appliance(work, set_up=False)
    status, session = box.api("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert status == 200, session
    box.token = session["token"]
    return box


def agent_state(box: RunningAppliance, agent: str) -> str:
    status, page = box.api("GET", "/api/v1/agents")
    assert status == 200, page
    return str(next(a["state"] for a in page["items"] if a["agent"] == agent))


def caller(box: RunningAppliance, wait_ms: int) -> subprocess.Popen[str]:
    scenario = box.scenario("caller_menu.xml", DIGIT="1", PCAP=PCAP, WAIT_MS=wait_ms, BEFORE_KEY_MS=2000)
    return box.sipp_background([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                                "-inf", str(box.users_csv("1005")), "-s", "8000", f"127.0.0.1:{box.sip_port}"])


def answering(box: RunningAppliance, port: int) -> subprocess.Popen[str]:
    return box.sipp_background(box.sipp_args(box.scenario("agent_answer.xml", PCAP=PCAP), port,
                                             media_port=free_rtp_port()))


def download(box: RunningAppliance, call_id: str) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{box.http_port}/api/v1/recordings/{call_id}",
                                 headers={"Authorization": f"Bearer {box.token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return bytes(r.read())


def cdrs(box: RunningAppliance) -> list[dict[str, Any]]:
    status, page = box.api("GET", "/api/v1/cdr?callee=8000&limit=100")  # (the *11 login is a call too)
    assert status == 200, page
    return list(page["items"])


def recorded_bytes(box: RunningAppliance) -> int:
    return sum(p.stat().st_size for p in (box.data / "recordings").glob("*/*.wav"))


def stop_all(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_kill_9_mid_call_then_restart(tmp_path: Path) -> None:
    box = start_appliance(tmp_path)
    try:
        assert box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
        port = free_port()
        login = box.phone_feature("1002", "*11", port)  # registers 1002's phone at `port`, logs the agent in
        assert successful(login) == 1, login.stdout[-2000:]
        agent = answering(box, port)
        time.sleep(0.3)
        customer = caller(box, wait_ms=30000)
        wait_until("the caller talks to the agent", lambda: agent_state(box, "1002") == "on_call")
        # a few seconds recorded (the recorder writes every second, after the agent's number is spoken)
        wait_until("2 s of the call recorded", lambda: recorded_bytes(box) > 44 + 2 * 8000 * 4)
        time.sleep(0.5)
        kill_9(box)
        stop_all(customer, agent)

        box = restart(tmp_path)
        # the call in progress: a CDR marked interrupted, with what was known, naming its recording
        (cdr,) = cdrs(box)
        assert cdr["disposition"] == "interrupted" and cdr["interrupted"]["last_step"] == "bridged", cdr
        assert cdr["caller"] == "1005" and cdr["callee"] == "8000" and cdr["queue"] == "sales", cdr
        assert cdr["agent"] == "1002" and cdr["ivr_path"][:2] == ["main/welcome", "main/menu"], cdr
        assert cdr["ended"] - cdr["started"] > 6, cdr
        assert cdr["recording"].startswith("recordings/"), cdr
        with wave.open(io.BytesIO(download(box, cdr["call_id"]))) as w:  # repaired: a valid WAV through the API
            assert w.getnchannels() == 2 and w.getframerate() == 8000
            assert w.getnframes() >= 2 * 8000, w.getnframes()
        # the agent is not left on that call: logged out (the default), the log says why
        assert agent_state(box, "1002") == "logged_out"
        closing = box.rows("SELECT state_from, state_to, reason FROM agent_log WHERE agent = '1002' "
                           "ORDER BY id DESC LIMIT 1")
        assert closing == [("on_call", "logged_out", "restart")]
        _, health = box.api("GET", "/api/v1/health")
        assert health["services"]["crash_recovery"]["counters"]["interrupted_calls"] == 1, health

        # the registration persisted: the agent logs in from the desk and the box rings the same phone, which
        # never registered again; with `last_state`, the agent comes back from the next crash still working
        status, doc = box.api("GET", "/api/v1/config/export")
        assert status == 200, doc
        doc["settings"]["agents_after_restart"] = "last_state"
        assert box.api("POST", "/api/v1/config/import", doc)[0] == 200, doc
        assert box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
        assert box.api("POST", "/api/v1/agents/1002/login", {})[0] == 200
        agent = answering(box, port)
        time.sleep(0.3)
        customer = caller(box, wait_ms=12000)
        out, _ = customer.communicate(timeout=90)
        assert successful(out) == 1, out[-2000:]
        # The caller sees the 200 to its BYE a few milliseconds before the box has its CDR on disk (a kill
        # inside those leaves the call's open row: an interrupted CDR, never none); a kill 0.3 s later must
        # find the whole CDR, written without waiting out the journal's interval.
        time.sleep(0.3)
        kill_9(box)
        out, _ = agent.communicate(timeout=30)
        assert successful(out) == 1, out[-2000:]  # rung at the binding registered before the first crash

        box = restart(tmp_path)
        done = [c for c in cdrs(box) if c["disposition"] != "interrupted"]
        assert len(done) == 1 and done[0]["disposition"] == "answered" and done[0]["agent"] == "1002", done
        assert done[0]["talk"] > 2 and done[0]["hangup_side"] == "caller", done[0]
        assert agent_state(box, "1002") == "idle"  # its last state was wrap-up (or idle): back at work
        assert box.rows("SELECT count(*) FROM open_call") == [(0,)]
    finally:
        if box.proc.poll() is None:
            box.stop()
