"""The analog driver on the card HAL against the analog card emulator in its own process: an exchange calls
the FXO line with caller ID, the driver offers the call as an "fxo" leg; an analog phone on an FXS port is rung
with caller ID, its user picks it up; the two legs' frame ports are bridged in the real media engine and each
far end hears the other's tone; the exchange hangs up and its busy tone ends the FXO leg in under 3 s."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.events import Event, EventBus
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused, OutboundLeg
from appliance.media.models import MediaConfig
from appliance.media.service import MediaEngine
from appliance.voicemail.events import VoicemailHandled, VoicemailReceived
from drivers.analog.config import parse_config
from drivers.analog.events import PortStateChanged
from drivers.analog.legs import AnalogLeg
from drivers.analog.service import AnalogService
from tests.drivers.analog.emulated import analog_card
from tests.media.conftest import free_port_range

pytestmark = [pytest.mark.slow, pytest.mark.interop]

CONFIG = {"fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000", "settings": {"rings_to_answer": 1}}],
          "fxs": [{"port": 2, "extension": "1002"}, {"port": 3, "extension": "1003"}]}


async def until(what: str, check: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def heard(levels: dict[str, float], hz: float, other: float) -> bool:
    return levels[f"{hz:g}"] > -30.0 and levels[f"{hz:g}"] > levels[f"{other:g}"] + 10


GAIN_CONFIG = {"fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000",
                        "settings": {"rings_to_answer": 1, "rx_gain_db": -6.0}}],
               "fxs": [{"port": 2, "extension": "1002"}, {"port": 3, "extension": "1003"}]}


async def test_fxo_call_with_caller_id_bridged_to_an_fxs_phone_then_busy_tone_ends_it(tmp_path: Path) -> None:
    bus = EventBus()
    states: list[Event] = []
    bus.subscribe(states.append, {"analog.*"})
    low, high = free_port_range()
    media = MediaEngine(MediaConfig(port_low=low, port_high=high), bus)
    await media.start()
    async with analog_card(tmp_path, "fxo:1,fxs:2") as (card, far, _info):
        service = AnalogService(card, media, parse_config(GAIN_CONFIG), bus)
        got: list[Event] = []
        service.fxo.attach(got.append)
        service.fxs.attach(got.append)
        await service.start()
        try:
            reachable = [e for e in got if isinstance(e, leg_events.EndpointReachable)]
            assert sorted(e.extension for e in reachable) == ["1002", "1003"]

            # the exchange rings the line with FSK caller ID (Bell 202 MDMF) after the first ring
            await far(1, "call", number="02150001234", name="WANG WU", date="12061130")
            await until("the line's call", lambda: any(isinstance(e, leg_events.LegIncoming) for e in got), 15)
            [incoming] = [e for e in got if isinstance(e, leg_events.LegIncoming)]
            assert (incoming.kind, incoming.caller, incoming.caller_name, incoming.callee, incoming.trunk) == (
                "fxo", "02150001234", "WANG WU", "8000", "pstn")
            line = service.fxo.leg(incoming.leg_id)
            assert isinstance(line, AnalogLeg)
            await line.open_media()
            line.answer()
            await until("the line to answer", lambda: line.state == "answered")
            await far.until("the exchange to see the answer", 1, lambda s: s["state"] == "connected")

            # the agent's phone rings with caller ID between the first and second ring, and is picked up
            await far(2, "auto_answer", rings=2)
            phone = await service.fxs.create(OutboundLeg(callee="1002", caller="02150001234",
                                                         caller_name="WANG WU", extension="1002"))
            assert isinstance(phone, AnalogLeg)
            with pytest.raises(LegRefused) as busy:
                await service.fxs.create(OutboundLeg(callee="1002", caller="x", extension="1002"))
            assert busy.value.cause == Cause.USER_BUSY
            await until("the phone to answer", lambda: phone.state == "answered", 12)
            status = await far(2, "status")
            assert status["caller_id"] == {"number": "02150001234", "name": "WANG WU", "date": status["caller_id"]["date"],
                                           "how": "fsk"}
            starts, stops = status["ring_starts"], status["ring_stops"]
            assert stops[0] - starts[0] == pytest.approx(1.0, abs=0.1)
            assert starts[1] - starts[0] == pytest.approx(5.0, abs=0.1)

            # bridged in the media engine: each far end hears the other
            assert line.endpoint_id is not None and phone.endpoint_id is not None
            media.bridge(line.endpoint_id, phone.endpoint_id)
            await far(1, "say_tone", hz=500)
            await far(2, "say_tone", hz=1100)
            await asyncio.sleep(2.0)
            exchange_heard = (await far(1, "levels", hz=[500, 1100], seconds=1.5))["levels"]
            phone_heard = (await far(2, "levels", hz=[500, 1100], seconds=1.5))["levels"]
            assert heard(exchange_heard, 1100, 500), exchange_heard
            assert heard(phone_heard, 500, 1100), phone_heard
            # both far ends say -12 dBm0; the line's port takes 6 dB off what it hears, the phone's nothing
            assert exchange_heard["1100"] == pytest.approx(-12.0, abs=1.0), exchange_heard
            assert phone_heard["500"] == pytest.approx(-18.0, abs=1.0), phone_heard

            # the caller hangs up: the exchange plays busy; the line leg ends within three cycles
            loop = asyncio.get_running_loop()
            hung_up = loop.time()
            await far(1, "hang_up", how="busy")
            await until("the line to clear", lambda: line.ended, 5)
            took = loop.time() - hung_up
            assert took <= 3.0, took
            [ended] = [e for e in got if isinstance(e, leg_events.LegEnded) and e.leg_id == line.leg_id]
            assert (ended.cause, ended.remote) == (Cause.NORMAL_CLEARING, True)
            await far.until("the line on hook", 1, lambda s: s["state"] == "idle")

            # call control hangs up the agent's leg: the phone hears busy until put down
            phone.hangup()
            await asyncio.sleep(1.0)
            busy_heard = (await far(2, "levels", hz=[450], seconds=0.7))["levels"]
            assert busy_heard["450"] > -25, busy_heard
            await far(2, "on_hook")
            await until("the phone port idle", lambda: service.ports[2].machine.state.value == "idle")
            assert media.health().gauges["frame_ports"] == 0
            health = service.health()
            assert health.counters["fxo_busy_disconnects"] == 1 and health.counters["fxo_caller_ids"] == 1
            assert [p["state"] for p in service.port_status()] == ["idle", "idle", "idle"]
            port_states = [(e.port, e.state) for e in states if isinstance(e, PortStateChanged)]
            assert (1, "ringing") in port_states and (2, "in_call") in port_states
        finally:
            await service.stop()
    await media.stop()


async def test_dtmf_caller_id_before_the_first_ring_and_a_caller_who_gives_up(tmp_path: Path) -> None:
    bus = EventBus()
    low, high = free_port_range()
    media = MediaEngine(MediaConfig(port_low=low, port_high=high), bus)
    await media.start()
    async with analog_card(tmp_path, "fxo:1,fxs:2") as (card, far, _info):
        service = AnalogService(card, media, parse_config(CONFIG), bus)
        got: list[Event] = []
        service.fxo.attach(got.append)
        await service.start()
        try:
            await far(1, "call", number="13800138000", cid="dtmf")
            await until("the line's call", lambda: any(isinstance(e, leg_events.LegIncoming) for e in got), 15)
            [incoming] = [e for e in got if isinstance(e, leg_events.LegIncoming)]
            assert (incoming.caller, incoming.caller_name) == ("13800138000", None)
            # nobody answers; the caller gives up: the offered leg ends, remote, normal clearing
            await far(1, "hang_up")
            await until("the offer to end", lambda: any(isinstance(e, leg_events.LegEnded) for e in got), 10)
            [ended] = [e for e in got if isinstance(e, leg_events.LegEnded)]
            assert (ended.leg_id, ended.cause, ended.remote) == (incoming.leg_id, Cause.NORMAL_CLEARING, True)
            assert service.port_status()[0]["state"] == "idle"
        finally:
            await service.stop()
    await media.stop()


async def test_the_phone_lamp_follows_unhandled_voicemail_in_its_box(tmp_path: Path) -> None:
    bus = EventBus()
    low, high = free_port_range()
    media = MediaEngine(MediaConfig(port_low=low, port_high=high), bus)
    await media.start()
    config = {"fxs": [{"port": 2, "extension": "1002", "voicemail_box": "sales"}, {"port": 3, "extension": "1003"}]}
    async with analog_card(tmp_path, "fxo:1,fxs:2") as (card, far, _info):
        service = AnalogService(card, media, parse_config(config), bus)
        await service.start()
        try:
            bus.publish(VoicemailReceived(message_id="m1", box="sales", caller="10086", duration_s=4.0))
            bus.publish(VoicemailReceived(message_id="m2", box="sales", caller="10010", duration_s=3.0))
            await far.until("the lamp on", 2, lambda s: s["lamp"] is True, 8)
            bus.publish(VoicemailHandled(message_id="m1", box="sales", by="admin"))
            await asyncio.sleep(2.0)
            assert (await far(2, "status"))["lamp"] is True  # one message is still unhandled
            # the phone is in use when the last one is handled: the lamp goes off once it is put down
            await far(2, "off_hook")
            bus.publish(VoicemailHandled(message_id="m2", box="sales", by="admin"))
            await asyncio.sleep(1.5)
            assert (await far(2, "status"))["lamp"] is True
            await far(2, "on_hook")
            await far.until("the lamp off", 2, lambda s: s["lamp"] is False, 8)
            assert (await far(3, "status"))["lamp"] is False  # (a phone without that box)
        finally:
            await service.stop()
    await media.stop()


async def test_an_outbound_call_seizes_a_line_of_the_trunk_and_dials_in_dtmf(tmp_path: Path) -> None:
    bus = EventBus()
    low, high = free_port_range()
    media = MediaEngine(MediaConfig(port_low=low, port_high=high), bus)
    await media.start()
    async with analog_card(tmp_path, "fxo:1,fxs:2") as (card, far, _info):
        service = AnalogService(card, media, parse_config(CONFIG), bus)
        got: list[Event] = []
        service.fxo.attach(got.append)
        await service.start()
        try:
            leg = await service.fxo.create(OutboundLeg(callee="10086", caller="8000", trunk="pstn"))
            assert isinstance(leg, AnalogLeg) and leg.endpoint_id is not None
            with pytest.raises(LegRefused) as refused:
                await service.fxo.create(OutboundLeg(callee="10010", caller="8000", trunk="pstn"))
            assert refused.value.cause == Cause.NO_CIRCUIT_AVAILABLE
            with pytest.raises(LegRefused) as refused:
                await service.fxo.create(OutboundLeg(callee="10010", caller="8000", trunk="other"))
            assert refused.value.cause == Cause.NO_ROUTE_TO_DESTINATION
            await until("the number dialled", lambda: leg.state == "answered", 10)
            status = await far.until("the exchange to connect", 1, lambda s: s["state"] == "connected", 10)
            assert status["dialled"] == "10086"
            leg.hangup()
            await far.until("the line released", 1, lambda s: s["state"] == "idle", 5)
            assert [e.remote for e in got if isinstance(e, leg_events.LegEnded)] == [False]
        finally:
            await service.stop()
    await media.stop()


async def test_a_card_whose_ports_do_not_match_the_configuration_is_not_used(tmp_path: Path) -> None:
    bus = EventBus()
    media = MediaEngine(MediaConfig(), bus)
    wrong = {"fxs": [{"port": 1, "extension": "1001"}]}  # port 1 of the card is an FXO port
    async with analog_card(tmp_path, "fxo:1,fxs:2") as (card, _far, _info):
        service = AnalogService(card, media, parse_config(wrong), bus)
        await service.start()
        assert service.health().detail == "port 1 is configured as fxs but the card has fxo"
        assert [p["state"] for p in service.port_status()] == ["faulted"]
        await service.stop()
