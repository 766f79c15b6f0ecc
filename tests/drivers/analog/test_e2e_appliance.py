"""The whole box with an analog card: the analog card emulator runs as its own process (the exchange behind FXO
port 1, analog phones on FXS ports 2 and 3 for extensions 1002 and 1003), the appliance is built by the
composition root from the `analog` setting, and the demo tenant answers.

- the agents log in from their analog phones with `*11`;
- a call on the FXO line with FSK caller ID reaches the demo IVR, presses 1 in band, is queued for sales and
  answered by an agent on an FXS phone, who got the caller ID between the first and second ring; audio is
  checked both ways by tones;
- the agent flashes, dials the other agent and hangs up: the caller now talks to the second agent;
- the caller hangs up, the exchange plays busy tone, and the call ends within 3 s with the cause in the CDR;
- an FXS agent who does not answer is skipped after the queue's ring timeout, as a SIP agent would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.acd.events import AgentMissedCall, AgentStateChanged
from appliance.app import Appliance, Core, create_appliance
from appliance.calls import events as call_events
from appliance.config import RunConfig
from appliance.events import Event
from tests.conftest import free_port, free_rtp_port
from tests.drivers.analog.emulated import FarEnds, analog_card
from tests.legs.test_frame_line_call import ADMIN_PASSWORD, set_up_admin, until, wait_for_cdr

pytestmark = [pytest.mark.slow, pytest.mark.interop]

CALLER, CALLER_NAME = "02150001234", "WANG WU"
CALLER_HZ, AGENT_HZ, OTHER_HZ = 500.0, 1100.0, 1400.0


def analog_settings(tty: str) -> dict[str, Any]:
    return {"card": tty,
            "fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000", "settings": {"rings_to_answer": 1}}],
            "fxs": [{"port": 2, "extension": "1002"}, {"port": 3, "extension": "1003"}]}


def heard(levels: dict[str, float], hz: float, other: float) -> bool:
    return levels[f"{hz:g}"] > -35.0 and levels[f"{hz:g}"] > levels[f"{other:g}"] + 10


async def log_in(far: FarEnds, port: int, agent: str, published: Callable[..., list[Any]]) -> None:
    """The agent lifts the phone, hears dial tone, keys *11 and puts the phone down after the prompt."""
    await far(port, "off_hook")
    await asyncio.sleep(0.5)
    await far(port, "press", digits="*11")
    await until(f"agent {agent} to log in", lambda: any(
        e.old == "logged_out" for e in published(AgentStateChanged, agent_id=agent)), 15)
    await asyncio.sleep(0.5)
    await far(port, "on_hook")


@dataclass
class Box:
    data: Path
    far: FarEnds
    events: list[Event]
    appliance: Appliance

    def published(self, kind: type[Event], **fields: object) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)
                and all(getattr(e, k) == v for k, v in fields.items())]


@contextlib.asynccontextmanager
async def box(tmp_path: Path, seeded_template: Path) -> AsyncIterator[Box]:
    """The emulated card (exchange on port 1, phones on 2 and 3), the appliance built from the analog setting,
    always open, and both agents logged in from their analog phones."""
    data = tmp_path / "data"
    shutil.copytree(seeded_template, data)
    async with analog_card(tmp_path, "fxo:1,fxs:2") as (_card, far, info):
        core = Core.open(data)
        await core.store.set_settings(analog=analog_settings(str(info["tty"])))
        core.close()
        rtp_low = free_rtp_port()
        appliance = create_appliance(RunConfig(data_dir=data, http_port=free_port(), sip_port=free_port(),
                                               rtp_port_min=rtp_low, rtp_port_max=rtp_low + 59, seed_demo=True))
        telephony = appliance.telephony
        assert telephony is not None and telephony.legs.provides("fxo") and telephony.legs.provides("fxs")
        the_box = Box(data, far, [], appliance)
        appliance.core.bus.subscribe(the_box.events.append, {"calls.*", "acd.*", "analog.*"})
        await appliance.start()
        try:
            await set_up_admin(appliance)
            await log_in(far, 2, "1002", the_box.published)
            await log_in(far, 3, "1003", the_box.published)
            yield the_box
        finally:
            await appliance.stop()


async def test_a_line_call_through_ivr_and_queue_to_an_analog_agent_then_flash_transfer_and_busy_clear(
        tmp_path: Path, seeded_template: Path) -> None:
    async with box(tmp_path, seeded_template) as the_box:
        far, data, published = the_box.far, the_box.data, the_box.published
        # the exchange rings the line with caller ID; the IVR answers it
        await far(2, "auto_answer", rings=2)
        await far(1, "call", number=CALLER, name=CALLER_NAME, date="12061130")
        await until("the line's call", lambda: bool(published(call_events.CallOffered, leg_kind="fxo")), 15)
        [offered] = published(call_events.CallOffered, leg_kind="fxo")
        call_id = offered.call_id
        await far.until("the IVR to answer", 1, lambda s: s["state"] == "connected", 10)
        await asyncio.sleep(2.5)  # (into the menu)
        await far(1, "press", digits="1")
        await until("the call to queue", lambda: bool(published(call_events.CallQueued, call_id=call_id)), 10)
        ringing = await until_ringing(published, call_id)
        assert ringing.caller == CALLER
        agent = ringing.agent
        agent_port, other_port, other_agent = (2, 3, "1003") if agent == "1002" else (3, 2, "1002")
        if agent_port == 3:
            await far(3, "auto_answer", rings=2)
        await until("the agent to answer", lambda: bool(published(call_events.CallBridged, call_id=call_id)), 15)
        phone = await far(agent_port, "status")
        assert phone["caller_id"]["number"] == CALLER and phone["caller_id"]["name"] == CALLER_NAME, phone

        # tones both ways through the FXO line, the media engine and the FXS port
        await far(1, "say_tone", hz=CALLER_HZ)
        await far(agent_port, "say_tone", hz=AGENT_HZ)
        await asyncio.sleep(2.0)
        line_heard = (await far(1, "levels", hz=[CALLER_HZ, AGENT_HZ], seconds=1.5))["levels"]
        agent_heard = (await far(agent_port, "levels", hz=[CALLER_HZ, AGENT_HZ], seconds=1.5))["levels"]
        assert heard(line_heard, AGENT_HZ, CALLER_HZ), line_heard
        assert heard(agent_heard, CALLER_HZ, AGENT_HZ), agent_heard

        # flash (the caller is held), dial the other agent, talk to them, put the phone down: attended transfer
        await far(other_port, "auto_answer", rings=1)
        await far(agent_port, "flash", ms=300)
        await asyncio.sleep(0.8)
        await far(agent_port, "press", digits=f"{other_agent}#")
        await far.until("the second agent to pick up", other_port, lambda s: s["off_hook"], 15)
        await far(other_port, "say_tone", hz=OTHER_HZ)
        await asyncio.sleep(2.0)
        consult_heard = (await far(agent_port, "levels", hz=[OTHER_HZ, CALLER_HZ], seconds=1.0))["levels"]
        assert heard(consult_heard, OTHER_HZ, CALLER_HZ), consult_heard  # (the caller, held, is not heard)
        await far(agent_port, "on_hook")
        await until("the transfer", lambda: bool(published(call_events.CallTransferred, call_id=call_id)), 15)
        await asyncio.sleep(2.5)
        line_heard = (await far(1, "levels", hz=[CALLER_HZ, OTHER_HZ], seconds=1.5))["levels"]
        assert heard(line_heard, OTHER_HZ, CALLER_HZ), line_heard
        other_heard = (await far(other_port, "levels", hz=[CALLER_HZ, OTHER_HZ], seconds=1.5))["levels"]
        assert heard(other_heard, CALLER_HZ, OTHER_HZ), other_heard

        # the caller hangs up: the exchange's busy tone ends the call within 3 s
        hung_up = time.monotonic()
        await far(1, "hang_up", how="busy")
        await until("the call to end", lambda: bool(published(call_events.CallEnded, call_id=call_id)), 6)
        assert time.monotonic() - hung_up <= 3.0
        cdr = await wait_for_cdr(data, call_id)
        assert (cdr["caller"], cdr["caller_name"], cdr["trunk"], cdr["did"]) == (CALLER, CALLER_NAME, "pstn", "8000")
        assert (cdr["queue"], cdr["ivr_keys"]) == ("sales", "1")
        assert (cdr["hangup_side"], cdr["hangup_cause"]) == ("caller", "normal_clearing"), cdr
        await far(other_port, "on_hook")


async def until_ringing(published: Callable[..., list[Any]], call_id: str) -> Any:
    await until("an agent's phone to ring",
                lambda: any(e.agent for e in published(call_events.CallRinging, call_id=call_id)), 10)
    return next(e for e in published(call_events.CallRinging, call_id=call_id) if e.agent)


async def test_an_analog_agent_who_does_not_answer_is_skipped_after_the_ring_timeout(
        tmp_path: Path, seeded_template: Path) -> None:
    async with box(tmp_path, seeded_template) as the_box:
        far, published = the_box.far, the_box.published
        await far(1, "call", number=CALLER, name=CALLER_NAME)
        await until("the line's call", lambda: bool(published(call_events.CallOffered, leg_kind="fxo")), 15)
        call_id = published(call_events.CallOffered, leg_kind="fxo")[0].call_id
        await far.until("the IVR to answer", 1, lambda s: s["state"] == "connected", 10)
        await asyncio.sleep(2.5)
        await far(1, "press", digits="1")
        first = await until_ringing(published, call_id)
        first_port, second_port = (2, 3) if first.agent == "1002" else (3, 2)
        await far(second_port, "auto_answer", rings=1)
        rang_at = time.monotonic()
        # the first agent's phone rings on (1 s on, 4 s off) until the queue's ring timeout (15 s) skips it
        await until("the second agent's phone to ring", lambda: any(
            e.agent and e.agent != first.agent for e in published(call_events.CallRinging, call_id=call_id)), 25)
        skipped_after = time.monotonic() - rang_at
        assert 14.0 <= skipped_after <= 18.0, skipped_after
        status = await far.until("the first phone to stop ringing", first_port, lambda s: not s["ringing"], 5)
        assert status["rings"] >= 3 and not status["off_hook"]
        assert published(AgentMissedCall, agent_id=first.agent)
        await until("the second agent to answer", lambda: bool(published(call_events.CallBridged, call_id=call_id)),
                    15)
        await far(1, "hang_up", how="busy")
        await until("the call to end", lambda: bool(published(call_events.CallEnded, call_id=call_id)), 6)
        await far(second_port, "on_hook")

        # the API lists the ports, idle again, with their counters
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{the_box.appliance.http_port}", timeout=10) as http:
            r = await http.post("/api/v1/login", json={"name": "admin", "password": ADMIN_PASSWORD})
            headers = {"Authorization": f"Bearer {r.json()['token']}"}
            r = await http.get("/api/v1/hw/analog/ports", headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ok" and [(p["port"], p["kind"]) for p in body["items"]] == [
            (1, "fxo"), (2, "fxs"), (3, "fxs")]
        fxo = body["items"][0]
        assert fxo["access_number"] == "8000" and fxo["counters"]["caller_ids"] == 1
        assert body["items"][first_port - 1]["counters"]["rings"] >= 3
