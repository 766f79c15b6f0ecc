"""Callbacks (回拨): the caller leaves a number (in the IVR, or with the queue's callback key) and hangs up; the
ticket keeps the caller's place; the agent who takes it is connected first, then the customer is dialled
through the trunk and bridged to the agent."""

from __future__ import annotations

from appliance.ivr.models import CallbackNode, Flow, QueueNode
from appliance.legs.causes import Cause
from appliance.routing.models import AccessNumber, Destination
from tests.calls.harness import Harness, Phone, control_test
from tests.calls.harness.box import CUSTOMER
from tests.calls.harness.tenant import TRUNK

NUMBER = "13912345678"  # the number a caller leaves


async def callback_desk(h: Harness) -> None:
    """Sales offers callbacks (key 2, and DID 8001: leave a number, then the queue); agent 1002 is logged in
    but busy, so tickets wait."""
    await h.change("queues", "sales", callback_key="2")
    await h.add("ivr_flows", Flow(name="callback", start="number", nodes=(
        CallbackNode(id="number", next="queue"), QueueNode(id="queue", queue="sales"))))
    await h.add("dids", AccessNumber(number="8001", schedule="business_hours",
                                     default=Destination(kind="flow", target="callback")))
    h.login("1002")
    h.controller.agent_pause("1002")


async def leave_number_in_ivr(h: Harness) -> Phone:
    caller = await h.incoming(CUSTOMER, "8001")
    assert await h.play_through(caller) == ["callback_enter"]
    caller.press(NUMBER + "#")
    await h.play_through(caller)
    assert caller.leg.ended  # the caller was told and let go; the ticket waits in the queue
    assert h.call().phase == "queued"
    return caller


async def take_ticket(h: Harness) -> Phone:
    """1002 becomes free, is offered the ticket and answers: it hears ringback while the customer is dialled."""
    h.controller.agent_unpause("1002")
    agent = await h.rung("1002")
    agent.answer()
    await h.settle()
    assert agent.hears() == "tone:ringback"
    return agent


async def missed_callback(h: Harness) -> Phone:
    """A number left in the IVR, the ticket taken by 1002, and the customer does not answer."""
    await callback_desk(h)
    await leave_number_in_ivr(h)
    agent = await take_ticket(h)
    (await h.rung(NUMBER)).refuse(Cause.NO_ANSWER)
    await h.settle()
    return agent


@control_test
async def test_a_number_left_in_the_ivr_is_called_back(h: Harness) -> None:
    await callback_desk(h)
    await leave_number_in_ivr(h)
    await h.advance(40)
    agent = await take_ticket(h)

    customer = await h.rung(NUMBER)
    request = customer.leg.commands[0][1]
    assert (request.trunk, request.caller) == (TRUNK, "8001")  # out through the trunk, showing the DID
    customer.answer()
    await h.settle()
    assert agent.bridged_with() == {customer.endpoint} and agent.hears() is None
    await h.advance(30)
    customer.hang_up()
    await h.settle()
    assert agent.leg.ended and h.agent("1002")["state"] == "wrap_up"
    cdr = h.cdr()
    assert (cdr["agent"], cdr["disposition"], cdr["talk"]) == ("1002", "answered", 30.0)
    assert cdr["variables"]["callback_number"] == NUMBER
    events = [e for _, e, _ in cdr["timeline"]]
    assert events.index("callback_registered") < events.index("callback_dial") < events.index("callback_answered")


@control_test
async def test_the_callback_key_calls_back_the_number_that_called(h: Harness) -> None:
    await callback_desk(h)
    caller = await h.call_menu("1")
    caller.press("2")
    assert await h.play_through(caller) == ["callback_saved"]
    assert caller.leg.ended
    agent = await take_ticket(h)
    customer = await h.rung(CUSTOMER)
    customer.answer()
    await h.settle()
    assert agent.bridged_with() == {customer.endpoint}
    customer.hang_up()
    await h.settle()
    assert agent.leg.ended
    assert h.cdr()["variables"]["callback_number"] == CUSTOMER


@control_test
async def test_a_waiting_ticket_ended_from_the_desk_leaves_the_acd(h: Harness) -> None:
    await callback_desk(h)
    await leave_number_in_ivr(h)
    await h.hang_up_all()  # the ACD cancels the ticket (a CallerHungUp alone is no news for a ticket)
    assert h.acd.active_call_ids() == []


@control_test
async def test_a_number_left_in_the_ivr_is_confirmed_once(h: Harness) -> None:
    await callback_desk(h)
    caller = await h.incoming(CUSTOMER, "8001")
    endpoint = caller.endpoint or ""
    await h.play_through(caller)
    caller.press(NUMBER + "#")
    await h.play_through(caller)
    assert caller.leg.ended  # let go once the flow's callback step confirmed; call control plays nothing more
    assert h.media.played[endpoint] == ["callback_enter", "callback_saved"]  # no music, no position either
    await h.hang_up_all()


@control_test
async def test_the_agent_is_let_go_when_the_customer_does_not_answer(h: Harness) -> None:
    agent = await missed_callback(h)
    assert agent.leg.ended and agent.leg.commands[-1][0] == "hangup"  # no ringback for ever
    assert h.agent("1002")["state"] == "wrap_up"
    assert "callback_retry" in [e for _, e, _ in h.call().timeline]  # the ticket waits for its retry
    await h.hang_up_all()


@control_test
async def test_a_callback_the_customer_missed_is_tried_again(h: Harness) -> None:
    agent = await missed_callback(h)
    assert agent.leg.ended
    await h.advance(120)  # CALLBACK_RETRY_S; 1002 is idle again by then and is offered the ticket at once
    retry = await h.rung("1002")
    retry.answer()
    await h.settle()
    assert retry.hears() == "tone:ringback"
    customer = await h.rung(NUMBER)  # dialled again
    assert len(h.legs_to(NUMBER)) == 2
    customer.answer()
    await h.settle()
    assert retry.bridged_with() == {customer.endpoint} and retry.hears() is None
    customer.hang_up()
    await h.settle()
    cdr = h.cdr()
    assert (cdr["agent"], cdr["disposition"]) == ("1002", "answered")
    assert [d for _, e, d in cdr["timeline"] if e == "callback_dial"] == [
        f"{NUMBER} (attempt 1)", f"{NUMBER} (attempt 2)"]


@control_test
async def test_a_retry_that_waits_for_an_agent_is_dialled_when_one_takes_it(h: Harness) -> None:
    agent = await missed_callback(h)
    assert agent.leg.ended
    h.controller.agent_end_wrap_up("1002")
    h.controller.agent_pause("1002")  # nobody is free at the retry: the ticket waits in the queue
    await h.advance(120)
    assert h.call().phase == "queued" and h.legs_to("1002")[-1].ended
    h.controller.agent_unpause("1002")
    retry = await h.rung("1002")
    retry.answer()
    customer = await h.rung(NUMBER)
    assert len(h.legs_to(NUMBER)) == 2
    customer.answer()
    await h.settle()
    assert retry.bridged_with() == {customer.endpoint}
    await h.hang_up_all()
