"""Callback instead of waiting, and the idle agents reserved for inbound when outbound campaigns run."""

from __future__ import annotations

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.models import AcdSettings, AgentState, QueueConfig

from .harness import Harness, agent, offered_to


def _busy(settings: AcdSettings | None = None) -> Harness:
    h = Harness([QueueConfig("q", callback_key="2", max_wait=120, announce_interval=30)], [agent("a")], settings)
    h.login("a")
    h.do(C.AgentPaused("a", "busy"))
    return h


def test_callback_keeps_the_position_and_connects_the_agent_first() -> None:
    h = _busy()
    h.arrive("c1", caller="111")
    h.arrive("c2", caller="222")
    h.arrive("c3", caller="333")
    out = h.do(C.CallbackRequested("c2", "13800000002"))
    assert out == [A.AcceptCallback("c2", "13800000002")]
    assert h.of(E.CallbackRegistered)[-1].position == 2
    h.do(C.CallerHungUp("c2"))  # the caller's leg is released: the ticket stays
    assert h.engine.waiting_calls("q") == ["c1", "c2", "c3"]
    h.advance(200)  # max wait and announcements no longer apply to the ticket
    assert h.engine.waiting_calls("q") == ["c2"]
    (offer,) = h.of(A.OfferCall, h.do(C.AgentUnpaused("a")))
    assert (offer.call_id, offer.callback_number) == ("c2", "13800000002")
    out = h.answer("c2", "a")
    assert A.DialCallback("c2", "a", "13800000002") in out  # agent connected, then the customer dialled
    assert h.of(E.CallAnswered)[-1].callback_number == "13800000002"


def test_duplicate_callback_for_the_same_number_is_refused() -> None:
    h = _busy()
    h.arrive("c1")
    h.arrive("c2")
    h.do(C.CallbackRequested("c1", "139"))
    assert h.do(C.CallbackRequested("c2", "139")) == [A.RefuseCallback("c2", "139", "duplicate")]
    assert h.do(C.CallbackRequested("c1", "140")) == [A.RefuseCallback("c1", "140", "duplicate")]
    assert h.engine.call_view("c2").callback_number == ""  # type: ignore[union-attr]


def test_callback_number_can_be_registered_again_after_it_was_served() -> None:
    h = _busy()
    h.arrive("c1")
    h.do(C.CallbackRequested("c1", "139"))
    h.do(C.AgentUnpaused("a"))
    h.answer("c1", "a")
    h.do(C.CallCompleted("a", "c1"))
    h.do(C.AgentPaused("a", "busy"))
    h.arrive("c2")
    assert h.do(C.CallbackRequested("c2", "139")) == [A.AcceptCallback("c2", "139")]


def test_callback_refused_when_the_queue_does_not_offer_it() -> None:
    h = Harness([QueueConfig("q")], [agent("a")])
    h.arrive("c1")
    assert h.do(C.CallbackRequested("c1", "139")) == [A.RefuseCallback("c1", "139", "not_offered")]


def test_cancelled_callback_ends_as_abandoned() -> None:
    h = _busy()
    h.arrive("c1")
    h.do(C.CallbackRequested("c1", "139"))
    h.do(C.CallbackCancelled("c1"))
    assert h.of(E.CallAbandoned)[-1].reason == "callback_cancelled"
    assert h.engine.waiting_calls("q") == []


def test_outbound_gets_an_agent_only_above_the_inbound_reserve() -> None:
    h = Harness([QueueConfig("q")], [agent(x) for x in "abc"], AcdSettings(reserved_idle_for_inbound=2))
    h.login(*"abc")
    (grant,) = h.do(C.OutboundAgentRequested("o1"))
    assert isinstance(grant, A.GrantOutbound)
    assert h.state(grant.agent_id) is AgentState.ON_CALL
    assert h.do(C.OutboundAgentRequested("o2")) == [A.DenyOutbound("o2", "reserve")]
    h.do(C.CallCompleted(grant.agent_id, "o1"))
    assert h.state(grant.agent_id) is AgentState.IDLE


def test_outbound_reserve_counts_the_idle_agents_of_the_named_queues() -> None:
    qs = [QueueConfig("sales"), QueueConfig("care")]
    agents = [agent("s1", queues=("sales",)), agent("c1", queues=("care",)), agent("c2", queues=("care",))]
    h = Harness(qs, agents, AcdSettings(reserved_idle_for_inbound=1))
    h.login("s1", "c1", "c2")
    assert h.do(C.OutboundAgentRequested("o1", ("sales",))) == [A.DenyOutbound("o1", "reserve")]
    (grant,) = h.do(C.OutboundAgentRequested("o2", ("care",)))
    assert isinstance(grant, A.GrantOutbound) and grant.agent_id in ("c1", "c2")


def test_inbound_call_waits_for_an_agent_on_outbound() -> None:
    h = Harness([QueueConfig("q")], [agent("a"), agent("b")])
    h.login("a", "b")
    (grant,) = h.do(C.OutboundAgentRequested("o1"))
    other = "b" if grant.agent_id == "a" else "a"  # type: ignore[attr-defined]
    assert offered_to(h.arrive("c1")) == [("c1", other)]
    assert h.arrive("c2") == []
    assert offered_to(h.do(C.CallCompleted(grant.agent_id, "o1"))) == [("c2", grant.agent_id)]  # type: ignore[attr-defined]
