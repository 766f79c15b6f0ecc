"""The ACD engine: which waiting call goes to which agent, and when.

Pure and event-driven, in the shape of the project's sans-IO stacks: `handle(command)` and
`handle_timeout()` take facts in and return `Action`s (what call control must do); `next_deadline()` says
when time next matters; events (`appliance.acd.events`) go to a sink or an outbox. Time comes from the
injected `Clock` (or an explicit `now`), randomness from an injected `random.Random`, so the live box and the
simulator at thousands of times real time run this same code.

Model
- A *pool* is one queue plus one skill requirement (the queue's default or the call's own). It holds the
  logged-in agents able to serve it (`members`), those of them idle in strategy order (`idle`, plus one
  index per locality when the locality modifier is on) and its waiting calls in service order (`calls`).
  A call arriving looks only at its pool; an agent becoming free looks only at the head call of each of its
  pools. Nothing scans the whole centre, which keeps a decision in the tens of microseconds with 10,000
  agents and 5,000 waiting calls.
- Work-conserving: an agent that becomes idle takes the best waiting call it can serve before it is indexed
  as idle, and a call that arrives or comes back takes an idle agent before it is queued, so no idle agent
  able to serve a waiting call stays idle.
- Call order in a pool: returned calls (an agent failed to answer) first, then higher priority, then FIFO
  or LIFO. An agent in several queues serves the higher queue priority first, then the returned/priority
  order, then the call that arrived first.
- Agent choice for a call: modifiers in fixed precedence (account manager, last served, locality, level),
  then the queue's strategy. An agent who already missed this call is chosen only if no one else is idle.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.errors import (
    InvalidAgentState,
    MinBusyNotReached,
    UnknownAgent,
    UnknownPauseReason,
    UnknownQueue,
)
from appliance.acd.index import AgentIndex, AgentKey, CallKey, CallList
from appliance.acd.models import (
    AcdConfig,
    AgentProfile,
    AgentState,
    AgentView,
    CallView,
    Modifier,
    OverflowAction,
    OverflowKind,
    QueueConfig,
    QueueOrder,
    QueueView,
    SkillRequirement,
    Strategy,
    VipSource,
)
from appliance.clock import Clock
from appliance.events import Event

Requirement = tuple[SkillRequirement, ...]

# Timer kinds: call timers below 10, agent timers from 10.
_RING, _MAX_WAIT, _NO_AGENT, _ANNOUNCE, _VIP = 0, 1, 2, 3, 4
_WRAP, _GRACE = 10, 11

_SYSTEM = "system"
_IDLE, _PAUSED = AgentState.IDLE, AgentState.PAUSED
_NO_ANSWER_REASON = "no_answer"  # the pause reason given after too many misses


def normalise_requirement(req: Requirement) -> Requirement:
    """One canonical form per requirement so equal needs share one pool."""
    best: dict[str, int] = {}
    for r in req:
        best[r.skill] = max(best.get(r.skill, 0), r.min_level)
    return tuple(SkillRequirement(s, lvl) for s, lvl in sorted(best.items()))


@dataclass(slots=True, eq=False)
class _Pool:
    queue: _Queue
    req: Requirement
    members: set[str] = field(default_factory=set)
    idle: AgentIndex = field(default_factory=AgentIndex)
    by_area: dict[str, AgentIndex] = field(default_factory=dict)
    calls: CallList = field(default_factory=CallList)


@dataclass(slots=True, eq=False)
class _Queue:
    cfg: QueueConfig
    vip_numbers: frozenset[str]
    req: Requirement  # the queue's default requirement, normalised once
    active: bool = True
    pools: dict[Requirement, _Pool] = field(default_factory=dict)
    logged_in: set[str] = field(default_factory=set)
    member_pos: dict[str, int] = field(default_factory=dict)
    rr_last: float = float("-inf")
    last_served: dict[str, str] = field(default_factory=dict)
    avg_handle: float = 180.0
    waiting: int = 0


@dataclass(slots=True, eq=False)
class _Agent:
    profile: AgentProfile
    skills: dict[str, int]
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    login_seq: int = 0
    logged_in_at: float | None = None
    answered: int = 0
    answered_by_queue: dict[str, int] = field(default_factory=dict)
    idle_since: float | None = None
    misses: int = 0
    offered_call: str | None = None
    current_call: str | None = None
    call_queue: str | None = None  # queue of the current call, for its wrap-up rule
    call_started: float = 0.0
    pools: list[_Pool] = field(default_factory=list)
    indexed: bool = False
    paused_at: float = 0.0
    pending_pause: str = ""  # pause asked for during a call, applied when it ends
    pending_by: str = ""
    resume_state: AgentState = AgentState.IDLE  # state to return to after a disconnect or other call
    resume_reason: str = ""
    timers: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Call:
    id: str
    queue: _Queue
    pool: _Pool
    caller: str
    area: str
    account_manager: str
    own_req: Requirement | None
    priority: int
    vip_source: str
    arrived_at: float
    enqueued_at: float = 0.0
    seq: int = 0
    returned: bool = False
    waiting: bool = False
    offered_to: list[str] = field(default_factory=list)
    attempts: int = 0
    missed_by: set[str] = field(default_factory=set)
    callback_number: str = ""
    expired: str = ""  # limit reached while ringing: acted on if the offer fails
    hops: int = 0
    vip_pending: bool = False
    timers: dict[int, int] = field(default_factory=dict)


class AcdEngine:
    """One ACD for the whole box. Not thread-safe: drive it from one task (or one simulator loop)."""

    def __init__(
        self,
        config: AcdConfig,
        clock: Clock,
        rng: Random | None = None,
        sink: Callable[[Event], None] | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng if rng is not None else Random(0)
        self._sink = sink
        self._events: list[Event] = []
        self._out: list[A.Action] = []
        self._now = clock.monotonic()
        self._wall_offset = clock.wall() - self._now
        self._settings = config.settings
        self._global_vip: frozenset[str] = frozenset()
        self._pause_codes: frozenset[str] = frozenset()
        self._queues: dict[str, _Queue] = {}
        self._agents: dict[str, _Agent] = {}
        self._calls: dict[str, _Call] = {}
        self._callbacks: dict[str, str] = {}  # number -> call id, for "no duplicate callbacks"
        self._timers: list[tuple[float, int, int, str]] = []
        self._seq = 0
        self._login_seq = 0
        self._idle_count = 0
        # Handlers take their own command type; the table is keyed by that type, so Any is safe here.
        self._handlers: dict[type[C.Command], Callable[[Any], None]] = {
            C.CallArrived: self._on_call_arrived,
            C.CallerHungUp: self._on_caller_hung_up,
            C.CallerChoseVoicemail: self._on_voicemail_chosen,
            C.CallbackRequested: self._on_callback_requested,
            C.CallbackCancelled: self._on_callback_cancelled,
            C.VipLookupResult: self._on_vip_result,
            C.OfferAnswered: self._on_offer_answered,
            C.OfferFailed: self._on_offer_failed,
            C.CallCompleted: self._on_call_completed,
            C.AgentStartedOtherCall: self._on_other_call,
            C.OutboundAgentRequested: self._on_outbound_requested,
            C.AgentLoggedIn: self._on_login,
            C.AgentLoggedOut: self._on_logout,
            C.AgentPaused: self._on_pause,
            C.AgentUnpaused: self._on_unpause,
            C.WrapUpEnded: self._on_wrap_up_ended,
            C.AgentDisconnected: self._on_disconnected,
            C.AgentReconnected: self._on_reconnected,
            C.SupervisorForcedIdle: self._on_force_idle,
            C.SupervisorForcedBusy: self._on_force_busy,
            C.SupervisorForcedLogout: self._on_force_logout,
        }
        self.configure(config)

    # ------------------------------------------------------------------ public API

    def handle(self, command: C.Command, now: float | None = None) -> list[A.Action]:
        """Apply one input; returns the actions to carry out, in order.

        Refused requests (unknown agent, illegal state, minimum busy time) raise before anything changes.
        """
        self._tick(now)
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"not an ACD command: {type(command).__name__}")
        self._out = []
        handler(command)
        return self._out

    def next_deadline(self) -> float | None:
        timers = self._timers
        while timers:
            due, seq, kind, ident = timers[0]
            if self._timer_valid(seq, kind, ident):
                return due
            heapq.heappop(timers)
        return None

    def handle_timeout(self, now: float | None = None) -> list[A.Action]:
        """Fire every timer due at or before now."""
        self._tick(now)
        self._out = []
        timers = self._timers
        while timers and timers[0][0] <= self._now:
            _, seq, kind, ident = heapq.heappop(timers)
            if not self._timer_valid(seq, kind, ident):
                continue
            if kind < _WRAP:
                call = self._calls[ident]
                del call.timers[kind]
                self._fire_call_timer(call, kind)
            else:
                agent = self._agents[ident]
                del agent.timers[kind]
                self._fire_agent_timer(agent, kind)
        return self._out

    def take_events(self) -> list[Event]:
        """Events since the last call (only collected when no sink was given)."""
        events, self._events = self._events, []
        return events

    def configure(self, config: AcdConfig) -> list[A.Action]:
        """Apply new settings, queues and agent profiles without dropping calls or logins.

        A queue missing from the new configuration stops taking new calls; the calls already waiting in it
        are still served. A logged-in agent whose skills, level, locality or queues changed is re-indexed,
        and if it is idle and can now serve a waiting call, that call is offered (the returned actions).
        """
        self._out = []
        self._settings = config.settings
        self._global_vip = frozenset(config.settings.vip_numbers)
        self._pause_codes = frozenset(r.code for r in config.settings.pause_reasons)
        seen: set[str] = set()
        for cfg in config.queues:
            seen.add(cfg.id)
            q = self._queues.get(cfg.id)
            if q is None:
                self._queues[cfg.id] = _Queue(
                    cfg, frozenset(cfg.vip_numbers), normalise_requirement(cfg.required_skills),
                    avg_handle=cfg.initial_handle_estimate,
                )
                continue
            old = q.cfg
            q.cfg, q.vip_numbers, q.active = cfg, frozenset(cfg.vip_numbers), True
            q.req = normalise_requirement(cfg.required_skills)
            if (old.strategy, old.modifiers) != (cfg.strategy, cfg.modifiers):
                for pool in q.pools.values():
                    pool.idle, pool.by_area = AgentIndex(), {}
                    for agent_id in pool.members:
                        agent = self._agents[agent_id]
                        if agent.indexed:
                            self._index_in(agent, pool, self._agent_key(agent, q))
        for qid, q in self._queues.items():
            if qid not in seen:
                q.active = False
        for profile in config.agents:
            known = self._agents.get(profile.id)
            if known is None:
                self._agents[profile.id] = _Agent(profile, _skill_map(profile))
                continue
            agent = known
            old_profile, agent.profile = agent.profile, profile
            agent.skills = _skill_map(profile)
            if agent.state is not AgentState.LOGGED_OUT and old_profile != profile:
                self._leave_pools(agent)
                self._join_pools(agent)
                if agent.state is AgentState.IDLE:
                    self._make_available(agent, "reconfigured", _SYSTEM)
        return self._out

    # Views -------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self._now

    def agent_view(self, agent_id: str) -> AgentView:
        a = self._agent(agent_id)
        return AgentView(
            a.profile.id, a.state, a.reason, a.since, a.logged_in_at, a.answered, a.misses,
            a.offered_call, a.current_call, a.idle_since,
        )

    def agent_ids(self) -> list[str]:
        return list(self._agents)

    def call_view(self, call_id: str) -> CallView | None:
        c = self._calls.get(call_id)
        if c is None:
            return None
        return CallView(
            c.id, c.queue.cfg.id, c.caller, c.priority, c.returned, tuple(c.offered_to), c.arrived_at,
            c.enqueued_at, c.callback_number, c.pool.req, tuple(sorted(c.missed_by)),
        )

    def active_call_ids(self) -> list[str]:
        return list(self._calls)

    def waiting_calls(self, queue_id: str) -> list[str]:
        """Waiting (not ringing) calls of a queue in the order the queue would serve them."""
        q = self._queue(queue_id)
        keyed: list[tuple[CallKey, str]] = []
        for pool in q.pools.values():
            keyed.extend((pool.calls.key(cid), cid) for cid in pool.calls)
        keyed.sort()
        return [cid for _, cid in keyed]

    def queue_view(self, queue_id: str) -> QueueView:
        q = self._queue(queue_id)
        longest = 0.0
        idle = 0
        for pool in q.pools.values():
            for cid in pool.calls:
                longest = max(longest, self._now - self._calls[cid].enqueued_at)
        for agent_id in q.logged_in:
            if self._agents[agent_id].state is AgentState.IDLE:
                idle += 1
        return QueueView(q.cfg.id, q.waiting, len(q.logged_in), idle, longest)

    def eligible(self, agent_id: str, call_id: str) -> bool:
        """Whether the agent is logged in to the call's queue with the skills the call needs."""
        agent = self._agent(agent_id)
        call = self._calls[call_id]
        return agent_id in call.pool.members and agent.state is not AgentState.LOGGED_OUT

    def position(self, call_id: str) -> int:
        call = self._calls[call_id]
        return self._position(call, call.pool.calls.key(call_id) if call.waiting else self._call_key(call))

    # ------------------------------------------------------------------ helpers

    def _tick(self, now: float | None) -> None:
        clock_now = self._clock.monotonic()
        self._wall_offset = self._clock.wall() - clock_now
        self._now = clock_now if now is None else now

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)
        else:
            self._events.append(event)

    def _wall(self) -> float:
        return self._now + self._wall_offset

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def _queue(self, queue_id: str) -> _Queue:
        q = self._queues.get(queue_id)
        if q is None:
            raise UnknownQueue(queue_id)
        return q

    def _schedule(self, timers: dict[int, int], kind: int, ident: str, due: float) -> None:
        self._seq += 1
        timers[kind] = self._seq
        heapq.heappush(self._timers, (due, self._seq, kind, ident))

    def _timer_valid(self, seq: int, kind: int, ident: str) -> bool:
        owner = self._calls.get(ident) if kind < _WRAP else self._agents.get(ident)
        return owner is not None and owner.timers.get(kind) == seq

    def _pool(self, q: _Queue, req: Requirement) -> _Pool:
        pool = q.pools.get(req)
        if pool is None:
            pool = _Pool(q, req)
            q.pools[req] = pool
            for agent_id in q.logged_in:
                agent = self._agents[agent_id]
                if _satisfies(agent, req):
                    pool.members.add(agent_id)
                    agent.pools.append(pool)
                    if agent.indexed:
                        self._index_in(agent, pool, self._agent_key(agent, q))
        return pool

    # Agent state and indexes -------------------------------------------------

    def _set_state(self, agent: _Agent, new: AgentState, reason: str = "", by: str = "") -> None:
        # The hottest function of the engine (several times per call): locals and module constants only.
        old = agent.state
        now = self._now
        if old is _IDLE:
            if new is not _IDLE:
                self._idle_count -= 1
                if agent.indexed:
                    self._unindex(agent)
        elif new is _IDLE:
            self._idle_count += 1
            agent.idle_since = now
        if new is _PAUSED and old is not _PAUSED:
            agent.paused_at = now
        offset = self._wall_offset
        since = agent.since
        event = E.AgentStateChanged(
            # The states are StrEnum members, so they are already the strings records store.
            at=now + offset, agent_id=agent.profile.id, old=old, new=new, reason=reason, since=since + offset,
            duration=now - since, by=by,
        )
        if self._sink is not None:
            self._sink(event)
        else:
            self._events.append(event)
        agent.state, agent.reason, agent.since = new, reason, now

    def _agent_key(self, agent: _Agent, q: _Queue) -> AgentKey:
        cfg = q.cfg
        tier = -agent.profile.level if Modifier.LEVEL in cfg.modifiers else 0
        agent_id = agent.profile.id
        strategy = cfg.strategy
        idle_since = agent.idle_since if agent.idle_since is not None else self._now
        if strategy is Strategy.LONGEST_IDLE:
            return (tier, idle_since, agent.login_seq, agent_id)
        if strategy is Strategy.FEWEST_ANSWERED:
            return (tier, agent.answered_by_queue.get(cfg.id, 0), idle_since, agent_id)
        if strategy is Strategy.ROUND_ROBIN:
            return (tier, q.member_pos[agent_id], 0.0, agent_id)
        return (tier, agent.login_seq, 0.0, agent_id)

    def _index_in(self, agent: _Agent, pool: _Pool, key: AgentKey) -> None:
        pool.idle.add(key)
        locality = agent.profile.locality
        if locality and Modifier.LOCALITY in pool.queue.cfg.modifiers:
            sub = pool.by_area.get(locality)
            if sub is None:
                sub = pool.by_area[locality] = AgentIndex()
            sub.add(key)

    def _index(self, agent: _Agent) -> None:
        keys: dict[str, AgentKey] = {}
        for pool in agent.pools:
            q = pool.queue
            key = keys.get(q.cfg.id)
            if key is None:
                key = keys[q.cfg.id] = self._agent_key(agent, q)
            self._index_in(agent, pool, key)
        agent.indexed = True

    def _unindex(self, agent: _Agent) -> None:
        agent_id, locality = agent.profile.id, agent.profile.locality
        for pool in agent.pools:
            pool.idle.discard(agent_id)
            if locality:
                sub = pool.by_area.get(locality)
                if sub is not None:
                    sub.discard(agent_id)
        agent.indexed = False

    def _join_pools(self, agent: _Agent) -> None:
        agent_id = agent.profile.id
        agent.pools = []
        for qid in agent.profile.queues:
            q = self._queues.get(qid)
            if q is None:
                continue
            q.logged_in.add(agent_id)
            if agent_id not in q.member_pos:
                q.member_pos[agent_id] = len(q.member_pos)
            for pool in q.pools.values():
                if _satisfies(agent, pool.req):
                    if not pool.members:
                        self._staffed(pool)
                    pool.members.add(agent_id)
                    agent.pools.append(pool)

    def _leave_pools(self, agent: _Agent) -> None:
        agent_id = agent.profile.id
        if agent.indexed:
            self._unindex(agent)
        for pool in agent.pools:
            pool.members.discard(agent_id)
            if not pool.members:
                self._unstaffed(pool)
        for qid in agent.profile.queues:
            q = self._queues.get(qid)
            if q is not None:
                q.logged_in.discard(agent_id)
        agent.pools = []

    def _staffed(self, pool: _Pool) -> None:
        """The first agent able to serve this pool logged in: the no-agent limit no longer runs."""
        for cid in pool.calls:
            self._calls[cid].timers.pop(_NO_AGENT, None)

    def _unstaffed(self, pool: _Pool) -> None:
        limit = pool.queue.cfg.max_wait_no_agent
        if limit is None:
            return
        for cid in list(pool.calls):
            call = self._calls[cid]
            if not call.callback_number:
                self._schedule(call.timers, _NO_AGENT, cid, self._now + limit)

    def _make_available(self, agent: _Agent, reason: str, by: str = "") -> None:
        """Agent becomes idle: take the best waiting call it can serve, else wait in the idle indexes."""
        if agent.pending_pause:
            reason_code, agent.pending_pause = agent.pending_pause, ""
            self._set_state(agent, AgentState.PAUSED, reason_code, agent.pending_by)
            return
        if agent.state is not AgentState.IDLE:
            self._set_state(agent, AgentState.IDLE, reason, by)
        call = self._best_call_for(agent)
        if call is not None:
            self._offer(call, [agent.profile.id])
        else:
            self._index(agent)

    def _best_call_for(self, agent: _Agent) -> _Call | None:
        agent_id = agent.profile.id
        calls = self._calls
        # First the head of each queue (its pools share one key space, FIFO or LIFO), then across queues:
        # queue priority, returned/priority rank, then the older call. Comparing pool heads across queues
        # directly would not be transitive when a queue is LIFO.
        heads: dict[str, tuple[bool, CallKey, _Call]] = {}
        for pool in agent.pools:
            head = pool.calls.first_key()
            if head is None:
                continue
            call = calls[head[3]]
            if agent_id in call.missed_by:
                found = pool.calls.first(lambda c: agent_id in calls[c].missed_by)
                assert found is not None
                call = calls[found]
                head = pool.calls.key(found)
            missed = agent_id in call.missed_by
            qid = pool.queue.cfg.id
            current = heads.get(qid)
            if current is None or (missed, head) < current[:2]:
                heads[qid] = (missed, head, call)
        best: _Call | None = None
        best_key: tuple[bool, int, int, int, int] | None = None
        for missed, head, call in heads.values():
            key = (missed, -call.queue.cfg.priority, head[0], head[1], call.seq)
            if best_key is None or key < best_key:
                best, best_key = call, key
        return best

    # Calls -------------------------------------------------------------------

    def _call_key(self, call: _Call) -> CallKey:
        seq = -call.seq if call.queue.cfg.order is QueueOrder.LIFO else call.seq
        return (0 if call.returned else 1, -call.priority, seq, call.id)

    def _position(self, call: _Call, key: CallKey) -> int:
        return 1 + sum(pool.calls.rank(key) for pool in call.queue.pools.values())

    def _enqueue_waiting(self, call: _Call) -> None:
        call.pool.calls.add(self._call_key(call))
        call.waiting = True
        call.queue.waiting += 1
        if not call.callback_number:
            self._arm_wait_timers(call)

    def _arm_wait_timers(self, call: _Call) -> None:
        """Waiting limits and announcements, armed the first time a call really waits.

        Most calls in a well-staffed centre go to an agent on arrival; not arming their timers saves three
        heap entries per call. The maximum wait still counts from entry into the queue.
        """
        cfg = call.queue.cfg
        timers = call.timers
        if cfg.max_wait is not None and _MAX_WAIT not in timers and not call.expired:
            self._schedule(timers, _MAX_WAIT, call.id, call.enqueued_at + cfg.max_wait)
        if cfg.max_wait_no_agent is not None and _NO_AGENT not in timers and not call.pool.members:
            self._schedule(timers, _NO_AGENT, call.id, self._now + cfg.max_wait_no_agent)
        if cfg.announce_interval and _ANNOUNCE not in timers:
            self._schedule(timers, _ANNOUNCE, call.id, self._now + cfg.announce_interval)

    def _dequeue_waiting(self, call: _Call) -> None:
        if call.waiting:
            call.pool.calls.discard(call.id)
            call.waiting = False
            call.queue.waiting -= 1

    def _pick_agents(self, call: _Call) -> list[str]:
        pool = call.pool
        if not pool.idle:
            return []
        cfg = pool.queue.cfg
        mods = cfg.modifiers
        missed = call.missed_by
        avoid: Callable[[str], bool] | None = missed.__contains__ if missed else None
        if mods:
            if Modifier.ACCOUNT_MANAGER in mods and call.account_manager:
                am = call.account_manager
                if am in pool.idle and am not in missed:
                    return [am]
            if Modifier.LAST_SERVED in mods and call.caller:
                last = pool.queue.last_served.get(call.caller)
                if last is not None and last in pool.idle and last not in missed:
                    return [last]
        index = pool.idle
        if Modifier.LOCALITY in mods and call.area:
            local = pool.by_area.get(call.area)
            if local:
                index = local
        strategy = cfg.strategy
        if strategy is Strategy.RING_ALL:
            group = index.top_tier() if Modifier.LEVEL in mods else list(index)
            if avoid is not None:
                group = [a for a in group if not avoid(a)] or group
            return group
        if strategy is Strategy.RANDOM:
            chosen = index.random(self._rng, avoid)
        elif strategy is Strategy.ROUND_ROBIN:
            chosen = index.after(pool.queue.rr_last, avoid)
        else:
            chosen = index.first(avoid)
        return [chosen] if chosen is not None else []

    def _offer(self, call: _Call, agent_ids: list[str]) -> None:
        self._dequeue_waiting(call)
        q = call.queue
        cfg = q.cfg
        call.offered_to = list(agent_ids)
        call.attempts += 1
        for agent_id in agent_ids:
            agent = self._agents[agent_id]
            agent.offered_call = call.id
            self._set_state(agent, AgentState.RINGING, call.id)
        if cfg.strategy is Strategy.ROUND_ROBIN:
            q.rr_last = q.member_pos[agent_ids[0]]
        self._schedule(call.timers, _RING, call.id, self._now + cfg.ring_timeout)
        if cfg.strategy is Strategy.RING_ALL:
            self._out.append(
                A.RingAll(call.id, cfg.id, tuple(agent_ids), cfg.ring_timeout, call.caller, call.callback_number)
            )
        else:
            agent = self._agents[agent_ids[0]]
            self._out.append(
                A.OfferCall(
                    call.id, cfg.id, agent_ids[0], cfg.ring_timeout, call.caller, agent.profile.number,
                    cfg.announce_agent_number, call.callback_number,
                )
            )
        self._emit(
            E.CallOffered(
                at=self._wall(), call_id=call.id, queue_id=cfg.id, agent_ids=tuple(agent_ids),
                attempt=call.attempts,
            )
        )

    def _route_or_wait(self, call: _Call) -> None:
        agents = self._pick_agents(call)
        if agents:
            self._offer(call, agents)
        else:
            self._enqueue_waiting(call)

    def _enter_queue(self, call: _Call, q: _Queue) -> None:
        """Put a call into a queue (on arrival or queue-to-queue overflow), applying the entry limits."""
        cfg = q.cfg
        call.queue = q
        call.pool = self._pool(q, call.own_req if call.own_req is not None else q.req)
        call.returned = False
        call.missed_by.clear()
        call.expired = ""
        if cfg.max_length is not None and q.waiting >= cfg.max_length:
            self._overflow(call, cfg.on_full, "queue_full")
            return
        unstaffed = not call.pool.members
        if unstaffed and cfg.max_wait_no_agent is not None and cfg.max_wait_no_agent <= 0:
            self._overflow(call, cfg.on_no_agent, "no_agent")
            return
        self._seq += 1
        call.seq = self._seq
        call.enqueued_at = self._now
        key = self._call_key(call)
        position = self._position(call, key)
        self._emit(
            E.CallQueued(
                at=self._wall(), call_id=call.id, queue_id=cfg.id, caller=call.caller, priority=call.priority,
                vip_source=call.vip_source, position=position, callback=bool(call.callback_number),
            )
        )
        self._route_or_wait(call)
        if call.waiting and cfg.announce_on_entry and not call.callback_number:
            self._announce(call)

    def _announce(self, call: _Call) -> None:
        q = call.queue
        cfg = q.cfg
        position = self._position(call, call.pool.calls.key(call.id))
        staffed = 0
        for agent_id in q.logged_in:
            if self._agents[agent_id].state not in (AgentState.PAUSED, AgentState.DISCONNECTED):
                staffed += 1
        # Expected wait: the calls ahead (and this one) share the staffed agents, each taking an average
        # handle time; a plain and explainable estimate (Asterisk's holdtime announcement is similar).
        ewt = position * q.avg_handle / max(1, staffed)
        self._out.append(A.AnnouncePosition(call.id, position, ewt, cfg.voicemail_key, cfg.callback_key))

    def _finish(self, call: _Call) -> None:
        """The call leaves the ACD for good."""
        self._dequeue_waiting(call)
        call.timers.clear()
        if call.callback_number and self._callbacks.get(call.callback_number) == call.id:
            del self._callbacks[call.callback_number]
        del self._calls[call.id]

    def _overflow(self, call: _Call, action: OverflowAction, reason: str) -> None:
        q = call.queue
        self._dequeue_waiting(call)
        wait = self._now - call.arrived_at
        kind, target = action.kind, action.target
        if kind is OverflowKind.QUEUE:
            next_q = self._queues.get(target)
            if next_q is None or not next_q.active or call.hops >= self._settings.max_overflow_hops:
                kind, target, reason = OverflowKind.HANGUP, "", "overflow_loop"
        self._emit(
            E.CallOverflowed(
                at=self._wall(), call_id=call.id, queue_id=q.cfg.id, reason=reason, action=kind.value,
                target=target, wait=wait,
            )
        )
        if kind is OverflowKind.QUEUE:
            call.hops += 1
            for k in (_MAX_WAIT, _NO_AGENT, _ANNOUNCE, _RING):
                call.timers.pop(k, None)
            self._enter_queue(call, self._queues[target])
            return
        self._finish(call)
        if kind is OverflowKind.HANGUP:
            self._out.append(A.HangUpCall(call.id, reason))
        else:
            self._out.append(A.OverflowCall(call.id, kind, target, reason))

    def _withdraw_offer(self, call: _Call, reason: str) -> list[_Agent]:
        """Stop ringing every agent of the call (no miss counted); returns them for re-use."""
        call.timers.pop(_RING, None)
        agents = []
        for agent_id in call.offered_to:
            agent = self._agents[agent_id]
            agent.offered_call = None
            self._out.append(A.CancelOffer(call.id, agent_id, reason))
            agents.append(agent)
        call.offered_to = []
        return agents

    def _return_call(self, call: _Call, agent_ids: list[str], reason: str) -> None:
        """Back to the very front of its queue after a failed offer, then to the next agent."""
        call.timers.pop(_RING, None)
        call.returned = True
        self._emit(
            E.CallReturned(
                at=self._wall(), call_id=call.id, queue_id=call.queue.cfg.id, agent_ids=tuple(agent_ids),
                reason=reason,
            )
        )
        max_wait = call.queue.cfg.max_wait
        if max_wait is not None and not call.callback_number and self._now >= call.enqueued_at + max_wait:
            call.expired = "max_wait"  # ran out while ringing, before its timer was ever armed
        if call.expired:
            cfg = call.queue.cfg
            action = cfg.on_max_wait if call.expired == "max_wait" else cfg.on_no_agent
            self._overflow(call, action, call.expired)
            return
        self._route_or_wait(call)

    def _release_agent(self, agent: _Agent, reason: str, max_misses: int = 0) -> None:
        if max_misses and agent.misses >= max_misses:
            self._set_state(agent, AgentState.PAUSED, _NO_ANSWER_REASON, _SYSTEM)
        else:
            self._make_available(agent, reason, _SYSTEM)

    def _fail_offer(
        self, call: _Call, agent_ids: list[str], reason: str, cancel: bool, missed: bool, release: bool = True
    ) -> None:
        """Some or all ringing agents did not take the call; `release=False` leaves them to the caller."""
        released: list[_Agent] = []
        for agent_id in agent_ids:
            if agent_id not in call.offered_to:
                continue
            call.offered_to.remove(agent_id)
            agent = self._agents[agent_id]
            agent.offered_call = None
            if cancel:
                self._out.append(A.CancelOffer(call.id, agent_id, reason))
            if missed:
                agent.misses += 1
                call.missed_by.add(agent_id)
                self._emit(
                    E.AgentMissedCall(at=self._wall(), agent_id=agent_id, call_id=call.id, misses=agent.misses)
                )
            released.append(agent)
        max_misses = call.queue.cfg.max_misses if missed else 0
        if release and not call.offered_to and call.queue.cfg.strategy is Strategy.RING_ALL:
            # Ring-all rings everyone idle again, those who just let it ring included. So they are released
            # first (the call is in no pool meanwhile, so each takes another waiting call it has not missed,
            # or goes idle), and then the call comes back and rings whoever is idle.
            for agent in released:
                if agent.state is AgentState.RINGING:
                    self._release_agent(agent, reason, max_misses)
            self._return_call(call, agent_ids, reason)
            return
        if not call.offered_to:
            self._return_call(call, agent_ids, reason)
        if not release:
            return
        for agent in released:
            if agent.state is AgentState.RINGING:
                self._release_agent(agent, reason, max_misses)

    # Command handlers: calls --------------------------------------------------

    def _on_call_arrived(self, cmd: C.CallArrived) -> None:
        q = self._queue(cmd.queue_id)
        if not q.active:
            raise UnknownQueue(cmd.queue_id)
        if cmd.call_id in self._calls:
            return  # a repeated report of a call already in the ACD
        cfg = q.cfg
        priority, source = cmd.priority, ""
        sources = cfg.vip_sources
        vip_levels: list[tuple[int, str]] = []
        if VipSource.GLOBAL_LIST in sources and cmd.caller in self._global_vip:
            vip_levels.append((self._settings.vip_priority, VipSource.GLOBAL_LIST.value))
        if VipSource.QUEUE_LIST in sources and cmd.caller in q.vip_numbers:
            vip_levels.append((cfg.vip_priority, VipSource.QUEUE_LIST.value))
        if VipSource.DID in sources and cmd.did_vip:
            vip_levels.append((cfg.vip_priority, VipSource.DID.value))
        for level, name in vip_levels:
            if level > priority:
                priority, source = level, name
        own_req = normalise_requirement(cmd.skills) if cmd.skills is not None else None
        pool = self._pool(q, own_req if own_req is not None else q.req)
        call = _Call(
            cmd.call_id, q, pool, cmd.caller, cmd.area, cmd.account_manager, own_req, priority, source, self._now
        )
        self._calls[call.id] = call
        if VipSource.CRM in sources and cmd.caller:
            call.vip_pending = True
            timeout = self._settings.vip_lookup_timeout
            self._schedule(call.timers, _VIP, call.id, self._now + timeout)
            self._out.append(A.LookupVip(call.id, cmd.caller, cfg.id, timeout))
        self._enter_queue(call, q)

    def _on_caller_hung_up(self, cmd: C.CallerHungUp) -> None:
        call = self._calls.get(cmd.call_id)
        if call is None or call.callback_number:
            return  # already gone, or a callback ticket whose caller leg was released on purpose
        ringing = bool(call.offered_to)
        agents = self._withdraw_offer(call, "caller_hung_up")
        self._emit(
            E.CallAbandoned(
                at=self._wall(), call_id=call.id, queue_id=call.queue.cfg.id, wait=self._now - call.arrived_at,
                while_ringing=ringing,
            )
        )
        self._finish(call)
        for agent in agents:
            self._make_available(agent, "caller_hung_up", _SYSTEM)

    def _on_voicemail_chosen(self, cmd: C.CallerChoseVoicemail) -> None:
        call = self._calls.get(cmd.call_id)
        if call is None or call.callback_number:
            return
        agents = self._withdraw_offer(call, "caller_choice")
        cfg = call.queue.cfg
        self._overflow(call, OverflowAction(OverflowKind.VOICEMAIL, cfg.voicemail_box), "caller_choice")
        for agent in agents:
            self._make_available(agent, "caller_choice", _SYSTEM)

    def _on_callback_requested(self, cmd: C.CallbackRequested) -> None:
        call = self._calls.get(cmd.call_id)
        reason = ""
        if call is None or not call.waiting:
            reason = "not_waiting"
        elif call.callback_number:
            reason = "duplicate"
        elif not call.queue.cfg.callback_key:
            reason = "not_offered"
        elif cmd.number in self._callbacks:
            reason = "duplicate"
        if reason:
            self._out.append(A.RefuseCallback(cmd.call_id, cmd.number, reason))
            self._emit(E.CallbackRefused(at=self._wall(), call_id=cmd.call_id, number=cmd.number, reason=reason))
            return
        assert call is not None
        call.callback_number = cmd.number
        self._callbacks[cmd.number] = call.id
        for k in (_MAX_WAIT, _NO_AGENT, _ANNOUNCE):
            call.timers.pop(k, None)
        position = self._position(call, call.pool.calls.key(call.id))
        self._out.append(A.AcceptCallback(call.id, cmd.number))
        self._emit(
            E.CallbackRegistered(
                at=self._wall(), call_id=call.id, queue_id=call.queue.cfg.id, number=cmd.number,
                position=position,
            )
        )

    def _on_callback_cancelled(self, cmd: C.CallbackCancelled) -> None:
        call = self._calls.get(cmd.call_id)
        if call is None or not call.callback_number:
            return
        agents = self._withdraw_offer(call, "callback_cancelled")
        self._emit(
            E.CallAbandoned(
                at=self._wall(), call_id=call.id, queue_id=call.queue.cfg.id, wait=self._now - call.arrived_at,
                while_ringing=bool(agents), reason="callback_cancelled",
            )
        )
        self._finish(call)
        for agent in agents:
            self._make_available(agent, "callback_cancelled", _SYSTEM)

    def _on_vip_result(self, cmd: C.VipLookupResult) -> None:
        call = self._calls.get(cmd.call_id)
        if call is None or not call.vip_pending:
            return  # late (after the timeout) or for a call already served: normal priority stands
        call.vip_pending = False
        call.timers.pop(_VIP, None)
        if not cmd.vip:
            return
        level = cmd.priority if cmd.priority is not None else call.queue.cfg.vip_priority
        if level <= call.priority:
            return
        call.priority, call.vip_source = level, VipSource.CRM.value
        if call.waiting:
            call.pool.calls.add(self._call_key(call))
        self._emit(
            E.CallPriorityRaised(
                at=self._wall(), call_id=call.id, queue_id=call.queue.cfg.id, priority=level,
                source=VipSource.CRM.value,
            )
        )

    def _on_offer_answered(self, cmd: C.OfferAnswered) -> None:
        call = self._calls.get(cmd.call_id)
        if call is None or cmd.agent_id not in call.offered_to:
            # The offer was already withdrawn (timeout, caller gone): call control drops the agent leg.
            self._out.append(A.CancelOffer(cmd.call_id, cmd.agent_id, "stale"))
            return
        agent = self._agents[cmd.agent_id]
        q = call.queue
        others = [self._agents[a] for a in call.offered_to if a != cmd.agent_id]
        for other in others:
            other.offered_call = None
            self._out.append(A.CancelOffer(call.id, other.profile.id, "answered_elsewhere"))
        call.offered_to = []
        agent.offered_call = None
        agent.misses = 0
        agent.answered += 1
        agent.answered_by_queue[q.cfg.id] = agent.answered_by_queue.get(q.cfg.id, 0) + 1
        agent.current_call, agent.call_queue, agent.call_started = call.id, q.cfg.id, self._now
        self._set_state(agent, AgentState.ON_CALL, call.id)
        if Modifier.LAST_SERVED in q.cfg.modifiers and call.caller:
            memory = q.last_served
            memory.pop(call.caller, None)
            memory[call.caller] = agent.profile.id
            if len(memory) > self._settings.last_served_memory:
                del memory[next(iter(memory))]  # dicts keep insertion order: drop the oldest
        self._emit(
            E.CallAnswered(
                at=self._wall(), call_id=call.id, queue_id=q.cfg.id, agent_id=agent.profile.id,
                wait=self._now - call.arrived_at, attempts=call.attempts, callback_number=call.callback_number,
            )
        )
        if call.callback_number:
            self._out.append(A.DialCallback(call.id, agent.profile.id, call.callback_number))
        self._finish(call)
        for other in others:
            self._make_available(other, "answered_elsewhere", _SYSTEM)

    def _on_offer_failed(self, cmd: C.OfferFailed) -> None:
        call = self._calls.get(cmd.call_id)
        if call is None or cmd.agent_id not in call.offered_to:
            return
        self._fail_offer(call, [cmd.agent_id], cmd.reason, cancel=False, missed=True)

    def _on_call_completed(self, cmd: C.CallCompleted) -> None:
        agent = self._agent(cmd.agent_id)
        if agent.current_call != cmd.call_id:
            return  # stale or repeated report
        queue_id, agent.current_call, agent.call_queue = agent.call_queue, None, None
        q = self._queues.get(queue_id) if queue_id is not None else None
        if q is not None:
            # A running average of talk time feeds the expected-wait announcement.
            q.avg_handle += 0.05 * ((self._now - agent.call_started) - q.avg_handle)
        if agent.state is AgentState.DISCONNECTED:
            agent.resume_state, agent.resume_reason = AgentState.IDLE, ""
            return
        if agent.state is not AgentState.ON_CALL:
            return
        if q is None:
            # After a call the ACD did not route: back to where the agent was.
            if agent.resume_state is AgentState.PAUSED and not agent.pending_pause:
                self._set_state(agent, AgentState.PAUSED, agent.resume_reason, _SYSTEM)
                return
            self._make_available(agent, "call_ended", _SYSTEM)
            return
        cfg = q.cfg
        if agent.pending_pause:
            self._make_available(agent, "call_ended")
        elif cfg.wrap_up_manual:
            self._set_state(agent, AgentState.WRAP_UP, "manual", _SYSTEM)
        elif cfg.wrap_up > 0:
            self._set_state(agent, AgentState.WRAP_UP, "timed", _SYSTEM)
            self._schedule(agent.timers, _WRAP, agent.profile.id, self._now + cfg.wrap_up)
        else:
            self._make_available(agent, "call_ended", _SYSTEM)

    def _on_other_call(self, cmd: C.AgentStartedOtherCall) -> None:
        agent = self._agent(cmd.agent_id)
        if agent.state not in (AgentState.IDLE, AgentState.PAUSED, AgentState.WRAP_UP):
            raise InvalidAgentState(cmd.agent_id, agent.state.value, "start a call")
        agent.resume_state, agent.resume_reason = agent.state, agent.reason
        agent.timers.pop(_WRAP, None)
        agent.current_call, agent.call_queue, agent.call_started = cmd.call_id, None, self._now
        self._set_state(agent, AgentState.ON_CALL, cmd.kind)

    def _on_outbound_requested(self, cmd: C.OutboundAgentRequested) -> None:
        reserve = self._settings.reserved_idle_for_inbound
        candidates: dict[str, _Agent] = {}
        if cmd.queue_ids:
            for qid in cmd.queue_ids:
                q = self._queues.get(qid)
                if q is None:
                    continue
                for agent_id in q.logged_in:
                    agent = self._agents[agent_id]
                    if agent.state is AgentState.IDLE:
                        candidates[agent_id] = agent
            idle = len(candidates)
        else:
            idle = self._idle_count
        reason = ""
        if idle == 0:
            reason = "no_idle_agent"
        elif idle <= reserve:
            reason = "reserve"  # 保留最少空闲座席数: these agents stay free for inbound calls
        if reason:
            self._out.append(A.DenyOutbound(cmd.request_id, reason))
            self._emit(E.OutboundDecided(at=self._wall(), request_id=cmd.request_id, agent_id="", reason=reason))
            return
        if not candidates:
            candidates = {a.profile.id: a for a in self._agents.values() if a.state is AgentState.IDLE}
        chosen = min(candidates.values(), key=lambda a: (a.idle_since or 0.0, a.login_seq))
        chosen.resume_state, chosen.resume_reason = AgentState.IDLE, ""
        chosen.current_call, chosen.call_queue, chosen.call_started = cmd.request_id, None, self._now
        self._set_state(chosen, AgentState.ON_CALL, "outbound", _SYSTEM)
        self._out.append(A.GrantOutbound(cmd.request_id, chosen.profile.id))
        self._emit(
            E.OutboundDecided(at=self._wall(), request_id=cmd.request_id, agent_id=chosen.profile.id)
        )

    # Command handlers: agents --------------------------------------------------

    def _check_reason(self, reason: str) -> None:
        if reason not in self._pause_codes and reason != _NO_ANSWER_REASON:
            raise UnknownPauseReason(reason)

    def _on_login(self, cmd: C.AgentLoggedIn) -> None:
        agent = self._agent(cmd.agent_id)
        if cmd.paused_reason:
            self._check_reason(cmd.paused_reason)
        if agent.state is AgentState.DISCONNECTED:
            self._reconnect(agent)
            return
        if agent.state is not AgentState.LOGGED_OUT:
            return  # already logged in: logging in twice changes nothing
        self._login_seq += 1
        agent.login_seq = self._login_seq
        agent.logged_in_at = self._now
        agent.answered, agent.answered_by_queue, agent.misses = 0, {}, 0
        agent.pending_pause = ""
        self._join_pools(agent)
        if cmd.paused_reason:
            self._set_state(agent, AgentState.PAUSED, cmd.paused_reason)
        else:
            self._make_available(agent, "login")

    def _logout(self, agent: _Agent, reason: str, by: str) -> None:
        if agent.state is AgentState.LOGGED_OUT:
            return
        if agent.offered_call is not None:
            call = self._calls[agent.offered_call]
            self._fail_offer(call, [agent.profile.id], reason, cancel=True, missed=False, release=False)
        self._leave_pools(agent)
        agent.timers.clear()
        agent.pending_pause = ""
        agent.current_call = agent.call_queue = None
        agent.logged_in_at = None
        self._set_state(agent, AgentState.LOGGED_OUT, reason, by)

    def _on_logout(self, cmd: C.AgentLoggedOut) -> None:
        self._logout(self._agent(cmd.agent_id), "logout", "")

    def _pause(self, agent: _Agent, reason: str, by: str) -> None:
        state = agent.state
        if state is AgentState.RINGING:
            call = self._calls[agent.offered_call] if agent.offered_call else None
            agent.pending_pause, agent.pending_by = reason, by
            if call is not None:
                self._fail_offer(call, [agent.profile.id], "paused", cancel=True, missed=False)
            return
        if state is AgentState.ON_CALL:
            agent.pending_pause, agent.pending_by = reason, by
            return
        agent.timers.pop(_WRAP, None)
        self._set_state(agent, AgentState.PAUSED, reason, by)

    def _on_pause(self, cmd: C.AgentPaused) -> None:
        agent = self._agent(cmd.agent_id)
        self._check_reason(cmd.reason)
        if agent.state in (AgentState.LOGGED_OUT, AgentState.DISCONNECTED, AgentState.RINGING):
            raise InvalidAgentState(cmd.agent_id, agent.state.value, "pause")
        self._pause(agent, cmd.reason, "")

    def _on_unpause(self, cmd: C.AgentUnpaused) -> None:
        agent = self._agent(cmd.agent_id)
        if agent.state is AgentState.ON_CALL and agent.pending_pause:
            agent.pending_pause = ""
            return
        if agent.state is not AgentState.PAUSED:
            raise InvalidAgentState(cmd.agent_id, agent.state.value, "unpause")
        busy_for = self._now - agent.paused_at
        if busy_for < self._settings.min_busy:
            raise MinBusyNotReached(cmd.agent_id, self._settings.min_busy - busy_for)
        agent.misses = 0
        self._make_available(agent, "unpause")

    def _on_wrap_up_ended(self, cmd: C.WrapUpEnded) -> None:
        agent = self._agent(cmd.agent_id)
        if agent.state is not AgentState.WRAP_UP:
            raise InvalidAgentState(cmd.agent_id, agent.state.value, "end wrap-up")
        agent.timers.pop(_WRAP, None)
        self._make_available(agent, "wrap_up_ended")

    def _on_disconnected(self, cmd: C.AgentDisconnected) -> None:
        agent = self._agent(cmd.agent_id)
        if agent.state in (AgentState.LOGGED_OUT, AgentState.DISCONNECTED):
            return
        if agent.offered_call is not None:
            call = self._calls[agent.offered_call]
            self._fail_offer(call, [agent.profile.id], "agent_disconnected", cancel=True, missed=False, release=False)
        # What the agent returns to; counters, login time and idle-since stay on the agent untouched.
        if agent.state is AgentState.PAUSED:
            agent.resume_state, agent.resume_reason = AgentState.PAUSED, agent.reason
        elif agent.state is AgentState.ON_CALL:
            agent.resume_state, agent.resume_reason = AgentState.ON_CALL, agent.reason
        else:
            agent.resume_state, agent.resume_reason = AgentState.IDLE, ""
        agent.timers.pop(_WRAP, None)
        grace = self._settings.disconnect_grace
        if grace <= 0:
            self._logout(agent, "disconnected", _SYSTEM)
            return
        idle_since = agent.idle_since
        self._set_state(agent, AgentState.DISCONNECTED, "disconnected", _SYSTEM)
        agent.idle_since = idle_since
        self._schedule(agent.timers, _GRACE, agent.profile.id, self._now + grace)

    def _reconnect(self, agent: _Agent) -> None:
        agent.timers.pop(_GRACE, None)
        resume = agent.resume_state
        if resume is AgentState.PAUSED:
            paused_at = agent.paused_at
            self._set_state(agent, AgentState.PAUSED, agent.resume_reason, _SYSTEM)
            agent.paused_at = paused_at  # the minimum busy time counts from the original pause
        elif resume is AgentState.ON_CALL:
            self._set_state(agent, AgentState.ON_CALL, agent.resume_reason, _SYSTEM)
        else:
            self._make_available(agent, "reconnected", _SYSTEM)

    def _on_reconnected(self, cmd: C.AgentReconnected) -> None:
        agent = self._agent(cmd.agent_id)
        if agent.state is AgentState.DISCONNECTED:
            self._reconnect(agent)

    def _on_force_idle(self, cmd: C.SupervisorForcedIdle) -> None:
        agent = self._agent(cmd.agent_id)
        state = agent.state
        if state in (AgentState.LOGGED_OUT, AgentState.RINGING, AgentState.DISCONNECTED):
            raise InvalidAgentState(cmd.agent_id, state.value, "be forced idle")
        if state is AgentState.ON_CALL:
            agent.pending_pause = ""  # idle after the call instead of the pause asked for
            return
        if state is AgentState.IDLE:
            return
        agent.timers.pop(_WRAP, None)
        agent.misses = 0
        agent.pending_pause = ""
        self._make_available(agent, "forced_idle", cmd.supervisor_id)

    def _on_force_busy(self, cmd: C.SupervisorForcedBusy) -> None:
        agent = self._agent(cmd.agent_id)
        self._check_reason(cmd.reason)
        if agent.state in (AgentState.LOGGED_OUT, AgentState.DISCONNECTED):
            raise InvalidAgentState(cmd.agent_id, agent.state.value, "be forced busy")
        self._pause(agent, cmd.reason, cmd.supervisor_id)

    def _on_force_logout(self, cmd: C.SupervisorForcedLogout) -> None:
        self._logout(self._agent(cmd.agent_id), "forced_logout", cmd.supervisor_id)

    # Timers -------------------------------------------------------------------

    def _fire_call_timer(self, call: _Call, kind: int) -> None:
        if kind == _RING:
            self._fail_offer(call, list(call.offered_to), "ring_timeout", cancel=True, missed=True)
        elif kind == _MAX_WAIT:
            if call.offered_to:
                call.expired = "max_wait"  # let the ringing agent answer; act if the offer fails
            else:
                self._overflow(call, call.queue.cfg.on_max_wait, "max_wait")
        elif kind == _NO_AGENT:
            if call.offered_to:
                call.expired = "no_agent"
            elif not call.pool.members:
                self._overflow(call, call.queue.cfg.on_no_agent, "no_agent")
        elif kind == _ANNOUNCE:
            interval = call.queue.cfg.announce_interval
            if interval:
                self._schedule(call.timers, _ANNOUNCE, call.id, self._now + interval)
            if call.waiting:
                self._announce(call)
        elif kind == _VIP:
            call.vip_pending = False
            self._emit(E.VipLookupTimedOut(at=self._wall(), call_id=call.id, queue_id=call.queue.cfg.id))

    def _fire_agent_timer(self, agent: _Agent, kind: int) -> None:
        if kind == _WRAP:
            if agent.state is AgentState.WRAP_UP:
                self._make_available(agent, "wrap_up_timeout", _SYSTEM)
        elif kind == _GRACE and agent.state is AgentState.DISCONNECTED:
            self._logout(agent, "disconnect_timeout", _SYSTEM)


def _skill_map(profile: AgentProfile) -> dict[str, int]:
    skills: dict[str, int] = {}
    for s in profile.skills:
        skills[s.skill] = max(skills.get(s.skill, 0), s.level)
    return skills


def _satisfies(agent: _Agent, req: Requirement) -> bool:
    skills = agent.skills
    return all(skills.get(r.skill, -1) >= r.min_level for r in req)
