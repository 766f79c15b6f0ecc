"""Alarm integration with injected time: a defect becomes an alarm after 2.5 s of persistence and the alarm
clears after 10 s of absence (ETSI EN 300 417-1-1); a defect that flickers does not raise anything."""

from __future__ import annotations

from drivers.e1.alarms import CLEAR_S, SET_S, AlarmChange, SpanAlarms
from drivers.hal.models import Defect


def run(alarms: SpanAlarms, until: float, step: float = 0.01, start: float = 0.0) -> list[AlarmChange]:
    out: list[AlarmChange] = []
    t = start
    while t <= until + 1e-9:
        deadline = alarms.next_deadline()
        if deadline is not None and deadline <= t:
            out += alarms.handle_timeout(t)
        t += step
    return out


def test_los_is_declared_at_2_5_s_and_cleared_10_s_after_it_goes() -> None:
    a = SpanAlarms()
    assert a.defects(frozenset({Defect.LOS}), 0.0) == []
    assert run(a, SET_S - 0.02) == []
    assert a.next_deadline() == SET_S
    assert a.handle_timeout(SET_S) == [AlarmChange(Defect.LOS, True, SET_S)]
    assert a.red and a.active == {Defect.LOS}
    assert a.defects(frozenset(), 5.0) == []
    assert a.handle_timeout(5.0 + CLEAR_S - 0.01) == [] and a.active == {Defect.LOS}
    assert a.handle_timeout(5.0 + CLEAR_S) == [AlarmChange(Defect.LOS, False, 15.0)]
    assert not a.active and a.next_deadline() is None


def test_a_flickering_defect_raises_nothing_and_a_returning_one_keeps_the_alarm() -> None:
    a = SpanAlarms()
    t = 0.0
    for _ in range(20):  # AIS for 2 s, gone for 0.1 s, again and again
        a.defects(frozenset({Defect.AIS}), t)
        assert a.handle_timeout(t + 2.0) == []
        a.defects(frozenset(), t + 2.0)
        t += 2.1
    assert not a.active
    a.defects(frozenset({Defect.AIS, Defect.RAI}), t)
    assert {c.alarm for c in a.handle_timeout(t + SET_S)} == {Defect.AIS, Defect.RAI}
    assert a.red
    a.defects(frozenset({Defect.RAI}), t + 3.0)  # AIS gone for 9 s, then back: the alarm never clears
    a.defects(frozenset({Defect.AIS, Defect.RAI}), t + 12.0)
    assert a.handle_timeout(t + 30.0) == [] and a.active == {Defect.AIS, Defect.RAI}
