"""Agent states: wrap-up, custom pauses, minimum busy time, disconnect grace, supervisor force, the agent log."""

from __future__ import annotations

import pytest

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.errors import InvalidAgentState, MinBusyNotReached, UnknownAgent, UnknownPauseReason
from appliance.acd.models import AcdSettings, AgentState, PauseReason, QueueConfig, Strategy

from .harness import Harness, agent, offered_to


def _on_call(q: QueueConfig, settings: AcdSettings | None = None) -> Harness:
    h = Harness([q], [agent("a", queues=(q.id,)), agent("b", queues=(q.id,))], settings)
    h.login("a")
    h.arrive("c1", q.id)
    h.answer("c1", "a")
    return h


def test_no_wrap_up_makes_the_agent_idle_right_after_the_call() -> None:
    h = _on_call(QueueConfig("q"))
    h.do(C.CallCompleted("a", "c1"))
    assert h.state("a") is AgentState.IDLE


def test_timed_wrap_up_uses_the_queue_time() -> None:
    h = _on_call(QueueConfig("q", wrap_up=30))
    h.do(C.CallCompleted("a", "c1"))
    assert h.state("a") is AgentState.WRAP_UP
    h.arrive("c2")
    assert h.advance(29.9) == []
    assert offered_to(h.advance(0.2)) == [("c2", "a")]  # wrap-up over: takes the waiting call


def test_wrap_up_time_follows_the_queue_the_call_came_from() -> None:
    qs = [QueueConfig("short", wrap_up=5), QueueConfig("long", wrap_up=60)]
    h = Harness(qs, [agent("a", queues=("short", "long"))])
    h.login("a")
    h.arrive("c1", "long")
    h.answer("c1", "a")
    h.do(C.CallCompleted("a", "c1"))
    h.advance(10)
    assert h.state("a") is AgentState.WRAP_UP


def test_manual_wrap_up_lasts_until_the_agent_ends_it() -> None:
    h = _on_call(QueueConfig("q", wrap_up_manual=True))
    h.do(C.CallCompleted("a", "c1"))
    h.advance(3600)
    assert h.state("a") is AgentState.WRAP_UP
    h.arrive("c2")
    assert offered_to(h.do(C.WrapUpEnded("a"))) == [("c2", "a")]


def test_wrap_up_end_outside_wrap_up_is_refused() -> None:
    h = Harness([QueueConfig("q")], [agent("a")])
    h.login("a")
    with pytest.raises(InvalidAgentState):
        h.do(C.WrapUpEnded("a"))


def test_custom_pause_reasons_are_accepted_and_unknown_ones_refused() -> None:
    settings = AcdSettings(pause_reasons=(PauseReason("coaching", "Coaching", "辅导"),))
    h = Harness([QueueConfig("q")], [agent("a")], settings)
    h.login("a")
    h.do(C.AgentPaused("a", "coaching"))
    view = h.engine.agent_view("a")
    assert (view.state, view.reason) == (AgentState.PAUSED, "coaching")
    with pytest.raises(UnknownPauseReason):
        h.do(C.AgentPaused("a", "meal"))


def test_paused_agent_gets_no_calls() -> None:
    h = Harness([QueueConfig("q")], [agent("a")])
    h.login("a")
    h.do(C.AgentPaused("a", "break"))
    assert h.arrive("c1") == []
    assert h.engine.waiting_calls("q") == ["c1"]


def test_unpause_before_the_minimum_busy_time_is_refused() -> None:
    h = Harness([QueueConfig("q")], [agent("a")], AcdSettings(min_busy=60))
    h.login("a")
    h.do(C.AgentPaused("a", "busy"))
    h.advance(59)
    with pytest.raises(MinBusyNotReached) as err:
        h.do(C.AgentUnpaused("a"))
    assert err.value.error_id == "min_busy_not_reached" and err.value.message_zh
    assert h.state("a") is AgentState.PAUSED  # nothing changed
    h.advance(1)
    h.do(C.AgentUnpaused("a"))
    assert h.state("a") is AgentState.IDLE


def test_pause_asked_during_a_call_applies_when_the_call_ends() -> None:
    h = _on_call(QueueConfig("q", wrap_up=30))
    h.do(C.AgentPaused("a", "meal"))
    assert h.state("a") is AgentState.ON_CALL
    h.do(C.CallCompleted("a", "c1"))
    view = h.engine.agent_view("a")
    assert (view.state, view.reason) == (AgentState.PAUSED, "meal")


def test_pause_while_ringing_is_refused() -> None:
    h = Harness([QueueConfig("q")], [agent("a")])
    h.login("a")
    h.arrive("c1")
    with pytest.raises(InvalidAgentState):
        h.do(C.AgentPaused("a", "busy"))


def test_brief_disconnect_keeps_state_and_counters() -> None:
    h = _on_call(QueueConfig("q"), AcdSettings(disconnect_grace=30))
    h.do(C.CallCompleted("a", "c1"))
    h.do(C.AgentPaused("a", "break"))
    before = h.engine.agent_view("a")
    h.advance(5)
    h.do(C.AgentDisconnected("a"))
    assert h.state("a") is AgentState.DISCONNECTED
    h.arrive("c2")
    h.advance(20)
    h.do(C.AgentReconnected("a"))
    after = h.engine.agent_view("a")
    assert (after.state, after.reason) == (AgentState.PAUSED, "break")
    assert (after.logged_in_at, after.answered, after.idle_since) == (
        before.logged_in_at, before.answered, before.idle_since,
    )


def test_brief_disconnect_of_an_idle_agent_returns_it_to_idle() -> None:
    h = Harness([QueueConfig("q")], [agent("a")], AcdSettings(disconnect_grace=30))
    h.login("a")
    h.do(C.AgentDisconnected("a"))
    h.arrive("c1")  # not offered to a disconnected agent
    assert h.state("a") is AgentState.DISCONNECTED
    assert offered_to(h.do(C.AgentLoggedIn("a"))) == [("c1", "a")]  # a fresh login counts as reconnect


def test_disconnect_longer_than_the_grace_logs_the_agent_out() -> None:
    h = Harness([QueueConfig("q")], [agent("a")], AcdSettings(disconnect_grace=30))
    h.login("a")
    h.do(C.AgentDisconnected("a"))
    h.advance(31)
    view = h.engine.agent_view("a")
    assert (view.state, view.reason) == (AgentState.LOGGED_OUT, "disconnect_timeout")


def test_disconnect_while_ringing_returns_the_call_without_a_miss() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.LOGIN_ORDER)], [agent("a"), agent("b")])
    h.login("a", "b")
    h.arrive("c1")
    out = h.do(C.AgentDisconnected("a"))
    assert A.CancelOffer("c1", "a", "agent_disconnected") in out
    assert offered_to(out) == [("c1", "b")]
    assert h.engine.agent_view("a").misses == 0


def test_disconnect_during_a_call_keeps_the_call() -> None:
    h = _on_call(QueueConfig("q"), AcdSettings(disconnect_grace=30))
    h.do(C.AgentDisconnected("a"))
    h.do(C.AgentReconnected("a"))
    view = h.engine.agent_view("a")
    assert (view.state, view.current_call) == (AgentState.ON_CALL, "c1")


def test_supervisor_forces_idle_past_the_minimum_busy_time() -> None:
    h = Harness([QueueConfig("q")], [agent("a")], AcdSettings(min_busy=600))
    h.login("a")
    h.do(C.AgentPaused("a", "busy"))
    h.do(C.SupervisorForcedIdle("a", "boss"))
    assert h.state("a") is AgentState.IDLE
    ev = h.of(E.AgentStateChanged)[-1]
    assert (ev.new, ev.by, ev.reason) == ("idle", "boss", "forced_idle")


def test_supervisor_forces_busy_a_ringing_agent() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.LOGIN_ORDER)], [agent("a"), agent("b")])
    h.login("a", "b")
    h.arrive("c1")
    out = h.do(C.SupervisorForcedBusy("a", "boss", "training"))
    assert offered_to(out) == [("c1", "b")]
    view = h.engine.agent_view("a")
    assert (view.state, view.reason) == (AgentState.PAUSED, "training")


def test_supervisor_forces_logout() -> None:
    h = Harness([QueueConfig("q")], [agent("a")])
    h.login("a")
    h.arrive("c1")
    out = h.do(C.SupervisorForcedLogout("a", "boss"))
    assert A.CancelOffer("c1", "a", "forced_logout") in out
    assert h.state("a") is AgentState.LOGGED_OUT
    assert h.engine.waiting_calls("q") == ["c1"]


def test_supervisor_cannot_force_idle_a_logged_out_agent() -> None:
    h = Harness([QueueConfig("q")], [agent("a")])
    with pytest.raises(InvalidAgentState):
        h.do(C.SupervisorForcedIdle("a", "boss"))


def test_unknown_agent_is_refused() -> None:
    h = Harness([QueueConfig("q")], [])
    with pytest.raises(UnknownAgent):
        h.login("ghost")


def test_every_transition_is_logged_with_timestamps_and_durations() -> None:
    h = Harness([QueueConfig("q", wrap_up=10)], [agent("a")])
    h.login("a")
    h.advance(5)
    h.arrive("c1")
    h.advance(2)
    h.answer("c1", "a")
    h.advance(60)
    h.do(C.CallCompleted("a", "c1"))
    h.advance(10)
    h.do(C.AgentLoggedOut("a"))
    log = [(e.old, e.new, e.duration) for e in h.of(E.AgentStateChanged)]
    assert log == [
        ("logged_out", "idle", 0.0),
        ("idle", "ringing", 5.0),
        ("ringing", "on_call", 2.0),
        ("on_call", "wrap_up", 60.0),
        ("wrap_up", "idle", 10.0),
        ("idle", "logged_out", 0.0),
    ]
    changes = h.of(E.AgentStateChanged)
    epoch = h.clock.epoch_offset
    assert [e.at - epoch for e in changes] == [0.0, 5.0, 7.0, 67.0, 77.0, 77.0]
    assert all(e.since + e.duration == e.at for e in changes[1:])


def test_agent_on_a_direct_call_is_not_offered_queue_calls_and_returns_to_its_state() -> None:
    h = Harness([QueueConfig("q")], [agent("a")])
    h.login("a")
    h.do(C.AgentPaused("a", "busy"))
    h.do(C.AgentStartedOtherCall("a", "x1", "internal"))
    h.arrive("c1")
    assert h.state("a") is AgentState.ON_CALL
    h.do(C.CallCompleted("a", "x1"))
    assert h.state("a") is AgentState.PAUSED
