"""The attack bookkeeping shared by the SIP guard and the sign-in lockout, on its own."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from appliance.security.attacks import (
    Spread,
    SpreadDetector,
    SpreadRule,
    doubling_block_seconds,
    keep_block,
    pop_expired,
    remember,
)

RULE = SpreadRule(window=60.0, min_sources=3, min_failures=6, max_tracked=100)


def test_an_attack_needs_enough_failures_from_enough_sources_and_is_reported_once_per_window() -> None:
    spread = SpreadDetector()
    # Many failures from two sources are not a spread attack, however many there are.
    assert [spread.record("1001", f"10.0.0.{i % 2}", 1.0, RULE) for i in range(10)] == [None] * 10
    assert not spread.under_attack("1001", 1.0)
    found = spread.record("1001", "10.0.0.9", 2.0, RULE)
    assert found == Spread("1001", 11, ("10.0.0.0", "10.0.0.1", "10.0.0.9"))
    assert spread.under_attack("1001", 2.0) and not spread.under_attack("1002", 2.0)
    assert spread.record("1001", "10.0.0.8", 3.0, RULE) is None  # the same attack, not a new one
    assert spread.under_attack("1001", 2.0 + RULE.window - 0.1)
    assert not spread.under_attack("1001", 2.0 + RULE.window)


def test_failures_older_than_the_window_no_longer_count() -> None:
    spread = SpreadDetector()
    for i in range(5):
        assert spread.record("1001", f"10.0.0.{i}", float(i), RULE) is None
    # The sixth failure comes after the first five left the window: one failure, one source.
    assert spread.record("1001", "10.0.0.5", 4.0 + RULE.window + 1, RULE) is None
    assert not spread.under_attack("1001", 4.0 + RULE.window + 1)


def test_the_attempts_kept_per_target_are_bounded() -> None:
    spread = SpreadDetector()
    for _ in range(1000):  # a single source, so no attack is ever declared
        spread.record("1001", "10.0.0.1", 0.0, RULE)
    assert len(spread._attempts["1001"]) == RULE.min_failures * 4


def test_the_targets_tracked_are_bounded_oldest_first() -> None:
    spread = SpreadDetector()
    rule = SpreadRule(window=60.0, min_sources=2, min_failures=2, max_tracked=3)
    for name in ("a", "b", "c", "d"):
        spread.record(name, "10.0.0.1", 0.0, rule)
    assert list(spread.targets()) == ["b", "c", "d"]


def test_remember_keeps_the_newest_entries() -> None:
    table: OrderedDict[str, int] = OrderedDict()
    for i, key in enumerate(("a", "b", "c")):
        remember(table, key, i, limit=3)
    remember(table, "a", 10, limit=3)  # set again: now the newest
    remember(table, "d", 4, limit=3)
    assert list(table.items()) == [("c", 2), ("a", 10), ("d", 4)]


def test_each_block_lasts_twice_the_last_up_to_the_cap() -> None:
    assert [doubling_block_seconds(300.0, n, 3600.0) for n in range(6)] == [
        300.0, 600.0, 1200.0, 2400.0, 3600.0, 3600.0]
    # A long-lived offender's count never builds a number too large for a float.
    assert doubling_block_seconds(300.0, 10_000, 3600.0) == 3600.0
    assert doubling_block_seconds(1.0, 10_000, 1e12) == float(2**30)


@dataclass(frozen=True)
class _Block:
    name: str
    until: float


def test_blocks_overflowing_the_table_drop_only_expired_ones_and_expiry_is_reported_once() -> None:
    active: dict[str, _Block] = {}
    keep_block(active, "old", _Block("old", 5.0), now=0.0, limit=2)
    keep_block(active, "live", _Block("live", 50.0), now=0.0, limit=2)
    keep_block(active, "new", _Block("new", 60.0), now=10.0, limit=2)
    assert sorted(active) == ["live", "new"]  # "old" had run out; the ones in force stay
    keep_block(active, "more", _Block("more", 70.0), now=10.0, limit=2)
    assert len(active) == 3  # nothing has expired, so nothing in force is dropped
    assert [b.name for b in pop_expired(active, 55.0)] == ["live"]
    assert pop_expired(active, 55.0) == []
