"""A discrete-event simulator that drives the real ACD engine with synthetic traffic.

Used by the benchmarks (`bench/acd_sim.py`, `bench/acd_erlang.py`, `bench/acd_scale.py`) and by capacity
planning: Poisson arrivals per queue, exponential or log-normal handle times, exponential patience
(callers abandon), an agent answer delay and a probability of not answering. The simulator plays call
control and the agents: it carries out the engine's actions (rings, answers, hang-ups) and reports back
with commands, on a `ManualClock` that jumps from one event or engine deadline to the next, so an hour of
a busy centre takes seconds.

Statistics are taken from the engine's own events (answered / abandoned / overflowed with their waits), for
calls arriving after a warm-up, so what is measured is what records and reports would see.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.engine import AcdEngine
from appliance.acd.models import AcdConfig, AcdSettings, AgentProfile, QueueConfig, SkillRequirement
from appliance.clock import ManualClock
from appliance.events import Event

_Sampler = Callable[[], float]  # draws one sample of a distribution


@dataclass(frozen=True, slots=True)
class HandleTime:
    """Talk time distribution: "exp" (mean) or "lognormal" (mean and coefficient of variation)."""

    kind: str = "exp"
    mean: float = 180.0
    cv: float = 1.0

    def sampler(self, rng: Random) -> _Sampler:
        if self.kind == "exp":
            rate = 1.0 / self.mean
            return lambda: rng.expovariate(rate)
        if self.kind == "lognormal":
            sigma2 = math.log(1.0 + self.cv * self.cv)
            mu = math.log(self.mean) - sigma2 / 2.0
            sigma = math.sqrt(sigma2)
            return lambda: rng.lognormvariate(mu, sigma)
        raise ValueError(f"unknown handle time distribution {self.kind!r}")


@dataclass(frozen=True, slots=True)
class TrafficSource:
    """Calls arriving to one queue."""

    queue_id: str
    arrival_rate: float  # calls per second (Poisson)
    handle: HandleTime = HandleTime()
    patience: float | None = None  # mean seconds a caller waits before hanging up (exponential); None: forever
    skills: tuple[tuple[SkillRequirement, ...], ...] = ()  # per-call requirements drawn uniformly; () = queue's
    vip_share: float = 0.0  # share of callers with priority 5


@dataclass(frozen=True, slots=True)
class SimSpec:
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentProfile, ...]
    traffic: tuple[TrafficSource, ...]
    settings: AcdSettings = field(default_factory=AcdSettings)
    answer_delay: float = 0.0  # seconds an agent takes to pick up
    no_answer_share: float = 0.0  # share of offers the agent lets ring out


@dataclass(slots=True)
class QueueStats:
    arrived: int = 0
    answered: int = 0
    abandoned: int = 0
    overflowed: int = 0
    waited: int = 0  # calls (any outcome) that did not reach an agent at once
    answered_within_20: int = 0
    wait_sum_answered: float = 0.0

    @property
    def ended(self) -> int:
        return self.answered + self.abandoned + self.overflowed

    def add(self, s: QueueStats) -> None:
        self.arrived += s.arrived
        self.answered += s.answered
        self.abandoned += s.abandoned
        self.overflowed += s.overflowed
        self.waited += s.waited
        self.answered_within_20 += s.answered_within_20
        self.wait_sum_answered += s.wait_sum_answered


def batch_interval(batches: list[QueueStats], metric: Callable[[QueueStats], float]) -> float:
    """Half-width of the ~95 % confidence interval of `metric` by the method of batch means.

    Waits of successive calls are strongly correlated near saturation, so the naive standard error is far
    too small; means of long consecutive batches are nearly independent.
    """
    values = [metric(b) for b in batches if b.arrived and b.answered]
    n = len(values)
    if n < 2:
        return math.inf
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return 2.0 * math.sqrt(var / n)


@dataclass(slots=True)
class SimResult:
    stats: dict[str, QueueStats]
    batches: list[QueueStats]  # all queues together, per consecutive block of arrivals (batch means)
    sim_seconds: float
    wall_seconds: float
    engine_calls: int
    events: int
    calls: int

    @property
    def total(self) -> QueueStats:
        t = QueueStats()
        for s in self.stats.values():
            t.add(s)
        return t

    @property
    def speedup(self) -> float:
        return self.sim_seconds / self.wall_seconds if self.wall_seconds > 0 else math.inf


_ARRIVAL, _ANSWER, _NO_ANSWER, _END, _PATIENCE = 0, 1, 2, 3, 4


@dataclass(slots=True)
class _Ctx:
    sources: list[TrafficSource]
    handle: list[_Sampler]
    queue_of_source: list[str]
    call_source: dict[str, int] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)


class Simulator:
    def __init__(self, spec: SimSpec, seed: int = 1) -> None:
        self.spec = spec
        self.rng = Random(seed)
        self.clock = ManualClock()
        self.stats: dict[str, QueueStats] = {q.id: QueueStats() for q in spec.queues}
        self._events = 0
        self.engine = AcdEngine(
            AcdConfig(spec.settings, spec.queues, spec.agents), self.clock, Random(seed + 1), self._on_event
        )
        self._heap: list[tuple[float, int, int, str, str]] = []
        self._seq = 0
        self._offers: set[tuple[str, str]] = set()  # live (call, agent) offers
        self._ctx = _Ctx(
            list(spec.traffic),
            [s.handle.sampler(self.rng) for s in spec.traffic],
            [s.queue_id for s in spec.traffic],
        )
        self._engine_calls = 0
        self._talking = 0  # conversations not yet ended
        self._warmup = 0
        self._calls = 1
        self._batches: list[QueueStats] = []

    # Event bookkeeping ------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        self._events += 1
        t = type(event)
        if t is E.CallAnswered:
            assert isinstance(event, E.CallAnswered)
            self._ctx.answered.add(event.call_id)
            if event.call_id in self._ctx.counted:
                for s in self._stats_for(event.call_id):
                    s.answered += 1
                    s.wait_sum_answered += event.wait
                    if event.wait > 0:
                        s.waited += 1
                    if event.wait <= 20.0:
                        s.answered_within_20 += 1
            self._ctx.counted.discard(event.call_id)
        elif t is E.CallAbandoned:
            assert isinstance(event, E.CallAbandoned)
            if event.call_id in self._ctx.counted:
                for s in self._stats_for(event.call_id):
                    s.abandoned += 1
                    if event.wait > 0:
                        s.waited += 1
            self._ctx.counted.discard(event.call_id)
            self._ctx.call_source.pop(event.call_id, None)
        elif t is E.CallOverflowed:
            assert isinstance(event, E.CallOverflowed)
            if event.action != "queue":
                if event.call_id in self._ctx.counted:
                    for s in self._stats_for(event.call_id):
                        s.overflowed += 1
                        if event.wait > 0:
                            s.waited += 1
                self._ctx.counted.discard(event.call_id)
                self._ctx.call_source.pop(event.call_id, None)

    def _stats_for(self, call_id: str) -> tuple[QueueStats, QueueStats]:
        """The call's queue figures and its batch's (calls are named c<arrival number>)."""
        queue_id = self._ctx.queue_of_source[self._ctx.call_source[call_id]]
        batch = (int(call_id[1:]) - 1 - self._warmup) * len(self._batches) // self._calls
        return self.stats[queue_id], self._batches[batch]

    def _push(self, at: float, kind: int, a: str = "", b: str = "") -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, a, b))

    # Playing call control and the agents ------------------------------------------------------

    def _apply(self, actions: list[A.Action]) -> None:
        now = self.clock.now
        for action in actions:
            t = type(action)
            if t is A.OfferCall:
                assert isinstance(action, A.OfferCall)
                self._ring(action.call_id, action.agent_id, now)
            elif t is A.RingAll:
                assert isinstance(action, A.RingAll)
                for agent_id in action.agent_ids:
                    self._ring(action.call_id, agent_id, now)
            elif t is A.CancelOffer:
                assert isinstance(action, A.CancelOffer)
                self._offers.discard((action.call_id, action.agent_id))

    def _ring(self, call_id: str, agent_id: str, now: float) -> None:
        self._offers.add((call_id, agent_id))
        spec = self.spec
        if spec.no_answer_share and self.rng.random() < spec.no_answer_share:
            return  # lets it ring out: the engine's ring timeout acts
        if not spec.answer_delay:
            self._answer(call_id, agent_id)  # picks up at once (the engine call has returned: no re-entry)
            return
        self._push(now + spec.answer_delay * (0.5 + self.rng.random()), _ANSWER, call_id, agent_id)

    def _do(self, command: C.Command) -> None:
        self._engine_calls += 1
        self._apply(self.engine.handle(command))

    def _answer(self, call_id: str, agent_id: str) -> None:
        if (call_id, agent_id) not in self._offers:
            return
        self._offers.discard((call_id, agent_id))
        self._do(C.OfferAnswered(call_id, agent_id))
        if call_id in self._ctx.answered:
            self._ctx.answered.discard(call_id)
            src = self._ctx.call_source.pop(call_id)
            self._push(self.clock.now + self._ctx.handle[src](), _END, agent_id, call_id)
            self._talking += 1

    # Main loop --------------------------------------------------------------------------------

    def run(self, calls: int, warmup: int = 0, login: bool = True, batches: int = 20) -> SimResult:
        """Simulate until `calls` calls arrived after `warmup` warm-up calls, and all of them ended."""
        self._warmup, self._calls = warmup, calls
        self._batches = [QueueStats() for _ in range(batches)]
        rng = self.rng
        engine = self.engine
        ctx = self._ctx
        if login:
            for agent in self.spec.agents:
                self._do(C.AgentLoggedIn(agent.id))
        for i, src in enumerate(ctx.sources):
            if src.arrival_rate > 0:
                self._push(rng.expovariate(src.arrival_rate), _ARRIVAL, str(i))
        total = warmup + calls
        arrived = 0
        wall_start = time.perf_counter()
        sim_start = self.clock.now
        heap = self._heap
        # Ends when no arrival, answer, hang-up or call end is left to happen: calls still waiting then
        # (no agent can ever serve them) stay unfinished rather than looping on announcement timers.
        while heap:
            if arrived >= total and not self._talking and not ctx.call_source:
                break  # every call ended: what is left are patience timers of answered calls
            deadline = engine.next_deadline()
            if deadline is not None and deadline < heap[0][0]:
                self.clock.now = max(self.clock.now, deadline)
                self._engine_calls += 1
                self._apply(engine.handle_timeout())
                continue
            at, _, kind, a, b = heapq.heappop(heap)
            self.clock.now = at
            if kind == _ARRIVAL:
                if arrived >= total:
                    continue
                i = int(a)
                src = ctx.sources[i]
                arrived += 1
                call_id = f"c{arrived}"
                ctx.call_source[call_id] = i
                if arrived > warmup:
                    ctx.counted.add(call_id)
                    self.stats[src.queue_id].arrived += 1
                    self._batches[(arrived - 1 - warmup) * batches // calls].arrived += 1
                if src.patience is not None:
                    self._push(at + rng.expovariate(1.0 / src.patience), _PATIENCE, call_id)
                skills = src.skills[rng.randrange(len(src.skills))] if src.skills else None
                priority = 5 if src.vip_share and rng.random() < src.vip_share else 0
                self._do(C.CallArrived(call_id, src.queue_id, caller=call_id, priority=priority, skills=skills))
                if arrived < total:
                    self._push(at + rng.expovariate(src.arrival_rate), _ARRIVAL, a)
            elif kind == _ANSWER:
                self._answer(a, b)
            elif kind == _END:
                self._talking -= 1
                self._do(C.CallCompleted(a, b))
            elif kind == _PATIENCE and a in ctx.call_source:  # still in the ACD: not answered, not ended
                self._do(C.CallerHungUp(a))
        return SimResult(
            self.stats, self._batches, self.clock.now - sim_start, time.perf_counter() - wall_start, self._engine_calls,
            self._events, arrived,
        )
