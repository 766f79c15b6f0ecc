"""Inputs of the ACD engine: facts reported by call control, agents, supervisors and the CRM look-up.

Each is a frozen dataclass handed to `AcdEngine.handle`. They carry no time: the engine reads its injected
clock, so the live box and the simulator drive the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.acd.models import SkillRequirement


@dataclass(frozen=True, slots=True)
class Command:
    """Base of all engine inputs."""


# Calls (reported by call control / IVR)


@dataclass(frozen=True, slots=True)
class CallArrived(Command):
    call_id: str
    queue_id: str
    caller: str = ""
    did: str = ""
    did_vip: bool = False  # the access number is a VIP number (VIP接入号)
    priority: int = 0  # priority decided upstream (IVR, customer type); VIP may raise it
    skills: tuple[SkillRequirement, ...] | None = None  # None: the queue's required skills
    area: str = ""  # caller's area, compared with agent locality
    account_manager: str = ""  # agent id of the customer's dedicated agent, if any


@dataclass(frozen=True, slots=True)
class CallerHungUp(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class CallerChoseVoicemail(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class CallbackRequested(Command):
    call_id: str
    number: str


@dataclass(frozen=True, slots=True)
class CallbackCancelled(Command):
    call_id: str


@dataclass(frozen=True, slots=True)
class VipLookupResult(Command):
    call_id: str
    vip: bool
    priority: int | None = None  # None: the queue's VIP priority


@dataclass(frozen=True, slots=True)
class OfferAnswered(Command):
    call_id: str
    agent_id: str


PHONE_UNREACHABLE = "phone_unreachable"  # `OfferFailed.reason` when the offer could not even be sent


@dataclass(frozen=True, slots=True)
class OfferFailed(Command):
    """The agent's phone did not answer or rejected (counts as a miss), or could not be reached.

    With `reason == PHONE_UNREACHABLE` (the phone is not registered) it is no miss: the agent is taken as
    disconnected (reason "phone_unreachable") until `AgentReconnected` or the grace period ends, and the call
    goes on to the next agent at once.
    """

    call_id: str
    agent_id: str
    reason: str = "no_answer"


@dataclass(frozen=True, slots=True)
class CallCompleted(Command):
    """The conversation between the agent and the caller (or an outbound/direct call) ended."""

    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class AgentStartedOtherCall(Command):
    """The agent is on a call the ACD did not route (internal, manual outbound)."""

    agent_id: str
    call_id: str
    kind: str = "direct"


@dataclass(frozen=True, slots=True)
class OutboundAgentRequested(Command):
    """An outbound campaign asks for an idle agent; granted only above the inbound reserve."""

    request_id: str
    queue_ids: tuple[str, ...] = ()  # agents of these queues; empty: any agent


# Agents


@dataclass(frozen=True, slots=True)
class AgentLoggedIn(Command):
    agent_id: str
    paused_reason: str = ""  # log in straight into a busy state


@dataclass(frozen=True, slots=True)
class AgentLoggedOut(Command):
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentPaused(Command):
    agent_id: str
    reason: str = "busy"


@dataclass(frozen=True, slots=True)
class AgentUnpaused(Command):
    agent_id: str


@dataclass(frozen=True, slots=True)
class WrapUpEnded(Command):
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentDisconnected(Command):
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentReconnected(Command):
    agent_id: str


# Supervisors (班长)


@dataclass(frozen=True, slots=True)
class SupervisorForcedIdle(Command):
    agent_id: str
    supervisor_id: str


@dataclass(frozen=True, slots=True)
class SupervisorForcedBusy(Command):
    agent_id: str
    supervisor_id: str
    reason: str = "busy"


@dataclass(frozen=True, slots=True)
class SupervisorForcedLogout(Command):
    agent_id: str
    supervisor_id: str


@dataclass(frozen=True, slots=True)
class SupervisorMovedCall(Command):
    """A supervisor moves a waiting call: into `queue_id`, or (empty) out of the ACD to `agent_id`'s phone,
    which call control rings."""

    call_id: str
    queue_id: str = ""
    agent_id: str = ""
