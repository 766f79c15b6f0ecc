"""Caller priority: VIP sources, FIFO/LIFO inside a priority, returned calls first, queue priority."""

from __future__ import annotations

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.models import AcdSettings, QueueConfig, QueueOrder, Strategy, VipSource

from .harness import Harness, agent, offered_to


def _waiting_harness(q: QueueConfig, settings: AcdSettings | None = None) -> Harness:
    """One agent, paused, so calls pile up and the order they are served in can be read off."""
    h = Harness([q], [agent("a", queues=(q.id,))], settings)
    h.login("a")
    h.do(C.AgentPaused("a", "busy"))
    return h


def _drain(h: Harness, n: int) -> list[str]:
    served = []
    h.do(C.AgentUnpaused("a"))
    for _ in range(n):
        offer = h.of(A.OfferCall)[-1]
        served.append(offer.call_id)
        h.answer(offer.call_id, "a")
        h.do(C.CallCompleted("a", offer.call_id))
    return served


def test_global_vip_list_raises_priority() -> None:
    h = _waiting_harness(QueueConfig("q"), AcdSettings(vip_numbers=("888",), vip_priority=7))
    h.arrive("plain", caller="111")
    h.arrive("vip", caller="888")
    assert h.engine.call_view("vip").priority == 7  # type: ignore[union-attr]
    assert h.of(E.CallQueued)[-1].vip_source == "global_list"
    assert _drain(h, 2) == ["vip", "plain"]


def test_queue_vip_list_only_applies_to_its_own_queue() -> None:
    qs = [QueueConfig("q", vip_numbers=("555",)), QueueConfig("other")]
    h = Harness(qs, [agent("a")])
    h.arrive("c1", "q", caller="555")
    h.arrive("c2", "other", caller="555")
    assert h.engine.call_view("c1").priority == 10  # type: ignore[union-attr]
    assert h.engine.call_view("c2").priority == 0  # type: ignore[union-attr]


def test_did_vip_flag_raises_priority() -> None:
    h = _waiting_harness(QueueConfig("q"))
    h.arrive("plain")
    h.arrive("vip", did="4008001", did_vip=True)
    assert _drain(h, 2) == ["vip", "plain"]


def test_vip_source_not_chosen_for_the_queue_is_ignored() -> None:
    q = QueueConfig("q", vip_sources=(VipSource.DID,))
    h = _waiting_harness(q, AcdSettings(vip_numbers=("888",)))
    h.arrive("c1", caller="888")
    assert h.engine.call_view("c1").priority == 0  # type: ignore[union-attr]


def test_crm_lookup_is_requested_and_never_blocks_routing() -> None:
    h = Harness([QueueConfig("q", vip_sources=(VipSource.CRM,))], [agent("a")])
    h.login("a")
    out = h.arrive("c1", caller="13800000000")
    (lookup,) = h.of(A.LookupVip, out)
    assert lookup.caller == "13800000000" and lookup.timeout == AcdSettings().vip_lookup_timeout
    assert offered_to(out) == [("c1", "a")]  # offered at once, the answer was not awaited


def test_crm_vip_result_in_time_raises_priority_and_reorders() -> None:
    h = _waiting_harness(QueueConfig("q", vip_sources=(VipSource.CRM,)))
    h.arrive("first", caller="1")
    h.arrive("second", caller="2")
    h.advance(0.5)
    h.do(C.VipLookupResult("second", vip=True))
    assert h.of(E.CallPriorityRaised)[-1].call_id == "second"
    assert _drain(h, 2) == ["second", "first"]


def test_crm_result_after_the_timeout_leaves_normal_priority() -> None:
    h = _waiting_harness(QueueConfig("q", vip_sources=(VipSource.CRM,)), AcdSettings(vip_lookup_timeout=1.0))
    h.arrive("first", caller="1")
    h.arrive("second", caller="2")
    h.advance(2.0)
    assert [e.call_id for e in h.of(E.VipLookupTimedOut)] == ["first", "second"]
    h.do(C.VipLookupResult("second", vip=True))
    assert h.engine.call_view("second").priority == 0  # type: ignore[union-attr]
    assert _drain(h, 2) == ["first", "second"]


def test_fifo_within_a_priority() -> None:
    h = _waiting_harness(QueueConfig("q", order=QueueOrder.FIFO))
    for i in range(4):
        h.arrive(f"c{i}", priority=1 if i == 2 else 0)
    assert _drain(h, 4) == ["c2", "c0", "c1", "c3"]


def test_lifo_within_a_priority() -> None:
    h = _waiting_harness(QueueConfig("q", order=QueueOrder.LIFO))
    for i in range(4):
        h.arrive(f"c{i}", priority=1 if i == 1 else 0)
    assert _drain(h, 4) == ["c1", "c3", "c2", "c0"]


def test_call_returned_after_no_answer_goes_ahead_of_everyone_including_vip() -> None:
    # max_misses=1 sets a busy after the miss, so the order of the waiting calls can be read.
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, ring_timeout=10, max_misses=1)
    h = Harness([q], [agent("a"), agent("b")], AcdSettings(vip_numbers=("888",)))
    h.login("a", "b")
    h.do(C.AgentPaused("b", "busy"))
    assert offered_to(h.arrive("plain")) == [("plain", "a")]
    h.arrive("vip", caller="888")
    h.advance(10)  # a does not answer
    assert h.engine.waiting_calls("q") == ["plain", "vip"]
    assert h.engine.call_view("plain").returned  # type: ignore[union-attr]
    assert h.of(E.CallReturned)[-1].reason == "ring_timeout"


def test_agent_in_two_queues_serves_the_higher_priority_queue_first() -> None:
    qs = [QueueConfig("low", priority=1), QueueConfig("high", priority=5)]
    h = Harness(qs, [agent("a", queues=("low", "high"))])
    h.login("a")
    h.do(C.AgentPaused("a", "busy"))
    h.arrive("l1", "low")
    h.arrive("h1", "high")
    h.arrive("l2", "low", priority=3)  # caller priority does not beat queue priority
    assert _drain(h, 3) == ["h1", "l2", "l1"]


def test_agent_in_two_equal_queues_compares_queue_heads_by_age() -> None:
    # Each queue offers its own head (LIFO in y: the newest), and the older of the two heads goes first.
    qs = [QueueConfig("x"), QueueConfig("y", order=QueueOrder.LIFO)]
    h = Harness(qs, [agent("a", queues=("x", "y"))])
    h.login("a")
    h.do(C.AgentPaused("a", "busy"))
    h.arrive("y1", "y")
    h.advance(1)
    h.arrive("x1", "x")
    h.advance(1)
    h.arrive("y2", "y")
    assert _drain(h, 3) == ["x1", "y2", "y1"]
