"""A call as call control holds it: its legs, media, IVR and ACD state, variables and timeline.

A call has one caller leg and any number of other legs (agent, consulted party, supervisor, external).
Every leg is behind the same `appliance.legs.CallLeg` interface, whatever its technology (SIP, E1/PRI
B-channels, analog ports), and has at most one media endpoint, which its provider owns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from appliance.legs.models import CallLeg


class Direction(StrEnum):
    INBOUND = "inbound"  # from a trunk (a customer)
    OUTBOUND = "outbound"  # from an extension to the PSTN
    INTERNAL = "internal"  # extension to extension (内线互打)


class LegRole(StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    CALLEE = "callee"  # the extension or number an internal/outbound call rings
    CONSULT = "consult"
    SUPERVISOR = "supervisor"


class CallPhase(StrEnum):
    ROUTING = "routing"
    IVR = "ivr"
    QUEUED = "queued"
    RINGING = "ringing"
    ANSWERED = "answered"  # the agent answered; the caller hears the agent's number, then they are bridged
    CONNECTED = "connected"
    VOICEMAIL = "voicemail"
    FEATURE = "feature"
    ENDED = "ended"


@dataclass
class LegState:
    leg: CallLeg
    role: LegRole
    party: str  # extension, number or agent id
    created_at: float
    endpoint_id: str | None = None
    agent_id: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    cause: str = ""
    mos: float | None = None
    remote_answer: bool = False  # its phone rings and may be answered from the desk (`remote_answer`)

    @property
    def answered(self) -> bool:
        return self.answered_at is not None and self.ended_at is None


@dataclass
class Call:
    id: str
    direction: Direction
    caller: str
    callee: str  # what was dialled
    started_at: float
    caller_leg: str
    caller_name: str = ""
    did: str = ""
    trunk: str = ""
    extension: str = ""  # the calling extension, for outbound and internal calls
    phase: CallPhase = CallPhase.ROUTING
    legs: dict[str, LegState] = field(default_factory=dict)
    answered_at: float | None = None
    ended_at: float | None = None
    # IVR
    flow: str = ""
    ivr_path: list[str] = field(default_factory=list)
    ivr_keys: str = ""
    ivr_exit: str = ""
    language: str = "zh-CN"
    # ACD
    queue: str = ""
    queued_at: float | None = None
    vip: bool = False
    offered_agents: list[str] = field(default_factory=list)
    agent: str = ""
    agent_leg: str | None = None
    agent_answered_at: float | None = None
    bridge_id: str | None = None
    hold_started: float | None = None
    hold_seconds: float = 0.0
    # outcome
    recording_id: str | None = None
    recordings: list[str] = field(default_factory=list)  # one file per connected segment
    voicemail_id: str = ""
    survey_score: int | None = None
    intended_customer: bool = False
    transfers: list[dict[str, Any]] = field(default_factory=list)
    hangup_side: str = ""
    hangup_cause: str = ""
    disposition: str = ""
    missed_reason: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    timeline: list[tuple[float, str, str]] = field(default_factory=list)

    def note(self, at: float, what: str, detail: str = "") -> None:
        self.timeline.append((round(at, 3), what, detail))

    @property
    def recording_file(self) -> str:
        """The first recording of the call (the API's download); later segments are in `recordings`."""
        return self.recordings[0] if self.recordings else ""

    def leg_by_role(self, role: LegRole) -> LegState | None:
        for state in self.legs.values():
            if state.role == role and state.ended_at is None:
                return state
        return None
