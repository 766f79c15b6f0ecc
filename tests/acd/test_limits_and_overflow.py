"""Limits (max wait, no agent logged in, max queue length), their overflow actions, announcements, ringing."""

from __future__ import annotations

import pytest

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.models import (
    AcdSettings,
    AgentState,
    OverflowAction,
    OverflowKind,
    QueueConfig,
    SkillRequirement,
    Strategy,
)

from .harness import Harness, agent, offered_to

OUTSIDE_KINDS = [
    (OverflowKind.VOICEMAIL, "box-100"),
    (OverflowKind.IVR, "node-7"),
    (OverflowKind.EXTERNAL, "13900000000"),
]


def _busy_queue(q: QueueConfig, *more: QueueConfig) -> Harness:
    h = Harness([q, *more], [agent("a", queues=(q.id,))])
    h.login("a")
    h.do(C.AgentPaused("a", "busy"))
    return h


@pytest.mark.parametrize(("kind", "target"), OUTSIDE_KINDS)
def test_max_wait_overflow_to_voicemail_ivr_or_external(kind: OverflowKind, target: str) -> None:
    h = _busy_queue(QueueConfig("q", max_wait=60, on_max_wait=OverflowAction(kind, target)))
    h.arrive("c1")
    assert h.advance(59.9) == []
    (out,) = h.advance(0.2)
    assert out == A.OverflowCall("c1", kind, target, "max_wait")
    (ev,) = h.of(E.CallOverflowed)
    assert (ev.reason, ev.action, ev.target, ev.wait) == ("max_wait", kind.value, target, 60)
    assert h.engine.active_call_ids() == []


def test_max_wait_overflow_hang_up() -> None:
    h = _busy_queue(QueueConfig("q", max_wait=30, on_max_wait=OverflowAction(OverflowKind.HANGUP)))
    h.arrive("c1")
    assert h.advance(31) == [A.HangUpCall("c1", "max_wait")]


def test_max_wait_overflow_to_another_queue_keeps_the_call_in_the_acd() -> None:
    q = QueueConfig("q", max_wait=30, on_max_wait=OverflowAction(OverflowKind.QUEUE, "backup"))
    h = Harness([q, QueueConfig("backup")], [agent("a", queues=("q",)), agent("b", queues=("backup",))])
    h.login("a", "b")
    h.do(C.AgentPaused("a", "busy"))
    h.do(C.AgentPaused("b", "busy"))
    h.arrive("c1", priority=3)
    h.advance(31)
    assert h.of(E.CallOverflowed)[-1].action == "queue"
    assert h.of(E.CallQueued)[-1].queue_id == "backup"
    assert h.engine.waiting_calls("backup") == ["c1"]
    assert offered_to(h.do(C.AgentUnpaused("b"))) == [("c1", "b")]
    h.answer("c1", "b")
    assert h.of(E.CallAnswered)[-1].wait == 31  # counted from arrival in the ACD, not in the backup queue


def test_queue_to_queue_overflow_loop_ends_in_hang_up() -> None:
    a = QueueConfig("a", max_wait=10, on_max_wait=OverflowAction(OverflowKind.QUEUE, "b"))
    b = QueueConfig("b", max_wait=10, on_max_wait=OverflowAction(OverflowKind.QUEUE, "a"))
    h = Harness([a, b], [], AcdSettings(max_overflow_hops=3))
    h.arrive("c1", "a")
    out = h.advance(100)
    assert out == [A.HangUpCall("c1", "overflow_loop")]
    assert [e.action for e in h.of(E.CallOverflowed)] == ["queue", "queue", "queue", "hangup"]


def test_max_wait_reached_while_ringing_lets_the_agent_answer() -> None:
    h = Harness([QueueConfig("q", max_wait=10, ring_timeout=15)], [agent("a")])
    h.login("a")
    h.arrive("c1")
    h.advance(12)
    assert h.state("a") is AgentState.RINGING
    h.answer("c1", "a")
    assert h.of(E.CallAnswered) and not h.of(E.CallOverflowed)


def test_max_wait_reached_while_ringing_overflows_when_the_offer_fails() -> None:
    q = QueueConfig("q", max_wait=10, ring_timeout=15, on_max_wait=OverflowAction(OverflowKind.VOICEMAIL, "m"))
    h = Harness([q], [agent("a")])
    h.login("a")
    h.arrive("c1")
    out = h.advance(16)
    assert A.OverflowCall("c1", OverflowKind.VOICEMAIL, "m", "max_wait") in out
    assert h.state("a") is AgentState.IDLE


def test_max_wait_no_agent_logged_in_overflows() -> None:
    q = QueueConfig("q", max_wait_no_agent=20, on_no_agent=OverflowAction(OverflowKind.IVR, "menu"))
    h = Harness([q], [agent("a")])
    h.arrive("c1")
    assert h.advance(21) == [A.OverflowCall("c1", OverflowKind.IVR, "menu", "no_agent")]


def test_max_wait_no_agent_stops_counting_once_an_agent_logs_in() -> None:
    q = QueueConfig("q", max_wait_no_agent=20, on_no_agent=OverflowAction(OverflowKind.HANGUP))
    h = Harness([q], [agent("a")])
    h.arrive("c1")
    h.advance(10)
    h.do(C.AgentLoggedIn("a", paused_reason="busy"))  # logged in but busy: the no-agent limit stops
    assert h.advance(60) == []
    h.do(C.AgentLoggedOut("a"))  # nobody logged in again: the limit counts from now
    assert h.advance(19) == []
    assert h.advance(2) == [A.HangUpCall("c1", "no_agent")]


def test_max_wait_no_agent_counts_only_agents_with_the_needed_skill() -> None:
    q = QueueConfig("q", max_wait_no_agent=5, required_skills=(SkillRequirement("de", 1),))
    h = Harness([q], [agent("a")])
    h.login("a")
    h.arrive("c1")
    assert h.advance(6) == [A.HangUpCall("c1", "no_agent")]


def test_max_wait_no_agent_zero_overflows_on_arrival() -> None:
    q = QueueConfig("q", max_wait_no_agent=0, on_no_agent=OverflowAction(OverflowKind.VOICEMAIL, "vm"))
    h = Harness([q], [agent("a")])
    assert h.arrive("c1") == [A.OverflowCall("c1", OverflowKind.VOICEMAIL, "vm", "no_agent")]
    assert not h.of(E.CallQueued)


def test_max_queue_length_overflows_the_caller_over_the_limit() -> None:
    q = QueueConfig("q", max_length=2, on_full=OverflowAction(OverflowKind.EXTERNAL, "95500"))
    h = _busy_queue(q)
    h.arrive("c1")
    h.arrive("c2")
    assert h.arrive("c3") == [A.OverflowCall("c3", OverflowKind.EXTERNAL, "95500", "queue_full")]
    assert h.engine.waiting_calls("q") == ["c1", "c2"]


def test_announce_position_and_estimated_wait_every_interval_with_keys() -> None:
    q = QueueConfig(
        "q", announce_interval=30, voicemail_key="1", callback_key="2", initial_handle_estimate=120
    )
    h = _busy_queue(q)
    h.arrive("c1")
    h.advance(10)
    h.arrive("c2")
    out = h.of(A.AnnouncePosition, h.advance(25))
    assert out == [A.AnnouncePosition("c1", 1, 120.0, "1", "2")]  # 1 ahead-or-self x 120 s / 1 agent
    out = h.of(A.AnnouncePosition, h.advance(10))
    assert out == [A.AnnouncePosition("c2", 2, 240.0, "1", "2")]
    h.do(C.CallerHungUp("c1"))
    out = h.of(A.AnnouncePosition, h.advance(30))
    assert [(a.call_id, a.position) for a in out] == [("c2", 1)]


def test_announce_on_entry() -> None:
    h = _busy_queue(QueueConfig("q", announce_interval=60, announce_on_entry=True))
    h.arrive("c1")
    (out,) = h.of(A.AnnouncePosition, h.arrive("c2"))
    assert out.position == 2


def test_caller_presses_the_voicemail_key() -> None:
    h = _busy_queue(QueueConfig("q", voicemail_key="1", voicemail_box="sales-vm"))
    h.arrive("c1")
    out = h.do(C.CallerChoseVoicemail("c1"))
    assert out == [A.OverflowCall("c1", OverflowKind.VOICEMAIL, "sales-vm", "caller_choice")]


def test_ring_timeout_offers_the_next_agent() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, ring_timeout=15)
    h = Harness([q], [agent("a"), agent("b")])
    h.login("a", "b")
    h.arrive("c1")
    out = h.advance(15)
    assert A.CancelOffer("c1", "a", "ring_timeout") in out
    assert offered_to(out) == [("c1", "b")]
    assert h.of(E.AgentMissedCall)[-1].agent_id == "a"
    assert h.state("a") is AgentState.IDLE


def test_agent_that_missed_gets_the_call_again_only_when_nobody_else_is_idle() -> None:
    h = Harness([QueueConfig("q", ring_timeout=15)], [agent("a")])
    h.login("a")
    h.arrive("c1")
    assert offered_to(h.advance(15)) == [("c1", "a")]


def test_agent_set_busy_after_max_misses() -> None:
    q = QueueConfig("q", ring_timeout=10, max_misses=2)
    h = Harness([q], [agent("a")])
    h.login("a")
    h.arrive("c1")
    h.advance(10)
    assert h.state("a") is AgentState.RINGING  # first miss: offered again
    h.advance(10)
    view = h.engine.agent_view("a")
    assert (view.state, view.reason, view.misses) == (AgentState.PAUSED, "no_answer", 2)
    assert h.engine.waiting_calls("q") == ["c1"]


def test_answer_resets_the_miss_count() -> None:
    q = QueueConfig("q", ring_timeout=10, max_misses=2)
    h = Harness([q], [agent("a")])
    h.login("a")
    h.arrive("c1")
    h.advance(10)
    h.answer("c1", "a")
    assert h.engine.agent_view("a").misses == 0


def test_rejected_offer_counts_as_a_miss_and_the_call_moves_on() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.LOGIN_ORDER)], [agent("a"), agent("b")])
    h.login("a", "b")
    h.arrive("c1")
    out = h.do(C.OfferFailed("c1", "a", "rejected"))
    assert offered_to(out) == [("c1", "b")]
    assert h.engine.agent_view("a").misses == 1


def test_caller_hang_up_while_ringing_cancels_the_offer_and_abandons() -> None:
    h = Harness([QueueConfig("q")], [agent("a")])
    h.login("a")
    h.arrive("c1")
    h.advance(3)
    out = h.do(C.CallerHungUp("c1"))
    assert out == [A.CancelOffer("c1", "a", "caller_hung_up")]
    (ev,) = h.of(E.CallAbandoned)
    assert ev.while_ringing and ev.wait == 3
    assert h.state("a") is AgentState.IDLE
    assert h.engine.agent_view("a").misses == 0


def test_late_answer_after_the_offer_moved_on_is_cancelled() -> None:
    h = Harness([QueueConfig("q", ring_timeout=5, strategy=Strategy.LOGIN_ORDER)], [agent("a"), agent("b")])
    h.login("a", "b")
    h.arrive("c1")
    h.advance(5)
    assert h.answer("c1", "a") == [A.CancelOffer("c1", "a", "stale")]
    assert h.state("b") is AgentState.RINGING
