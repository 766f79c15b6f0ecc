"""The in-process event bus.

Every state change in the appliance is published here as a frozen dataclass (a subclass of `Event`), so
that records (CDR, queue log), the WebSocket stream, the SNMP alarm table and the wallboard consume the same
facts. Publishing never blocks: synchronous handlers run inline (they must be quick), and `stream()` gives
an async iterator backed by a bounded queue that drops the oldest event (and counts it) when a slow
consumer falls behind, so a stuck browser tab can never stall a call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events. `topic` names the kind of fact ("acd.call_queued", "sip.auth_blocked", ...)."""

    topic: ClassVar[str] = "event"
    at: float = 0.0  # wall-clock seconds when it happened; set by the publisher

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["topic"] = self.topic
        return data


Handler = Callable[[Event], None]


@dataclass
class _Subscription:
    topics: frozenset[str] | None  # None: every topic; a topic "acd.*" matches the prefix "acd."
    handler: Handler

    def wants(self, topic: str) -> bool:
        if self.topics is None:
            return True
        if topic in self.topics:
            return True
        return any(t.endswith(".*") and topic.startswith(t[:-1]) for t in self.topics)


@dataclass
class EventStream:
    """An async iterator of events for one consumer; close it when done."""

    bus: EventBus
    queue: asyncio.Queue[Event]
    subscription: _Subscription
    dropped: int = 0

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self.bus.unsubscribe(self.subscription)


@dataclass
class EventBus:
    """Typed publish/subscribe inside one process."""

    _subs: list[_Subscription] = field(default_factory=list)
    published: int = 0

    def subscribe(self, handler: Handler, topics: set[str] | None = None) -> _Subscription:
        sub = _Subscription(frozenset(topics) if topics is not None else None, handler)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: _Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        self.published += 1
        for sub in list(self._subs):
            if sub.wants(event.topic):
                try:
                    sub.handler(event)
                except Exception:  # one bad consumer must not break the others or the caller
                    log.exception("event handler failed for %s", event.topic)

    def stream(self, topics: set[str] | None = None, maxsize: int = 1000) -> EventStream:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        holder: list[EventStream] = []

        def put(event: Event) -> None:
            if queue.full():
                queue.get_nowait()
                holder[0].dropped += 1
            queue.put_nowait(event)

        sub = self.subscribe(put, topics)
        stream = EventStream(self, queue, sub)
        holder.append(stream)
        return stream

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)


def event_field_names(event_type: type[Event]) -> list[str]:
    return [f.name for f in fields(event_type)]
