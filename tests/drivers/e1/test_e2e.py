"""End to end with the emulator as its own process: the box's E1 card (user side, our driver registered in
the appliance's LegFactory as a card driver is) is wired to a far exchange's card (our driver in the network
role, standing for the carrier). A PRI call to the demo access number reaches the IVR, 1 is pressed in band
by the exchange's line, the call queues and a SIPp agent answers; tones go both ways; the CDR names the
span and channel. Then an agent's SIP phone dials out through the PRI trunk.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.app import create_appliance
from appliance.calls import events as call_events
from appliance.config import RunConfig
from appliance.events import Event
from appliance.legs import events as le
from appliance.legs.causes import Cause
from appliance.legs.models import OutboundLeg
from appliance.media import events as media_events
from drivers.e1.models import E1Settings, SpanSettings
from drivers.e1.service import E1Driver
from drivers.hal.serial_backend import SerialCard
from tests.conftest import free_port, free_rtp_port
from tests.drivers.e1.far_end import FAST, two_cards, until
from tests.e2e.harness import SCENARIOS, fill_scenario, sipp_available, successful
from tests.e2e.rtp_phone import RtpPhone
from tests.legs.test_frame_line_call import (
    ADMIN_PASSWORD,
    ALWAYS_OPEN,
    sipp,
    sipp_args,
    users_csv,
    wait_for_cdr,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

CALLER, CALLER_HZ, AGENT_HZ = "02150001234", 500.0, 1100.0


async def admin(port: int, token: str) -> None:
    """The admin's password, always-open hours, a PRI trunk for span 1, and 1002 allowed national calls."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        r = await http.post("/api/v1/setup", json={"token": token, "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        r = await http.post("/api/v1/login", json={"name": "admin", "password": ADMIN_PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await http.patch("/api/v1/schedules/business_hours", json=ALWAYS_OPEN, headers=headers)
        assert r.status_code == 200, r.text
        r = await http.post("/api/v1/trunks", json={"id": "pri1", "name": "PRI span 1", "kind": "e1_pri", "span": 1},
                            headers=headers)
        assert r.status_code in (200, 201), r.text
        r = await http.patch("/api/v1/extensions/1002", json={"dial_class": "national"}, headers=headers)
        assert r.status_code == 200, r.text


async def test_a_pri_call_reaches_a_sip_agent_and_an_agent_dials_out_over_pri(
        tmp_path: Path, seeded_template: Path) -> None:
    data, work = tmp_path / "data", tmp_path / "sipp"
    shutil.copytree(seeded_template, data)
    work.mkdir()
    rtp_low = free_rtp_port()
    appliance = create_appliance(RunConfig(data_dir=data, http_port=free_port(), https_port=free_port(), sip_port=free_port(),
                                           rtp_port_min=rtp_low, rtp_port_max=rtp_low + 59, seed_demo=True))
    telephony = appliance.telephony
    assert telephony is not None
    media = telephony.media
    events: list[Event] = []
    appliance.core.bus.subscribe(events.append, {"calls.*", "media.playback_finished", "media.dtmf", "e1.*"})

    def published(kind: type[Event], **fields: object) -> list[Any]:
        return [e for e in events if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())]

    async with two_cards() as far_end:
        far, far_media, far_sink = far_end["far"], far_end["far_media"], far_end["far_sink"]
        settings = E1Settings(device=far_end["tty"], spans=(SpanSettings(span=1, role="user", name="pri1"),),
                              t200=0.5, timers=FAST, pcap_dir=tmp_path)
        box = E1Driver(settings, SerialCard(far_end["tty"]), media, appliance.core.bus)
        telephony.legs.register(box)
        sip_port = appliance.run.sip_port
        agent_rtp = RtpPhone(AGENT_HZ)
        agent_phone: asyncio.subprocess.Process | None = None
        await appliance.start()
        await box.start()
        try:
            assert appliance.setup_token is not None
            await admin(appliance.http_port, appliance.setup_token)
            await until("the D-channel", lambda: box.spans[1].link_up and far.spans[1].link_up)
            agent_port = free_port()
            login = fill_scenario(SCENARIOS / "phone_login.xml", work)
            _, out = await sipp(work, [*sipp_args(login, agent_port, sip_port), "-inf",
                                       str(users_csv(data, work, "1002")), "-s", "*11"])
            assert successful(out) == 1, out[-2000:]
            agent_rtp.start()
            scenario = fill_scenario(SCENARIOS / "agent_media.xml", work, RTP_PORT=agent_rtp.port, TALK_MS=60000)
            agent_phone = await asyncio.create_subprocess_exec(
                *sipp_args(scenario, agent_port, sip_port), cwd=work, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            await asyncio.sleep(0.3)

            # the exchange delivers a call to 8000 on span 1; the IVR answers and the line hears the prompt
            far_leg = await far.create(OutboundLeg(callee="8000", caller=CALLER))
            line = far_media.lines[far_leg.endpoint_id]
            await until("the box to answer", lambda: bool(far_sink.of(le.LegAnswered)), 10)
            offered = published(call_events.CallOffered, leg_kind="e1_pri")
            assert len(offered) == 1
            call_id = offered[0].call_id
            answered = time.monotonic()
            our_leg = next(iter(box.spans[1].legs.values()))
            endpoint = our_leg.endpoint_id
            assert endpoint is not None and endpoint.startswith("fp")
            await until("the welcome prompt", lambda: bool(published(
                media_events.PlaybackFinished, endpoint_id=endpoint, interrupted=False)), 10)
            assert line.rms(answered + 0.2, time.monotonic()) > 300, "the line heard no prompt"

            # 1 pressed in band on the exchange's line: the frame port's detector hears it
            line.press("1")
            await until("the in-band digit", lambda: bool(published(media_events.DtmfReceived, endpoint_id=endpoint)))
            assert [e.digit for e in published(media_events.DtmfReceived, endpoint_id=endpoint)] == ["1"]
            await until("the agent bridged", lambda: bool(published(call_events.CallBridged, call_id=call_id)), 20)
            bridged = time.monotonic()
            line.tone = CALLER_HZ
            since = bridged + 1.0
            await asyncio.sleep(since + 3.0 - time.monotonic())
            upto = time.monotonic()
            assert agent_rtp.level(CALLER_HZ, since, upto) > 20 * max(agent_rtp.level(AGENT_HZ, since, upto), 1000.0)
            assert line.level(AGENT_HZ, since, upto) > 20 * max(line.level(CALLER_HZ, since, upto), 1.0)

            # the exchange clears; the CDR names the span's trunk and the B-channel in the caller's leg
            far_leg.hangup(Cause.NORMAL_CLEARING)
            await until("the call to end", lambda: bool(published(call_events.CallEnded, call_id=call_id)), 10)
            await asyncio.wait_for(agent_phone.communicate(), 15)
            cdr = await wait_for_cdr(data, call_id)
            assert (cdr["caller"], cdr["trunk"], cdr["did"], cdr["queue"], cdr["agent"], cdr["ivr_keys"]) == (
                CALLER, "pri1", "8000", "sales", "1002", "1")
            assert (cdr["hangup_side"], cdr["hangup_cause"]) == ("caller", "normal_clearing")
            caller_leg = next(entry for entry in cdr["legs"] if entry["role"] == "caller")
            assert caller_leg["leg"] == our_leg.leg_id == f"e1_pri-s1c{far_leg.channel}-1"
            await until("no channel in use", lambda: not box.spans[1].stack.q931.busy)

            # the agent's phone dials a mobile number: out through the PRI trunk, to the exchange
            caller_rtp = RtpPhone(AGENT_HZ)
            caller_rtp.start()
            try:
                dial = fill_scenario(SCENARIOS / "caller_media.xml", work, RTP_PORT=caller_rtp.port, BEFORE_KEY_MS=300,
                                      DIGIT=5)
                phone = await asyncio.create_subprocess_exec(
                    *sipp_args(dial, free_port(), sip_port), "-inf", str(users_csv(data, work, "1002")),
                    "-s", "13800138000", "-trace_msg", cwd=work, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
                try:
                    await until("the exchange's incoming call", lambda: bool(far_sink.of(le.LegIncoming)), 10)
                except AssertionError:
                    print([e for e in events if e.topic.startswith("calls.")][-6:])
                    if phone.returncode is None:
                        phone.kill()
                    print((await phone.communicate())[0].decode()[-3000:])
                    print("".join(p.read_text()[-4000:] for p in work.glob("caller_media*_messages.log")))
                    raise
                incoming = far_sink.of(le.LegIncoming)[0]
                assert (incoming.callee, incoming.caller) == ("13800138000", "1002")
                far_out = far.leg(incoming.leg_id)
                await far_out.open_media()
                far_out.answer()
                await asyncio.sleep(1.0)
                far_out.hangup(Cause.NORMAL_CLEARING)
                await asyncio.wait_for(phone.communicate(), 15)
            finally:
                caller_rtp.stop()
            def dialled_out() -> list[Any]:
                return [e for e in published(call_events.CallEnded) if e.cdr.get("callee") == "13800138000"]

            await until("the outbound call's end", lambda: bool(dialled_out()), 10)
            out_cdr = await wait_for_cdr(data, dialled_out()[0].call_id)
            assert (out_cdr["direction"], out_cdr["trunk"], out_cdr["callee"]) == ("outbound", "pri1", "13800138000")
            assert any(entry["leg"].startswith("e1_pri-s1c31-") for entry in out_cdr["legs"]), out_cdr["legs"]
            assert box.health().counters["calls_out"] == 1
        finally:
            agent_rtp.stop()
            if agent_phone is not None and agent_phone.returncode is None:
                agent_phone.kill()
                await agent_phone.wait()
            await box.stop()
            await appliance.stop()
    assert media.endpoint_count == 0
    assert (tmp_path / "span-1.pcap").stat().st_size > 24
