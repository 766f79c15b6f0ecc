"""The hardware status on the emulator process: our E1 driver (user side) wired to a far exchange's driver,
and the analog driver on the analog card emulator. The view follows calls, alarms and loopbacks; span,
channel and port changes are public events; `appliance hw status` reads the running box's snapshot and probes
the cards itself when the box is stopped."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from appliance import public_events
from appliance.errors import NotFound, ValidationFailed
from appliance.events import Event, EventBus
from appliance.legs.models import OutboundLeg
from drivers.analog.config import parse_config
from drivers.analog.service import AnalogService
from drivers.e1.events import ChannelStateChanged, SpanAlarmChanged, SpanStateChanged
from drivers.e1.models import SpanSettings
from drivers.e1.service import E1Driver
from drivers.hal.discovery import Candidate
from drivers.hal.serial_backend import SerialCard
from drivers.hardware.cli import render
from drivers.hardware.models import HardwareStatus
from drivers.hardware.service import SNAPSHOT, HardwareService
from tests.drivers.analog.emulated import analog_card
from tests.drivers.e1.far_end import Sink, ToneMedia, two_cards, until
from tests.drivers.e1.test_driver import ours
from tests.drivers.hal.emulated import emulator

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
ELSEWHERE = [Candidate("serial", "/dev/ttyUSB7", "FT232R USB UART")]


async def test_spans_channels_alarms_and_loopback_in_the_view_and_as_public_events(tmp_path: Path) -> None:
    async with two_cards() as far_end:
        far = far_end["far"]
        bus = EventBus()
        published: list[Event] = []
        bus.subscribe(published.append, {"e1.*"})
        card = SerialCard(far_end["tty"])
        box = E1Driver(ours(far_end["tty"]), card, ToneMedia(), bus)
        box.attach(Sink())
        await box.start()
        hw = HardwareService(box, None, data_dir=tmp_path, poll_s=0.2, candidates=lambda: ELSEWHERE)
        await hw.start()
        try:
            await until("up", lambda: box.spans[1].link_up and far.spans[1].link_up)
            leg = await box.create(OutboundLeg(callee="13800138000", caller="1001", trunk="pri1"))
            view = hw.status()
            [span] = view.spans
            assert (span.span, span.trunk, span.role, span.d_channel, span.alarms) == (1, "pri1", "user", "up", ())
            assert len(span.channels) == 30 and span.in_use == 1
            assert [(c.channel, c.leg) for c in span.channels if c.state == "in_use"] == [(31, leg.leg_id)]
            assert [(c.driver, c.state, c.card_id) for c in view.cards] == [("e1", "up", "EMU-E1-0001"),
                                                                            ("", "detected", "")]
            listed = hw.card_list()  # (what the first-boot wizard lists)
            assert [(c["backend"], c["path"], c["description"]) for c in listed] == [
                ("serial", far_end["tty"], "emulated E1/analog card (EMU-E1-0001)"),
                ("serial", "/dev/ttyUSB7", "FT232R USB UART")]
            await until("a poll", lambda: hw.status().spans[0].framing_in_use == "crc4", 3)
            leg.hangup()
            await until("the channel free", lambda: hw.status().spans[0].in_use == 0)

            # LOS on our line: red alarm in the view and the span state, RAI sent to the far end
            await card.inject(span=1, condition="los", errored_frames=3)
            await until("LOS declared", lambda: hw.status().spans[0].alarms == ("los",), 3)
            await until("the card's status polled", lambda: hw.status().spans[0].sending_rai, 3)
            red = hw.status()
            assert red.spans[0].severity == "red" and [(a.alarm, a.severity) for a in red.alarms] == [("los", "red")]
            assert red.spans[0].counters["crc4_errors"] == 3
            assert hw.health().status.value == "degraded" and "span 1 in red alarm" in hw.health().detail
            await card.inject(span=1, condition="clear")
            await until("LOS cleared", lambda: not hw.status().spans[0].alarms, 3)
            states = [(e.state, e.detail) for e in published if isinstance(e, SpanStateChanged)]
            assert states[0] == ("up", "D-channel established")
            assert ("alarm", "alarms: los") in states and states[-1][0] in ("up", "down")
            assert [(e.alarm, e.raised) for e in published if isinstance(e, SpanAlarmChanged)] == [
                ("los", True), ("los", False)]
            channel_states = [(e.channel, e.state) for e in published if isinstance(e, ChannelStateChanged)]
            assert channel_states[:2] == [(31, "in_use"), (31, "idle")]

            # every one of them is public: schema-valid on the stream
            for event in published:
                assert public_events.is_public(event.topic)
                wire = public_events.to_public(event)
                assert wire["topic"] == event.topic and wire["at"] > 0

            # loopback: the card's framer loops, the view says so; bad requests name the field or the span
            looped = await hw.loopback(1, "local")
            assert looped.loopback == "local" and hw.status().spans[0].loopback == "local"
            assert (await hw.loopback(1, "none")).loopback == "none"
            with pytest.raises(ValidationFailed) as bad:
                await hw.loopback(1, "sideways")
            assert bad.value.details["fields"][0]["field"] == "mode"
            with pytest.raises(NotFound):
                await hw.loopback(7, "local")

            # the snapshot the command line reads while the box runs
            await until("a snapshot", lambda: (tmp_path / SNAPSHOT).exists(), 3)
            snap = HardwareStatus.from_json(json.loads((tmp_path / SNAPSHOT).read_text()))
            assert snap.running and snap.spans[0].trunk == "pri1" and len(snap.spans[0].channels) == 30
            assert snap.to_json()["spans"][0]["channels"] == hw.status().to_json()["spans"][0]["channels"]
            text = render(snap)
            assert "span 1 pri1 user: D-channel up" in text and "/dev/ttyUSB7" in text
        finally:
            await hw.stop()
            await box.stop()


async def test_analog_ports_and_a_missing_card(tmp_path: Path) -> None:
    async with analog_card(tmp_path, "fxo:1,fxs:1") as (card, far, _info):
        bus = EventBus()
        published: list[Event] = []
        bus.subscribe(published.append, {"analog.*"})
        config = parse_config({"fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000"}],
                               "fxs": [{"port": 2, "extension": "1002"}]})
        service = AnalogService(card, ToneMedia(), config, bus)  # type: ignore[arg-type]
        await service.start()
        hw = HardwareService(None, service, candidates=lambda: [])
        try:
            await far(2, "off_hook")
            await until("off hook", lambda: hw.status().ports[1].state == "off_hook", 3)
            view = hw.status()
            assert [(p.port, p.kind, p.state, p.trunk, p.access_number, p.extension) for p in view.ports] == [
                (1, "fxo", "idle", "pstn", "8000", None), (2, "fxs", "off_hook", None, None, "1002")]
            assert view.cards[0].driver == "analog" and view.cards[0].ports == 2 and view.cards[0].state == "up"
            port_event = next(e for e in published if getattr(e, "state", "") == "off_hook")
            wire = public_events.to_public(port_event)
            assert (wire["topic"], wire["port"], wire["kind"], wire["card"]) == ("analog.port_state", 2, "fxs",
                                                                               view.cards[0].card_id)
            assert wire["at"] > 0
            await far(2, "on_hook")
        finally:
            await service.stop()
    gone = AnalogService(SerialCard(str(tmp_path / "no-such-tty")), ToneMedia(), config, None)  # type: ignore[arg-type]
    await gone.start()
    view = HardwareService(None, gone, candidates=lambda: []).status()
    assert view.cards[0].state == "down" and "cannot open" in view.cards[0].detail
    assert {p.state for p in view.ports} == {"faulted"}


async def test_the_command_probes_the_cards_when_the_box_is_stopped(tmp_path: Path) -> None:
    from appliance.app import Core

    async with emulator("--spans", "2", "--link", "1-2") as info:
        data = tmp_path / "data"
        core = Core.open(data)
        await core.store.set_settings(e1={"card": info["tty"], "spans": [{"span": 1}]},
                                      analog={"card": str(tmp_path / "gone"), "fxo": []})
        core.close()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "appliance", "hw", "status", "--json", "--data-dir", str(data), cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        view = HardwareStatus.from_json(json.loads(out))
        assert not view.running
        assert [(c.driver, c.state) for c in view.cards][:2] == [("e1", "up"), ("analog", "down")]
        # the card's two spans, unconfigured (the box is not running): the far end of each sees nothing
        assert [(s.span, s.lapd_state) for s in view.spans] == [(1, "not running"), (2, "not running")]
        text = render(view)
        assert "probed (the box is stopped)" in text and "EMU-E1-0001" in text


async def test_a_missing_e1_card_leaves_the_box_running_with_the_card_down(tmp_path: Path) -> None:
    from appliance.legs.causes import Cause
    from appliance.legs.models import LegRefused

    box = E1Driver(ours(str(tmp_path / "no-such-tty")), SerialCard(str(tmp_path / "no-such-tty")), ToneMedia())
    await box.start()  # (no exception: the rest of the box starts)
    try:
        assert box.health().status.value == "down" and "cannot open" in box.health().detail
        view = HardwareService(box, None, candidates=lambda: []).status()
        assert view.cards[0].state == "down" and "cannot open" in view.cards[0].detail
        assert view.spans[0].d_channel == "down"
    finally:
        await box.stop()
    # a span the card does not have: refused by the card, shown with why, the others work
    async with emulator("--spans", "1") as info:
        settings = replace(ours(str(info["tty"])), spans=(*ours(str(info["tty"])).spans, SpanSettings(span=2)))
        box = E1Driver(settings, SerialCard(str(info["tty"])), ToneMedia())
        await box.start()
        try:
            spans = HardwareService(box, None, candidates=lambda: []).status().spans
            assert [(s.span, bool(s.detail)) for s in spans] == [(1, False), (2, True)]
            assert "refused" in spans[1].detail and box.health().status.value == "degraded"
        finally:
            await box.stop()
    box = E1Driver(ours(str(tmp_path / "no-such-tty")), SerialCard(str(tmp_path / "no-such-tty")), ToneMedia())
    await box.start()
    try:
        with pytest.raises(LegRefused) as refused:
            await box.create(OutboundLeg(callee="800", caller="1001", trunk="pri1"))
        assert refused.value.cause == Cause.NO_CIRCUIT_AVAILABLE
    finally:
        await box.stop()


def test_the_command_reads_the_running_box_s_view(tmp_path: Path) -> None:
    """The box holds the data directory's lock and the cards: the command prints the box's last view."""
    from appliance.app import DataDirLock

    view = HardwareStatus(at=1.0e9, running=True)
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        def status() -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "appliance", "hw", "status", "--data-dir", str(tmp_path)],
                                  cwd=ROOT, capture_output=True, text=True, timeout=30)

        starting = status()
        assert starting.returncode == 1 and "no hardware status yet" in starting.stderr
        (tmp_path / SNAPSHOT).parent.mkdir()
        (tmp_path / SNAPSHOT).write_text(json.dumps(view.to_json()))
        shown = status()
        assert shown.returncode == 0, shown.stderr
        assert "from the running box" in shown.stdout and "WARNING" in shown.stdout  # (a stale view says so)
        assert "none found" in shown.stdout
    finally:
        lock.release()
