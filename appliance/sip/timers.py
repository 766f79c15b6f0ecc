"""The SIP core's own timers as deadlines (sans-IO).

Covers the timers a transaction does not own: the 2xx retransmission of RFC 3261 §13.3.1.4, reliable
provisional retransmission (RFC 3262 §3), session refresh and expiry (RFC 4028 §10), and the engine's own
(ring timeout, trunk registration refresh, registrar housekeeping, qualify, forgetting ended legs).
Transaction timers A-M live in `transaction.TransactionLayer`.

A timer is named by a key `(kind, name)`, e.g. `("session", leg_id)`: setting it again moves it, clearing it
removes it. Nothing here reads a clock; the core asks for `next_deadline()` and hands in `now`.
"""

from __future__ import annotations

import heapq

TimerKey = tuple[str, str]


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerKey]] = []
        self._at: dict[TimerKey, float] = {}
        self._seq = 0

    def __len__(self) -> int:
        """Timers set and not yet due or cleared."""
        return len(self._at)

    @property
    def heap_size(self) -> int:
        """Entries in the heap, stale ones included (kept bounded: see `_compact`)."""
        return len(self._heap)

    def set(self, key: TimerKey, at: float) -> None:
        self._at[key] = at
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, key))
        self._compact()

    def clear(self, key: TimerKey) -> None:
        self._at.pop(key, None)
        self._compact()

    def _compact(self) -> None:
        """Cleared and replaced timers stay in the heap until they fall due — for a session timer, half an
        hour. Under steady load that is memory growing with the call rate, so once stale entries outnumber
        live ones the heap is rebuilt (amortised O(1) per timer operation)."""
        heap = self._heap
        if len(heap) > 2 * len(self._at) + 1024:
            live = self._at
            self._heap = [e for e in heap if live.get(e[2]) == e[0]]
            heapq.heapify(self._heap)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and self._at.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> TimerKey | None:
        """The next timer due at `now` (removed), or None. Call it in a loop: a handler may set timers that
        are due at once, and those come out of the same loop."""
        # `self._heap` is re-read each time: a handler between two calls may have rebuilt it (`_compact`)
        while self._heap and self._heap[0][0] <= now:
            at, _, key = heapq.heappop(self._heap)
            if self._at.get(key) != at:
                continue
            del self._at[key]
            return key
        return None
