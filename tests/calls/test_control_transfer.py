"""Transfers, consultation and the 3-way call, from the agent desk (API) and from the agent's phone (REFER)."""

from __future__ import annotations

from appliance.calls.events import CallTransferred
from appliance.legs.causes import Cause
from tests.calls.harness import Harness, Phone, control_test


async def connected(h: Harness, *idle: str) -> tuple[Phone, Phone]:
    """`idle` agents log in; a customer reaches the sales queue and the first of them answers."""
    h.login(*idle)
    caller = await h.call_menu("1")
    return caller, await h.pick_up(idle[0], caller)


async def three_way(h: Harness, party: str) -> Phone:
    """The agent brings `party` into the call (三方通话); it answers."""
    h.controller.conference(h.call().id, party)
    third = await h.rung(party)
    third.answer()
    await h.settle()
    return third


@control_test
async def test_a_blind_transfer_to_a_queue_from_the_desk(h: Harness) -> None:
    caller, agent = await connected(h, "1002", "1004")
    await h.advance(20)
    h.controller.transfer(h.call().id, "support")
    await h.settle()
    assert agent.leg.ended and agent.leg.commands[-1][0] == "hangup"
    assert h.agent("1002")["state"] == "wrap_up"
    assert h.call().phase == "queued" and h.call().queue == "support"

    await h.pick_up("1004", caller)
    await h.advance(30)
    caller.hang_up()
    await h.settle()
    cdr = h.cdr()
    assert (cdr["queue"], cdr["agent"], cdr["disposition"]) == ("support", "1004", "answered")
    assert [(t["kind"], t["by"], t["from"], t["to"]) for t in cdr["transfers"]] == [
        ("blind", "api", "1002", "queue:support")]
    assert len(cdr["recordings"]) == 2  # one file per connected segment


@control_test
async def test_a_blind_transfer_from_the_phone(h: Harness) -> None:
    caller, agent = await connected(h, "1002", "1003")
    agent.refer("1003")  # REFER to 1003, an agent: rung directly, not through the queue
    await h.settle()
    assert agent.leg.commands[-1] == ("transfer_progress", None)  # the phone is told it worked
    assert h.agent("1002")["state"] == "wrap_up"

    await h.pick_up("1003", caller)
    assert h.agent("1003")["state"] == "on_call" and h.call().agent == "1003"
    assert not agent.leg.ended  # the phone normally hangs up itself once told the transfer worked ...
    await h.advance(10)
    assert agent.leg.ended  # ... else call control ends its leg after 10 s
    caller.hang_up()
    await h.settle()
    assert h.agent("1003")["state"] == "idle"  # a call the ACD did not route has no wrap-up
    cdr = h.cdr()
    assert cdr["agent"] == "1003"
    assert [(t["kind"], t["from"], t["to"]) for t in cdr["transfers"]] == [("blind", "1002", "agent:1003")]


@control_test
async def test_an_attended_transfer_from_the_desk(h: Harness) -> None:
    caller, agent = await connected(h, "1002", "1003")
    h.controller.consult(h.call().id, "1003")
    consulted = await h.rung("1003")
    assert caller.hears() == "hold_music" and caller.bridged_with() == set()
    consulted.answer()
    await h.settle()
    assert agent.bridged_with() == {consulted.endpoint}  # the agent and 1003 talk; the caller waits
    await h.advance(15)

    h.controller.consult_complete(h.call().id)
    await h.settle()
    assert caller.bridged_with() == {consulted.endpoint} and caller.hears() is None
    assert agent.leg.ended and h.agent("1002")["state"] == "wrap_up"
    assert h.agent("1003")["state"] == "on_call"
    caller.hang_up()
    await h.settle()
    cdr = h.cdr()
    assert (cdr["agent"], cdr["hold"]) == ("1003", 15.0)
    assert [(t["kind"], t["from"], t["to"]) for t in cdr["transfers"]] == [("attended", "1002", "1003")]


@control_test
async def test_a_consultation_returns_to_the_caller(h: Harness) -> None:
    caller, agent = await connected(h, "1002")
    h.controller.consult(h.call().id, "1901")
    consulted = await h.rung("1901")
    consulted.answer()
    await h.advance(5)
    h.controller.consult_return(h.call().id)
    await h.settle()
    assert consulted.leg.ended and caller.bridged_with() == {agent.endpoint}
    caller.hang_up()
    await h.settle()
    assert h.cdr()["transfers"] == [] and h.cdr()["agent"] == "1002"


@control_test
async def test_an_attended_transfer_from_the_phone(h: Harness) -> None:
    caller, agent = await connected(h, "1002", "1003")
    agent.hold()  # the phone holds the caller and places its own call to 1003
    consultation = await h.dial("1002", "1003")
    consulted = await h.rung("1003")
    consulted.answer()
    await h.settle()
    assert len(h.controller.active_calls) == 2

    agent.refer_replacing(consultation)  # REFER on the caller's dialog, Replaces: the consultation
    await h.settle()
    assert agent.leg.commands[-2:] == [("transfer_progress", None), ("hangup", Cause.NORMAL_CLEARING)]
    assert consultation.leg.ended and len(h.controller.active_calls) == 1
    assert caller.bridged_with() == {consulted.endpoint} and caller.hears() is None
    assert h.agent("1003")["state"] == "on_call"
    caller.hang_up()
    await h.settle()
    by_callee = {c["callee"]: c for c in h.cdrs()}
    assert by_callee["8000"]["agent"] == "1003"
    assert [(t["kind"], t["to"]) for t in by_callee["8000"]["transfers"]] == [("attended", "1003")]
    assert by_callee["1003"]["hangup_cause"] == "attended_transfer"


@control_test
async def test_a_blind_transfer_to_an_unreachable_extension_does_not_strand_the_caller(h: Harness) -> None:
    caller, agent = await connected(h, "1002")
    h.unregister("1901")
    h.controller.transfer(h.call().id, "extension:1901")
    await h.advance(60)
    # nothing rang, so nothing moved: the caller still talks to the transferring agent
    assert caller.bridged_with() == {agent.endpoint} and not agent.leg.ended
    assert h.call().agent == "1002" and h.agent("1002")["state"] == "on_call"
    assert not h.published(CallTransferred)
    caller.hang_up()
    await h.settle()
    cdr = h.cdr()
    assert (cdr["agent"], cdr["disposition"]) == ("1002", "answered")
    assert [(t["kind"], t["by"], t["from"], t["to"], t["failed"]) for t in cdr["transfers"]] == [
        ("blind", "api", "1002", "extension:1901", "subscriber_absent")]
    assert "transfer_failed" in [e for _, e, _ in cdr["timeline"]]


@control_test
async def test_a_phone_is_told_when_its_blind_transfer_cannot_ring(h: Harness) -> None:
    caller, agent = await connected(h, "1002")
    h.unregister("1901")
    agent.refer("1901")
    await h.settle()
    assert agent.leg.commands[-1] == ("transfer_progress", Cause.TEMPORARY_FAILURE)
    assert caller.bridged_with() == {agent.endpoint}  # the phone takes the caller back
    agent.hang_up()
    await h.settle()
    await h.hang_up_all()  # the survey the caller is asked to take


@control_test
async def test_a_caller_whose_transfer_is_not_answered_goes_back_to_the_queue(h: Harness) -> None:
    caller, agent = await connected(h, "1002", "1003")
    h.controller.transfer(h.call().id, "extension:1901")
    target = await h.rung("1901")
    assert agent.leg.ended and h.agent("1002")["state"] == "wrap_up"
    assert caller.hears() == "tone:ringback"
    target.refuse(Cause.USER_BUSY)
    await h.settle()
    assert h.call().phase == "queued" and h.call().queue == "sales"
    assert caller.hears() == "hold_music"
    await h.pick_up("1003", caller)  # the next agent of the queue the caller came from
    caller.hang_up()
    await h.settle()
    cdr = h.cdr()
    assert cdr["agent"] == "1003"
    assert [(t["to"], t["failed"]) for t in cdr["transfers"]] == [("extension:1901", "user_busy")]


@control_test
async def test_a_caller_whose_transfer_to_an_agent_is_not_answered_goes_back_to_the_queue(h: Harness) -> None:
    caller, _agent = await connected(h, "1002", "1001")
    h.controller.transfer(h.call().id, "agent:1003")  # 1003 is not logged in: rung directly at its extension
    target = await h.rung("1003")
    assert caller.hears() == "tone:ringback"
    target.refuse(Cause.NO_ANSWER)
    await h.settle()
    assert h.call().phase == "queued"
    await h.pick_up("1001", caller)
    await h.hang_up_all()


@control_test
async def test_a_three_way_call_keeps_the_others_when_one_leaves(h: Harness) -> None:
    caller, agent = await connected(h, "1002")
    h.controller.conference(h.call().id, "1901")
    third = await h.rung("1901")
    assert caller.bridged_with() == {agent.endpoint}  # the caller and the agent talk while 1901 rings
    third.answer()
    await h.settle()
    assert caller.bridged_with() == {agent.endpoint, third.endpoint}
    assert all(mask.heard_by is None and mask.hears is None for mask in h.media.parties(caller.endpoint).values())

    third.hang_up()
    await h.settle()
    assert caller.bridged_with() == {agent.endpoint} and h.call().phase == "connected"
    caller.hang_up()
    await h.settle()
    cdr = h.cdr()
    assert [(leg["role"], leg["party"]) for leg in cdr["legs"]] == [
        ("caller", "13800138000"), ("agent", "1002"), ("consult", "1901")]


@control_test
async def test_the_caller_and_the_third_party_stay_together_when_the_agent_leaves(h: Harness) -> None:
    caller, agent = await connected(h, "1002")
    third = await three_way(h, "1901")
    agent.hang_up()
    await h.settle()
    assert caller.bridged_with() == {third.endpoint} and caller.hears() is None
    assert h.call().phase == "connected" and h.agent("1002")["state"] == "wrap_up"

    third.hang_up()  # the last one with the caller: as when an agent hangs up first, the survey
    await h.settle()
    assert not caller.leg.ended and h.call().phase == "ivr"
    await h.hang_up_all()
    cdr = h.cdr()
    assert cdr["agent"] == "1002" and "left_conference" in [e for _, e, _ in cdr["timeline"]]


@control_test
async def test_a_third_party_still_ringing_when_the_agent_leaves_is_not_left_ringing(h: Harness) -> None:
    _caller, agent = await connected(h, "1002")
    h.controller.conference(h.call().id, "1901")
    third = await h.rung("1901")
    agent.hang_up()
    await h.settle()
    assert third.leg.ended and h.call().phase == "ivr"  # the caller is asked for the survey
    await h.hang_up_all()


@control_test
async def test_a_consultation_ends_when_the_agent_hangs_up(h: Harness) -> None:
    _caller, agent = await connected(h, "1002")
    h.controller.consult(h.call().id, "1901")
    consulted = await h.rung("1901")
    consulted.answer()
    await h.advance(5)
    agent.hang_up()
    await h.settle()
    assert consulted.leg.ended and h.call().phase == "ivr"  # the held caller is asked for the survey
    assert h.call().hold_started is None
    await h.hang_up_all()
    assert h.cdr()["hold"] == 5.0


@control_test
async def test_an_agent_in_a_three_way_call_is_not_offered_another_call(h: Harness) -> None:
    await connected(h, "1002", "1003")
    third = await three_way(h, "1003")
    assert h.agent("1003")["state"] == "on_call"
    second = await h.call_menu("1", caller="13900000000")
    assert [leg.ended for leg in h.legs_to("1003")] == [False]  # 1003 is not rung for the second caller
    third.hang_up()  # 1003 leaves the 3-way call: free again (no wrap-up after a call the ACD did not route)
    await h.pick_up("1003", second)
    await h.hang_up_all()
    first = next(c for c in h.cdrs() if c["caller"] != "13900000000")
    assert [(leg["role"], leg["agent"]) for leg in first["legs"]][1:] == [("agent", "1002"), ("consult", "1003")]


@control_test
async def test_a_consulted_agent_is_busy_until_the_consultation_ends(h: Harness) -> None:
    await connected(h, "1002", "1003")
    h.controller.consult(h.call().id, "1003")
    consulted = await h.rung("1003")
    consulted.answer()
    await h.settle()
    assert h.agent("1003")["state"] == "on_call"
    h.controller.consult_return(h.call().id)
    await h.settle()
    assert consulted.leg.ended and h.agent("1003")["state"] == "idle"
    await h.hang_up_all()


@control_test
async def test_a_conferenced_agent_is_free_again_when_the_call_ends(h: Harness) -> None:
    caller, _agent = await connected(h, "1002", "1003")
    await three_way(h, "1003")
    caller.hang_up()
    await h.settle()
    assert h.agent("1003")["state"] == "idle" and h.agent("1002")["state"] == "wrap_up"
