"""The alarm table's events are public: what the monitor publishes when an alarm is raised, damped or cleared
validates against the contract's JSON Schema, as the WebSocket stream sends it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from appliance.auth.events import LoginBlocked, LoginUnblocked, LoginUnderAttack
from appliance.clock import ManualClock
from appliance.domain.kinds import all_kinds
from appliance.events import Event, EventBus
from appliance.monitoring.models import Severity
from appliance.monitoring.service import MonitorService
from appliance.public_events import is_public, schema, to_public
from appliance.store.config_store import ConfigStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConfigStore]:
    s = ConfigStore.open(tmp_path / "data", all_kinds(), EventBus())
    yield s
    s.close()


def test_raised_and_cleared_alarms_are_public_events_that_match_their_schema(tmp_path: Path,
                                                                             store: ConfigStore) -> None:
    bus, clock = EventBus(), ManualClock()
    seen: list[Event] = []
    bus.subscribe(seen.append, {"monitoring.*"})
    monitor = MonitorService(tmp_path, store, bus, clock, list)
    monitor.raise_alarm("trunk_unregistered", "carrier", Severity.MAJOR, "trunk carrier registration lost")
    clock.advance(5)
    monitor.clear_alarm("trunk_unregistered", "carrier", "trunk carrier registered")
    assert [e.topic for e in seen] == ["monitoring.alarm_raised", "monitoring.alarm_cleared"]
    for event in seen:
        assert is_public(event.topic)
        wire = to_public(event)
        Draft202012Validator(schema(event.topic)).validate(wire)
        assert (wire["name"], wire["source"], wire["severity"], wire["count"]) == (
            "trunk_unregistered", "carrier", "major", 1)
    blocked = to_public(LoginBlocked(at=1.0, source="192.0.2.9", seconds=300.0, failures=10))
    Draft202012Validator(schema("auth.login_blocked")).validate(blocked)


async def test_a_blocked_sign_in_source_is_an_alarm_until_its_block_ends(tmp_path: Path, store: ConfigStore) -> None:
    bus, clock = EventBus(), ManualClock()
    monitor = MonitorService(tmp_path, store, bus, clock, list)
    await monitor.start()
    try:
        bus.publish(LoginBlocked(at=clock.wall(), source="192.0.2.9", seconds=300.0, failures=10))
        alarm = monitor.table.get("brute_force_blocked", "web 192.0.2.9")
        assert alarm is not None and alarm.active and "10 failed attempts" in alarm.text
        clock.advance(299)
        await monitor.tick()
        assert monitor.table.get("brute_force_blocked", "web 192.0.2.9").active  # type: ignore[union-attr]
        clock.advance(2)
        await monitor.tick()
        cleared = monitor.table.get("brute_force_blocked", "web 192.0.2.9")
        assert cleared is not None and not cleared.active and cleared.cleared_at == clock.wall()
    finally:
        await monitor.stop()


async def test_an_account_attacked_from_many_sources_is_an_alarm_until_the_reports_stop(
        tmp_path: Path, store: ConfigStore) -> None:
    bus, clock = EventBus(), ManualClock()
    monitor = MonitorService(tmp_path, store, bus, clock, list)
    await monitor.start()
    try:
        bus.publish(LoginUnderAttack(at=clock.wall(), account="admin", failures=40,
                                     sources=[f"192.0.2.{n}" for n in range(1, 21)]))
        alarm = monitor.table.get("account_under_attack", "web account admin")
        assert alarm is not None and alarm.active and alarm.severity.value == "major"
        assert "40 failed sign-ins from 20 addresses" in alarm.text
        clock.advance(600)  # reported again within the window: it lasts
        bus.publish(LoginUnderAttack(at=clock.wall(), account="admin", failures=12, sources=["192.0.2.99"]))
        clock.advance(600)
        await monitor.tick()
        assert monitor.table.get("account_under_attack", "web account admin").active  # type: ignore[union-attr]
        clock.advance(301)
        await monitor.tick()
        cleared = monitor.table.get("account_under_attack", "web account admin")
        assert cleared is not None and not cleared.active and cleared.count == 1
        # a block of one (source, account) pair, lifted by an admin before its time
        bus.publish(LoginBlocked(at=clock.wall(), source="192.0.2.5", seconds=300.0, failures=5, account="op1"))
        assert monitor.table.get("brute_force_blocked", "web 192.0.2.5 op1").active  # type: ignore[union-attr]
        bus.publish(LoginUnblocked(at=clock.wall(), source="192.0.2.5", account="op1", reason="lifted"))
        lifted = monitor.table.get("brute_force_blocked", "web 192.0.2.5 op1")
        assert lifted is not None and not lifted.active and "lifted" in lifted.text
    finally:
        await monitor.stop()
