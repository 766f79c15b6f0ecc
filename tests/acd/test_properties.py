"""Property tests: random centres driven by random event sequences, invariants checked after every event.

Invariants (from the acceptance of the ACD issue):
- work-conserving: no idle agent able to serve a waiting call (same queue, enough skill) while it waits;
- no call offered to two agents at once (ring-all excepted, which offers to a group by design), and no agent
  rung for two calls;
- no call lost: every call ends answered, abandoned or overflowed out of the ACD exactly once;
- order: an agent is offered the best call it can serve — higher queue priority first, then returned calls,
  then caller priority, then FIFO or LIFO as the queue says;
- every agent state change published is one the transition table allows;
- the monitoring figures agree with the views and the published events.
Eligibility and order are recomputed here from the configuration and the published events, not read from
the engine's indexes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.errors import InvalidAgentState, MinBusyNotReached
from appliance.acd.models import (
    AcdSettings,
    AgentProfile,
    AgentState,
    Modifier,
    OverflowAction,
    OverflowKind,
    QueueConfig,
    QueueOrder,
    SkillLevel,
    SkillRequirement,
    Strategy,
    VipSource,
)
from appliance.acd.transitions import GRAPH

from .harness import Harness

SKILLS = ("en", "zh")
AREAS = ("bj", "sh", "")


@st.composite
def queue_configs(draw: Any, qid: str, others: tuple[str, ...]) -> QueueConfig:
    overflow = st.builds(
        OverflowAction,
        st.sampled_from(list(OverflowKind)),
        st.sampled_from((*others, "vm")),
    )
    return QueueConfig(
        qid,
        priority=draw(st.integers(0, 2)),
        strategy=draw(st.sampled_from(list(Strategy))),
        modifiers=tuple(draw(st.sets(st.sampled_from(list(Modifier))))),
        order=draw(st.sampled_from(list(QueueOrder))),
        required_skills=tuple(
            SkillRequirement(s, draw(st.integers(0, 5))) for s in draw(st.sets(st.sampled_from(SKILLS), max_size=1))
        ),
        ring_timeout=draw(st.sampled_from([5.0, 15.0])),
        max_misses=draw(st.integers(0, 2)),
        wrap_up=draw(st.sampled_from([0.0, 0.0, 10.0])),
        wrap_up_manual=draw(st.booleans()) and draw(st.booleans()),
        max_wait=draw(st.one_of(st.none(), st.sampled_from([20.0, 60.0]))),
        on_max_wait=draw(overflow),
        max_wait_no_agent=draw(st.one_of(st.none(), st.sampled_from([0.0, 30.0]))),
        on_no_agent=draw(overflow),
        max_length=draw(st.one_of(st.none(), st.integers(1, 4))),
        on_full=draw(overflow),
        announce_interval=draw(st.one_of(st.none(), st.just(15.0))),
        callback_key="2",
        vip_numbers=("v2",),
        vip_sources=tuple(VipSource),
    )


@st.composite
def centres(draw: Any) -> tuple[list[QueueConfig], list[AgentProfile]]:
    qids = ("q0", "q1", "q2")
    queues = [draw(queue_configs(q, tuple(o for o in qids if o != q))) for q in qids]
    agents = []
    for i in range(draw(st.integers(1, 6))):
        skills = tuple(SkillLevel(s, draw(st.integers(0, 9))) for s in draw(st.sets(st.sampled_from(SKILLS))))
        agents.append(
            AgentProfile(
                f"a{i}",
                level=draw(st.integers(0, 9)),
                locality=draw(st.sampled_from(AREAS)),
                skills=skills,
                queues=tuple(sorted(draw(st.sets(st.sampled_from(qids), min_size=1)))),
            )
        )
    return queues, agents


class Checker:
    """Drives one engine and checks the invariants after every input."""

    def __init__(self, queues: list[QueueConfig], agents: list[AgentProfile], seed: int) -> None:
        settings_ = AcdSettings(vip_numbers=("v1",), min_busy=5.0, disconnect_grace=20.0, vip_lookup_timeout=2.0)
        self.h = Harness(queues, agents, settings_, seed=seed)
        self.queues = {q.id: q for q in queues}
        self.profiles = {a.id: a for a in agents}
        self.arrived: list[str] = []
        self.order_index: dict[str, int] = {}  # call -> position of its latest CallQueued event
        self.seen_events = 0
        self.terminal: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()  # calls answered / abandoned / overflowed, from the events
        self.trace: list[object] = []  # inputs and outputs, printed when an invariant breaks

    # Independent model of eligibility and order ----------------------------------------------

    def can_serve(self, agent_id: str, call_id: str) -> bool:
        view = self.h.engine.call_view(call_id)
        assert view is not None
        profile = self.profiles[agent_id]
        if view.queue_id not in profile.queues:
            return False
        levels = {s.skill: s.level for s in profile.skills}
        return all(levels.get(r.skill, -1) >= r.min_level for r in view.requirements)

    def order_key(self, call_id: str) -> tuple[int, int, int, int]:
        view = self.h.engine.call_view(call_id)
        assert view is not None
        q = self.queues[view.queue_id]
        seq = self.order_index[call_id]
        return (-q.priority, 0 if view.returned else 1, -view.priority, -seq if q.order is QueueOrder.LIFO else seq)

    # Driving ------------------------------------------------------------------------------

    def step(self, command: C.Command) -> None:
        waiting_before = self.waiting()
        self.trace.append(command)
        try:
            out = self.h.do(command)
        except (MinBusyNotReached, InvalidAgentState):
            out = []  # refused requests change nothing; the invariants still must hold
        self.after(out, waiting_before)

    def advance(self, seconds: float) -> None:
        target = self.h.clock.now + seconds
        while (d := self.h.engine.next_deadline()) is not None and d <= target:
            waiting_before = self.waiting()
            self.h.clock.now = max(self.h.clock.now, d)
            self.trace.append(f"t={d}")
            self.after(self.h.engine.handle_timeout(), waiting_before)
        self.h.clock.now = target

    def waiting(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Waiting calls with their queue and the agents who already missed them."""
        result = {}
        for qid in self.queues:
            for cid in self.h.engine.waiting_calls(qid):
                view = self.h.engine.call_view(cid)
                assert view is not None
                result[cid] = (qid, view.missed_by)
        return result

    def after(self, out: list[A.Action], waiting_before: dict[str, tuple[str, tuple[str, ...]]]) -> None:
        self.trace.extend(out)
        try:
            self._check(out, waiting_before)
        except AssertionError as exc:
            raise AssertionError("\n".join([str(exc), *map(str, self.trace[-40:])])) from None

    def _check(self, out: list[A.Action], waiting_before: dict[str, tuple[str, tuple[str, ...]]]) -> None:
        engine = self.h.engine
        for ev in self.h.events[self.seen_events :]:
            if isinstance(ev, E.CallQueued):
                self.order_index[ev.call_id] = len(self.order_index) + 1
            elif isinstance(ev, E.CallAnswered | E.CallAbandoned) or (
                isinstance(ev, E.CallOverflowed) and ev.action != "queue"
            ):
                self.terminal[ev.call_id] += 1
                assert self.terminal[ev.call_id] == 1, f"{ev.call_id} ended twice"
                self.outcomes[type(ev).__name__] += 1
            elif isinstance(ev, E.AgentStateChanged):
                assert ev.new in GRAPH[AgentState(ev.old)], f"{ev.agent_id}: {ev.old} -> {ev.new} not in the table"
        self.seen_events = len(self.h.events)

        waiting = self.waiting()
        active = set(engine.active_call_ids())
        # No call lost: every call that arrived is active or ended.
        for cid in self.arrived:
            assert (cid in active) != (self.terminal[cid] == 1), cid

        # One offer at a time.
        ringing_for: dict[str, str] = {}
        for cid in active:
            view = engine.call_view(cid)
            assert view is not None
            if self.queues[view.queue_id].strategy is not Strategy.RING_ALL:
                assert len(view.offered_to) <= 1, f"{cid} offered to {view.offered_to}"
            assert not (view.offered_to and cid in waiting)
            for agent_id in view.offered_to:
                assert agent_id not in ringing_for, f"{agent_id} rung for two calls"
                ringing_for[agent_id] = cid
        for agent_id in self.profiles:
            agent = engine.agent_view(agent_id)
            assert (agent.state is AgentState.RINGING) == (agent_id in ringing_for)
            assert agent.offered_call == ringing_for.get(agent_id)

        # Figures.
        figures = engine.figures()
        gauges, counters = figures["gauges"], figures["counters"]
        states = Counter(engine.agent_view(a).state for a in self.profiles)
        assert {s: gauges[f"agents_{s.value}"] for s in AgentState} == {s: float(states[s]) for s in AgentState}
        assert (gauges["calls_waiting"], gauges["calls_active"]) == (len(waiting), len(active))
        assert (counters["calls_answered"], counters["calls_abandoned"], counters["calls_overflowed"]) == (
            self.outcomes["CallAnswered"], self.outcomes["CallAbandoned"], self.outcomes["CallOverflowed"],
        )

        # Work-conserving.
        idle = [a for a in self.profiles if engine.agent_view(a).state is AgentState.IDLE]
        for cid in waiting:
            for agent_id in idle:
                assert not self.can_serve(agent_id, cid), f"{agent_id} idle while {cid} waits"

        # Order: the call offered is the best the agent could take among calls that were waiting before
        # and still wait (a call the agent missed is taken only when nothing else is left for it).
        for action in out:
            if isinstance(action, A.OfferCall):
                agents: tuple[str, ...] = (action.agent_id,)
            elif isinstance(action, A.RingAll):
                agents = action.agent_ids
            else:
                continue
            offered = engine.call_view(action.call_id)
            if offered is None or action.call_id not in self.order_index:
                continue
            for agent_id in agents:
                if agent_id not in offered.offered_to:
                    continue
                mine_missed = agent_id in offered.missed_by
                for other, (queue_before, missed_by) in waiting_before.items():
                    if other not in waiting or waiting[other][1] != missed_by or not self.can_serve(agent_id, other):
                        continue
                    if waiting[other][0] != queue_before:
                        # it reached this queue in the same step (an overflow whose timer fell due later than
                        # the offered call's, within one time advance): it was not waiting here at the offer
                        continue
                    if agent_id in missed_by:
                        continue
                    better = self.order_key(other)[:3] < self.order_key(action.call_id)[:3] or (
                        self.order_key(other) < self.order_key(action.call_id)
                        and waiting[other][0] == offered.queue_id
                    )
                    assert not (better or mine_missed), f"{agent_id} got {action.call_id} before {other}"

    def finish(self) -> None:
        """End every call still in the ACD so the exactly-once outcome can be checked for all of them."""
        for cid in list(self.h.engine.active_call_ids()):
            view = self.h.engine.call_view(cid)
            assert view is not None
            self.step(C.CallbackCancelled(cid) if view.callback_number else C.CallerHungUp(cid))
        assert self.h.engine.active_call_ids() == []
        for cid in self.arrived:
            assert self.terminal[cid] == 1, cid


OPS = (
    "arrive", "arrive", "arrive", "answer", "answer", "fail", "unreachable", "complete", "complete", "hangup",
    "time", "time", "login", "logout", "pause", "unpause", "wrap", "disconnect", "reconnect", "force_idle",
    "force_busy", "vip", "callback", "voicemail",
)


def run_sequence(data: Any, queues: list[QueueConfig], agents: list[AgentProfile], steps: int) -> None:
    chk = Checker(queues, agents, seed=data.draw(st.integers(0, 2**16)))
    engine = chk.h.engine
    agent_ids = [a.id for a in agents]
    for aid in agent_ids:
        if data.draw(st.booleans()):
            chk.step(C.AgentLoggedIn(aid))
    n = 0
    for _ in range(steps):
        op = data.draw(st.sampled_from(OPS))
        aid = data.draw(st.sampled_from(agent_ids))
        agent = engine.agent_view(aid)
        active = sorted(engine.active_call_ids())
        cid = data.draw(st.sampled_from(active)) if active else None
        if op == "arrive":
            n += 1
            call_id = f"c{n}"
            chk.arrived.append(call_id)
            own = data.draw(st.one_of(st.none(), st.just((SkillRequirement("zh", 3),))))
            chk.step(
                C.CallArrived(
                    call_id, data.draw(st.sampled_from(sorted(chk.queues))),
                    caller=data.draw(st.sampled_from(["v1", "v2", "x", "y", "z"])),
                    priority=data.draw(st.integers(0, 2)), did_vip=data.draw(st.booleans()),
                    skills=own, area=data.draw(st.sampled_from(AREAS)),
                    account_manager=data.draw(st.sampled_from([*agent_ids, ""])),
                )
            )
        elif op == "answer" and agent.offered_call:
            chk.step(C.OfferAnswered(agent.offered_call, aid))
        elif op == "fail" and agent.offered_call:
            chk.step(C.OfferFailed(agent.offered_call, aid, "rejected"))
        elif op == "unreachable" and agent.offered_call:
            chk.step(C.OfferFailed(agent.offered_call, aid, C.PHONE_UNREACHABLE))
        elif op == "complete" and agent.current_call:
            chk.step(C.CallCompleted(aid, agent.current_call))
        elif op == "hangup" and cid:
            chk.step(C.CallerHungUp(cid))
        elif op == "time":
            chk.advance(data.draw(st.sampled_from([0.5, 3.0, 7.0, 16.0, 40.0])))
        elif op == "login":
            chk.step(C.AgentLoggedIn(aid))
        elif op == "logout":
            chk.step(C.AgentLoggedOut(aid))
        elif op == "pause":
            chk.step(C.AgentPaused(aid, data.draw(st.sampled_from(["busy", "break"]))))
        elif op == "unpause":
            chk.step(C.AgentUnpaused(aid))
        elif op == "wrap":
            chk.step(C.WrapUpEnded(aid))
        elif op == "disconnect":
            chk.step(C.AgentDisconnected(aid))
        elif op == "reconnect":
            chk.step(C.AgentReconnected(aid))
        elif op == "force_idle":
            chk.step(C.SupervisorForcedIdle(aid, "sup"))
        elif op == "force_busy":
            chk.step(C.SupervisorForcedBusy(aid, "sup", "busy"))
        elif op == "vip" and cid:
            chk.step(C.VipLookupResult(cid, vip=data.draw(st.booleans())))
        elif op == "callback" and cid:
            chk.step(C.CallbackRequested(cid, data.draw(st.sampled_from(["139", "138"]))))
        elif op == "voicemail" and cid:
            chk.step(C.CallerChoseVoicemail(cid))
    chk.finish()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(centre=centres(), data=st.data())
def test_invariants_hold_on_random_event_sequences(
    centre: tuple[list[QueueConfig], list[AgentProfile]], data: Any
) -> None:
    queues, agents = centre
    run_sequence(data, queues, agents, steps=60)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(centre=centres(), data=st.data())
def test_invariants_hold_on_long_random_event_sequences(
    centre: tuple[list[QueueConfig], list[AgentProfile]], data: Any
) -> None:
    queues, agents = centre
    run_sequence(data, queues, agents, steps=200)
