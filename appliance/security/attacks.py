"""Guessing-attack bookkeeping shared by the SIP front door (`sip.security`) and the web sign-in
(`auth.lockout`). Pure logic: no I/O, no clock reads, `now` comes from the caller.

- `SpreadDetector`: failures against one target (an extension, an account) from many sources within a window
  are an attack on that target, reported once per window.
- `remember`: the bounded tables both keep (oldest inserted forgotten first), so a flood of made-up names
  costs a fixed amount of memory.
- `doubling_block_seconds`: each further block of the same offender lasts twice the last, up to a cap.
- `keep_block` / `pop_expired`: the table of blocks in force, purged of expired ones when it overflows.

Both front doors face the same botnet and must answer it the same way; one copy of these rules means a fix to
one (a bound, an overflow) cannot be forgotten in the other.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import KeysView
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# 2 ** 30 times the smallest block the policies accept (1 s) is about 34 years, far beyond any cap they
# accept (7 days): capping the exponent changes no answer, and keeps a long-lived offender's count from
# building a number too large for a float.
MAX_DOUBLINGS = 30


@dataclass(frozen=True, slots=True)
class SpreadRule:
    """When failures against one target add up to an attack (the thresholds of the caller's policy)."""

    window: float  # seconds a failure counts; also how long an attack, once reported, lasts
    min_sources: int  # distinct source addresses
    min_failures: int  # failures in all
    max_tracked: int  # targets remembered at once


@dataclass(frozen=True, slots=True)
class Spread:
    """A newly detected attack on `target`: the failures within the window and their sources, sorted."""

    target: str
    failures: int
    sources: tuple[str, ...]


@dataclass
class SpreadDetector:
    _attempts: OrderedDict[str, deque[tuple[float, str]]] = field(default_factory=OrderedDict)
    _attacked_until: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def under_attack(self, target: str, now: float) -> bool:
        return self._attacked_until.get(target, 0.0) > now

    def targets(self) -> KeysView[str]:
        """The targets with failures on record (at most the rule's `max_tracked`)."""
        return self._attempts.keys()

    def record(self, target: str, source: str, now: float, rule: SpreadRule) -> Spread | None:
        """One failure from `source` against `target`: the attack it reveals, if it is a new one."""
        attempts = self._attempts.get(target)
        if attempts is None:
            attempts = deque()
            remember(self._attempts, target, attempts, rule.max_tracked)
        attempts.append((now, source))
        while attempts and now - attempts[0][0] > rule.window:
            attempts.popleft()
        while len(attempts) > rule.min_failures * 4:  # enough to judge; the rest would only cost memory
            attempts.popleft()
        sources = {s for _, s in attempts}
        if len(attempts) < rule.min_failures or len(sources) < rule.min_sources or self.under_attack(target, now):
            return None
        remember(self._attacked_until, target, now + rule.window, rule.max_tracked)
        return Spread(target, len(attempts), tuple(sorted(sources)))


def remember(table: OrderedDict[K, V], key: K, value: V, limit: int) -> None:
    """Set `table[key]` as its newest entry, forgetting the oldest one beyond `limit` entries."""
    table[key] = value
    table.move_to_end(key)
    if len(table) > limit:
        table.popitem(last=False)


def doubling_block_seconds(base: float, blocks: int, cap: float) -> float:
    """How long the next block lasts after `blocks` earlier ones: `base` doubled each time, at most `cap`."""
    return min(base * (1 << min(max(blocks, 0), MAX_DOUBLINGS)), cap)


class Expiring(Protocol):
    @property
    def until(self) -> float: ...


B = TypeVar("B", bound=Expiring)


def keep_block(active: dict[K, B], key: K, block: B, now: float, limit: int) -> None:
    """Put `block` in force; past `limit` blocks, the expired ones not yet reported are dropped unreported
    (a flood must not grow the table; what is still in force is always kept)."""
    active[key] = block
    if len(active) > limit:
        for done in [k for k, b in active.items() if b.until <= now]:
            del active[done]


def pop_expired(active: dict[K, B], now: float) -> list[B]:
    """Take out the blocks whose time ran out, in the order they were put in force."""
    done = [k for k, b in active.items() if b.until <= now]
    return [active.pop(k) for k in done]
