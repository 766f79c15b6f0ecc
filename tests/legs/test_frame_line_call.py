"""The seam the card drivers will use, accepted end to end: a leg provider that is not SIP (tests/legs/
frame_provider.py: kind "test", one A-law frame port per leg, its own 20 ms clock) carries a customer's call
through the IVR and the queue to an agent on a SIPp phone, with audio both ways through the frame port.

The appliance runs in this process (`create_appliance`, the demo tenant, free ports); the provider is
registered in its `LegFactory` before `start()`, as a card driver will be by the composition root.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.app import Appliance, create_appliance
from appliance.calls import events as call_events
from appliance.config import RunConfig
from appliance.events import Event
from appliance.legs.causes import Cause
from appliance.media import events as media_events
from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import SCENARIOS, channel_rms, fill_scenario, sipp_available, successful
from tests.e2e.rtp_phone import RtpPhone
from tests.legs.frame_provider import FrameLineProvider, Line

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
ADMIN_PASSWORD = "an admin password"
LINE_CALLER, LINE_NAME, LINE_TRUNK = "02150001234", "Line One", "span-1"
CALLER_HZ, AGENT_HZ = 500.0, 1100.0


async def until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def sipp(work: Path, args: list[str], timeout: float = 60.0) -> tuple[int, str]:
    """Run SIPp without blocking the loop the appliance runs on."""
    proc = await asyncio.create_subprocess_exec(*args, cwd=work, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(errors="replace")


def sipp_args(scenario: Path, port: int, sip_port: int) -> list[str]:
    return ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin",
            "-trace_err", "-timeout", "60", "-aa", f"127.0.0.1:{sip_port}"]


def users_csv(data: Path, work: Path, extension: str) -> Path:
    password = json.loads((data / "demo-credentials.json").read_text())["extensions"][extension]
    path = work / f"user-{extension}.csv"
    path.write_text(f"SEQUENTIAL\n{extension};[authentication username={extension} password={password}]\n")
    return path


async def wait_for_cdr(data: Path, call_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The CDR as the journal wrote it (from `calls.ended`, in batches on its writer thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{data / 'records.sqlite3'}?mode=ro", uri=True) as db:
            row = db.execute("SELECT data FROM cdr WHERE call_id = ?", (call_id,)).fetchone()
        if row:
            return dict(json.loads(row[0]))
        await asyncio.sleep(0.1)
    raise AssertionError(f"the journal wrote no CDR for {call_id}")


async def set_up_admin(appliance: Appliance) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{appliance.http_port}", timeout=10) as http:
        r = await http.post("/api/v1/setup", json={"token": appliance.setup_token, "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        r = await http.post("/api/v1/login", json={"name": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await http.patch("/api/v1/schedules/business_hours", json=ALWAYS_OPEN, headers=headers)
        assert r.status_code == 200, r.text


def hears(levels: Callable[[float], float], hz: float) -> bool:
    """`hz` is there, well above the noise and not far below the loudest of the two tones."""
    wanted = levels(hz)
    reference = max(levels(f) for f in (CALLER_HZ, AGENT_HZ))
    return wanted > 0.05 * reference and wanted > 1000.0


async def test_a_tdm_line_reaches_a_sip_agent_through_ivr_and_queue_with_frames_both_ways(
        tmp_path: Path, seeded_template: Path) -> None:
    data, work = tmp_path / "data", tmp_path / "sipp"
    shutil.copytree(seeded_template, data)
    work.mkdir()
    rtp_low = free_rtp_port()
    # (not http_port=0: Sanic's create_server takes a port of 0 for "unset" and binds 8000)
    appliance = create_appliance(RunConfig(data_dir=data, http_port=free_port(), https_port=0, sip_port=free_port(),
                                           rtp_port_min=rtp_low, rtp_port_max=rtp_low + 59, seed_demo=True))
    telephony = appliance.telephony
    assert telephony is not None
    media = telephony.media
    provider = FrameLineProvider(media)
    telephony.legs.register(provider)
    events: list[Event] = []
    appliance.core.bus.subscribe(events.append, {"calls.*", "media.playback_finished", "media.dtmf"})

    def published(kind: type[Event], **fields: object) -> list[Any]:
        return [e for e in events if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())]

    sip_port = appliance.run.sip_port
    agent_rtp = RtpPhone(AGENT_HZ)
    agent_phone: asyncio.subprocess.Process | None = None
    await appliance.start()
    try:
        await set_up_admin(appliance)
        agent_port = free_port()
        login = fill_scenario(SCENARIOS / "phone_login.xml", work)  # agent 1002 logs in with *11 from its phone
        _, out = await sipp(work, [*sipp_args(login, agent_port, sip_port), "-inf", str(users_csv(data, work, "1002")),
                                   "-s", "*11"])
        assert successful(out) == 1, out[-2000:]
        agent_rtp.start()
        scenario = fill_scenario(SCENARIOS / "agent_media.xml", work, RTP_PORT=agent_rtp.port, TALK_MS=60000)
        agent_phone = await asyncio.create_subprocess_exec(
            *sipp_args(scenario, agent_port, sip_port), cwd=work, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        await asyncio.sleep(0.3)

        # the line calls the access number; the IVR answers it and it hears the welcome prompt
        line: Line = provider.incoming(LINE_CALLER, "8000", caller_name=LINE_NAME, trunk=LINE_TRUNK)
        leg = line.leg
        offered = published(call_events.CallOffered, leg_kind="test")
        assert len(offered) == 1, offered  # (call control takes a leg event in, and publishes, at once)
        call_id = offered[0].call_id
        await until("the IVR to answer the line", lambda: leg.state == "answered", 10)
        answered = time.monotonic()
        endpoint = leg.endpoint_id
        assert endpoint is not None and endpoint.startswith("fp")
        await until("the welcome prompt to end", lambda: bool(published(
            media_events.PlaybackFinished, endpoint_id=endpoint, interrupted=False)), 10)
        heard_prompt = line.rms(answered + 0.2, time.monotonic())
        assert heard_prompt > 300, f"the line heard no prompt (RMS {heard_prompt:.0f})"

        # 1 pressed in band during the menu: the frame port's detector hears it, the IVR sends the line to sales
        line.press("1")
        await until("the in-band digit", lambda: bool(published(media_events.DtmfReceived, endpoint_id=endpoint)), 5)
        assert [(e.digit, e.source) for e in published(media_events.DtmfReceived, endpoint_id=endpoint)] == [
            ("1", "inband")]
        await until("the call to queue", lambda: bool(published(call_events.CallQueued, call_id=call_id)), 10)
        await until("the agent's phone to ring",
                    lambda: bool(published(call_events.CallRinging, call_id=call_id, agent="1002")), 10)
        await until("the line and the agent to be bridged",
                    lambda: bool(published(call_events.CallBridged, call_id=call_id)), 20)
        bridged = time.monotonic()

        # the line speaks 500 Hz, the agent's phone 1100 Hz: each hears the other
        line.say_tone(CALLER_HZ)
        since = bridged + 1.0
        await asyncio.sleep(since + 3.0 - time.monotonic())
        until_ = time.monotonic()
        assert hears(lambda hz: agent_rtp.level(hz, since, until_), CALLER_HZ), "the agent does not hear the line"
        assert hears(lambda hz: line.level(hz, since, until_), AGENT_HZ), "the line does not hear the agent"
        assert not hears(lambda hz: line.level(hz, since, until_), CALLER_HZ), "the line hears itself"

        # the line hangs up: Q.850 normal clearing, by the far end
        line.hang_up()
        assert provider.ended[-1].cause == Cause.NORMAL_CLEARING and provider.ended[-1].remote is True
        await until("the call to end", lambda: bool(published(call_events.CallEnded, call_id=call_id)), 10)
        await asyncio.wait_for(agent_phone.communicate(), 15)
        # agent_media.xml waits to hang up itself: SIPp answers the box's BYE with 200 and notes it as unexpected
        assert "unexpected BYE" in "".join(p.read_text() for p in work.glob("agent_media-*_errors.log"))
        cdr = await wait_for_cdr(data, call_id)
        assert (cdr["caller"], cdr["caller_name"], cdr["trunk"], cdr["did"], cdr["direction"]) == (
            LINE_CALLER, LINE_NAME, LINE_TRUNK, "8000", "inbound")
        assert (cdr["queue"], cdr["agent"], cdr["disposition"], cdr["ivr_keys"]) == ("sales", "1002", "answered", "1")
        assert cdr["ivr_path"][:2] == ["main/welcome", "main/menu"], cdr["ivr_path"]
        assert (cdr["hangup_side"], cdr["hangup_cause"]) == ("caller", "normal_clearing")
        caller_leg = next(entry for entry in cdr["legs"] if entry["role"] == "caller")
        assert caller_leg["leg"] == leg.leg_id and caller_leg["leg"].startswith("test-")
        assert leg.mos is None and leg.ended and leg.port is None and leg.endpoint_id is None
        left, right = channel_rms(data / cdr["recording"])  # the line on the left, the agent on the right
        assert left > 100 and right > 100, (left, right)

        # nothing is left of the call: no endpoint, no frame port, no driver, no SIP leg
        await until("the agent's leg to be released", lambda: media.endpoint_count == 0, 5)
        gauges = media.health().gauges
        assert gauges["frame_ports"] == 0 and gauges["endpoints_in_use"] == 0, gauges
        assert provider.live_legs == 0 and provider.drivers_running == 0
        assert telephony.sip.health().gauges["legs_active"] == 0
    finally:
        agent_rtp.stop()
        if agent_phone is not None and agent_phone.returncode is None:
            agent_phone.kill()
            await agent_phone.wait()
        await provider.close()
        await appliance.stop()
    gauges = media.health().gauges
    assert media.endpoint_count == 0 and gauges["frame_ports"] == 0, gauges
