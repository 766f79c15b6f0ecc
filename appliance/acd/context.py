"""What the collaborators of one ACD engine share: time, outputs, registries, timers and counters.

The engine is split by responsibility (queueing, strategies, agent states, offers, callbacks) but decides as
one: a call arriving may change an agent's state, which may take another waiting call. Rather than each
collaborator holding copies or reaching into the others, they all read and write this one object, passed to
each explicitly by `AcdEngine`. It does no I/O: time is what the injected clock (or the caller's `now`) said
at the start of the current input.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from random import Random

from appliance.acd import actions as A
from appliance.acd.errors import UnknownAgent, UnknownQueue
from appliance.acd.models import AcdSettings
from appliance.acd.runtime import FIRST_AGENT_TIMER, Agent, Call, Queue
from appliance.clock import Clock
from appliance.events import Event


@dataclass(slots=True)
class Counters:
    """Totals since the engine started, for monitoring (`AcdEngine.figures`)."""

    calls_arrived: int = 0
    calls_answered: int = 0
    calls_abandoned: int = 0
    calls_overflowed: int = 0  # left the ACD (voicemail, IVR, external, hang-up), not queue to queue
    offers_made: int = 0  # agents rung (a ring-all rings several at once)
    offers_failed: int = 0  # rung agents who did not take the call: no answer, unreachable, paused, gone
    offers_unreachable: int = 0  # of those, the phone could not be reached at all
    callbacks_registered: int = 0


class Context:
    """The engine's shared working state. Not thread-safe, like the engine."""

    __slots__ = (
        "_seq", "_timers", "agents", "callbacks", "calls", "clock", "counters", "events", "global_vip", "now",
        "out", "pause_codes", "queues", "rng", "settings", "sink", "wall_offset",
    )

    def __init__(self, clock: Clock, rng: Random, sink: Callable[[Event], None] | None, settings: AcdSettings) -> None:
        self.clock = clock
        self.rng = rng
        self.sink = sink
        self.events: list[Event] = []  # collected when there is no sink
        self.out: list[A.Action] = []  # the actions of the input being handled
        self.now = clock.monotonic()
        self.wall_offset = clock.wall() - self.now
        self.settings = settings
        self.global_vip: frozenset[str] = frozenset()
        self.pause_codes: frozenset[str] = frozenset()
        self.queues: dict[str, Queue] = {}
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, Call] = {}
        self.callbacks: dict[str, str] = {}  # number -> call id, for "no duplicate callbacks"
        self.counters = Counters()
        self._timers: list[tuple[float, int, int, str]] = []
        self._seq = 0

    # Time and outputs ----------------------------------------------------------------

    def tick(self, now: float | None) -> None:
        clock_now = self.clock.monotonic()
        self.wall_offset = self.clock.wall() - clock_now
        self.now = clock_now if now is None else now

    def wall(self) -> float:
        return self.now + self.wall_offset

    def emit(self, event: Event) -> None:
        if self.sink is not None:
            self.sink(event)
        else:
            self.events.append(event)

    # Registries --------------------------------------------------------------------------

    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def queue(self, queue_id: str) -> Queue:
        q = self.queues.get(queue_id)
        if q is None:
            raise UnknownQueue(queue_id)
        return q

    def next_seq(self) -> int:
        """One counter for timer entries and call arrival order: both only need to grow."""
        self._seq += 1
        return self._seq

    # Timers ------------------------------------------------------------------------------
    # A timer is a heap entry plus its sequence number in the owner's `timers` dict; cancelling is dropping
    # the dict entry, and a heap entry whose number no longer matches is skipped when it comes up.

    def schedule(self, timers: dict[int, int], kind: int, ident: str, due: float) -> None:
        seq = self.next_seq()
        timers[kind] = seq
        heapq.heappush(self._timers, (due, seq, kind, ident))

    def _timer_valid(self, seq: int, kind: int, ident: str) -> bool:
        owner = self.calls.get(ident) if kind < FIRST_AGENT_TIMER else self.agents.get(ident)
        return owner is not None and owner.timers.get(kind) == seq

    def next_deadline(self) -> float | None:
        timers = self._timers
        while timers:
            due, seq, kind, ident = timers[0]
            if self._timer_valid(seq, kind, ident):
                return due
            heapq.heappop(timers)
        return None

    def pop_due(self) -> tuple[int, str] | None:
        """The next live timer due by now, removed from its owner: (kind, owner id), or None."""
        timers = self._timers
        while timers and timers[0][0] <= self.now:
            _, seq, kind, ident = heapq.heappop(timers)
            if not self._timer_valid(seq, kind, ident):
                continue
            owner = self.calls[ident] if kind < FIRST_AGENT_TIMER else self.agents[ident]
            del owner.timers[kind]
            return kind, ident
        return None
