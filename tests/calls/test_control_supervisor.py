"""Supervisors on an agent's call: listen (监听), whisper (密语), barge in (强插), take over (强拆) — from the
desk (the supervisor's phone is rung first) and with feature codes dialled from the supervisor's phone."""

from __future__ import annotations

from appliance.media.models import PartyMask
from tests.calls.harness import Harness, Phone, control_test


async def agent_call(h: Harness) -> tuple[Phone, Phone]:
    h.login("1002")
    caller = await h.call_menu("1")
    return caller, await h.pick_up("1002", caller)


def mask_of(h: Harness, supervisor: Phone, caller: Phone) -> PartyMask:
    """The supervisor's mask in the caller's bridge."""
    parties = h.media.parties(caller.endpoint)
    assert supervisor.endpoint in parties, "the supervisor is not in the caller's bridge"
    return parties[supervisor.endpoint]


@control_test
async def test_a_supervisor_listens_then_whispers_then_barges_in(h: Harness) -> None:
    caller, agent = await agent_call(h)
    h.controller.monitor(h.call().id, "1901", "listen")
    supervisor = await h.rung("1901")
    supervisor.answer()
    await h.settle()
    assert mask_of(h, supervisor, caller) == PartyMask.listen()  # hears both, heard by nobody

    supervisor.press("2")
    await h.settle()
    assert mask_of(h, supervisor, caller) == PartyMask.whisper(agent.endpoint or "")  # heard by the agent only
    supervisor.press("3")
    await h.settle()
    assert mask_of(h, supervisor, caller) == PartyMask.barge()  # everybody hears everybody

    supervisor.hang_up()
    await h.settle()
    assert caller.bridged_with() == {agent.endpoint}  # the call goes on without the supervisor
    caller.hang_up()
    await h.settle()
    by_callee = {c["callee"]: c for c in h.cdrs()}
    customer, monitor = by_callee["8000"], by_callee["monitor:1002"]
    assert (customer["agent"], customer["disposition"]) == ("1002", "answered")
    assert [d for _, e, d in monitor["timeline"] if e == "monitor_mode"] == ["listen", "whisper", "barge"]


@control_test
async def test_a_supervisor_barges_in_with_a_feature_code_and_leaves_with_the_call(h: Harness) -> None:
    caller, agent = await agent_call(h)
    supervisor = await h.dial("1901", "*33*1002")
    assert mask_of(h, supervisor, caller) == PartyMask.barge()
    assert caller.bridged_with() == {agent.endpoint, supervisor.endpoint}

    caller.hang_up()  # the monitored call ends: the supervisor's call ends with it
    await h.settle()
    assert supervisor.leg.ended and supervisor.leg.commands[-1][0] == "hangup"
    assert {c["callee"]: c["hangup_cause"] for c in h.cdrs()}["*33*1002"] == "monitored_call_ended"


@control_test
async def test_a_supervisor_takes_the_caller_over(h: Harness) -> None:
    caller, agent = await agent_call(h)
    supervisor = await h.dial("1901", "*34*1002")
    await h.settle()
    assert agent.leg.ended and h.agent("1002")["state"] == "wrap_up"
    assert caller.bridged_with() == {supervisor.endpoint}
    supervisor.hang_up()  # the caller would be alone: the call ends
    await h.settle()
    assert caller.leg.ended
    customer = {c["callee"]: c for c in h.cdrs()}["8000"]
    assert [(t["kind"], t["from"], t["to"]) for t in customer["transfers"]] == [("take_over", "1002", "1901")]


@control_test
async def test_only_a_supervisor_may_listen(h: Harness) -> None:
    caller, agent = await agent_call(h)
    colleague = await h.dial("1003", "*31*1002")
    assert await h.play_through(colleague) == ["tts:只有班长座席可以进行此操作。"]
    await h.settle()
    assert colleague.leg.ended and caller.bridged_with() == {agent.endpoint}
    caller.hang_up()
    await h.settle()
