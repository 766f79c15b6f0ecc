"""Moving calls: into a queue, to agents (offers and their outcomes), and out of the ACD (overflow, end).

Work-conserving: an agent that becomes idle takes the best waiting call it can serve before it is indexed
as idle, and a call that arrives or comes back takes an idle agent before it is queued, so no idle agent
able to serve a waiting call stays idle. Both directions meet in `offer`.
"""

from __future__ import annotations

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.context import Context
from appliance.acd.errors import UnknownQueue
from appliance.acd.models import AgentState, OverflowAction, OverflowKind, Strategy
from appliance.acd.queueing import Queueing
from appliance.acd.roster import Roster
from appliance.acd.runtime import (
    ANNOUNCE,
    MAX_WAIT,
    NO_AGENT,
    NO_ANSWER_REASON,
    RING,
    SYSTEM,
    VIP,
    Agent,
    Call,
    Queue,
    normalise_requirement,
)
from appliance.acd.strategies import note_offer, note_served, pick_agents
from appliance.errors import Conflict


class Dispatcher:
    def __init__(self, ctx: Context, queueing: Queueing, roster: Roster) -> None:
        self._ctx = ctx
        self._queueing = queueing
        self._roster = roster

    # Agents and calls meeting ---------------------------------------------------------------

    def make_available(self, agent: Agent, reason: str, by: str = "") -> None:
        """Agent becomes idle: take the best waiting call it can serve, else wait in the idle indexes."""
        roster = self._roster
        if agent.pending_pause:
            reason_code, agent.pending_pause = agent.pending_pause, ""
            roster.set_state(agent, AgentState.PAUSED, reason_code, agent.pending_by)
            return
        if agent.state is not AgentState.IDLE:
            roster.set_state(agent, AgentState.IDLE, reason, by)
        call = self._queueing.best_call_for(agent)
        if call is not None:
            self.offer(call, [agent.profile.id])
        else:
            roster.index(agent)

    def route_or_wait(self, call: Call) -> None:
        agents = pick_agents(call, self._ctx.rng)
        if agents:
            self.offer(call, agents)
        else:
            self._queueing.enqueue_waiting(call)

    def offer(self, call: Call, agent_ids: list[str]) -> None:
        ctx = self._ctx
        self._queueing.dequeue_waiting(call)
        q = call.queue
        cfg = q.cfg
        call.offered_to = list(agent_ids)
        call.attempts += 1
        ctx.counters.offers_made += len(agent_ids)
        for agent_id in agent_ids:
            agent = ctx.agents[agent_id]
            agent.offered_call = call.id
            self._roster.set_state(agent, AgentState.RINGING, call.id)
        note_offer(q, agent_ids)
        ctx.schedule(call.timers, RING, call.id, ctx.now + cfg.ring_timeout)
        if cfg.strategy is Strategy.RING_ALL:
            ctx.out.append(
                A.RingAll(call.id, cfg.id, tuple(agent_ids), cfg.ring_timeout, call.caller, call.callback_number)
            )
        else:
            agent = ctx.agents[agent_ids[0]]
            ctx.out.append(
                A.OfferCall(
                    call.id, cfg.id, agent_ids[0], cfg.ring_timeout, call.caller, agent.profile.number,
                    cfg.announce_agent_number, call.callback_number,
                )
            )
        ctx.emit(
            E.CallOffered(
                at=ctx.wall(), call_id=call.id, queue_id=cfg.id, agent_ids=tuple(agent_ids), attempt=call.attempts,
            )
        )

    # Into a queue ---------------------------------------------------------------------------

    def on_call_arrived(self, cmd: C.CallArrived) -> None:
        ctx = self._ctx
        q = ctx.queue(cmd.queue_id)
        if not q.active:
            raise UnknownQueue(cmd.queue_id)
        if cmd.call_id in ctx.calls:
            return  # a repeated report of a call already in the ACD
        queueing = self._queueing
        priority, source = queueing.classify(cmd, q)
        own_req = normalise_requirement(cmd.skills) if cmd.skills is not None else None
        pool = queueing.pool(q, own_req if own_req is not None else q.req)
        call = Call(
            cmd.call_id, q, pool, cmd.caller, cmd.area, cmd.account_manager, own_req, priority, source, ctx.now
        )
        ctx.calls[call.id] = call
        ctx.counters.calls_arrived += 1
        queueing.ask_crm(call)
        self.enter_queue(call, q)

    def enter_queue(self, call: Call, q: Queue) -> None:
        """Put a call into a queue (on arrival or queue-to-queue overflow), applying the entry limits."""
        ctx = self._ctx
        queueing = self._queueing
        cfg = q.cfg
        call.queue = q
        call.pool = queueing.pool(q, call.own_req if call.own_req is not None else q.req)
        call.returned = False
        call.missed_by.clear()
        call.expired = ""
        if cfg.max_length is not None and q.waiting >= cfg.max_length:
            self.overflow(call, cfg.on_full, "queue_full")
            return
        unstaffed = not call.pool.members
        if unstaffed and cfg.max_wait_no_agent is not None and cfg.max_wait_no_agent <= 0:
            self.overflow(call, cfg.on_no_agent, "no_agent")
            return
        call.seq = ctx.next_seq()
        call.enqueued_at = ctx.now
        ctx.emit(
            E.CallQueued(
                at=ctx.wall(), call_id=call.id, queue_id=cfg.id, caller=call.caller, priority=call.priority,
                vip_source=call.vip_source, position=queueing.position(call), callback=bool(call.callback_number),
            )
        )
        self.route_or_wait(call)
        if call.waiting and cfg.announce_on_entry and not call.callback_number:
            queueing.announce(call)

    # Out of the ACD, or to another queue ----------------------------------------------------

    def overflow(self, call: Call, action: OverflowAction, reason: str) -> None:
        ctx = self._ctx
        q = call.queue
        self._queueing.dequeue_waiting(call)
        wait = ctx.now - call.arrived_at
        kind, target = action.kind, action.target
        if kind is OverflowKind.QUEUE:
            next_q = ctx.queues.get(target)
            if next_q is None or not next_q.active or call.hops >= ctx.settings.max_overflow_hops:
                kind, target, reason = OverflowKind.HANGUP, "", "overflow_loop"
        ctx.emit(
            E.CallOverflowed(
                at=ctx.wall(), call_id=call.id, queue_id=q.cfg.id, reason=reason, action=kind.value,
                target=target, wait=wait,
            )
        )
        if kind is OverflowKind.QUEUE:
            call.hops += 1
            self._queueing.drop_wait_timers(call)
            call.timers.pop(RING, None)
            self.enter_queue(call, ctx.queues[target])
            return
        ctx.counters.calls_overflowed += 1
        self._queueing.finish(call)
        if kind is OverflowKind.HANGUP:
            ctx.out.append(A.HangUpCall(call.id, reason))
        else:
            ctx.out.append(A.OverflowCall(call.id, kind, target, reason))

    def leave(self, call_id: str, reason: str, callback: bool) -> None:
        """The caller (or, for a ticket, the callback) is gone: stop ringing and report it abandoned.

        `callback` says which kind of call the command is about; a call of the other kind is left alone
        (a ticket's caller leg was released on purpose).
        """
        ctx = self._ctx
        call = ctx.calls.get(call_id)
        if call is None or bool(call.callback_number) != callback:
            return
        ringing = bool(call.offered_to)
        agents = self.withdraw_offer(call, reason)
        ctx.counters.calls_abandoned += 1
        ctx.emit(
            E.CallAbandoned(
                at=ctx.wall(), call_id=call.id, queue_id=call.queue.cfg.id, wait=ctx.now - call.arrived_at,
                while_ringing=ringing, reason=reason,
            )
        )
        self._queueing.finish(call)
        for agent in agents:
            self.make_available(agent, reason, SYSTEM)

    def on_call_moved(self, cmd: C.SupervisorMovedCall) -> None:
        """班长调度: the call leaves its queue (reason `moved`, counted as overflowed there) for another queue,
        where it keeps its arrival time, or for one agent's phone outside the ACD."""
        ctx = self._ctx
        call = ctx.calls.get(cmd.call_id)
        if call is None or call.callback_number:
            raise Conflict(f"call {cmd.call_id} is not waiting in a queue", f"通话 {cmd.call_id} 不在排队")
        target = ctx.queues.get(cmd.queue_id) if cmd.queue_id else None
        if cmd.queue_id and (target is None or not target.active):
            raise UnknownQueue(cmd.queue_id)
        agents = self.withdraw_offer(call, "moved")
        if target is not None:
            self.overflow(call, OverflowAction(OverflowKind.QUEUE, target.cfg.id), "moved")
        else:
            self._queueing.dequeue_waiting(call)
            ctx.emit(E.CallOverflowed(at=ctx.wall(), call_id=call.id, queue_id=call.queue.cfg.id, reason="moved",
                                      action="agent", target=cmd.agent_id, wait=ctx.now - call.arrived_at))
            self._queueing.finish(call)
        for agent in agents:
            self.make_available(agent, "moved", SYSTEM)

    def on_caller_hung_up(self, cmd: C.CallerHungUp) -> None:
        self.leave(cmd.call_id, "caller_hung_up", callback=False)

    def on_voicemail_chosen(self, cmd: C.CallerChoseVoicemail) -> None:
        call = self._ctx.calls.get(cmd.call_id)
        if call is None or call.callback_number:
            return
        agents = self.withdraw_offer(call, "caller_choice")
        cfg = call.queue.cfg
        self.overflow(call, OverflowAction(OverflowKind.VOICEMAIL, cfg.voicemail_box), "caller_choice")
        for agent in agents:
            self.make_available(agent, "caller_choice", SYSTEM)

    # Offers ending --------------------------------------------------------------------------

    def on_offer_answered(self, cmd: C.OfferAnswered) -> None:
        ctx = self._ctx
        call = ctx.calls.get(cmd.call_id)
        if call is None or cmd.agent_id not in call.offered_to:
            # The offer was already withdrawn (timeout, caller gone): call control drops the agent leg.
            ctx.out.append(A.CancelOffer(cmd.call_id, cmd.agent_id, "stale"))
            return
        agent = ctx.agents[cmd.agent_id]
        q = call.queue
        others = [ctx.agents[a] for a in call.offered_to if a != cmd.agent_id]
        for other in others:
            other.offered_call = None
            ctx.out.append(A.CancelOffer(call.id, other.profile.id, "answered_elsewhere"))
        call.offered_to = []
        agent.offered_call = None
        agent.misses = 0
        agent.answered += 1
        agent.answered_by_queue[q.cfg.id] = agent.answered_by_queue.get(q.cfg.id, 0) + 1
        agent.current_call, agent.call_queue, agent.call_started = call.id, q.cfg.id, ctx.now
        self._roster.set_state(agent, AgentState.ON_CALL, call.id)
        note_served(q, call.caller, agent.profile.id, ctx.settings.last_served_memory)
        ctx.counters.calls_answered += 1
        ctx.emit(
            E.CallAnswered(
                at=ctx.wall(), call_id=call.id, queue_id=q.cfg.id, agent_id=agent.profile.id,
                wait=ctx.now - call.arrived_at, attempts=call.attempts, callback_number=call.callback_number,
            )
        )
        if call.callback_number:
            ctx.out.append(A.DialCallback(call.id, agent.profile.id, call.callback_number))
        self._queueing.finish(call)
        for other in others:
            self.make_available(other, "answered_elsewhere", SYSTEM)

    def withdraw_offer(self, call: Call, reason: str) -> list[Agent]:
        """Stop ringing every agent of the call (no miss counted); returns them for re-use."""
        ctx = self._ctx
        call.timers.pop(RING, None)
        agents = []
        for agent_id in call.offered_to:
            agent = ctx.agents[agent_id]
            agent.offered_call = None
            ctx.out.append(A.CancelOffer(call.id, agent_id, reason))
            agents.append(agent)
        call.offered_to = []
        return agents

    def fail_offer(
        self, call: Call, agent_ids: list[str], reason: str, cancel: bool, missed: bool, release: bool = True
    ) -> None:
        """Some or all ringing agents did not take the call; `release=False` leaves them to the caller."""
        ctx = self._ctx
        released: list[Agent] = []
        for agent_id in agent_ids:
            if agent_id not in call.offered_to:
                continue
            call.offered_to.remove(agent_id)
            agent = ctx.agents[agent_id]
            agent.offered_call = None
            ctx.counters.offers_failed += 1
            if cancel:
                ctx.out.append(A.CancelOffer(call.id, agent_id, reason))
            if missed:
                agent.misses += 1
                call.missed_by.add(agent_id)
                ctx.emit(E.AgentMissedCall(at=ctx.wall(), agent_id=agent_id, call_id=call.id, misses=agent.misses))
            released.append(agent)
        max_misses = call.queue.cfg.max_misses if missed else 0
        if release and not call.offered_to and call.queue.cfg.strategy is Strategy.RING_ALL:
            # Ring-all rings everyone idle again, those who just let it ring included. So they are released
            # first (the call is in no pool meanwhile, so each takes another waiting call it has not missed,
            # or goes idle), and then the call comes back and rings whoever is idle.
            self._release(released, reason, max_misses)
            self._return_call(call, agent_ids, reason)
            return
        if not call.offered_to:
            self._return_call(call, agent_ids, reason)
        if release:
            self._release(released, reason, max_misses)

    def _release(self, agents: list[Agent], reason: str, max_misses: int) -> None:
        for agent in agents:
            if agent.state is not AgentState.RINGING:
                continue  # its state changed meanwhile: nothing left to release
            if max_misses and agent.misses >= max_misses:
                self._roster.set_state(agent, AgentState.PAUSED, NO_ANSWER_REASON, SYSTEM)
            else:
                self.make_available(agent, reason, SYSTEM)

    def _return_call(self, call: Call, agent_ids: list[str], reason: str) -> None:
        """Back to the very front of its queue after a failed offer, then to the next agent."""
        ctx = self._ctx
        call.timers.pop(RING, None)
        call.returned = True
        ctx.emit(
            E.CallReturned(
                at=ctx.wall(), call_id=call.id, queue_id=call.queue.cfg.id, agent_ids=tuple(agent_ids), reason=reason,
            )
        )
        cfg = call.queue.cfg
        if cfg.max_wait is not None and not call.callback_number and ctx.now >= call.enqueued_at + cfg.max_wait:
            call.expired = "max_wait"  # ran out while ringing, before its timer was ever armed
        if call.expired:
            action = cfg.on_max_wait if call.expired == "max_wait" else cfg.on_no_agent
            self.overflow(call, action, call.expired)
            return
        self.route_or_wait(call)

    # Call timers ----------------------------------------------------------------------------

    def fire_call_timer(self, call: Call, kind: int) -> None:
        cfg = call.queue.cfg
        if kind == RING:
            self.fail_offer(call, list(call.offered_to), "ring_timeout", cancel=True, missed=True)
        elif kind == MAX_WAIT:
            if call.offered_to:
                call.expired = "max_wait"  # let the ringing agent answer; act if the offer fails
            else:
                self.overflow(call, cfg.on_max_wait, "max_wait")
        elif kind == NO_AGENT:
            if call.offered_to:
                call.expired = "no_agent"
            elif not call.pool.members:
                self.overflow(call, cfg.on_no_agent, "no_agent")
        elif kind == ANNOUNCE:
            self._queueing.announce_due(call)
        elif kind == VIP:
            self._queueing.vip_timed_out(call)
