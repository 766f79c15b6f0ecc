"""Agent selection: which idle agent (or agents) a call is offered to.

Modifiers apply first in fixed precedence (account manager, last served, locality, level), then the queue's
one strategy. The strategy is mostly decided ahead of time: each pool keeps its idle agents sorted by the
strategy's key (`agent_key`), so picking is taking the first entry, a random one of the best tier, or the
next one round the ring. An agent who already missed this call is chosen only if no one else is idle.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from appliance.acd.index import AgentIndex, AgentKey
from appliance.acd.models import Modifier, Strategy
from appliance.acd.runtime import Agent, Call, Pool, Queue


def agent_key(agent: Agent, q: Queue, now: float) -> AgentKey:
    """Where an idle agent sorts among a queue's idle agents (see `appliance.acd.index`)."""
    cfg = q.cfg
    tier = -agent.profile.level if Modifier.LEVEL in cfg.modifiers else 0
    agent_id = agent.profile.id
    strategy = cfg.strategy
    idle_since = agent.idle_since if agent.idle_since is not None else now
    if strategy is Strategy.LONGEST_IDLE:
        return (tier, idle_since, agent.login_seq, agent_id)
    if strategy is Strategy.FEWEST_ANSWERED:
        return (tier, agent.answered_by_queue.get(cfg.id, 0), idle_since, agent_id)
    if strategy is Strategy.ROUND_ROBIN:
        return (tier, q.member_pos[agent_id], 0.0, agent_id)
    return (tier, agent.login_seq, 0.0, agent_id)


def index_in(agent: Agent, pool: Pool, key: AgentKey) -> None:
    pool.idle.add(key)
    locality = agent.profile.locality
    if locality and Modifier.LOCALITY in pool.queue.cfg.modifiers:
        sub = pool.by_area.get(locality)
        if sub is None:
            sub = pool.by_area[locality] = AgentIndex()
        sub.add(key)


def index(agent: Agent, now: float) -> None:
    """List an idle agent in every pool it belongs to (one key per queue: its pools share the strategy)."""
    keys: dict[str, AgentKey] = {}
    for pool in agent.pools:
        q = pool.queue
        key = keys.get(q.cfg.id)
        if key is None:
            key = keys[q.cfg.id] = agent_key(agent, q, now)
        index_in(agent, pool, key)
    agent.indexed = True


def unindex(agent: Agent) -> None:
    agent_id, locality = agent.profile.id, agent.profile.locality
    for pool in agent.pools:
        pool.idle.discard(agent_id)
        if locality:
            sub = pool.by_area.get(locality)
            if sub is not None:
                sub.discard(agent_id)
    agent.indexed = False


def pick_agents(call: Call, rng: Random) -> list[str]:
    """The agents to ring for `call` now: one, the ring-all group, or none idle."""
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
    idle = pool.idle
    if Modifier.LOCALITY in mods and call.area:
        local = pool.by_area.get(call.area)
        if local:
            idle = local
    strategy = cfg.strategy
    if strategy is Strategy.RING_ALL:
        group = idle.top_tier() if Modifier.LEVEL in mods else list(idle)
        if avoid is not None:
            group = [a for a in group if not avoid(a)] or group
        return group
    if strategy is Strategy.RANDOM:
        chosen = idle.random(rng, avoid)
    elif strategy is Strategy.ROUND_ROBIN:
        chosen = idle.after(pool.queue.rr_last, avoid)
    else:
        chosen = idle.first(avoid)
    return [chosen] if chosen is not None else []


def note_offer(q: Queue, agent_ids: list[str]) -> None:
    """Round robin remembers whom it rang last, so the next call goes to the agent after."""
    if q.cfg.strategy is Strategy.ROUND_ROBIN:
        q.rr_last = q.member_pos[agent_ids[0]]


def note_served(q: Queue, caller: str, agent_id: str, memory_limit: int) -> None:
    """The last-served modifier remembers who answered each caller, forgetting the oldest past the limit."""
    if Modifier.LAST_SERVED in q.cfg.modifiers and caller:
        memory = q.last_served
        memory.pop(caller, None)
        memory[caller] = agent_id
        if len(memory) > memory_limit:
            del memory[next(iter(memory))]  # dicts keep insertion order: drop the oldest
