"""Call control on the inbound path, in virtual time: access number → IVR → queue → agent → wrap-up → CDR,
the ring timeout, a busy phone, overflow to voicemail and a caller who gives up."""

from __future__ import annotations

import wave

from appliance.acd import events as acd_events
from appliance.legs.causes import Cause
from tests.calls.harness import Harness, control_test
from tests.calls.harness.box import CUSTOMER


@control_test
async def test_a_caller_reaches_an_agent_through_the_ivr_and_the_queue(h: Harness) -> None:
    h.login("1002")
    caller = await h.call_menu("1")
    assert caller.leg.command_names == ["open_media", "answer"]  # answered once, for the IVR

    agent = await h.rung("1002")
    request = agent.leg.commands[0][1]
    assert (request.callee, request.caller, request.extension) == ("1002", CUSTOMER, "1002")
    assert caller.hears() == "hold_music"
    assert h.agent("1002")["state"] == "ringing"

    agent.answer()
    assert await h.play_through(caller) == ["tts:1 0 0 2号座席为您服务"]  # 接通播报工号, then the bridge
    assert caller.bridged_with() == {agent.endpoint}
    assert h.call().phase == "connected" and h.agent("1002")["state"] == "on_call"
    [recording] = h.media.recordings.values()
    assert (recording.caller, recording.agent) == (caller.endpoint, agent.endpoint)

    await h.advance(42)
    caller.hang_up()
    await h.settle()
    assert agent.leg.commands[-1] == ("hangup", Cause.NORMAL_CLEARING)
    assert h.agent("1002")["state"] == "wrap_up"
    await h.advance(10)
    assert h.agent("1002")["state"] == "idle"

    cdr = h.cdr()
    assert (cdr["direction"], cdr["did"], cdr["queue"], cdr["agent"]) == ("inbound", "8000", "sales", "1002")
    assert (cdr["disposition"], cdr["hangup_side"], cdr["missed"]) == ("answered", "caller", [])
    assert cdr["ivr_keys"] == "1" and cdr["ivr_path"][:2] == ["main/welcome", "main/menu"]
    assert (cdr["wait"], cdr["talk"], cdr["offered_agents"]) == (0.0, 42.0, ["1002"])
    events = [e for _, e, _ in cdr["timeline"]]
    assert events.index("agent_answered") < events.index("bridged")
    with wave.open(str(h.data_dir / cdr["recording"])) as w:
        assert w.getnframes() / w.getframerate() == 42.0
    acd = [e.topic for e in h.events if isinstance(e, acd_events.CallQueued | acd_events.CallOffered
                                                   | acd_events.CallAnswered)]
    assert acd == ["acd.call_queued", "acd.call_offered", "acd.call_answered"]


@control_test
async def test_the_ring_timeout_moves_the_call_to_the_next_agent(h: Harness) -> None:
    h.login("1001")
    await h.advance(1)
    h.login("1002")  # 1001 has been idle longest: it is offered the call first
    caller = await h.call_menu("1")
    first = await h.rung("1001")

    await h.advance(14.9)
    assert first.leg.command_names == ["create"] and h.legs_to("1002") == []
    await h.advance(0.1)  # the queue's ring timeout (15 s)
    assert first.leg.command_names == ["create", "hangup"]
    await h.pick_up("1002", caller)
    assert h.agent("1001")["misses"] == 1 and h.agent("1001")["state"] == "idle"

    caller.hang_up()
    await h.settle()
    cdr = h.cdr()
    assert (cdr["agent"], cdr["offered_agents"], cdr["wait"], cdr["missed"]) == ("1002", ["1001", "1002"], 15.0, [])
    assert [(leg["party"], leg["cause"]) for leg in cdr["legs"] if leg["role"] == "agent"] == [
        ("1001", "offer_cancelled"), ("1002", "normal_clearing")]


@control_test
async def test_a_busy_phone_sends_the_call_to_the_next_agent_at_once(h: Harness) -> None:
    h.login("1001")
    await h.advance(1)
    h.login("1002")
    caller = await h.call_menu("1")
    (await h.rung("1001")).refuse(Cause.USER_BUSY)
    rang_at = h.clock.now
    await h.pick_up("1002", caller)
    assert h.clock.now == rang_at  # no ring timeout was waited for
    assert h.agent("1001")["misses"] == 1
    caller.hang_up()
    await h.settle()
    assert h.cdr()["offered_agents"] == ["1001", "1002"]


@control_test
async def test_with_no_agent_the_call_overflows_to_the_queue_voicemail(h: Harness) -> None:
    caller = await h.call_menu("1")
    assert caller.hears() == "hold_music" and h.call().phase == "queued"
    await h.advance(30)  # the queue's limit without an agent
    assert await h.play_through(caller) == ["voicemail_greeting", "beep"]
    assert h.call().phase == "voicemail" and len(h.media.recordings) == 1
    await h.advance(8)
    caller.hang_up()  # a caller who hangs up after speaking leaves the message as well
    await h.settle()

    [message] = h.voicemail.list(box="sales").items
    assert (message.caller, message.duration_s) == (CUSTOMER, 8.0)
    cdr = h.cdr()
    assert (cdr["disposition"], cdr["missed"], cdr["voicemail"]) == ("voicemail", ["no_agent"], message.id)


@control_test
async def test_a_caller_who_hangs_up_in_the_queue_is_abandoned(h: Harness) -> None:
    h.login("1002")
    h.controller.agent_pause("1002")
    caller = await h.call_menu("1")
    await h.advance(12)
    caller.hang_up()
    await h.settle()
    cdr = h.cdr()
    assert (cdr["disposition"], cdr["hangup_side"], cdr["missed"], cdr["wait"]) == (
        "abandoned", "caller", ["queue_abandoned"], 12.0)
    assert len(h.published(acd_events.CallAbandoned)) == 1


@control_test
async def test_when_the_agent_hangs_up_first_the_caller_rates_the_service(h: Harness) -> None:
    h.login("1002")
    caller = await h.call_menu("1")
    agent = await h.pick_up("1002", caller)
    agent.hang_up()
    await h.settle()
    assert h.agent("1002")["state"] == "wrap_up" and caller.bridged_with() == set()
    assert await h.play_through(caller) == ["survey"]  # 满意度调查
    caller.press("5")
    assert await h.play_through(caller) == ["thanks", "goodbye"]
    assert caller.leg.ended
    cdr = h.cdr()
    assert (cdr["survey_score"], cdr["hangup_side"], cdr["disposition"]) == (5, "agent", "answered")


async def mos_per_leg(h: Harness, who_hangs_up: str) -> None:
    """The CDR's MOS of each leg is what the leg's provider measured (`CallLeg.mos`), never the engine's own
    `media.leg_quality`, which comes before or after the end of the call depending on who hung up."""
    h.login("1002")
    caller = await h.call_menu("1")
    caller.leg.measures = None  # a line that measures nothing (a TDM channel): no MOS, not the engine's 4.3
    agent = await h.pick_up("1002", caller)
    agent.leg.measures = 3.6
    if who_hangs_up == "caller":
        caller.hang_up()
    elif who_hangs_up == "agent":
        agent.hang_up()
        await h.play_through(caller)  # the survey
        caller.hang_up()
    else:
        h.controller.hangup(h.call().id)
    await h.settle()
    cdr = h.cdr()
    assert {leg["role"]: leg["mos"] for leg in cdr["legs"]} == {"caller": None, "agent": 3.6}
    assert cdr["mos"] == 3.6


@control_test
async def test_the_mos_of_each_leg_comes_from_the_leg_when_the_caller_hangs_up(h: Harness) -> None:
    await mos_per_leg(h, "caller")


@control_test
async def test_the_mos_of_each_leg_comes_from_the_leg_when_the_agent_hangs_up(h: Harness) -> None:
    await mos_per_leg(h, "agent")


@control_test
async def test_the_mos_of_each_leg_comes_from_the_leg_when_the_desk_hangs_up(h: Harness) -> None:
    await mos_per_leg(h, "desk")
