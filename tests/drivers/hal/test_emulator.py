"""The serial backend against the emulator running as its own process behind a pty."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from drivers.hal.crc import add_fcs
from drivers.hal.errors import CardRefused
from drivers.hal.interface import BearerFrames
from drivers.hal.models import (
    DChannelReceived,
    Defect,
    DefectsChanged,
    PortCommand,
    PortSignal,
    PortSignalled,
    SpanConfig,
)
from tests.drivers.hal.emulated import open_card


def defects(rec_events: Sequence[object], span: int) -> set[Defect] | None:
    found = [e.defects for e in rec_events if isinstance(e, DefectsChanged) and e.span == span]
    return set(found[-1]) if found else None


async def test_two_spans_back_to_back_carry_d_channel_and_bearer_and_report_los_and_rai() -> None:
    async with open_card("--spans", "2", "--link", "1-2") as (card, rec, _):
        info = card.info
        assert [s.span for s in info.spans] == [1, 2] and info.backend == "serial"
        await card.configure_span(1, SpanConfig(framing="crc4"))
        await rec.wait_for("span 1 to see LOS from the unconfigured far end",
                           lambda: defects(rec.events, 1) == {Defect.LOS})
        await card.configure_span(2, SpanConfig(framing="auto"))
        await rec.wait_for("LOS to clear", lambda: defects(rec.events, 1) == set())
        status = await card.span_status(2)
        assert status.configured and status.framing_in_use == "crc4" and not status.defects  # G.706 Annex B

        frame = add_fcs(b"\x00\x01\x7f")
        card.send_dchannel(1, frame)
        await rec.wait_for("the frame on span 2", lambda: DChannelReceived(span=2, frame=frame) in rec.events)

        # bearer: what the host sends on span 1, timeslot 5, arrives on span 2, timeslot 5, on the card's clock
        marker = bytes(range(160))
        await rec.wait_for("the card's ticks", lambda: len(rec.ticks) > 4)
        card.send_bearer(BearerFrames("span", 1, rec.ticks[-1].tick, {5: marker}))
        await rec.wait_for("the frame on span 2", lambda: any(
            t.unit == 2 and t.frames.get(5) == marker for t in rec.ticks))
        await rec.wait_for("more ticks", lambda: sum(t.unit == 2 for t in rec.ticks) >= 5)
        span2 = [t for t in rec.ticks if t.unit == 2]
        assert len(span2[-1].frames) == 30 and 16 not in span2[-1].frames
        assert [t.tick for t in span2[-5:]] == list(range(span2[-5].tick, span2[-5].tick + 5))

        # LOS on span 2's receive line: span 2 sees LOS and sends RAI; span 1 sees RAI; the D-channel stops
        await card.inject(span=2, condition="los")
        await rec.wait_for("LOS and RAI", lambda: defects(rec.events, 2) == {Defect.LOS}
                           and defects(rec.events, 1) == {Defect.RAI})
        assert (await card.span_status(2)).sending_rai
        n = len(rec.events)
        card.send_dchannel(1, frame)
        await asyncio.sleep(0.1)
        assert not [e for e in rec.events[n:] if isinstance(e, DChannelReceived)]
        await card.inject(span=2, condition="clear")
        await rec.wait_for("the clear", lambda: defects(rec.events, 2) == set()
                           and defects(rec.events, 1) == set())

        # counters: errored frames count CRC-4 errors here and E bits at the far end; slips and lost frames
        await card.inject(span=2, errored_frames=3, slips=2, lost_frames=1)
        await asyncio.sleep(0.15)
        c2, c1 = (await card.span_status(2)).counters, (await card.span_status(1)).counters
        assert (c2.crc4_errors, c2.bpv, c2.slips, c2.bearer_lost, c1.ebits) == (3, 3, 2, 1, 3)

        with pytest.raises(CardRefused, match="no span 9"):
            await card.configure_span(9, SpanConfig())
        assert card.health().counters["timeouts"] == 0


async def test_ais_lof_and_crc4_multiframe_loss_are_reported_as_defects() -> None:
    async with open_card("--spans", "2", "--link", "1-2") as (card, rec, _):
        await card.configure_span(1, SpanConfig(framing="crc4"))
        await card.configure_span(2, SpanConfig(framing="crc4"))
        for condition, seen in (("ais", Defect.AIS), ("lof", Defect.LOF), ("lomf", Defect.LOMF)):
            await card.inject(span=1, condition=condition)
            far = {Defect.RAI} if seen != Defect.LOMF else set()
            await rec.wait_for(condition, lambda seen=seen, far=far: defects(rec.events, 1) == {seen}
                               and (defects(rec.events, 2) or set()) == far)
            await card.inject(span=1, condition="clear")
            await rec.wait_for("the clear", lambda: defects(rec.events, 1) == set())


async def test_analog_ports_wired_fxs_to_fxo_signal_each_other() -> None:
    async with open_card("--spans", "0", "--ports", "fxs:1,fxo:1", "--port-link", "1-2") as (card, rec, _):
        assert [(p.port, p.kind) for p in card.info.ports] == [(1, "fxs"), (2, "fxo")]
        await card.port_command(1, PortCommand.RING_START)
        await rec.wait_for("ringing on the FXO port", lambda: PortSignalled(port=2, signal=PortSignal.RING_ON)
                           in rec.events)
        await card.port_command(2, PortCommand.OFF_HOOK)
        await rec.wait_for("the FXS port's phone off hook", lambda: PortSignalled(
            port=1, signal=PortSignal.OFF_HOOK) in rec.events and PortSignalled(
            port=2, signal=PortSignal.LINE_CURRENT_ON) in rec.events)
        with pytest.raises(CardRefused, match="not a command for an FXO port"):
            await card.port_command(2, PortCommand.RING_START)
        await card.inject(port=2, signal="polarity_reversal")
        await rec.wait_for("the injected signal", lambda: PortSignalled(
            port=2, signal=PortSignal.POLARITY_REVERSAL) in rec.events)
        await rec.wait_for("port ticks", lambda: {t.unit for t in rec.ticks if t.kind == "port"} == {1, 2})


async def test_the_bearer_socket_has_room_for_seconds_of_a_full_card() -> None:
    """Every unit's datagram of a tick arrives at once: the default receive buffer lost frames under load."""
    import os
    from pathlib import Path

    from drivers.hal.bearer import RCVBUF

    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    async with open_card("--spans", "1") as (card, _rec, _info):
        wanted = RCVBUF if os.geteuid() == 0 else min(RCVBUF, rmem_max)
        assert card.rcvbuf >= 2 * wanted  # (the kernel reports double what was set: its bookkeeping share)
        assert card.health().gauges["bearer_rcvbuf"] == card.rcvbuf
