"""Notifications reach snmptrapd: alarm raised and cleared (v2c trap), the box's events (v3 authPriv trap),
informs retried until a receiver acknowledges them, a damped flapping condition, and the heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.backups.events import BackupFailed
from appliance.sip.events import AuthBlocked, TrunkRegistrationChanged
from appliance.store.events import ConfigChanged
from tests.conftest import free_port
from tests.snmp.conftest import AUTH_KEY, COMMUNITY, PRIV_KEY, ROOT, USER, Box
from tests.snmp.trapd import TrapD, config, text_of

pytestmark = pytest.mark.interop

ENGINE_LOCAL = bytes.fromhex("0102030405060708")
ENGINE_ID = "80007ed905" + ENGINE_LOCAL.hex()  # enterprise 32473 with the top bit, format 5, local octets
ALARM_RAISED, ALARM_CLEARED = f"{ROOT}.0.1", f"{ROOT}.0.2"


@pytest.fixture
def trap_port() -> int:
    return free_port(2)  # SOCK_DGRAM


@pytest.fixture
async def trapd(tmp_path: Path, trap_port: int) -> AsyncIterator[TrapD]:
    d = TrapD(trap_port, tmp_path / "trapd")
    await d.start(config(COMMUNITY, USER, AUTH_KEY, PRIV_KEY, ENGINE_ID))
    yield d
    await d.stop()


@pytest.fixture
def heartbeat() -> float:
    return 0.0


@pytest.fixture
def v3_inform() -> bool:
    return False


@pytest.fixture
def snmp_extra(tmp_path: Path, trap_port: int, heartbeat: float, v3_inform: bool) -> dict[str, Any]:
    engine = tmp_path / "data" / "snmp" / "engine-id"
    engine.parent.mkdir(parents=True, exist_ok=True)
    engine.write_bytes(ENGINE_LOCAL)
    (engine.parent / "firmware-version").write_text("1.2.2\n")  # the box ran an older version before
    return {"heartbeat_interval": heartbeat, "trap_receivers": [
        {"host": "127.0.0.1", "port": trap_port, "version": "v2c", "community": COMMUNITY},
        {"host": "127.0.0.1", "port": trap_port, "version": "v3", "user": USER, "inform": v3_inform}]}


async def test_alarm_raised_and_cleared_reach_snmptrapd_v2c_and_v3(trapd: TrapD, box: Box) -> None:
    assert (await trapd.wait_for(f"{ROOT}.0.7", 2))  # service restarted, once per receiver
    box.bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=False, status=503))
    await trapd.wait_for_alarms(ALARM_RAISED, {"trunk_unregistered"})
    alarm = box.monitor.table.get("trunk_unregistered", "carrier")
    assert alarm is not None
    # (the box's own alarms, e.g. CPU on a busy test machine, may arrive too: only this alarm's are checked)
    await asyncio.sleep(0.3)
    raised = [n for n in trapd.received if n.oid == ALARM_RAISED and f"{ROOT}.1.7.2.1.2.{alarm.id}" in n.varbinds]
    assert len(raised) == 2  # v2c and v3
    for n in raised:
        assert text_of(n.varbinds[f"{ROOT}.1.7.2.1.2.{alarm.id}"]) == "trunk_unregistered"
        assert text_of(n.varbinds[f"{ROOT}.1.7.2.1.3.{alarm.id}"]) == "carrier"
        assert n.varbinds[f"{ROOT}.1.7.2.1.4.{alarm.id}"] == "INTEGER: 2"  # major
        assert n.varbinds[f"{ROOT}.1.7.2.1.8.{alarm.id}"] == "Counter32: 1"
        assert n.varbinds["1.3.6.1.2.1.1.3.0"].startswith("Timeticks:")
    box.bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=True, status=200))
    await trapd.wait_for_alarms(ALARM_CLEARED, {"trunk_unregistered"})
    await asyncio.sleep(0.3)
    cleared = [n for n in trapd.received if n.oid == ALARM_CLEARED and f"{ROOT}.1.7.2.1.2.{alarm.id}" in n.varbinds]
    assert len(cleared) == 2 and "registered" in text_of(cleared[0].varbinds[f"{ROOT}.1.7.2.1.9.{alarm.id}"])
    assert box.snmp.counters["traps_sent"] >= 6


async def test_a_new_firmware_version_is_announced_once(trapd: TrapD, box: Box) -> None:
    [updated, _] = await trapd.wait_for(f"{ROOT}.0.9", 2)
    assert text_of(updated.varbinds[f"{ROOT}.1.9.1.0"]) == "firmware 1.2.2 -> 1.2.3"
    assert text_of(updated.varbinds[f"{ROOT}.1.1.3.0"]) == "1.2.3"
    assert (box.data / "snmp" / "firmware-version").read_text().strip() == "1.2.3"


async def test_the_box_events_become_their_own_notifications(trapd: TrapD, box: Box) -> None:
    box.bus.publish(BackupFailed(run_id="r1", kind="scheduled", target="nas", error_id="unreachable",
                                 reason="no route to host", reason_zh="无法连接"))
    box.bus.publish(AuthBlocked(kind="source", key="192.0.2.7", seconds=600.0, failures=20))
    box.bus.publish(ConfigChanged(kind="queues", key="sales", action="update"))
    failed = await trapd.wait_for(f"{ROOT}.0.5", 2)
    assert {text_of(n.varbinds[f"{ROOT}.1.9.3.0"]) for n in failed} == {"nas"}
    assert "no route" in text_of(failed[0].varbinds[f"{ROOT}.1.9.1.0"])
    blocked = await trapd.wait_for(f"{ROOT}.0.8", 2)
    assert text_of(blocked[0].varbinds[f"{ROOT}.1.9.3.0"]) == "192.0.2.7"
    changed = await trapd.wait_for(f"{ROOT}.0.4", 2)
    assert text_of(changed[0].varbinds[f"{ROOT}.1.9.3.0"]) == "queues/sales"
    # the failed backup is an alarm too, and a v3 copy arrived (authPriv, engine ID known to snmptrapd)
    alarm = box.monitor.table.get("backup_failed", "nas")
    assert alarm is not None
    await trapd.wait_for(ALARM_RAISED, 2)
    named = [n for n in trapd.received if n.varbinds.get(f"{ROOT}.1.7.2.1.2.{alarm.id}") == 'STRING: "backup_failed"']
    assert len(named) == 2


async def test_a_flapping_condition_sends_a_damped_set_of_traps(trapd: TrapD, box: Box) -> None:
    for _ in range(50):  # set and clear 50 times, well within 10 s
        box.bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=False, status=503))
        await asyncio.sleep(0.01)
        box.bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=True, status=200))
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.0)
    alarm = box.monitor.table.get("trunk_unregistered", "carrier")
    assert alarm is not None and alarm.count == 50 and alarm.flapping
    per_receiver = len([n for n in trapd.received if n.oid in (ALARM_RAISED, ALARM_CLEARED)
                        and f"{ROOT}.1.7.2.1.2.{alarm.id}" in n.varbinds]) / 2
    assert 1 <= per_receiver <= 8, per_receiver


@pytest.mark.slow
async def test_informs_are_retried_until_acknowledged(tmp_path: Path, box: Box) -> None:
    port = free_port(2)
    late = TrapD(port, tmp_path / "late")
    box.snmp.settings = box.snmp.settings.__class__(**{
        **{f: getattr(box.snmp.settings, f) for f in box.snmp.settings.__dataclass_fields__},
        "trap_receivers": (box.snmp.settings.trap_receivers[0].__class__(
            "127.0.0.1", port, "v2c", COMMUNITY, inform=True, retries=6, timeout=0.5),)})
    box.bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=False, status=503))
    await asyncio.sleep(1.2)  # nobody listens yet: the first tries are lost
    assert box.snmp.counters["informs_acknowledged"] == 0
    await late.start(config(COMMUNITY, USER, AUTH_KEY, PRIV_KEY, ENGINE_ID))
    try:
        got = await late.wait_for(ALARM_RAISED, 1, timeout=6.0)
        assert got, "the inform never arrived"
        for _ in range(100):
            if box.snmp.counters["informs_acknowledged"]:
                break
            await asyncio.sleep(0.05)
        assert box.snmp.counters["informs_acknowledged"] == 1 and box.snmp.counters["informs_failed"] == 0
    finally:
        await late.stop()


@pytest.mark.slow
@pytest.mark.parametrize("heartbeat", [1.0])
async def test_the_heartbeat_comes_every_interval(trapd: TrapD, box: Box) -> None:
    beats = await trapd.wait_for(f"{ROOT}.0.3", 6, timeout=5.0)
    assert len(beats) >= 6  # two receivers, three intervals
    assert beats[0].varbinds[f"{ROOT}.1.7.1.0"].startswith("Gauge32:")
    assert beats[0].varbinds[f"{ROOT}.1.4.1.0"] == "Gauge32: 2"



@pytest.mark.parametrize("v3_inform", [True])
async def test_a_v3_inform_is_acknowledged(trapd: TrapD, box: Box) -> None:
    """snmptrapd knows the user under its own engine ID only for informs: pysnmp discovers it first."""
    box.bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=False, status=503))
    await trapd.wait_for(ALARM_RAISED, 2)
    for _ in range(100):
        if box.snmp.counters["informs_acknowledged"] >= 2:  # service restarted, then the alarm
            break
        await asyncio.sleep(0.05)
    assert box.snmp.counters["informs_acknowledged"] >= 2 and box.snmp.counters["informs_failed"] == 0
