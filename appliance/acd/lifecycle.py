"""What agents, supervisors and call control do to an agent: log in and out, pause, wrap up, disconnect,
take other calls, and how an agent's offers and calls end for it.

Which of these is legal in which state is asked of the transition table (`appliance.acd.transitions`): a
refused request raises before anything changes, a report that no longer applies is ignored.
"""

from __future__ import annotations

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.context import Context
from appliance.acd.dispatch import Dispatcher
from appliance.acd.errors import MinBusyNotReached, UnknownPauseReason
from appliance.acd.models import AgentState
from appliance.acd.queueing import Queueing
from appliance.acd.roster import Roster
from appliance.acd.runtime import GRACE, NO_ANSWER_REASON, SYSTEM, WRAP, Agent
from appliance.acd.transitions import Trigger, allows, require


class AgentLifecycle:
    def __init__(self, ctx: Context, queueing: Queueing, roster: Roster, dispatcher: Dispatcher) -> None:
        self._ctx = ctx
        self._queueing = queueing
        self._roster = roster
        self._dispatch = dispatcher
        self._login_seq = 0  # login order, for the login-order strategy

    def _check_reason(self, reason: str) -> None:
        if reason not in self._ctx.pause_codes and reason != NO_ANSWER_REASON:
            raise UnknownPauseReason(reason)

    # Logging in and out ---------------------------------------------------------------------

    def on_login(self, cmd: C.AgentLoggedIn) -> None:
        ctx = self._ctx
        agent = ctx.agent(cmd.agent_id)
        if cmd.paused_reason:
            self._check_reason(cmd.paused_reason)
        if not allows(agent.state, Trigger.LOGIN):
            return  # already logged in: logging in twice changes nothing
        if agent.state is AgentState.DISCONNECTED:
            self._reconnect(agent)
            return
        self._login_seq += 1
        agent.login_seq = self._login_seq
        agent.logged_in_at = ctx.now
        agent.answered, agent.answered_by_queue, agent.misses = 0, {}, 0
        agent.pending_pause = ""
        self._roster.join_pools(agent)
        if cmd.paused_reason:
            self._roster.set_state(agent, AgentState.PAUSED, cmd.paused_reason)
        else:
            self._dispatch.make_available(agent, "login")

    def _logout(self, agent: Agent, reason: str, by: str) -> None:
        if not allows(agent.state, Trigger.LOGOUT):
            return
        if agent.offered_call is not None:
            call = self._ctx.calls[agent.offered_call]
            self._dispatch.fail_offer(call, [agent.profile.id], reason, cancel=True, missed=False, release=False)
        self._roster.leave_pools(agent)
        agent.timers.clear()
        agent.pending_pause = ""
        agent.current_call = agent.call_queue = None
        agent.logged_in_at = None
        self._roster.set_state(agent, AgentState.LOGGED_OUT, reason, by)

    def on_logout(self, cmd: C.AgentLoggedOut) -> None:
        self._logout(self._ctx.agent(cmd.agent_id), "logout", "")

    def on_force_logout(self, cmd: C.SupervisorForcedLogout) -> None:
        self._logout(self._ctx.agent(cmd.agent_id), "forced_logout", cmd.supervisor_id)

    # Pausing --------------------------------------------------------------------------------

    def _pause(self, agent: Agent, reason: str, by: str) -> None:
        state = agent.state
        if state is AgentState.RINGING:
            call = self._ctx.calls[agent.offered_call] if agent.offered_call else None
            agent.pending_pause, agent.pending_by = reason, by
            if call is not None:
                self._dispatch.fail_offer(call, [agent.profile.id], "paused", cancel=True, missed=False)
            return
        if state is AgentState.ON_CALL:
            agent.pending_pause, agent.pending_by = reason, by
            return
        agent.timers.pop(WRAP, None)
        self._roster.set_state(agent, AgentState.PAUSED, reason, by)

    def on_pause(self, cmd: C.AgentPaused) -> None:
        agent = self._ctx.agent(cmd.agent_id)
        self._check_reason(cmd.reason)
        require(cmd.agent_id, agent.state, Trigger.PAUSE)
        self._pause(agent, cmd.reason, "")

    def on_force_busy(self, cmd: C.SupervisorForcedBusy) -> None:
        agent = self._ctx.agent(cmd.agent_id)
        self._check_reason(cmd.reason)
        require(cmd.agent_id, agent.state, Trigger.FORCE_BUSY)
        self._pause(agent, cmd.reason, cmd.supervisor_id)

    def on_unpause(self, cmd: C.AgentUnpaused) -> None:
        ctx = self._ctx
        agent = ctx.agent(cmd.agent_id)
        if agent.state is AgentState.ON_CALL and agent.pending_pause:
            agent.pending_pause = ""
            return
        require(cmd.agent_id, agent.state, Trigger.UNPAUSE)
        busy_for = ctx.now - agent.paused_at
        if busy_for < ctx.settings.min_busy:
            raise MinBusyNotReached(cmd.agent_id, ctx.settings.min_busy - busy_for)
        agent.misses = 0
        self._dispatch.make_available(agent, "unpause")

    def on_force_idle(self, cmd: C.SupervisorForcedIdle) -> None:
        agent = self._ctx.agent(cmd.agent_id)
        state = agent.state
        require(cmd.agent_id, state, Trigger.FORCE_IDLE)
        if state is AgentState.ON_CALL:
            agent.pending_pause = ""  # idle after the call instead of the pause asked for
            return
        if state is AgentState.IDLE:
            return
        agent.timers.pop(WRAP, None)
        agent.misses = 0
        agent.pending_pause = ""
        self._dispatch.make_available(agent, "forced_idle", cmd.supervisor_id)

    # Wrap-up --------------------------------------------------------------------------------

    def on_wrap_up_ended(self, cmd: C.WrapUpEnded) -> None:
        agent = self._ctx.agent(cmd.agent_id)
        require(cmd.agent_id, agent.state, Trigger.END_WRAP_UP)
        agent.timers.pop(WRAP, None)
        self._dispatch.make_available(agent, "wrap_up_ended")

    # Disconnects ----------------------------------------------------------------------------

    def on_disconnected(self, cmd: C.AgentDisconnected) -> None:
        agent = self._ctx.agent(cmd.agent_id)
        if allows(agent.state, Trigger.DISCONNECT):
            self._disconnect(agent, "disconnected", offer_reason="agent_disconnected", cancel_offer=True)

    def _disconnect(self, agent: Agent, reason: str, offer_reason: str, cancel_offer: bool) -> None:
        """Keep the agent's state for the grace period (then log it out); its offer goes to someone else.

        The offer fails without a miss: an agent who cannot be reached did not choose to let it ring.
        """
        ctx = self._ctx
        if agent.offered_call is not None:
            call = ctx.calls[agent.offered_call]
            self._dispatch.fail_offer(
                call, [agent.profile.id], offer_reason, cancel=cancel_offer, missed=False, release=False
            )
        # What the agent returns to; counters, login time and idle-since stay on the agent untouched.
        if agent.state is AgentState.PAUSED:
            agent.resume_state, agent.resume_reason = AgentState.PAUSED, agent.reason
        elif agent.state is AgentState.ON_CALL:
            agent.resume_state, agent.resume_reason = AgentState.ON_CALL, agent.reason
        else:
            agent.resume_state, agent.resume_reason = AgentState.IDLE, ""
        agent.timers.pop(WRAP, None)
        grace = ctx.settings.disconnect_grace
        if grace <= 0:
            self._logout(agent, reason, SYSTEM)
            return
        idle_since = agent.idle_since
        self._roster.set_state(agent, AgentState.DISCONNECTED, reason, SYSTEM)
        agent.idle_since = idle_since
        ctx.schedule(agent.timers, GRACE, agent.profile.id, ctx.now + grace)

    def _reconnect(self, agent: Agent) -> None:
        agent.timers.pop(GRACE, None)
        resume = agent.resume_state
        if resume is AgentState.PAUSED:
            paused_at = agent.paused_at
            self._roster.set_state(agent, AgentState.PAUSED, agent.resume_reason, SYSTEM)
            agent.paused_at = paused_at  # the minimum busy time counts from the original pause
        elif resume is AgentState.ON_CALL:
            self._roster.set_state(agent, AgentState.ON_CALL, agent.resume_reason, SYSTEM)
        else:
            self._dispatch.make_available(agent, "reconnected", SYSTEM)

    def on_reconnected(self, cmd: C.AgentReconnected) -> None:
        agent = self._ctx.agent(cmd.agent_id)
        if allows(agent.state, Trigger.RECONNECT):
            self._reconnect(agent)

    # Offers and calls ending for the agent --------------------------------------------------

    def on_offer_failed(self, cmd: C.OfferFailed) -> None:
        ctx = self._ctx
        call = ctx.calls.get(cmd.call_id)
        if call is None or cmd.agent_id not in call.offered_to:
            return
        agent = ctx.agents[cmd.agent_id]
        if cmd.reason == C.PHONE_UNREACHABLE and allows(agent.state, Trigger.UNREACHABLE):
            # Nothing rang, so nothing is cancelled; ringing this agent again before its phone registers
            # would only fail again.
            ctx.counters.offers_unreachable += 1
            self._disconnect(agent, C.PHONE_UNREACHABLE, offer_reason=C.PHONE_UNREACHABLE, cancel_offer=False)
            return
        self._dispatch.fail_offer(call, [cmd.agent_id], cmd.reason, cancel=False, missed=True)

    def on_call_completed(self, cmd: C.CallCompleted) -> None:
        ctx = self._ctx
        agent = ctx.agent(cmd.agent_id)
        if agent.current_call != cmd.call_id:
            return  # stale or repeated report
        queue_id, agent.current_call, agent.call_queue = agent.call_queue, None, None
        q = ctx.queues.get(queue_id) if queue_id is not None else None
        if q is not None:
            self._queueing.learn_handle_time(q, ctx.now - agent.call_started)
        state = agent.state
        if not allows(state, Trigger.CALL_ENDED):
            return
        if state is AgentState.DISCONNECTED:
            agent.resume_state, agent.resume_reason = AgentState.IDLE, ""
            return
        roster, dispatch = self._roster, self._dispatch
        if q is None:
            # After a call the ACD did not route: back to where the agent was.
            if agent.resume_state is AgentState.PAUSED and not agent.pending_pause:
                roster.set_state(agent, AgentState.PAUSED, agent.resume_reason, SYSTEM)
                return
            dispatch.make_available(agent, "call_ended", SYSTEM)
            return
        cfg = q.cfg
        if agent.pending_pause:
            dispatch.make_available(agent, "call_ended")
        elif cfg.wrap_up_manual:
            roster.set_state(agent, AgentState.WRAP_UP, "manual", SYSTEM)
        elif cfg.wrap_up > 0:
            roster.set_state(agent, AgentState.WRAP_UP, "timed", SYSTEM)
            ctx.schedule(agent.timers, WRAP, agent.profile.id, ctx.now + cfg.wrap_up)
        else:
            dispatch.make_available(agent, "call_ended", SYSTEM)

    def on_other_call(self, cmd: C.AgentStartedOtherCall) -> None:
        agent = self._ctx.agent(cmd.agent_id)
        require(cmd.agent_id, agent.state, Trigger.OTHER_CALL)
        agent.resume_state, agent.resume_reason = agent.state, agent.reason
        agent.timers.pop(WRAP, None)
        agent.current_call, agent.call_queue, agent.call_started = cmd.call_id, None, self._ctx.now
        self._roster.set_state(agent, AgentState.ON_CALL, cmd.kind)

    def on_outbound_requested(self, cmd: C.OutboundAgentRequested) -> None:
        ctx = self._ctx
        reserve = ctx.settings.reserved_idle_for_inbound
        candidates: dict[str, Agent] = {}
        if cmd.queue_ids:
            for qid in cmd.queue_ids:
                q = ctx.queues.get(qid)
                if q is None:
                    continue
                for agent_id in q.logged_in:
                    agent = ctx.agents[agent_id]
                    if agent.state is AgentState.IDLE:
                        candidates[agent_id] = agent
            idle = len(candidates)
        else:
            idle = self._roster.counts[AgentState.IDLE]
        reason = ""
        if idle == 0:
            reason = "no_idle_agent"
        elif idle <= reserve:
            reason = "reserve"  # 保留最少空闲座席数: these agents stay free for inbound calls
        if reason:
            ctx.out.append(A.DenyOutbound(cmd.request_id, reason))
            ctx.emit(E.OutboundDecided(at=ctx.wall(), request_id=cmd.request_id, agent_id="", reason=reason))
            return
        if not candidates:
            candidates = {a.profile.id: a for a in ctx.agents.values() if a.state is AgentState.IDLE}
        chosen = min(candidates.values(), key=lambda a: (a.idle_since or 0.0, a.login_seq))
        chosen.resume_state, chosen.resume_reason = AgentState.IDLE, ""
        chosen.current_call, chosen.call_queue, chosen.call_started = cmd.request_id, None, ctx.now
        self._roster.set_state(chosen, AgentState.ON_CALL, "outbound", SYSTEM)
        ctx.out.append(A.GrantOutbound(cmd.request_id, chosen.profile.id))
        ctx.emit(E.OutboundDecided(at=ctx.wall(), request_id=cmd.request_id, agent_id=chosen.profile.id))

    # Agent timers ---------------------------------------------------------------------------

    def fire_agent_timer(self, agent: Agent, kind: int) -> None:
        if kind == WRAP:
            if allows(agent.state, Trigger.WRAP_TIMEOUT):
                self._dispatch.make_available(agent, "wrap_up_timeout", SYSTEM)
        elif kind == GRACE and allows(agent.state, Trigger.GRACE_TIMEOUT):
            self._logout(agent, "disconnect_timeout", SYSTEM)
