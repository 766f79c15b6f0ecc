"""A supervisor moves a waiting call (班长调度, `SupervisorMovedCall`): into another queue, where it keeps its
arrival time (its wait there counts from the move, as after an overflow) and is offered to that queue's agents; or out of the ACD to one agent's phone, with the agents it
was ringing set free. Either way the first queue reports it left with reason `moved`."""

from __future__ import annotations

import pytest

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.models import AgentState, QueueConfig
from appliance.errors import Conflict, NotFound

from .harness import Harness, agent, offered_to


def two_queues() -> Harness:
    h = Harness([QueueConfig("q"), QueueConfig("r")], [agent("a", queues=("q",)), agent("b", queues=("r",))])
    h.login("a", "b")
    h.do(C.AgentPaused("b", "busy"))
    return h


def test_a_waiting_call_moved_to_another_queue_keeps_its_arrival_time_and_is_offered_there() -> None:
    h = two_queues()
    h.do(C.AgentPaused("a", "busy"))
    h.arrive("c1")
    h.clock.now += 20
    assert h.do(C.SupervisorMovedCall("c1", queue_id="r")) == []  # r's agent is busy too: it waits there
    (left,) = h.of(E.CallOverflowed)
    assert (left.queue_id, left.reason, left.action, left.target, left.wait) == ("q", "moved", "queue", "r", 20)
    assert h.engine.waiting_calls("q") == [] and h.engine.waiting_calls("r") == ["c1"]
    view = h.engine.call_view("c1")
    # it arrived when it arrived; its wait in the new queue (for that queue's limits) starts now
    assert view is not None and (view.queue_id, view.arrived_at, view.enqueued_at) == ("r", 0, 20)
    assert offered_to(h.do(C.AgentUnpaused("b"))) == [("c1", "b")]


def test_a_ringing_call_moved_to_an_agent_leaves_the_acd_and_frees_the_agent_it_rang() -> None:
    h = two_queues()
    assert offered_to(h.arrive("c1")) == [("c1", "a")]
    out = h.do(C.SupervisorMovedCall("c1", agent_id="b"))
    assert A.CancelOffer("c1", "a", "moved") in out
    assert h.state("a") is AgentState.IDLE and h.engine.active_call_ids() == []
    (left,) = h.of(E.CallOverflowed)
    assert (left.reason, left.action, left.target) == ("moved", "agent", "b")


def test_moving_refuses_an_unknown_queue_or_a_call_the_acd_does_not_hold() -> None:
    h = two_queues()
    h.do(C.AgentPaused("a", "busy"))
    h.arrive("c1")
    with pytest.raises(NotFound):
        h.do(C.SupervisorMovedCall("c1", queue_id="nowhere"))
    with pytest.raises(Conflict):
        h.do(C.SupervisorMovedCall("c9", queue_id="r"))
    assert h.engine.waiting_calls("q") == ["c1"]  # nothing changed
