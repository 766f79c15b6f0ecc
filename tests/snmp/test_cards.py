"""The cards in the MIB, against the card emulator: our E1 driver on one card, a far exchange's driver on the
card wired to it. snmpwalk reads the span and B-channel tables from the running driver (through the hardware
status view); a loss of signal injected in the emulator becomes a span alarm in the alarm table and an
ccaAlarmRaised trap at snmptrapd, and its clearing an ccaAlarmCleared. A faulted analog port (the analog
driver's own event) does the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.clock import SystemClock
from appliance.events import EventBus
from appliance.health import Health
from appliance.monitoring.service import MonitorService
from appliance.snmp.service import SnmpService
from appliance.snmp.view import Identity
from appliance.store.config_store import ConfigStore
from drivers.analog.events import PortStateChanged
from drivers.e1.service import E1Driver
from drivers.hal.serial_backend import SerialCard
from drivers.hardware.service import HardwareService
from tests.conftest import free_port
from tests.drivers.e1.far_end import ToneMedia, two_cards, until
from tests.drivers.e1.test_driver import ours
from tests.snmp.conftest import AUTH_KEY, COMMUNITY, PRIV_KEY, ROOT, USER, parse_walk, run, settings, v2c
from tests.snmp.trapd import TrapD, config, text_of

pytestmark = [pytest.mark.interop, pytest.mark.slow]

ALARM_RAISED, ALARM_CLEARED = f"{ROOT}.0.1", f"{ROOT}.0.2"
SPAN, CHANNEL = f"{ROOT}.1.10.1", f"{ROOT}.1.11.1"


@dataclass
class CardBox:
    bus: EventBus
    monitor: MonitorService
    snmp: SnmpService
    e1: E1Driver
    card: SerialCard
    trapd: TrapD


@pytest.fixture
async def cards(tmp_path: Path, store: ConfigStore) -> AsyncIterator[CardBox]:
    trap_port = free_port(2)
    trapd = TrapD(trap_port, tmp_path / "trapd")
    await trapd.start(config(COMMUNITY, USER, AUTH_KEY, PRIV_KEY, "80007ed9050102030405060708"))
    await store.set_settings(snmp=settings(trap_receivers=[{"host": "127.0.0.1", "port": trap_port,
                                                            "version": "v2c", "community": COMMUNITY}]))
    async with two_cards() as far_end:
        bus, clock = EventBus(), SystemClock()
        card = SerialCard(far_end["tty"])
        e1 = E1Driver(ours(far_end["tty"]), card, ToneMedia(), bus)
        hardware = HardwareService(e1, None)

        def health() -> list[Health]:
            return [e1.health()]

        monitor = MonitorService(tmp_path / "data", store, bus, clock, health, interval=3600.0,
                                 hardware=hardware.status)
        snmp = SnmpService("127.0.0.1", 0, tmp_path / "data", store, bus, clock, monitor, health,
                           Identity("CC-1000", "SN-0042", "1.2.3"), list, max_age=0.0)
        await e1.start()
        await monitor.start()
        await snmp.start()
        try:
            await until("the D-channels up", lambda: e1.spans[1].link_up and far_end["far"].spans[1].link_up)
            yield CardBox(bus, monitor, snmp, e1, card, trapd)
        finally:
            await snmp.stop()
            await monitor.stop()
            await e1.stop()
            await trapd.stop()


async def _walk(box: CardBox, oid: str) -> dict[str, str]:
    code, out, err = await run("snmpwalk", *v2c(box.snmp.bound_port), oid)
    assert code == 0, err
    return parse_walk(out)


async def test_a_span_alarm_injected_in_the_emulator_is_walked_and_trapped(cards: CardBox) -> None:
    spans = await _walk(cards, SPAN)
    assert spans[f"{SPAN}.3.1"] == 'STRING: "pri1"'  # the span's trunk
    assert spans[f"{SPAN}.4.1"] == "INTEGER: 1"  # D-channel up
    assert spans[f"{SPAN}.5.1"] == "INTEGER: 1"  # no alarm
    assert spans[f"{SPAN}.7.1"] == "Gauge32: 0"  # no call
    assert spans[f"{SPAN}.9.1"].startswith("Counter32:")
    channels = await _walk(cards, CHANNEL)
    states = {k.rsplit(".", 1)[1]: v for k, v in channels.items() if k.startswith(f"{CHANNEL}.2.1.")}
    assert len(states) == len(cards.e1.spans[1].settings.channels) and "16" not in states  # B-channels only
    assert set(states.values()) == {"INTEGER: 1"}  # all idle

    await cards.card.inject(span=1, condition="los")
    names = await cards.trapd.wait_for_alarms(ALARM_RAISED, {"span_alarm"})
    assert "span_alarm" in names
    alarm = cards.monitor.table.get("span_alarm", "span 1 los")
    assert alarm is not None and alarm.active and alarm.severity.value == "critical"
    [trap] = [n for n in cards.trapd.received if n.oid == ALARM_RAISED
              and f"{ROOT}.1.7.2.1.2.{alarm.id}" in n.varbinds]
    assert text_of(trap.varbinds[f"{ROOT}.1.7.2.1.3.{alarm.id}"]) == "span 1 los"
    assert trap.varbinds[f"{ROOT}.1.7.2.1.4.{alarm.id}"] == "INTEGER: 1"  # critical
    spans = await _walk(cards, SPAN)
    assert spans[f"{SPAN}.5.1"] == "INTEGER: 4" and spans[f"{SPAN}.6.1"] == 'STRING: "los"'  # red
    alarms = await _walk(cards, f"{ROOT}.1.7.2.1.5.{alarm.id}")
    assert list(alarms.values()) == ["INTEGER: 1"]  # active in the alarm table the NOC walks

    await cards.card.inject(span=1, condition="clear")
    await cards.trapd.wait_for_alarms(ALARM_CLEARED, {"span_alarm"})
    cleared = cards.monitor.table.get("span_alarm", "span 1 los")
    assert cleared is not None and not cleared.active and cleared.count == 1
    spans = await _walk(cards, SPAN)
    assert spans[f"{SPAN}.5.1"] == "INTEGER: 1"


async def test_an_analog_port_fault_is_an_alarm_and_a_trap(cards: CardBox) -> None:
    cards.bus.publish(PortStateChanged(port=3, kind="fxo", state="faulted", detail="no battery on the line"))
    await cards.trapd.wait_for_alarms(ALARM_RAISED, {"port_fault"})
    alarm = cards.monitor.table.get("port_fault", "fxo port 3")
    assert alarm is not None and alarm.active and "no battery" in alarm.text
    cards.bus.publish(PortStateChanged(port=3, kind="fxo", state="idle"))
    await cards.trapd.wait_for_alarms(ALARM_CLEARED, {"port_fault"})
    await asyncio.sleep(0)
    assert not cards.monitor.table.get("port_fault", "fxo port 3").active  # type: ignore[union-attr]
