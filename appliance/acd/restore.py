"""Agent states after the box restarts: logged out (the default), or back in the state each agent last had.

The ACD starts with every agent logged out, so no agent can come back "on call" with no call. The setting
`agents_after_restart` (`logged_out` | `last_state`) says whether agents who were working are logged in
again. An agent who was idle comes back idle and one who was paused comes back paused with the same reason;
one who was ringing, on a call or in wrap-up comes back idle, since that call ended with the old process.
Agents who were logged out or disconnected stay logged out. The agents ring at the phone bound to them in
the staff record. Pure: the start-up step that applies these logins is `appliance.records.recovery`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum

from appliance.acd import commands as C
from appliance.acd.models import AgentState
from appliance.acd.runtime import NO_ANSWER_REASON

SETTING = "agents_after_restart"

_WORKING = frozenset({AgentState.IDLE.value, AgentState.RINGING.value, AgentState.ON_CALL.value,
                      AgentState.WRAP_UP.value})


class AfterRestart(StrEnum):
    LOGGED_OUT = "logged_out"
    LAST_STATE = "last_state"

    @classmethod
    def of(cls, value: object) -> AfterRestart:
        """The stored setting; anything unknown is the safe default."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.LOGGED_OUT


def restore_commands(last: Mapping[str, tuple[str, str]], mode: AfterRestart, agents: Iterable[str],
                     pause_codes: Collection[str]) -> list[C.AgentLoggedIn]:
    """The logins that put `agents` (those the ACD knows) back as they were: `last` maps an agent to its
    last logged (state, reason)."""
    if mode is AfterRestart.LOGGED_OUT:
        return []
    default_reason = min(pause_codes) if pause_codes else ""
    commands: list[C.AgentLoggedIn] = []
    for agent in sorted(agents):
        state, reason = last.get(agent, (AgentState.LOGGED_OUT.value, ""))
        if state in _WORKING:
            commands.append(C.AgentLoggedIn(agent_id=agent))
        elif state == AgentState.PAUSED.value:
            valid = reason in pause_codes or reason == NO_ANSWER_REASON
            if valid or default_reason:
                commands.append(C.AgentLoggedIn(agent_id=agent, paused_reason=reason if valid else default_reason))
    return commands
