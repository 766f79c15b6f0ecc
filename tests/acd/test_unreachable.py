"""An agent whose phone cannot be reached (not registered): the offer fails at once, without a miss, and the
agent is disconnected until the phone is back (or the grace period logs it out)."""

from __future__ import annotations

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.models import AcdSettings, AgentState, QueueConfig, Strategy

from .harness import Harness, agent, offered_to

GRACE = 60.0


def _ringing(*agent_ids: str, strategy: Strategy = Strategy.LOGIN_ORDER, grace: float = GRACE) -> Harness:
    h = Harness(
        [QueueConfig("q", strategy=strategy, ring_timeout=15)],
        [agent(a) for a in agent_ids],
        AcdSettings(disconnect_grace=grace),
    )
    h.login(*agent_ids)
    h.arrive("c1")
    return h


def _unreachable(h: Harness, agent_id: str = "a", call_id: str = "c1") -> list[A.Action]:
    return h.do(C.OfferFailed(call_id, agent_id, C.PHONE_UNREACHABLE))


def test_the_next_agent_is_offered_the_call_at_once() -> None:
    h = _ringing("a", "b")
    out = _unreachable(h)
    assert offered_to(out) == [("c1", "b")]
    assert h.of(A.CancelOffer, out) == []  # nothing rang, nothing to cancel
    a = h.engine.agent_view("a")
    assert (a.state, a.reason, a.misses, a.offered_call) == (AgentState.DISCONNECTED, "phone_unreachable", 0, None)
    assert h.of(E.AgentMissedCall) == []
    view = h.engine.call_view("c1")
    assert view is not None and view.missed_by == ()


def test_a_single_agent_leaves_the_call_queued_first_in_line_and_is_not_rung_again() -> None:
    h = _ringing("a")
    out = _unreachable(h)
    assert offered_to(out) == []
    assert h.engine.waiting_calls("q") == ["c1"]
    h.arrive("c2", priority=9)  # a returned call stays ahead even of a higher priority
    assert h.engine.waiting_calls("q") == ["c1", "c2"]
    later = h.advance(GRACE - 1)
    assert h.of(A.OfferCall, later) == [] and h.of(A.RingAll, later) == []
    assert [e.attempt for e in h.of(E.CallOffered)] == [1]
    assert h.state("a") is AgentState.DISCONNECTED


def test_reconnecting_brings_the_agent_back_and_it_takes_the_waiting_call() -> None:
    h = _ringing("a")
    _unreachable(h)
    h.advance(10)
    out = h.do(C.AgentReconnected("a"))
    assert offered_to(out) == [("c1", "a")]
    assert h.engine.agent_view("a").misses == 0
    reconnected = [e for e in h.of(E.AgentStateChanged) if e.old == "disconnected"]
    assert [(e.new, e.reason) for e in reconnected] == [("idle", "reconnected")]


def test_the_grace_period_logs_the_agent_out_and_the_call_keeps_waiting() -> None:
    h = _ringing("a")
    _unreachable(h)
    h.advance(GRACE + 1)
    view = h.engine.agent_view("a")
    assert (view.state, view.reason) == (AgentState.LOGGED_OUT, "disconnect_timeout")
    assert h.engine.waiting_calls("q") == ["c1"]


def test_without_a_grace_period_the_agent_is_logged_out_at_once() -> None:
    h = _ringing("a", "b", grace=0)
    assert offered_to(_unreachable(h)) == [("c1", "b")]
    view = h.engine.agent_view("a")
    assert (view.state, view.reason) == (AgentState.LOGGED_OUT, "phone_unreachable")


def test_the_published_state_change_says_why() -> None:
    h = _ringing("a", "b")
    _unreachable(h)
    change = [e for e in h.of(E.AgentStateChanged) if e.agent_id == "a"][-1]
    assert (change.old, change.new, change.reason, change.by) == (
        "ringing", "disconnected", "phone_unreachable", "system",
    )
    returned = h.of(E.CallReturned)[-1]
    assert (returned.agent_ids, returned.reason) == (("a",), "phone_unreachable")


def test_in_a_ring_all_group_the_others_keep_ringing() -> None:
    h = _ringing("a", "b", strategy=Strategy.RING_ALL)
    out = _unreachable(h)
    assert out == []
    view = h.engine.call_view("c1")
    assert view is not None and view.offered_to == ("b",)
    assert h.state("a") is AgentState.DISCONNECTED


def test_any_other_failure_still_counts_as_a_miss() -> None:
    h = _ringing("a", "b")
    assert offered_to(h.do(C.OfferFailed("c1", "a", "rejected"))) == [("c1", "b")]
    a = h.engine.agent_view("a")
    assert (a.state, a.misses) == (AgentState.IDLE, 1)


def test_a_stale_report_changes_nothing() -> None:
    h = _ringing("a", "b")
    h.answer("c1", "a")
    assert _unreachable(h) == []
    assert h.state("a") is AgentState.ON_CALL
