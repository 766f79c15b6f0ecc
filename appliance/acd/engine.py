"""The ACD engine: which waiting call goes to which agent, and when.

Pure and event-driven, in the shape of the project's sans-IO stacks: `handle(command)` and
`handle_timeout()` take facts in and return `Action`s (what call control must do); `next_deadline()` says
when time next matters; events (`appliance.acd.events`) go to a sink or an outbox. Time comes from the
injected `Clock` (or an explicit `now`), randomness from an injected `random.Random`, so the live box and the
simulator at thousands of times real time run this same code.

`AcdEngine` is the façade: it owns one shared `Context` and the collaborators that decide, each given what
it needs when it is built here, and it answers the read-only views.
- `queueing` — pools, waiting calls in service order, positions, VIP priority, waiting limits;
- `strategies` — which idle agent a call goes to (modifiers, then the queue's strategy);
- `roster` — agent state changes with their agent log lines, pools and idle indexes;
- `transitions` — the table of which agent state may go to which, on what;
- `dispatch` — calls into queues, offers and their outcomes, overflow out of the ACD;
- `lifecycle` — logins, pauses, wrap-up, disconnects, other calls, outbound requests;
- `callbacks` — callback tickets.

A call arriving looks only at its pool; an agent becoming free looks only at the head call of each of its
pools. Nothing scans the whole centre, which keeps a decision in the tens of microseconds with 10,000
agents and 5,000 waiting calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from random import Random
from typing import Any

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.callbacks import Callbacks
from appliance.acd.context import Context
from appliance.acd.dispatch import Dispatcher
from appliance.acd.lifecycle import AgentLifecycle
from appliance.acd.models import AcdConfig, AgentState, AgentView, CallView, QueueView
from appliance.acd.queueing import Queueing
from appliance.acd.roster import Roster
from appliance.acd.runtime import FIRST_AGENT_TIMER, SYSTEM, Queue, normalise_requirement, skill_map
from appliance.clock import Clock
from appliance.events import Event


class AcdEngine:
    """One ACD for the whole box. Not thread-safe: drive it from one task (or one simulator loop)."""

    def __init__(
        self,
        config: AcdConfig,
        clock: Clock,
        rng: Random | None = None,
        sink: Callable[[Event], None] | None = None,
    ) -> None:
        ctx = self._ctx = Context(clock, rng if rng is not None else Random(0), sink, config.settings)
        self._queueing = Queueing(ctx)
        self._roster = Roster(ctx, self._queueing)
        self._dispatch = Dispatcher(ctx, self._queueing, self._roster)
        self._lifecycle = AgentLifecycle(ctx, self._queueing, self._roster, self._dispatch)
        callbacks = Callbacks(ctx, self._queueing, self._dispatch)
        dispatch, lifecycle = self._dispatch, self._lifecycle
        # Handlers take their own command type; the table is keyed by that type, so Any is safe here.
        self._handlers: dict[type[C.Command], Callable[[Any], None]] = {
            C.CallArrived: dispatch.on_call_arrived,
            C.CallerHungUp: dispatch.on_caller_hung_up,
            C.CallerChoseVoicemail: dispatch.on_voicemail_chosen,
            C.CallbackRequested: callbacks.on_requested,
            C.CallbackCancelled: callbacks.on_cancelled,
            C.VipLookupResult: self._queueing.on_vip_result,
            C.OfferAnswered: dispatch.on_offer_answered,
            C.OfferFailed: lifecycle.on_offer_failed,
            C.CallCompleted: lifecycle.on_call_completed,
            C.AgentStartedOtherCall: lifecycle.on_other_call,
            C.OutboundAgentRequested: lifecycle.on_outbound_requested,
            C.AgentLoggedIn: lifecycle.on_login,
            C.AgentLoggedOut: lifecycle.on_logout,
            C.AgentPaused: lifecycle.on_pause,
            C.AgentUnpaused: lifecycle.on_unpause,
            C.WrapUpEnded: lifecycle.on_wrap_up_ended,
            C.AgentDisconnected: lifecycle.on_disconnected,
            C.AgentReconnected: lifecycle.on_reconnected,
            C.SupervisorForcedIdle: lifecycle.on_force_idle,
            C.SupervisorForcedBusy: lifecycle.on_force_busy,
            C.SupervisorForcedLogout: lifecycle.on_force_logout,
            C.SupervisorMovedCall: dispatch.on_call_moved,
        }
        self.configure(config)

    # ------------------------------------------------------------------ public API

    def handle(self, command: C.Command, now: float | None = None) -> list[A.Action]:
        """Apply one input; returns the actions to carry out, in order.

        Refused requests (unknown agent, illegal state, minimum busy time) raise before anything changes.
        """
        ctx = self._ctx
        ctx.tick(now)
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"not an ACD command: {type(command).__name__}")
        ctx.out = []
        handler(command)
        return ctx.out

    def next_deadline(self) -> float | None:
        return self._ctx.next_deadline()

    def handle_timeout(self, now: float | None = None) -> list[A.Action]:
        """Fire every timer due at or before now."""
        ctx = self._ctx
        ctx.tick(now)
        ctx.out = []
        while (due := ctx.pop_due()) is not None:
            kind, ident = due
            if kind < FIRST_AGENT_TIMER:
                self._dispatch.fire_call_timer(ctx.calls[ident], kind)
            else:
                self._lifecycle.fire_agent_timer(ctx.agents[ident], kind)
        return ctx.out

    def take_events(self) -> list[Event]:
        """Events since the last call (only collected when no sink was given)."""
        ctx = self._ctx
        events, ctx.events = ctx.events, []
        return events

    def configure(self, config: AcdConfig) -> list[A.Action]:
        """Apply new settings, queues and agent profiles without dropping calls or logins.

        A queue missing from the new configuration stops taking new calls; the calls already waiting in it
        are still served. A logged-in agent whose skills, level, locality or queues changed is re-indexed,
        and if it is idle and can now serve a waiting call, that call is offered (the returned actions).
        """
        ctx = self._ctx
        ctx.out = []
        ctx.settings = config.settings
        ctx.global_vip = frozenset(config.settings.vip_numbers)
        ctx.pause_codes = frozenset(r.code for r in config.settings.pause_reasons)
        seen: set[str] = set()
        for cfg in config.queues:
            seen.add(cfg.id)
            q = ctx.queues.get(cfg.id)
            if q is None:
                ctx.queues[cfg.id] = Queue(
                    cfg, frozenset(cfg.vip_numbers), normalise_requirement(cfg.required_skills),
                    avg_handle=cfg.initial_handle_estimate,
                )
                continue
            old = q.cfg
            q.cfg, q.vip_numbers, q.active = cfg, frozenset(cfg.vip_numbers), True
            q.req = normalise_requirement(cfg.required_skills)
            if (old.strategy, old.modifiers) != (cfg.strategy, cfg.modifiers):
                self._roster.reindex(q)
        for qid, q in ctx.queues.items():
            if qid not in seen:
                q.active = False
        for profile in config.agents:
            agent = ctx.agents.get(profile.id)
            if agent is None:
                self._roster.add(profile)
                continue
            old_profile, agent.profile = agent.profile, profile
            agent.skills = skill_map(profile)
            if agent.state is not AgentState.LOGGED_OUT and old_profile != profile:
                self._roster.leave_pools(agent)
                self._roster.join_pools(agent)
                if agent.state is AgentState.IDLE:
                    self._dispatch.make_available(agent, "reconfigured", SYSTEM)
        return ctx.out

    # Views -------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self._ctx.now

    def agent_view(self, agent_id: str) -> AgentView:
        a = self._ctx.agent(agent_id)
        return AgentView(
            a.profile.id, a.state, a.reason, a.since, a.logged_in_at, a.answered, a.misses,
            a.offered_call, a.current_call, a.idle_since,
        )

    def agent_ids(self) -> list[str]:
        return list(self._ctx.agents)

    def pause_codes(self) -> frozenset[str]:
        return self._ctx.pause_codes

    def call_view(self, call_id: str) -> CallView | None:
        c = self._ctx.calls.get(call_id)
        if c is None:
            return None
        return CallView(
            c.id, c.queue.cfg.id, c.caller, c.priority, c.returned, tuple(c.offered_to), c.arrived_at,
            c.enqueued_at, c.callback_number, c.pool.req, tuple(sorted(c.missed_by)),
        )

    def active_call_ids(self) -> list[str]:
        return list(self._ctx.calls)

    def waiting_calls(self, queue_id: str) -> list[str]:
        """Waiting (not ringing) calls of a queue in the order the queue would serve them."""
        return self._queueing.waiting_in(self._ctx.queue(queue_id))

    def queue_view(self, queue_id: str) -> QueueView:
        ctx = self._ctx
        q = ctx.queue(queue_id)
        longest = 0.0
        idle = 0
        for pool in q.pools.values():
            for cid in pool.calls:
                longest = max(longest, ctx.now - ctx.calls[cid].enqueued_at)
        for agent_id in q.logged_in:
            if ctx.agents[agent_id].state is AgentState.IDLE:
                idle += 1
        return QueueView(q.cfg.id, q.waiting, len(q.logged_in), idle, longest)

    def eligible(self, agent_id: str, call_id: str) -> bool:
        """Whether the agent is logged in to the call's queue with the skills the call needs."""
        agent = self._ctx.agent(agent_id)
        call = self._ctx.calls[call_id]
        return agent_id in call.pool.members and agent.state is not AgentState.LOGGED_OUT

    def position(self, call_id: str) -> int:
        return self._queueing.position(self._ctx.calls[call_id])

    def figures(self) -> dict[str, dict[str, float]]:
        """Monitoring figures: totals since start ("counters") and current levels ("gauges").

        Cheap enough to poll: the counters and agents per state are kept as the engine goes; only the
        waiting calls are summed, over queues rather than calls.
        """
        ctx = self._ctx
        counters = {f.name: float(getattr(ctx.counters, f.name)) for f in fields(ctx.counters)}
        states = self._roster.counts
        gauges: dict[str, float] = {
            "calls_active": float(len(ctx.calls)),
            "calls_waiting": float(sum(q.waiting for q in ctx.queues.values())),
            "callbacks_waiting": float(len(ctx.callbacks)),
            "agents_logged_in": float(len(ctx.agents) - states[AgentState.LOGGED_OUT]),
        }
        for state, count in states.items():
            gauges[f"agents_{state.value}"] = float(count)
        return {"counters": counters, "gauges": gauges}
