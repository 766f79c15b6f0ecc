"""Hysteresis, flap damping and the table's bytes, on the pure alarm table."""

from __future__ import annotations

from appliance.monitoring.alarms import AlarmTable
from appliance.monitoring.models import DEFAULT_THRESHOLDS, Severity, Threshold

CPU = Threshold("cpu_high", 90.0, 75.0, Severity.MAJOR)


def test_hysteresis_raises_at_set_and_clears_only_at_clear_level() -> None:
    table = AlarmTable()
    assert table.measure(CPU, "box", 89.9, 0.0, "CPU usage") == []
    [raised] = table.measure(CPU, "box", 90.0, 1.0, "CPU usage")
    assert raised.raised and raised.alarm.severity is Severity.MAJOR and raised.alarm.count == 1
    # hovering between the levels: nothing, whichever way it moves
    for t, v in enumerate((85.0, 95.0, 76.0, 89.0), start=2):
        assert table.measure(CPU, "box", v, float(t), "CPU usage") == []
    [cleared] = table.measure(CPU, "box", 75.0, 10.0, "CPU usage")
    assert not cleared.raised and cleared.alarm.cleared_at == 10.0 and not cleared.alarm.active
    assert table.measure(CPU, "box", 80.0, 11.0, "CPU usage") == []  # below set: stays clear
    [again] = table.measure(CPU, "box", 99.0, 200.0, "CPU usage")
    assert again.alarm.count == 2 and again.alarm.id == raised.alarm.id


def test_sources_are_separate_alarms() -> None:
    table = AlarmTable()
    disk = DEFAULT_THRESHOLDS["disk_high"]
    table.measure(disk, "/", 95.0, 0.0, "disk /")
    table.measure(disk, "/var", 50.0, 0.0, "disk /var")
    assert [(a.source, a.active) for a in table.rows()] == [("/", True)]
    table.measure(disk, "/var", 91.0, 1.0, "disk /var")
    assert [a.source for a in table.active()] == ["/", "/var"]


def test_a_flapping_condition_is_damped_and_its_final_state_told_once() -> None:
    table = AlarmTable(flap_window=60.0, flap_limit=3, flap_hold=30.0)
    notices = []
    now = 0.0
    for _ in range(50):  # set and clear 50 times in 10 s
        notices += table.measure(CPU, "box", 99.0, now, "CPU usage")
        now += 0.1
        notices += table.measure(CPU, "box", 10.0, now, "CPU usage")
        now += 0.1
    assert len(notices) <= 6, notices
    row = table.get("cpu_high", "box")
    assert row is not None and row.count == 50 and row.flapping
    # the last state (cleared) was already told? then the hold ends quietly; either way one notice at most
    deadline = table.next_deadline()
    assert deadline is not None and deadline == now - 0.1 + 30.0
    assert table.handle_timeout(deadline - 1.0) == []
    late = table.handle_timeout(deadline)
    told_states = [n.raised for n in notices + late]
    assert told_states[-1] is False  # the NOC ends up knowing it is clear
    assert len(notices + late) <= 7
    assert table.next_deadline() is None and not table.get("cpu_high", "box").flapping  # type: ignore[union-attr]


def test_flapping_that_ends_raised_is_told_raised_after_the_hold() -> None:
    table = AlarmTable(flap_window=60.0, flap_limit=2, flap_hold=5.0)
    told = []
    for i in range(10):
        told += table.raise_("trunk_unregistered", "carrier", Severity.MAJOR, float(i), "lost")
        told += table.clear("trunk_unregistered", "carrier", float(i) + 0.5, "back")
    told += table.raise_("trunk_unregistered", "carrier", Severity.MAJOR, 10.0, "lost")
    assert [n.raised for n in told] == [True, False, True, False]
    late = table.handle_timeout(15.0)
    assert [n.raised for n in late] == [True]


def test_the_table_round_trips_through_its_bytes() -> None:
    table = AlarmTable()
    table.measure(CPU, "box", 95.0, 1.0, "CPU usage")
    table.raise_("backup_failed", "nas", Severity.MINOR, 2.0, "unreachable")
    table.clear("backup_failed", "nas", 3.0, "succeeded")
    again = AlarmTable(AlarmTable.loads(table.dumps()))
    assert again.rows() == table.rows()
    # restarted with an active alarm: clearing it is told (it was told raised before the restart)
    [n] = again.measure(CPU, "box", 10.0, 4.0, "CPU usage")
    assert not n.raised
    # ids keep growing after a restart
    again.raise_("new", "x", Severity.WARNING, 5.0, "new")
    assert again.get("new", "x").id == 3  # type: ignore[union-attr]
