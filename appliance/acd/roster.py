"""Agents' states and memberships: every state change, the agent log line it makes, and the pools and idle
indexes that must follow it.

What an agent may do in which state is `appliance.acd.transitions`; what happens around a change (offering
the next call, failing an offer) is `appliance.acd.dispatch` and `appliance.acd.lifecycle`.
"""

from __future__ import annotations

from appliance.acd import events as E
from appliance.acd.context import Context
from appliance.acd.index import AgentIndex
from appliance.acd.models import AgentProfile, AgentState
from appliance.acd.queueing import Queueing
from appliance.acd.runtime import Agent, Queue
from appliance.acd.strategies import agent_key, index, index_in, unindex

_IDLE, _PAUSED = AgentState.IDLE, AgentState.PAUSED


class Roster:
    def __init__(self, ctx: Context, queueing: Queueing) -> None:
        self._ctx = ctx
        self._queueing = queueing
        self.counts: dict[AgentState, int] = dict.fromkeys(AgentState, 0)  # agents per state, kept current

    def add(self, profile: AgentProfile) -> None:
        self._ctx.agents[profile.id] = Agent.of(profile)
        self.counts[AgentState.LOGGED_OUT] += 1

    def set_state(self, agent: Agent, new: AgentState, reason: str = "", by: str = "") -> None:
        # The engine's hottest function (several times per call): attributes read once, ctx.emit inlined.
        ctx = self._ctx
        old = agent.state
        now = ctx.now
        if old is _IDLE:
            if new is not _IDLE and agent.indexed:
                unindex(agent)
        elif new is _IDLE:
            agent.idle_since = now
        counts = self.counts
        counts[old] -= 1
        counts[new] += 1
        if new is _PAUSED and old is not _PAUSED:
            agent.paused_at = now
        offset = ctx.wall_offset
        since = agent.since
        event = E.AgentStateChanged(
            # The states are StrEnum members, so they are already the strings records store.
            at=now + offset, agent_id=agent.profile.id, old=old, new=new, reason=reason, since=since + offset,
            duration=now - since, by=by,
        )
        sink = ctx.sink
        if sink is not None:
            sink(event)
        else:
            ctx.events.append(event)
        agent.state, agent.reason, agent.since = new, reason, now

    def index(self, agent: Agent) -> None:
        index(agent, self._ctx.now)

    def reindex(self, q: Queue) -> None:
        """The queue's strategy or modifiers changed: its idle agents sort by the new key."""
        ctx = self._ctx
        for pool in q.pools.values():
            pool.idle, pool.by_area = AgentIndex(), {}
            for agent_id in pool.members:
                agent = ctx.agents[agent_id]
                if agent.indexed:
                    index_in(agent, pool, agent_key(agent, q, ctx.now))

    def join_pools(self, agent: Agent) -> None:
        ctx = self._ctx
        agent_id = agent.profile.id
        agent.pools = []
        for qid in agent.profile.queues:
            q = ctx.queues.get(qid)
            if q is None:
                continue
            q.logged_in.add(agent_id)
            if agent_id not in q.member_pos:
                q.member_pos[agent_id] = len(q.member_pos)
            for pool in q.pools.values():
                if agent.satisfies(pool.req):
                    if not pool.members:
                        self._queueing.staffed(pool)
                    pool.members.add(agent_id)
                    agent.pools.append(pool)

    def leave_pools(self, agent: Agent) -> None:
        ctx = self._ctx
        agent_id = agent.profile.id
        if agent.indexed:
            unindex(agent)
        for pool in agent.pools:
            pool.members.discard(agent_id)
            if not pool.members:
                self._queueing.unstaffed(pool)
        for qid in agent.profile.queues:
            q = ctx.queues.get(qid)
            if q is not None:
                q.logged_in.discard(agent_id)
        agent.pools = []
