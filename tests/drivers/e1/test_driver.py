"""The E1 driver on the emulator process: our box's card (user side) wired to a far exchange's card (a
second driver in the network role): calls both ways through the leg provider with audio through frame
ports, trunk group hunting, and alarms raised and cleared as events."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from appliance.events import Event, EventBus
from appliance.legs import events as le
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused, OutboundLeg
from drivers.e1.events import SpanAlarmChanged, SpanStateChanged
from drivers.e1.models import CallerIdRule, E1Settings, SpanSettings, TrunkGroup
from drivers.e1.q931_codec import Number
from drivers.e1.service import E1Driver
from drivers.hal.serial_backend import SerialCard
from tests.drivers.e1.far_end import FAST, Sink, ToneMedia, two_cards, until

pytestmark = [pytest.mark.slow]


def ours(tty: str, spans: int = 1, groups: tuple[TrunkGroup, ...] = ()) -> E1Settings:
    return E1Settings(device=tty, spans=tuple(SpanSettings(span=n, role="user", name=f"pri{n}", strip_digits=2)
                                              for n in range(1, spans + 1)),
                      groups=groups, t200=0.5, timers=FAST, alarm_set_s=0.2, alarm_clear_s=0.5)


async def test_calls_both_ways_carry_numbers_causes_and_audio() -> None:
    async with two_cards() as far_end:
        far, far_media, far_sink = far_end["far"], far_end["far_media"], far_end["far_sink"]
        bus, media, sink = EventBus(), ToneMedia(), Sink()
        published: list[Event] = []
        bus.subscribe(published.append, {"e1.*"})
        box = E1Driver(ours(far_end["tty"]), SerialCard(far_end["tty"]), media, bus)
        box.attach(sink)
        await box.start()
        try:
            await until("both D-channels up", lambda: box.spans[1].link_up and far.spans[1].link_up)
            assert [e.state for e in published if isinstance(e, SpanStateChanged)] == ["up"]

            # the exchange calls 99 8000: the access number is 8000 (two digits stripped)
            far_leg = await far.create(OutboundLeg(callee="998000", caller="02150001234"))
            await until("the call to arrive", lambda: bool(sink.of(le.LegIncoming)))
            inc = sink.of(le.LegIncoming)[0]
            assert (inc.kind, inc.caller, inc.callee, inc.trunk) == ("e1_pri", "02150001234", "8000", "pri1")
            leg = box.leg(inc.leg_id)
            assert inc.leg_id.startswith(f"e1_pri-s1c{far_leg.channel}-")  # span and channel in the leg's name
            endpoint = await leg.open_media()
            leg.progress()
            await until("ringing at the exchange", lambda: bool(far_sink.of(le.LegProgress)))
            status = box.status()["spans"][0]
            row = next(c for c in status["channels"] if c["channel"] == far_leg.channel)
            assert (status["d_channel"], status["trunk"], row["state"], row["leg"]) == ("up", "pri1", "in_use",
                                                                                       inc.leg_id)
            leg.answer()
            await until("answered both ways", lambda: bool(sink.of(le.LegAnswered)) and bool(
                far_sink.of(le.LegAnswered)))
            # audio: 500 Hz from the exchange's line, 1100 Hz from ours, each hears the other
            media.lines[endpoint].tone, far_media.lines[far_leg.endpoint_id].tone = 1100.0, 500.0
            t0 = time.monotonic()
            await until("a second of audio", lambda: time.monotonic() > t0 + 1.2)
            ours_line, far_line = media.lines[endpoint], far_media.lines[far_leg.endpoint_id]
            t1 = time.monotonic()
            assert ours_line.level(500, t0 + 0.3, t1) > 100 * max(ours_line.level(1100, t0 + 0.3, t1), 1.0)
            assert far_line.level(1100, t0 + 0.3, t1) > 100 * max(far_line.level(500, t0 + 0.3, t1), 1.0)
            assert len([1 for at, _ in ours_line.heard if t0 + 0.2 <= at < t0 + 1.2]) in range(45, 56)  # 50/s
            # the exchange clears with user busy: Q.850 17 reaches our leg, remote
            far_leg.hangup(Cause.USER_BUSY)
            await until("our leg to end", lambda: bool(sink.of(le.LegEnded)))
            assert sink.of(le.LegEnded)[0] == le.LegEnded(at=sink.of(le.LegEnded)[0].at, leg_id=inc.leg_id,
                                                          cause=Cause.USER_BUSY, remote=True)
            assert media.released == [endpoint] and not box.spans[1].legs
            await until("the channel to be free", lambda: not box.spans[1].stack.q931.busy)

            # we call out through trunk pri1: the exchange sees the numbers; we clear, it hears the cause
            out = await box.create(OutboundLeg(callee="13800138000", caller="02150009999", trunk="pri1"))
            await until("the exchange's call", lambda: len(far_sink.of(le.LegIncoming)) == 1)
            far_inc = far_sink.of(le.LegIncoming)[0]
            assert (far_inc.caller, far_inc.callee) == ("02150009999", "13800138000")
            assert out.leg_id.startswith("e1_pri-s1c31-")  # descending hunting from the top channel
            far_leg2 = far.leg(far_inc.leg_id)
            await far_leg2.open_media()
            far_leg2.answer()
            await until("answered", lambda: len(sink.of(le.LegAnswered)) == 2)
            out.hangup(Cause.NORMAL_CLEARING)
            await until("the exchange's leg to end", lambda: len(far_sink.of(le.LegEnded)) == 2)
            assert far_sink.of(le.LegEnded)[-1].cause == Cause.NORMAL_CLEARING
            assert far_sink.of(le.LegEnded)[-1].remote is True
            # the span's caller-ID rules and restriction: the exchange sees the rewritten number, restricted
            box.spans[1].settings = replace(box.spans[1].settings, restrict_caller=True, caller_id_rules=(
                CallerIdRule(match_prefix="021", strip=3, prepend="8621"),))
            await box.create(OutboundLeg(callee="13800138001", caller="02150009999", trunk="pri1"))
            await until("the exchange's second call", lambda: len(far_sink.of(le.LegIncoming)) == 2)
            assert far_sink.of(le.LegIncoming)[1].caller == "anonymous"  # presentation restricted
            far_setup = far.spans[1].stack.q931.calls
            assert [c.setup.calling for c in far_setup.values() if c.setup is not None] == [Number(
                "862150009999", type=0, plan=1, presentation=1, screening=0)]
            health = box.health()
            assert health.counters["calls_in"] == 1 and health.counters["calls_out"] == 2
        finally:
            await box.stop()


async def test_trunk_groups_hunt_over_spans() -> None:
    async with two_cards(spans=2) as far_end:
        far, far_sink = far_end["far"], far_end["far_sink"]
        groups = (TrunkGroup(name="pstn", spans=(1, 2), hunting="round_robin"),
                  TrunkGroup(name="down", spans=(2, 1), hunting="ascending"))
        box = E1Driver(ours(far_end["tty"], spans=2, groups=groups), SerialCard(far_end["tty"]), ToneMedia())
        box.attach(Sink())
        await box.start()
        try:
            await until("all D-channels up", lambda: all(rt.link_up for rt in [*box.spans.values(), *far.spans.values()]))
            legs = [await box.create(OutboundLeg(callee=f"80{i}", caller="1001", trunk="pstn")) for i in range(3)]
            assert [leg.span.number for leg in legs] == [1, 2, 1]  # type: ignore[attr-defined]
            leg = await box.create(OutboundLeg(callee="809", caller="1001", trunk="down"))
            assert leg.span.number == 2  # type: ignore[attr-defined]
            await until("four calls at the exchange", lambda: len(far_sink.of(le.LegIncoming)) == 4)
            for one in [*legs, leg]:
                one.hangup()
            # a span with all channels busy is skipped; with none left anywhere the leg is refused
            box.spans[1].stack.q931.channels = ()
            box.spans[2].stack.q931.channels = ()
            with pytest.raises(LegRefused) as refused:
                await box.create(OutboundLeg(callee="800", caller="1001", trunk="pstn"))
            assert refused.value.cause == Cause.NO_CIRCUIT_AVAILABLE
        finally:
            await box.stop()


async def test_los_and_ais_raise_and_clear_alarms_and_the_far_end_sees_rai() -> None:
    async with two_cards() as far_end:
        far = far_end["far"]
        bus = EventBus()
        alarms: list[SpanAlarmChanged] = []
        bus.subscribe(lambda e: alarms.append(e) if isinstance(e, SpanAlarmChanged) else None, {"e1.*"})
        card = SerialCard(far_end["tty"])
        box = E1Driver(ours(far_end["tty"]), card, ToneMedia(), bus)
        await box.start()
        far_alarms = far.spans[1].alarms
        try:
            await until("up", lambda: box.spans[1].link_up and far.spans[1].link_up)
            for condition in ("los", "ais"):
                t0 = time.monotonic()
                await card.inject(span=1, condition=condition)
                await until(f"{condition} raised", lambda c=condition: any(a.alarm == c and a.raised for a in alarms), 3)
                raised = time.monotonic() - t0
                assert 0.15 <= raised < 2.0, raised  # the (scaled) 2.5 s persistence: 0.2 s here
                await until("RAI at the far end", lambda: "rai" in {d.value for d in far_alarms.active}, 3)
                t1 = time.monotonic()
                await card.inject(span=1, condition="clear")
                await until(f"{condition} cleared", lambda c=condition: any(
                    a.alarm == c and not a.raised for a in alarms), 3)
                assert 0.45 <= time.monotonic() - t1 < 2.5  # the (scaled) 10 s clear: 0.5 s here
                await until("RAI cleared at the far end", lambda: not far_alarms.active, 3)
            assert [(a.alarm, a.raised) for a in alarms] == [("los", True), ("los", False), ("ais", True),
                                                             ("ais", False)]
            status = await card.span_status(1)
            assert not status.defects and not status.sending_rai
        finally:
            await box.stop()


async def test_lof_and_crc4_multiframe_loss_raise_and_clear_alarms() -> None:
    """LOF takes the span down (red, RAI sent back); losing the CRC-4 multiframe with CRC-4 in use is a
    minor alarm of its own that leaves the D-channel up."""
    async with two_cards() as far_end:
        far = far_end["far"]
        bus = EventBus()
        events: list[Event] = []
        bus.subscribe(events.append, {"e1.*"})
        card = SerialCard(far_end["tty"])
        box = E1Driver(ours(far_end["tty"]), card, ToneMedia(), bus)
        await box.start()
        try:
            await until("up", lambda: box.spans[1].link_up and far.spans[1].link_up)
            assert (await card.span_status(1)).framing_in_use == "crc4"  # (auto: the far end sends CRC-4)
            await card.inject(span=1, condition="lof")
            await until("LOF raised", lambda: "lof" in {a.value for a in box.spans[1].alarms.active}, 3)
            assert (await card.span_status(1)).sending_rai
            await until("RAI at the far end", lambda: "rai" in {a.value for a in far.spans[1].alarms.active}, 3)
            await card.inject(span=1, condition="lomf")
            await until("LOF cleared, LOMF raised", lambda: {a.value for a in box.spans[1].alarms.active} == {
                "lomf"}, 4)
            assert not (await card.span_status(1)).sending_rai
            await card.inject(span=1, condition="clear")
            await until("all clear", lambda: not box.spans[1].alarms.active, 3)
            changes = [(e.alarm, e.raised) for e in events if isinstance(e, SpanAlarmChanged)]
            assert changes == [("lof", True), ("lomf", True), ("lof", False), ("lomf", False)], changes
            states = [e.state for e in events if isinstance(e, SpanStateChanged)]
            assert states[0] == "up" and "alarm" in states
        finally:
            await box.stop()
