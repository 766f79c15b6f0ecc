"""What a call's actor reads from its inbox: one small frozen message per kind of thing that can happen to it.

Everything that touches a call goes through its inbox — leg and media events, IVR and ACD actions, timers, API
commands and what other calls ask of it (attended transfers, supervisors) — so its handlers never interleave.
`CallMessage` is the closed set; the controller dispatches on it with `match`, and mypy checks that every
message has a handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from appliance.acd import actions as acd_actions
from appliance.acd.commands import VipLookupResult
from appliance.calls.models import LegState
from appliance.events import Event
from appliance.ivr import actions as ivr_actions

# ---------------------------------------------------------------- from the engines


@dataclass(frozen=True, slots=True)
class LegEventArrived:
    """A leg provider's event for one of this call's legs."""

    event: Event


@dataclass(frozen=True, slots=True)
class MediaEventArrived:
    """A media engine event for one of this call's endpoints."""

    event: Event


@dataclass(frozen=True, slots=True)
class IvrActionArrived:
    action: ivr_actions.Action


@dataclass(frozen=True, slots=True)
class AcdActionArrived:
    action: acd_actions.Action


@dataclass(frozen=True, slots=True)
class VipResult:
    """The CRM's answer to a VIP look-up, which ran beside the call (its actor never waits on a web server)."""

    result: VipLookupResult


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer the call set (voicemail limit, callback retry ...) is due: `fire` runs inside the actor."""

    fire: Callable[[], Awaitable[None]]


# ---------------------------------------------------------------- API commands (agent desk, supervisors)


@dataclass(frozen=True, slots=True)
class ApiHangup:
    pass


@dataclass(frozen=True, slots=True)
class ApiTransfer:
    target: str


@dataclass(frozen=True, slots=True)
class ApiHold:
    on: bool


@dataclass(frozen=True, slots=True)
class ApiConsult:
    target: str


@dataclass(frozen=True, slots=True)
class ConsultReturn:
    pass


@dataclass(frozen=True, slots=True)
class ConsultComplete:
    pass


@dataclass(frozen=True, slots=True)
class ApiConference:
    target: str


@dataclass(frozen=True, slots=True)
class ApiMarkIntended:
    """The desk marks the caller as an intended customer (意向客户); `by` is who did."""

    by: str


# ---------------------------------------------------------------- from other calls


@dataclass(frozen=True, slots=True)
class HandOver:
    """Attended transfer: give this call's far party to `to_call`; `agent_leg` is the transferring agent's."""

    to_call: str
    agent_leg: str


@dataclass(frozen=True, slots=True)
class Adopt:
    """Attended transfer: the leg another call handed over joins this one (the registry maps it here
    already)."""

    leg_id: str
    state: LegState


@dataclass(frozen=True, slots=True)
class TakeOver:
    """A supervisor monitoring this call takes the caller over from the agent."""

    supervisor_call: str


@dataclass(frozen=True, slots=True)
class MonitorGone:
    """A supervisor's call that monitored this one has ended."""

    supervisor_call: str


@dataclass(frozen=True, slots=True)
class TargetEnded:
    """The call this supervisor's call monitored has ended."""

    target_call: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The controller stops: end the call now."""


CallMessage = (
    LegEventArrived | MediaEventArrived | IvrActionArrived | AcdActionArrived | VipResult | TimerFired
    | ApiHangup | ApiTransfer | ApiHold | ApiConsult | ConsultReturn | ConsultComplete | ApiConference
    | ApiMarkIntended | HandOver | Adopt | TakeOver | MonitorGone | TargetEnded | Shutdown
)
