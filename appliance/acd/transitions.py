"""The agent-state machine as a table: which state may go to which, on what.

Each trigger (a request from an agent or supervisor, a report from call control, a timer) maps the states
in which it is legal to the states it may lead to directly. A state missing from a trigger's row means:
for a *request* (`require`) the ACD refuses it with `InvalidAgentState`, before anything changes; for a
*report* or timer (`allows`) it is stale or repeated and ignored, because call control and timers race
with agents and must never fail. The engine asks this table instead of spelling the same state checks out
in each handler.

Targets are the direct next state only: an agent made idle may at once be offered a waiting call (IDLE
then RINGING, the second step under `OFFER`). Conditions that are not a state (a pause pending during a
call, the queue's wrap-up rule) pick among a row's targets in the handler. `GRAPH` (every legal old → new
pair) is what the property tests hold every published `AgentStateChanged` to; the engine does not check it
per change, since changing state is its hottest path.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from appliance.acd.errors import InvalidAgentState
from appliance.acd.models import AgentState

S = AgentState


class Trigger(StrEnum):
    """What may move an agent. A request's value completes "cannot ..." in its refusal message."""

    # Requests (refused in a state without a row)
    PAUSE = "pause"
    FORCE_BUSY = "be forced busy"
    UNPAUSE = "unpause"
    FORCE_IDLE = "be forced idle"
    END_WRAP_UP = "end wrap-up"
    OTHER_CALL = "start a call"
    # Reports and timers (ignored in a state without a row)
    LOGIN = "log in"
    LOGOUT = "log out"
    DISCONNECT = "disconnect"
    UNREACHABLE = "be found unreachable"
    RECONNECT = "reconnect"
    GRACE_TIMEOUT = "time out disconnected"
    OFFER = "be offered a call"
    ANSWER = "answer"
    OFFER_ENDED = "stop ringing"
    CALL_ENDED = "end a call"
    WRAP_TIMEOUT = "time out wrap-up"
    OUTBOUND = "take an outbound call"


def _targets(*states: AgentState) -> frozenset[AgentState]:
    return frozenset(states)


_AFTER_WORK = _targets(S.IDLE, S.PAUSED)  # idle, or the pause asked for meanwhile
_RESUMED = _targets(S.IDLE, S.PAUSED, S.ON_CALL)  # back to where a disconnected agent was
_GONE = _targets(S.DISCONNECTED, S.LOGGED_OUT)  # logged out at once when there is no grace period

TRANSITIONS: Final[Mapping[Trigger, Mapping[AgentState, frozenset[AgentState]]]] = {
    # A pause asked for during a call waits for its end (the agent stays on the call).
    Trigger.PAUSE: {
        S.IDLE: _targets(S.PAUSED), S.WRAP_UP: _targets(S.PAUSED), S.PAUSED: _targets(S.PAUSED),
        S.ON_CALL: _targets(S.ON_CALL),
    },
    # A supervisor may also pause a ringing agent: the offer goes to someone else.
    Trigger.FORCE_BUSY: {
        S.IDLE: _targets(S.PAUSED), S.WRAP_UP: _targets(S.PAUSED), S.PAUSED: _targets(S.PAUSED),
        S.ON_CALL: _targets(S.ON_CALL), S.RINGING: _targets(S.PAUSED),
    },
    Trigger.UNPAUSE: {S.PAUSED: _targets(S.IDLE)},
    # On a call it cancels a pending pause; an idle agent stays idle.
    Trigger.FORCE_IDLE: {
        S.PAUSED: _targets(S.IDLE), S.WRAP_UP: _targets(S.IDLE), S.IDLE: _targets(S.IDLE),
        S.ON_CALL: _targets(S.ON_CALL),
    },
    Trigger.END_WRAP_UP: {S.WRAP_UP: _AFTER_WORK},
    Trigger.OTHER_CALL: {S.IDLE: _targets(S.ON_CALL), S.PAUSED: _targets(S.ON_CALL), S.WRAP_UP: _targets(S.ON_CALL)},
    # Logging in again while disconnected is a reconnect; while logged in it changes nothing.
    Trigger.LOGIN: {S.LOGGED_OUT: _targets(S.IDLE, S.PAUSED), S.DISCONNECTED: _RESUMED},
    Trigger.LOGOUT: {
        state: _targets(S.LOGGED_OUT) for state in AgentState if state is not S.LOGGED_OUT
    },
    Trigger.DISCONNECT: {
        S.IDLE: _GONE, S.RINGING: _GONE, S.ON_CALL: _GONE, S.WRAP_UP: _GONE, S.PAUSED: _GONE,
    },
    Trigger.RECONNECT: {S.DISCONNECTED: _RESUMED},
    # The offer could not even be sent: the phone is not registered, which is a disconnect, not a miss.
    Trigger.UNREACHABLE: {S.RINGING: _GONE},
    Trigger.GRACE_TIMEOUT: {S.DISCONNECTED: _targets(S.LOGGED_OUT)},
    Trigger.OFFER: {S.IDLE: _targets(S.RINGING)},
    Trigger.ANSWER: {S.RINGING: _targets(S.ON_CALL)},
    # No answer, withdrawn, answered elsewhere; too many misses pause the agent.
    Trigger.OFFER_ENDED: {S.RINGING: _AFTER_WORK},
    # A disconnected agent's call ending changes where it will return to, not its state.
    Trigger.CALL_ENDED: {S.ON_CALL: _targets(S.WRAP_UP, S.IDLE, S.PAUSED), S.DISCONNECTED: _targets(S.DISCONNECTED)},
    Trigger.WRAP_TIMEOUT: {S.WRAP_UP: _AFTER_WORK},
    Trigger.OUTBOUND: {S.IDLE: _targets(S.ON_CALL)},
}


def allows(state: AgentState, trigger: Trigger) -> bool:
    """Whether `trigger` applies in `state` (for reports and timers: otherwise they are ignored)."""
    return state in TRANSITIONS[trigger]


def require(agent_id: str, state: AgentState, trigger: Trigger) -> None:
    """Refuse a request that is illegal in `state`."""
    if state not in TRANSITIONS[trigger]:
        raise InvalidAgentState(agent_id, state.value, trigger.value)


def _graph() -> dict[AgentState, frozenset[AgentState]]:
    graph: dict[AgentState, set[AgentState]] = {state: set() for state in AgentState}
    for row in TRANSITIONS.values():
        for old, targets in row.items():
            graph[old] |= targets
    return {old: frozenset(new) for old, new in graph.items()}


GRAPH: Final[Mapping[AgentState, frozenset[AgentState]]] = _graph()
