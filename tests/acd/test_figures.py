"""Monitoring figures: counters since start and current gauges, as plain numbers."""

from __future__ import annotations

from appliance.acd import commands as C
from appliance.acd.models import AcdSettings, AgentState, OverflowAction, OverflowKind, QueueConfig, Strategy

from .harness import Harness, agent


def test_a_new_engine_counts_nothing_and_sees_its_agents_logged_out() -> None:
    h = Harness([QueueConfig("q")], [agent("a"), agent("b")])
    figures = h.engine.figures()
    assert set(figures) == {"counters", "gauges"}
    assert all(v == 0.0 for v in figures["counters"].values())
    gauges = figures["gauges"]
    assert gauges["agents_logged_out"] == 2.0 and gauges["agents_logged_in"] == 0.0
    assert {f"agents_{s.value}" for s in AgentState} <= set(gauges)
    assert all(isinstance(v, float) for part in figures.values() for v in part.values())


def test_figures_follow_calls_offers_and_agents() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, max_length=2, on_full=OverflowAction(OverflowKind.VOICEMAIL, "vm"))
    h = Harness([q], [agent("a"), agent("b"), agent("c")], AcdSettings(disconnect_grace=30))
    h.login("a", "b")
    h.arrive("c1")  # rings a
    h.arrive("c2")  # rings b
    h.arrive("c3")
    h.arrive("c4")
    h.arrive("c5")  # the queue is full: to voicemail
    gauges = h.engine.figures()["gauges"]
    assert (gauges["calls_active"], gauges["calls_waiting"]) == (4.0, 2.0)
    assert (gauges["agents_ringing"], gauges["agents_logged_out"], gauges["agents_logged_in"]) == (2.0, 1.0, 2.0)

    h.answer("c1", "a")
    h.do(C.OfferFailed("c2", "b", "no_answer"))  # b takes c3 instead; c2 goes back to the front
    h.do(C.OfferFailed("c3", "b", C.PHONE_UNREACHABLE))  # b is disconnected
    h.do(C.CallerHungUp("c4"))
    figures = h.engine.figures()
    assert figures["counters"] == {
        "calls_arrived": 5.0,
        "calls_answered": 1.0,
        "calls_abandoned": 1.0,
        "calls_overflowed": 1.0,
        "offers_made": 3.0,
        "offers_failed": 2.0,
        "offers_unreachable": 1.0,
        "callbacks_registered": 0.0,
    }
    gauges = figures["gauges"]
    assert (gauges["calls_active"], gauges["calls_waiting"]) == (2.0, 2.0)
    assert (gauges["agents_on_call"], gauges["agents_disconnected"], gauges["agents_ringing"]) == (1.0, 1.0, 0.0)
