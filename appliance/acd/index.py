"""Ordered indexes of idle agents and waiting calls, so a routing decision never scans the whole centre.

Both are sorted Python lists kept with `bisect`: insertion and removal are a binary search plus a C-level
memmove, which for the sizes of one queue (hundreds to a few thousand entries) costs a few microseconds,
and — unlike a heap — they give the rank of an entry (position announcements), uniform random choice
(the random strategy) and "the first entry after X" (round robin with memory) from the same structure.

Agent keys are `(tier, k1, k2, agent_id)`: `tier` is `-level` when the level modifier is on (so level 9
sorts first) and 0 otherwise; `k1, k2` are the strategy's ordering (login sequence, answered count, idle
since, ring position). Call keys are `(rank, -priority, sequence, call_id)`: `rank` 0 for a call returned
after a failed offer (ahead of everyone, VIPs included), `sequence` the arrival counter, negated for LIFO.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from random import Random
from typing import Generic, TypeVar

AgentKey = tuple[int, float, float, str]
CallKey = tuple[int, int, int, str]

_NEG_INF = float("-inf")


K = TypeVar("K", AgentKey, CallKey)


class _SortedIndex(Generic[K]):
    """Entries kept sorted by key, found by id: the shared core of both indexes (ids are the keys' last part)."""

    __slots__ = ("_key_of", "_keys")

    def __init__(self) -> None:
        self._keys: list[K] = []
        self._key_of: dict[str, K] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._key_of

    def __iter__(self) -> Iterator[str]:
        return (k[3] for k in self._keys)

    def discard(self, entry_id: str) -> None:
        key = self._key_of.pop(entry_id, None)
        if key is not None:
            del self._keys[bisect_left(self._keys, key)]

    def first(self, avoid: Callable[[str], bool] | None = None) -> str | None:
        """The first entry; entries for which `avoid` is true are taken only when there is nothing else."""
        if not self._keys:
            return None
        if avoid is None:
            return self._keys[0][3]
        for key in self._keys:
            if not avoid(key[3]):
                return key[3]
        return self._keys[0][3]


class AgentIndex(_SortedIndex[AgentKey]):
    """Idle agents of one pool (or of one locality inside a pool), best first."""

    __slots__ = ()

    def add(self, key: AgentKey) -> None:
        old = self._key_of.get(key[3])
        if old is not None:
            if old == key:
                return
            self.discard(key[3])
        insort(self._keys, key)
        self._key_of[key[3]] = key

    def _top_tier_end(self) -> int:
        tier = self._keys[0][0]
        return bisect_left(self._keys, (tier + 1, _NEG_INF, _NEG_INF, ""))

    def random(self, rng: Random, avoid: Callable[[str], bool] | None = None) -> str | None:
        """Uniform among the best tier (all agents when tiers are off)."""
        if not self._keys:
            return None
        end = self._top_tier_end()
        pick = self._keys[rng.randrange(end)][3]
        if avoid is None or not avoid(pick):
            return pick
        others = [k[3] for k in self._keys[:end] if not avoid(k[3])]
        if not others:
            others = [k[3] for k in self._keys if not avoid(k[3])]
        return rng.choice(others) if others else pick

    def after(self, position: float, avoid: Callable[[str], bool] | None = None) -> str | None:
        """Round robin: the first agent of the best tier whose ring position is past `position`, wrapping."""
        if not self._keys:
            return None
        end = self._top_tier_end()
        tier = self._keys[0][0]
        start = bisect_right(self._keys, (tier, position, float("inf"), ""), 0, end)
        order = list(range(start, end)) + list(range(start))
        for i in order:
            agent_id = self._keys[i][3]
            if avoid is None or not avoid(agent_id):
                return agent_id
        return self.first(avoid)

    def top_tier(self) -> list[str]:
        if not self._keys:
            return []
        return [k[3] for k in self._keys[: self._top_tier_end()]]


class CallList(_SortedIndex[CallKey]):
    """Waiting calls of one pool, in service order (index 0 is served next)."""

    __slots__ = ()

    def add(self, key: CallKey) -> None:
        self.discard(key[3])
        insort(self._keys, key)
        self._key_of[key[3]] = key

    def key(self, call_id: str) -> CallKey:
        return self._key_of[call_id]

    def rank(self, key: CallKey) -> int:
        """How many calls of this pool are ahead of a call with `key`."""
        return bisect_left(self._keys, key)

    def first_key(self) -> CallKey | None:
        return self._keys[0] if self._keys else None
