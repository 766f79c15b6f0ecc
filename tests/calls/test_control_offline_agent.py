"""An agent logged in whose phone is not registered: the offer fails at once (no ring-timeout wait), the ACD
offers the next agent, a single agent is not offered the same call again and again, nothing is allocated
for the offer that could not ring, and the agent shows as "phone_unreachable" until the phone registers."""

from __future__ import annotations

from appliance.acd import events as acd_events
from tests.calls.harness import Harness, control_test


@control_test
async def test_the_offer_fails_at_once_and_the_next_agent_rings(h: Harness) -> None:
    h.login("1001")
    await h.advance(1)
    h.login("1002")  # 1001 is first in line
    h.unregister("1001")
    caller = await h.call_menu("1")
    queued_at = h.clock.now

    agent = await h.pick_up("1002", caller)
    assert h.clock.now == queued_at  # 1002 rang at once: nobody waited out 1001's ring timeout
    assert h.legs_to("1001") == []  # nothing was sent to 1001's phone
    assert len(h.media.allocated) == 2  # the caller's endpoint and 1002's: none for the offer that failed
    call = h.call()
    assert call.offered_agents == ["1001", "1002"]
    assert ("offer_failed", "1001: phone_unreachable") in [(e, d) for _, e, d in call.timeline]
    view = h.agent("1001")
    assert (view["state"], view["reason"], view["misses"], view["call"]) == (
        "disconnected", "phone_unreachable", 0, None)
    assert h.published(acd_events.AgentMissedCall) == []

    caller.hang_up()
    await h.settle()
    assert agent.leg.ended
    cdr = h.cdr()
    assert (cdr["agent"], cdr["missed"]) == ("1002", [])
    assert h.agent("1001")["reason"] == "phone_unreachable"  # still unreachable after the call


@control_test
async def test_a_single_unreachable_agent_leaves_the_call_queued_without_offering_it_again(h: Harness) -> None:
    h.login("1002")
    h.unregister("1002")
    caller = await h.call_menu("1")
    assert h.call().offered_agents == ["1002"]
    assert h.agent("1002")["reason"] == "phone_unreachable"

    await h.advance(45)  # past the ring timeout, twice over, and past the queue's limit without an agent
    assert await h.play_through(caller) == ["tts:您前面还有0位客户在等待,预计等待3分钟。"]  # every 30 s
    assert h.call().phase == "queued" and caller.hears() == "hold_music"
    assert h.call().offered_agents == ["1002"]  # offered once: no re-offer loop
    assert len(h.published(acd_events.CallOffered)) == 1
    assert h.legs_to("1002") == [] and h.media.endpoints == {caller.endpoint}

    h.register("1002")  # the phone registers: the agent is back and takes the call that waited
    agent = await h.pick_up("1002", caller)
    assert h.agent("1002")["state"] == "on_call"
    caller.hang_up()
    await h.settle()
    assert agent.leg.ended
    cdr = h.cdr()
    assert (cdr["agent"], cdr["offered_agents"], cdr["wait"]) == ("1002", ["1002", "1002"], 45.0)


@control_test
async def test_an_unreachable_agent_is_logged_out_after_the_grace_period(h: Harness) -> None:
    h.login("1002")
    h.unregister("1002")
    caller = await h.call_menu("1")
    await h.advance(60)  # the disconnect grace period
    view = h.agent("1002")
    assert (view["state"], view["reason"]) == ("logged_out", "disconnect_timeout")
    h.register("1002")  # a phone that registers later does not log its agent back in
    await h.settle()
    assert h.agent("1002")["state"] == "logged_out" and h.legs_to("1002") == []
    caller.hang_up()
    await h.settle()
    assert h.cdr()["disposition"] == "abandoned"
