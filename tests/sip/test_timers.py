"""The core's keyed deadlines: moved and cleared timers never fire, and never pile up in memory."""

from __future__ import annotations

from appliance.sip.timers import Timers


def test_due_timers_come_out_in_order_and_moved_or_cleared_ones_do_not() -> None:
    timers = Timers()
    timers.set(("ring", "a"), 3.0)
    timers.set(("2xx", "b"), 1.0)
    timers.set(("session", "c"), 2.0)
    timers.set(("ring", "a"), 10.0)  # moved later
    timers.clear(("session", "c"))
    assert timers.next_deadline() == 1.0
    assert timers.pop_due(5.0) == ("2xx", "b")
    assert timers.pop_due(5.0) is None
    assert len(timers) == 1 and timers.next_deadline() == 10.0
    assert timers.pop_due(10.0) == ("ring", "a")
    assert timers.next_deadline() is None


def test_cleared_timers_do_not_pile_up_in_the_heap() -> None:
    """A cleared timer (a session timer of an ended call: 30 minutes away) must not stay in memory until due."""
    timers = Timers()
    for i in range(20_000):
        key = ("session", f"leg{i}")
        timers.set(key, 1800.0 + i)
        timers.clear(key)
    assert timers.heap_size <= 2 * len(timers) + 1025
    timers.set(("session", "live"), 5.0)
    assert timers.next_deadline() == 5.0
