"""The monitor on the real box: psutil figures, alarms from bus conditions and services' health, the table
kept across a restart, thresholds validated and stored in the configuration store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.clock import ManualClock
from appliance.domain.kinds import all_kinds
from appliance.errors import ValidationFailed
from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.monitoring.service import ALARMS_FILE, MonitorService
from appliance.sip.events import TrunkRegistrationChanged
from appliance.store.config_store import ConfigStore


def _monitor(data: Path, bus: EventBus, clock: ManualClock, store: ConfigStore,
             health: list[Health] | None = None) -> MonitorService:
    return MonitorService(data, store, bus, clock, lambda: health or [], interval=3600.0,
                          queues=lambda: [{"queue": "sales", "name": "Sales", "waiting": 12, "logged_in": 0,
                                           "idle": 0, "longest_wait": 30.0}])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConfigStore]:
    s = ConfigStore.open(tmp_path / "data", all_kinds(), EventBus())
    yield s
    s.close()


async def test_sample_has_the_data_partition_first_and_plausible_figures(tmp_path: Path, store: ConfigStore) -> None:
    mon = _monitor(tmp_path / "data", EventBus(), ManualClock(), store)
    await mon.start()
    try:
        await mon.tick()
        s = mon.sample
        assert s is not None
        assert s.disks[0].is_data and all(not d.is_data for d in s.disks[1:])
        assert s.disks[0].total_mib > 0 and 0 <= s.disks[0].percent <= 100
        assert 0 <= s.cpu_percent <= 100 and 0 < s.memory_percent <= 100
        assert s.open_files > 3
        assert s.ntp_synced in (True, False, None)
    finally:
        await mon.stop()


async def test_conditions_raise_and_clear_and_the_table_survives_a_restart(tmp_path: Path,
                                                                           store: ConfigStore) -> None:
    bus, clock = EventBus(), ManualClock()
    seen: list[Event] = []
    bus.subscribe(seen.append, {"monitoring.*"})
    down = [Health.of("sip", Status.DOWN, "socket closed")]
    mon = _monitor(tmp_path / "data", bus, clock, store, down)
    await mon.start()
    bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=False, status=408))
    await mon.tick()
    names = {(e.to_dict()["name"], e.to_dict()["source"]) for e in seen if e.topic == "monitoring.alarm_raised"}
    assert {("trunk_unregistered", "carrier"), ("service_down", "sip"), ("queue_waiting_high", "sales")} <= names
    clock.advance(5.0)
    bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=True, status=200))
    assert seen[-1].topic == "monitoring.alarm_cleared" and seen[-1].to_dict()["source"] == "carrier"
    await mon.stop()
    saved = json.loads((tmp_path / "data" / ALARMS_FILE).read_bytes())
    assert {a["name"] for a in saved["alarms"]} >= {"trunk_unregistered", "service_down"}

    again = _monitor(tmp_path / "data", bus, clock, store)
    await again.start()
    try:
        trunk = again.table.get("trunk_unregistered", "carrier")
        assert trunk is not None and not trunk.active and trunk.count == 1 and trunk.cleared_at is not None
        sip = again.table.get("service_down", "sip")
        assert sip is not None and sip.active
        bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=False, status=408))
        assert again.table.get("trunk_unregistered", "carrier").count == 2  # type: ignore[union-attr]
    finally:
        await again.stop()


async def test_thresholds_are_validated_and_stored(tmp_path: Path, store: ConfigStore) -> None:
    mon = _monitor(tmp_path / "data", EventBus(), ManualClock(), store)
    with pytest.raises(ValidationFailed) as bad:
        await mon.patch_thresholds({"cpu_high": {"set_level": 50, "clear_level": 60}, "nope": {}})
    assert {f["field"] for f in bad.value.details["fields"]} == {"cpu_high.clear_level", "nope"}
    await mon.patch_thresholds({"cpu_high": {"set_level": 50, "clear_level": 40, "severity": "critical"}})
    t = mon.thresholds()["cpu_high"]
    assert (t.set_level, t.clear_level, t.severity.value) == (50.0, 40.0, "critical")
    assert store.settings["monitoring"]["thresholds"]["cpu_high"]["set_level"] == 50.0


async def test_queue_service_level_and_abandon_rate_today(tmp_path: Path, store: ConfigStore) -> None:
    from appliance.acd.events import CallAbandoned, CallAnswered

    bus, clock = EventBus(), ManualClock()
    mon = _monitor(tmp_path / "data", bus, clock, store)
    await mon.start()
    try:
        for i, wait in enumerate((5.0, 10.0, 45.0, 90.0)):  # two answered within the 20 s target
            bus.publish(CallAnswered(call_id=f"c{i}", queue_id="sales", agent_id="a1", wait=wait, attempts=1))
        bus.publish(CallAbandoned(call_id="c9", queue_id="sales", wait=30.0, while_ringing=False))
        [q] = mon.queue_figures()
        assert (q["service_level"], q["abandon_rate"], q["offered_today"]) == (40.0, 20.0, 5)
        assert (mon.today.answered, mon.today.abandoned) == (4, 1)
        await mon.tick()
        low = mon.table.get("queue_service_level_low", "sales")
        assert low is not None and low.active and low.value == 60.0
    finally:
        await mon.stop()
