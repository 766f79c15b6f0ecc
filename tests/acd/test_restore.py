"""Agents after a restart: logged out by default; with `last_state`, back as they were, never on a call."""

from __future__ import annotations

from appliance.acd import commands as C
from appliance.acd.models import AcdSettings, AgentState, PauseReason, QueueConfig
from appliance.acd.restore import AfterRestart, restore_commands
from tests.acd.harness import Harness, agent
from tests.api_client import Client

LAST = {
    "a": ("idle", "login"), "b": ("paused", "lunch"), "c": ("on_call", "answer"), "d": ("ringing", "offer"),
    "e": ("wrap_up", "call_ended"), "f": ("logged_out", "logout"), "g": ("disconnected", "unreachable"),
    "h": ("paused", "gone-reason"),
}


def harness() -> Harness:
    settings = AcdSettings(pause_reasons=(PauseReason("lunch", "Lunch", "午餐"), PauseReason("meeting", "Meeting",
                                                                                          "会议")))
    return Harness([QueueConfig("q")], [agent(x) for x in "abcdefghi"], settings)


def test_the_default_logs_everyone_out() -> None:
    assert restore_commands(LAST, AfterRestart.LOGGED_OUT, "abcdefghi", {"lunch"}) == []
    assert AfterRestart.of(None) is AfterRestart.LOGGED_OUT and AfterRestart.of("junk") is AfterRestart.LOGGED_OUT
    assert AfterRestart.of("last_state") is AfterRestart.LAST_STATE


def test_last_state_brings_working_agents_back_and_none_on_a_call() -> None:
    h = harness()
    commands = restore_commands(LAST, AfterRestart.LAST_STATE, h.engine.agent_ids(), h.engine.pause_codes())
    for command in commands:
        h.do(command)
    states = {a: h.state(a) for a in "abcdefghi"}
    assert states == {
        "a": AgentState.IDLE, "b": AgentState.PAUSED, "c": AgentState.IDLE, "d": AgentState.IDLE,
        "e": AgentState.IDLE, "f": AgentState.LOGGED_OUT, "g": AgentState.LOGGED_OUT,
        "h": AgentState.PAUSED,  # a reason no longer configured: paused with one that is
        "i": AgentState.LOGGED_OUT,  # nothing logged for it
    }
    assert h.engine.agent_view("b").reason == "lunch"
    assert h.engine.agent_view("h").reason in {"lunch", "meeting"}
    # they take calls at once: an arriving call is offered to a restored idle agent
    h.do(C.CallArrived("call-1", "q"))
    assert sum(h.state(x) is AgentState.RINGING for x in "acde") == 1


def test_only_agents_the_acd_knows_are_restored() -> None:
    commands = restore_commands({"gone": ("idle", "")}, AfterRestart.LAST_STATE, ["a"], {"lunch"})
    assert commands == []


async def test_the_setting_is_on_the_settings_api_and_page(admin: Client) -> None:
    from appliance.acd.restore import SETTING

    assert AfterRestart.of(admin.appliance.core.store.settings.get(SETTING)) is AfterRestart.LOGGED_OUT
    status, body = await admin.call("PATCH", "/api/v1/settings", {"agents_after_restart": "last_state"})
    assert status == 200, body
    assert body["agents_after_restart"] == "last_state"
    # what the restart reads is what the settings page saved
    assert AfterRestart.of(admin.appliance.core.store.settings.get(SETTING)) is AfterRestart.LAST_STATE
    status, body = await admin.call("PATCH", "/api/v1/settings", {"agents_after_restart": "sometimes"})
    assert status == 422 and "agents_after_restart" in str(body), body  # names the field
