"""The test line provider (frame_provider.py) against the leg contract, on a running media engine without call
control: what it delivers through the factory, when it opens and releases its frame port, its clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from appliance.events import Event, EventBus
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.factory import LegFactory
from appliance.legs.models import LegRefused, OutboundLeg
from appliance.media import MediaConfig, MediaEngine
from appliance.media.events import DtmfReceived
from tests.conftest import free_rtp_port
from tests.legs.frame_provider import FRAME_S, FrameLeg, FrameLineProvider

E = TypeVar("E", bound=Event)


@dataclass
class Rig:
    engine: MediaEngine
    bus: EventBus
    factory: LegFactory
    provider: FrameLineProvider
    delivered: list[Event] = field(default_factory=list)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.delivered if isinstance(e, kind)]

    @property
    def frame_ports(self) -> float:
        return self.engine.health().gauges["frame_ports"]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    low = free_rtp_port()
    bus = EventBus()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=low + 8), bus)
    await engine.start()
    factory = LegFactory()
    provider = FrameLineProvider(engine)
    factory.register(provider)
    rig = Rig(engine, bus, factory, provider)
    factory.subscribe(rig.delivered.append)
    try:
        yield rig
    finally:
        await provider.close()
        await engine.stop()


async def test_an_inbound_line_opens_its_port_with_its_media_and_releases_it_when_call_control_hangs_up(
        rig: Rig) -> None:
    line = rig.provider.incoming("02150001234", "8000", caller_name="Line One")
    (incoming,) = rig.of(leg_events.LegIncoming)
    assert (incoming.kind, incoming.caller, incoming.caller_name, incoming.callee, incoming.trunk,
            incoming.extension) == ("test", "02150001234", "Line One", "8000", "span-1", None)
    leg = rig.factory.leg("test", incoming.leg_id)
    assert leg is line.leg and leg.leg_id.startswith("test-")
    assert leg.endpoint_id is None and rig.frame_ports == 0  # nothing before call control asks for media

    endpoint = await leg.open_media()
    assert endpoint == leg.endpoint_id and endpoint.startswith("fp") and await leg.open_media() == endpoint
    assert rig.frame_ports == 1 and rig.engine.endpoint_count == 1
    leg.answer()
    assert not rig.of(leg_events.LegAnswered)  # the exchange acknowledges a moment later
    await asyncio.sleep(0.2)
    assert [e.leg_id for e in rig.of(leg_events.LegAnswered)] == [leg.leg_id]
    assert rig.provider.drivers_running == 1 and line.said >= 5 and len(line.heard) == line.said

    leg.hangup()
    (ended,) = rig.of(leg_events.LegEnded)
    assert ended == leg_events.LegEnded(at=ended.at, leg_id=leg.leg_id, cause=Cause.NORMAL_CLEARING, remote=False)
    assert leg.endpoint_id is None and leg.mos is None
    assert rig.frame_ports == 0 and rig.engine.endpoint_count == 0
    await asyncio.sleep(0)
    assert rig.provider.drivers_running == 0 and rig.provider.live_legs == 0
    leg.hangup()  # a second clearing: nothing more is said
    line.hang_up()
    assert len(rig.of(leg_events.LegEnded)) == 1
    with pytest.raises(KeyError):
        rig.factory.leg("test", leg.leg_id)


async def test_a_rejected_line_is_released_with_the_cause_call_control_gave(rig: Rig) -> None:
    line = rig.provider.incoming("02150001234", "8000")
    leg = line.leg
    await leg.open_media()
    leg.reject(Cause.USER_BUSY)
    (ended,) = rig.of(leg_events.LegEnded)
    assert (ended.cause, ended.remote) == (Cause.USER_BUSY, False)
    assert rig.frame_ports == 0 and leg.endpoint_id is None


async def test_a_line_that_hangs_up_first_ends_remotely_and_its_media_can_no_longer_be_opened(rig: Rig) -> None:
    line = rig.provider.incoming("02150001234", "8000")
    line.hang_up()
    (ended,) = rig.of(leg_events.LegEnded)
    assert (ended.cause, ended.remote) == (Cause.NORMAL_CLEARING, True)
    with pytest.raises(LegRefused):
        await line.leg.open_media()
    assert rig.frame_ports == 0


async def test_an_outbound_line_has_its_port_from_creation_and_the_far_end_answers_and_clears(rig: Rig) -> None:
    leg = await rig.factory.create("test", OutboundLeg(callee="13800138000", caller="8000"))
    assert isinstance(leg, FrameLeg) and leg.endpoint_id is not None and rig.frame_ports == 1
    leg.line.answer()
    assert [e.leg_id for e in rig.of(leg_events.LegAnswered)] == [leg.leg_id]
    leg.line.hang_up(Cause.NORMAL_CLEARING)
    (ended,) = rig.of(leg_events.LegEnded)
    assert (ended.cause, ended.remote) == (Cause.NORMAL_CLEARING, True)
    assert rig.frame_ports == 0 and rig.engine.endpoint_count == 0


async def test_the_line_keeps_its_own_clock_and_its_keys_are_heard_in_band(rig: Rig) -> None:
    digits: list[tuple[str, str]] = []

    def heard(event: Event) -> None:
        if isinstance(event, DtmfReceived) and event.endpoint_id == line.leg.endpoint_id:
            digits.append((event.digit, event.source))

    rig.bus.subscribe(heard, {"media.dtmf"})
    line = rig.provider.incoming("02150001234", "8000")
    await line.leg.open_media()
    loop = asyncio.get_running_loop()
    started, said = loop.time(), line.said
    line.press("1")
    await asyncio.sleep(1.0)
    elapsed = loop.time() - started
    assert abs((line.said - said) - elapsed / FRAME_S) <= 3  # absolute deadlines: no drift
    assert digits == [("1", "inband")]
    assert all(len(frame) == 160 for _at, frame in line.heard)


def test_an_extension_rings_through_the_driver_that_claims_it_and_any_other_over_sip() -> None:
    legs = LegFactory()
    assert legs.extension_kind("1001") == "sip"
    legs.claim_extensions(lambda ext: "fxs" if ext in {"2001", "2002"} else None)
    assert [legs.extension_kind(e) for e in ("1001", "2001", "2002")] == ["sip", "fxs", "fxs"]
