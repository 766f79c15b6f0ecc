"""Waiting calls: pools, service order, positions, priority (VIP), announcements and waiting limits.

Call order in a pool: returned calls (an agent failed to answer) first, then higher priority, then FIFO or
LIFO. An agent in several queues serves the higher queue priority first, then the returned/priority order,
then the call that arrived first. This module keeps that order and the timers of a waiting call; moving a
call to an agent or out of the ACD is `appliance.acd.dispatch`.
"""

from __future__ import annotations

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.context import Context
from appliance.acd.index import CallKey
from appliance.acd.models import AgentState, QueueOrder, VipSource
from appliance.acd.runtime import ANNOUNCE, MAX_WAIT, NO_AGENT, VIP, Agent, Call, Pool, Queue, Requirement
from appliance.acd.strategies import agent_key, index_in

_NOT_STAFFING = (AgentState.PAUSED, AgentState.DISCONNECTED)  # logged in but taking no calls for now


class Queueing:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def pool(self, q: Queue, req: Requirement) -> Pool:
        """The pool of `q` for `req`, made on first use with the logged-in agents able to serve it."""
        pool = q.pools.get(req)
        if pool is None:
            ctx = self._ctx
            pool = Pool(q, req)
            q.pools[req] = pool
            for agent_id in q.logged_in:
                agent = ctx.agents[agent_id]
                if agent.satisfies(req):
                    pool.members.add(agent_id)
                    agent.pools.append(pool)
                    if agent.indexed:
                        index_in(agent, pool, agent_key(agent, q, ctx.now))
        return pool

    # Order --------------------------------------------------------------------------------

    def call_key(self, call: Call) -> CallKey:
        seq = -call.seq if call.queue.cfg.order is QueueOrder.LIFO else call.seq
        return (0 if call.returned else 1, -call.priority, seq, call.id)

    def position(self, call: Call) -> int:
        """1-based place among the queue's waiting calls (of a waiting call, or of one that would wait)."""
        key = call.pool.calls.key(call.id) if call.waiting else self.call_key(call)
        return 1 + sum(pool.calls.rank(key) for pool in call.queue.pools.values())

    def waiting_in(self, q: Queue) -> list[str]:
        keyed: list[tuple[CallKey, str]] = []
        for pool in q.pools.values():
            keyed.extend((pool.calls.key(cid), cid) for cid in pool.calls)
        keyed.sort()
        return [cid for _, cid in keyed]

    def best_call_for(self, agent: Agent) -> Call | None:
        agent_id = agent.profile.id
        calls = self._ctx.calls
        # First the head of each queue (its pools share one key space, FIFO or LIFO), then across queues:
        # queue priority, returned/priority rank, then the older call. Comparing pool heads across queues
        # directly would not be transitive when a queue is LIFO.
        heads: dict[str, tuple[bool, CallKey, Call]] = {}
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
        best: Call | None = None
        best_key: tuple[bool, int, int, int, int] | None = None
        for missed, head, call in heads.values():
            key = (missed, -call.queue.cfg.priority, head[0], head[1], call.seq)
            if best_key is None or key < best_key:
                best, best_key = call, key
        return best

    # Waiting ------------------------------------------------------------------------------

    def enqueue_waiting(self, call: Call) -> None:
        call.pool.calls.add(self.call_key(call))
        call.waiting = True
        call.queue.waiting += 1
        if not call.callback_number:
            self._arm_wait_timers(call)

    def _arm_wait_timers(self, call: Call) -> None:
        """Waiting limits and announcements, armed the first time a call really waits.

        Most calls in a well-staffed centre go to an agent on arrival; not arming their timers saves three
        heap entries per call. The maximum wait still counts from entry into the queue.
        """
        ctx = self._ctx
        cfg = call.queue.cfg
        timers = call.timers
        if cfg.max_wait is not None and MAX_WAIT not in timers and not call.expired:
            ctx.schedule(timers, MAX_WAIT, call.id, call.enqueued_at + cfg.max_wait)
        if cfg.max_wait_no_agent is not None and NO_AGENT not in timers and not call.pool.members:
            ctx.schedule(timers, NO_AGENT, call.id, ctx.now + cfg.max_wait_no_agent)
        if cfg.announce_interval and ANNOUNCE not in timers:
            ctx.schedule(timers, ANNOUNCE, call.id, ctx.now + cfg.announce_interval)

    def drop_wait_timers(self, call: Call) -> None:
        """A callback ticket, or a call moving to another queue, is no longer held to this queue's limits."""
        for kind in (MAX_WAIT, NO_AGENT, ANNOUNCE):
            call.timers.pop(kind, None)

    def dequeue_waiting(self, call: Call) -> None:
        if call.waiting:
            call.pool.calls.discard(call.id)
            call.waiting = False
            call.queue.waiting -= 1

    def staffed(self, pool: Pool) -> None:
        """The first agent able to serve this pool logged in: the no-agent limit no longer runs."""
        for cid in pool.calls:
            self._ctx.calls[cid].timers.pop(NO_AGENT, None)

    def unstaffed(self, pool: Pool) -> None:
        limit = pool.queue.cfg.max_wait_no_agent
        if limit is None:
            return
        ctx = self._ctx
        for cid in list(pool.calls):
            call = ctx.calls[cid]
            if not call.callback_number:
                ctx.schedule(call.timers, NO_AGENT, cid, ctx.now + limit)

    def announce(self, call: Call) -> None:
        ctx = self._ctx
        q = call.queue
        cfg = q.cfg
        position = self.position(call)
        staffed = 0
        for agent_id in q.logged_in:
            if ctx.agents[agent_id].state not in _NOT_STAFFING:
                staffed += 1
        # Expected wait: the calls ahead (and this one) share the staffed agents, each taking an average
        # handle time; a plain and explainable estimate (Asterisk's holdtime announcement is similar).
        ewt = position * q.avg_handle / max(1, staffed)
        ctx.out.append(A.AnnouncePosition(call.id, position, ewt, cfg.voicemail_key, cfg.callback_key))

    def announce_due(self, call: Call) -> None:
        interval = call.queue.cfg.announce_interval
        if interval:
            self._ctx.schedule(call.timers, ANNOUNCE, call.id, self._ctx.now + interval)
        if call.waiting:
            self.announce(call)

    def finish(self, call: Call) -> None:
        """The call leaves the ACD for good."""
        ctx = self._ctx
        self.dequeue_waiting(call)
        call.timers.clear()
        if call.callback_number and ctx.callbacks.get(call.callback_number) == call.id:
            del ctx.callbacks[call.callback_number]
        del ctx.calls[call.id]

    def learn_handle_time(self, q: Queue, talk: float) -> None:
        # A running average of talk time feeds the expected-wait announcement.
        q.avg_handle += 0.05 * (talk - q.avg_handle)

    # Priority -----------------------------------------------------------------------------

    def classify(self, cmd: C.CallArrived, q: Queue) -> tuple[int, str]:
        """The arriving call's priority and VIP source ("" when not VIP): the highest VIP level applies."""
        ctx = self._ctx
        cfg = q.cfg
        priority, source = cmd.priority, ""
        sources = cfg.vip_sources
        vip_levels: list[tuple[int, str]] = []
        if VipSource.GLOBAL_LIST in sources and cmd.caller in ctx.global_vip:
            vip_levels.append((ctx.settings.vip_priority, VipSource.GLOBAL_LIST.value))
        if VipSource.QUEUE_LIST in sources and cmd.caller in q.vip_numbers:
            vip_levels.append((cfg.vip_priority, VipSource.QUEUE_LIST.value))
        if VipSource.DID in sources and cmd.did_vip:
            vip_levels.append((cfg.vip_priority, VipSource.DID.value))
        for level, name in vip_levels:
            if level > priority:
                priority, source = level, name
        return priority, source

    def ask_crm(self, call: Call) -> None:
        """A CRM look-up never holds the call: it routes at normal priority while the answer is awaited."""
        ctx = self._ctx
        if VipSource.CRM in call.queue.cfg.vip_sources and call.caller:
            call.vip_pending = True
            timeout = ctx.settings.vip_lookup_timeout
            ctx.schedule(call.timers, VIP, call.id, ctx.now + timeout)
            ctx.out.append(A.LookupVip(call.id, call.caller, call.queue.cfg.id, timeout))

    def on_vip_result(self, cmd: C.VipLookupResult) -> None:
        ctx = self._ctx
        call = ctx.calls.get(cmd.call_id)
        if call is None or not call.vip_pending:
            return  # late (after the timeout) or for a call already served: normal priority stands
        call.vip_pending = False
        call.timers.pop(VIP, None)
        if not cmd.vip:
            return
        level = cmd.priority if cmd.priority is not None else call.queue.cfg.vip_priority
        if level <= call.priority:
            return
        call.priority, call.vip_source = level, VipSource.CRM.value
        if call.waiting:
            call.pool.calls.add(self.call_key(call))
        ctx.emit(
            E.CallPriorityRaised(
                at=ctx.wall(), call_id=call.id, queue_id=call.queue.cfg.id, priority=level,
                source=VipSource.CRM.value,
            )
        )

    def vip_timed_out(self, call: Call) -> None:
        call.vip_pending = False
        ctx = self._ctx
        ctx.emit(E.VipLookupTimedOut(at=ctx.wall(), call_id=call.id, queue_id=call.queue.cfg.id))
