"""Three-way calling from an analog phone by hook flash, on the analog card emulator as its own process.

The agent on FXS port 1 talks to a caller, flashes (the caller is held), dials a colleague, flashes again and
keys 3: all three hear each other, mixed on the port (the caller and the colleague are two calls to call
control). A flash then drops the colleague; a flash without the code goes back to the held caller as before.
Each party says its own tone (the caller 500 Hz, the colleague 1400 Hz, the agent 1100 Hz); what each heard
is measured by tone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from appliance.legs import events as le
from appliance.legs.models import OutboundLeg
from drivers.analog.config import parse_config
from drivers.analog.service import AnalogService
from tests.drivers.analog.emulated import analog_card
from tests.drivers.e1.far_end import Sink, ToneMedia, until

pytestmark = [pytest.mark.slow, pytest.mark.interop]
CALLER, COLLEAGUE, AGENT = 500.0, 1400.0, 1100.0


def hears(line: object, hz: float, since: float) -> bool:
    """The frame port heard `hz` clearly (against a tone nobody says) over the time since `since`."""
    now = time.monotonic()
    return line.level(hz, since, now) > 20 * max(line.level(2200.0, since, now), 1.0)  # type: ignore[attr-defined]


async def test_flash_and_3_joins_the_held_caller_and_the_colleague(tmp_path: Path) -> None:
    async with analog_card(tmp_path, "fxs:1") as (card, far, _info):
        media, sink = ToneMedia(), Sink()
        service = AnalogService(card, media, parse_config({"fxs": [{"port": 1, "extension": "1002"}]}))  # type: ignore[arg-type]
        service.fxs.attach(sink)
        await service.start()
        try:
            await far(1, "auto_answer", rings=1)
            caller = await service.fxs.create(OutboundLeg(callee="1002", caller="02150001234", extension="1002"))
            await until("the agent to answer", lambda: bool(sink.of(le.LegAnswered)), 15)
            media.lines[caller.endpoint_id].tone = CALLER

            # flash: the caller is held; the agent dials the colleague, who answers
            await far(1, "flash", ms=300)
            await until("the caller held", lambda: [e.held for e in sink.of(le.LegHoldChanged)] == [True], 3)
            await asyncio.sleep(0.5)
            await far(1, "press", digits="1003#")
            await until("the consultation call", lambda: len(sink.of(le.LegIncoming)) == 1, 5)
            consult_event = sink.of(le.LegIncoming)[0]
            assert (consult_event.caller, consult_event.callee) == ("1002", "1003")
            colleague = service.fxs.leg(consult_event.leg_id)
            await colleague.open_media()
            colleague.answer()
            media.lines[colleague.endpoint_id].tone = COLLEAGUE  # type: ignore[index]

            # flash and 3: everyone together; the caller is no longer held
            await far(1, "flash", ms=300)
            await asyncio.sleep(0.8)  # (the hook switch is back up after 300 ms; the code window is 2 s)
            await far(1, "press", digits="3")
            await until("the caller back", lambda: [e.held for e in sink.of(le.LegHoldChanged)] == [True, False], 3)
            assert service.ports[1].three_way
            await far(1, "say_tone", hz=AGENT)
            t0 = time.monotonic()
            await asyncio.sleep(1.5)
            phone = (await far(1, "levels", hz=[CALLER, COLLEAGUE, AGENT], seconds=1.0))["levels"]
            assert phone[f"{CALLER:g}"] > -30 and phone[f"{COLLEAGUE:g}"] > -30, phone  # the agent hears both
            caller_line, colleague_line = media.lines[caller.endpoint_id], media.lines[colleague.endpoint_id]  # type: ignore[index]
            assert hears(caller_line, AGENT, t0 + 0.3) and hears(caller_line, COLLEAGUE, t0 + 0.3)
            assert hears(colleague_line, AGENT, t0 + 0.3) and hears(colleague_line, CALLER, t0 + 0.3)
            assert not any(isinstance(e, le.LegEnded) for e in sink.events)

            # a flash drops the colleague (the party added last); the agent and the caller go on
            await far(1, "flash", ms=300)
            await until("the colleague's leg to end", lambda: [e.leg_id for e in sink.of(le.LegEnded)] == [
                colleague.leg_id], 3)
            assert not service.ports[1].three_way and service.ports[1].leg is caller
            t1 = time.monotonic()
            await asyncio.sleep(1.0)
            assert hears(caller_line, AGENT, t1 + 0.3) and not hears(caller_line, COLLEAGUE, t1 + 0.3)
        finally:
            await service.stop()


async def test_a_flash_without_the_code_goes_back_to_the_held_caller(tmp_path: Path) -> None:
    async with analog_card(tmp_path, "fxs:1") as (card, far, _info):
        media, sink = ToneMedia(), Sink()
        service = AnalogService(card, media, parse_config({"fxs": [{"port": 1, "extension": "1002"}]}))  # type: ignore[arg-type]
        service.fxs.attach(sink)
        await service.start()
        try:
            await far(1, "auto_answer", rings=1)
            caller = await service.fxs.create(OutboundLeg(callee="1002", caller="02150001234", extension="1002"))
            await until("the agent to answer", lambda: bool(sink.of(le.LegAnswered)), 15)
            await far(1, "flash", ms=300)
            await asyncio.sleep(0.5)
            await far(1, "press", digits="1003#")
            await until("the consultation call", lambda: len(sink.of(le.LegIncoming)) == 1, 5)
            colleague = service.fxs.leg(sink.of(le.LegIncoming)[0].leg_id)
            await colleague.open_media()
            colleague.answer()
            await far(1, "flash", ms=300)
            t0 = time.monotonic()
            await until("the colleague's leg to end", lambda: [e.leg_id for e in sink.of(le.LegEnded)] == [
                colleague.leg_id], 5)
            waited = time.monotonic() - t0
            assert 1.5 < waited < 3.5, waited  # (the code window, 2 s by default)
            assert [e.held for e in sink.of(le.LegHoldChanged)] == [True, False]
            assert service.ports[1].leg is caller and not service.ports[1].three_way
        finally:
            await service.stop()
