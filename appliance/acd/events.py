"""Events the ACD publishes (topic "acd.*") for call control, the wallboard, CDR/queue log and SNMP.

Times: `at` (from `Event`) is wall-clock seconds when it happened; durations are in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class CallQueued(Event):
    topic: ClassVar[str] = "acd.call_queued"
    call_id: str
    queue_id: str
    caller: str
    priority: int
    vip_source: str  # "" when not VIP
    position: int
    callback: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered(Event):
    topic: ClassVar[str] = "acd.call_offered"
    call_id: str
    queue_id: str
    agent_ids: tuple[str, ...]
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallReturned(Event):
    """The offer failed (no answer, rejection, agent gone): the call is back at the very front."""

    topic: ClassVar[str] = "acd.call_returned"
    call_id: str
    queue_id: str
    agent_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(Event):
    topic: ClassVar[str] = "acd.call_answered"
    call_id: str
    queue_id: str
    agent_id: str
    wait: float  # seconds from arrival in the ACD to the answer
    attempts: int
    callback_number: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned(Event):
    topic: ClassVar[str] = "acd.call_abandoned"
    call_id: str
    queue_id: str
    wait: float
    while_ringing: bool
    reason: str = "caller_hung_up"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOverflowed(Event):
    """The call left `queue_id` because of a limit or the caller's choice.

    With `action == "queue"` the call continues in `target`; every other action ends it in the ACD.
    """

    topic: ClassVar[str] = "acd.call_overflowed"
    call_id: str
    queue_id: str
    reason: str  # "max_wait", "no_agent", "queue_full", "caller_choice", "overflow_loop"
    action: str
    target: str
    wait: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallPriorityRaised(Event):
    topic: ClassVar[str] = "acd.call_priority_raised"
    call_id: str
    queue_id: str
    priority: int
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VipLookupTimedOut(Event):
    topic: ClassVar[str] = "acd.vip_lookup_timed_out"
    call_id: str
    queue_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRegistered(Event):
    topic: ClassVar[str] = "acd.callback_registered"
    call_id: str
    queue_id: str
    number: str
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRefused(Event):
    topic: ClassVar[str] = "acd.callback_refused"
    call_id: str
    number: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChanged(Event):
    """One line of the agent log: every transition, with when the previous state began and its length."""

    topic: ClassVar[str] = "acd.agent_state_changed"
    agent_id: str
    old: str
    new: str
    reason: str
    since: float  # wall-clock start of the old state
    duration: float  # seconds spent in the old state
    by: str = ""  # supervisor id when forced, "system" for automatic changes, "" for the agent


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentMissedCall(Event):
    topic: ClassVar[str] = "acd.agent_missed_call"
    agent_id: str
    call_id: str
    misses: int  # consecutive


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundDecided(Event):
    topic: ClassVar[str] = "acd.outbound_decided"
    request_id: str
    agent_id: str  # "" when denied
    reason: str = ""
