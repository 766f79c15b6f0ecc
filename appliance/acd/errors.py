"""Requests the ACD refuses (local errors: the caller asked for something illegal).

They reach agents and supervisors through the API, so they carry English and Chinese messages. Stale
reports from call control (an answer for an offer already withdrawn) are not errors: the engine answers
them with a `CancelOffer` or ignores them.
"""

from __future__ import annotations

from appliance.errors import ApplianceError, Conflict, NotFound


class UnknownAgent(NotFound):
    def __init__(self, agent_id: str) -> None:
        super().__init__("agent", agent_id)


class UnknownQueue(NotFound):
    def __init__(self, queue_id: str) -> None:
        super().__init__("queue", queue_id)


class UnknownPauseReason(NotFound):
    def __init__(self, code: str) -> None:
        super().__init__("pause reason", code)


class InvalidAgentState(Conflict):
    def __init__(self, agent_id: str, state: str, wanted: str) -> None:
        super().__init__(
            f"agent {agent_id!r} is {state}, cannot {wanted}",
            f"座席 {agent_id!r} 当前状态为 {state}, 不能{wanted}",
            {"agent_id": agent_id, "state": state, "wanted": wanted},
        )


class MinBusyNotReached(ApplianceError):
    """置忙时长低于最小值: the unpause is an invalid operation per the configured minimum busy time."""

    def __init__(self, agent_id: str, remaining: float) -> None:
        super().__init__(
            message=f"agent {agent_id!r} must stay busy {remaining:.0f} s more",
            message_zh=f"置忙时长不足, 还需 {remaining:.0f} 秒",
            details={"agent_id": agent_id, "remaining": remaining},
            error_id="min_busy_not_reached",
            http_status=409,
        )
