"""The fan-out behind the live event stream: one bus subscription for every open WebSocket, each public event
turned into its public form and JSON text once, kept in a ring, and handed to the streams in batches.

Why not a queue per stream: a busy floor publishes hundreds of events a second to hundreds of boards. A queue
per stream made every publish a put into each of them (evicting from the full ones) and every event a wake-up,
a task and a send per stream — most of the loop that also relays RTP. Here a publish is one append, and at most
once per `interval` (a first event after a quiet spell at once) one flush hands every stream what came since
its cursor (`Reader.push`), in one pass with no task switch per stream: the streams write framed bytes
straight to their sockets. A stream that cannot take more now (its socket's send buffer is full: a stuck
browser tab) is skipped and keeps its cursor; the events that fall off the ring's tail meanwhile are counted
and told to it (`stream.dropped`) when it can take more, so a board re-reads its snapshot.

Lifecycle: the hub subscribes to the bus when the first stream is added and unsubscribes when the last is
removed (`add` / `remove`), so a box with no board open does no encoding at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol, TypeVar, cast

from appliance.events import Event, EventBus
from appliance.public_events import is_public, to_public

T = TypeVar("T")
log = logging.getLogger(__name__)
RING = 4096  # events held for the streams: some 13 s of a very busy floor; a reader further behind is told so


@dataclass(frozen=True, slots=True)
class Published:
    seq: int
    topic: str
    data: dict[str, Any]
    text: str


class Reader(Protocol):
    """One open stream, as the hub sees it."""

    cursor: int  # the sequence number of the last event it was handed (the hub moves it)

    def ready(self) -> bool:
        """Whether it can take more now (False: skipped this time, its cursor kept)."""

    def push(self, hub: StreamHub, lost: int, published: list[Published], start: int, head: int) -> None:
        """Send what came after `start` up to `head`; `lost` events fell off the ring before it could."""


class StreamHub:
    def __init__(self, bus: EventBus, *, size: int = RING, interval: float = 0.02,
                 clock: Callable[[], float] | None = None) -> None:
        self._bus = bus
        self._ring: deque[Published] = deque(maxlen=size)
        self._interval = interval
        self._clock = clock
        self._seq = 0
        self._readers: list[Reader] = []
        self._flush: asyncio.Handle | None = None
        self._last_flush = float("-inf")
        self._sub: Any = None
        self._shared: dict[tuple[Any, ...], Any] = {}
        self.events_encoded = 0

    @property
    def head(self) -> int:
        """The sequence number of the newest event (a stream opened now starts after it)."""
        return self._seq

    # ---- the streams' side -------------------------------------------------------------------------

    def add(self, reader: Reader) -> None:
        """Start handing events to `reader`, from the next one published."""
        reader.cursor = self._seq
        self._readers.append(reader)
        if self._sub is None:
            self._sub = self._bus.subscribe(self._on_event)

    def remove(self, reader: Reader) -> None:
        if reader in self._readers:
            self._readers.remove(reader)
        if not self._readers and self._sub is not None:
            self._bus.unsubscribe(self._sub)
            self._sub = None
            self._ring.clear()  # nobody reads them; a stream opened later starts at the head anyway
            self._shared.clear()
            if self._flush is not None:
                self._flush.cancel()
                self._flush = None

    def shared(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        """What `make` gives for `key`, made once for the streams that ask alike in one flush (the boards of a
        floor follow the same topics from the same cursor to the same head)."""
        if key not in self._shared:
            if len(self._shared) >= 64:
                del self._shared[next(iter(self._shared))]  # the oldest (dicts keep insertion order)
            self._shared[key] = make()
        return cast(T, self._shared[key])

    def since(self, cursor: int) -> tuple[int, list[Published], int]:
        """(events lost off the ring's tail, the events after `cursor` still held, the new cursor)."""
        if not self._ring:
            return max(0, self._seq - cursor), [], self._seq
        oldest = self._ring[0].seq
        lost = max(0, oldest - cursor - 1)
        start = max(0, cursor + 1 - oldest)  # sequence numbers in the ring are consecutive
        return lost, list(islice(self._ring, start, None)), self._seq

    # ---- the bus's side ----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if not is_public(event.topic):
            return
        data = to_public(event)  # the contract's shape, never the internal object
        self._seq += 1
        self._ring.append(Published(self._seq, event.topic, data, json.dumps(data, ensure_ascii=False, default=str)))
        self.events_encoded += 1
        self._schedule()

    def _schedule(self) -> None:
        if self._flush is None and self._readers:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_flush + self._interval - self._now(loop))
            self._flush = loop.call_later(delay, self._on_flush) if delay > 0 else loop.call_soon(self._on_flush)

    def _now(self, loop: asyncio.AbstractEventLoop) -> float:
        return self._clock() if self._clock is not None else loop.time()

    def _on_flush(self) -> None:
        self._flush = None
        loop = asyncio.get_running_loop()
        self._last_flush = self._now(loop)
        head = self._seq
        behind = False
        spans: dict[int, tuple[int, list[Published], int]] = {}  # most streams share a cursor: sliced once
        for reader in list(self._readers):
            cursor = reader.cursor
            if cursor >= head:
                continue
            if not reader.ready():
                behind = True  # tried again at the next flush; what it misses meanwhile is counted then
                continue
            if cursor not in spans:
                spans[cursor] = self.since(cursor)
            lost, published, _ = spans[cursor]
            reader.cursor = head
            try:
                reader.push(self, lost, published, cursor, head)
            except Exception:  # one broken stream must not starve the others of this flush
                log.exception("event stream: a reader failed; it is skipped")
        if behind:
            self._flush = loop.call_later(self._interval, self._on_flush)
