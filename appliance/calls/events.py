"""The public call events (topic "calls.*"): what a wallboard, an agent's screen pop, SNMP and the journal
learn about calls. They are part of the public event contract (`appliance.public_events`, version there):
fields are only ever added, never renamed or removed, within a major version.

`agent` is the agent id when an agent is involved ("" otherwise), `party` the extension, number or agent a
leg rings, `role` the leg's role in the call (caller, agent, callee, consult, supervisor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered(Event):
    """A call reached the box (or the box placed one: click-to-dial, monitoring)."""

    topic: ClassVar[str] = "calls.offered"
    call_id: str
    direction: str  # inbound | outbound | internal
    caller: str
    caller_name: str
    callee: str
    trunk: str
    leg_kind: str  # what carries the caller: sip, pri, fxo, ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRinging(Event):
    """A leg of the call rings: an agent's phone (the screen pop), an extension, a number."""

    topic: ClassVar[str] = "calls.ringing"
    call_id: str
    role: str
    party: str
    agent: str
    caller: str
    caller_name: str
    queue: str
    variables: dict[str, str] = field(default_factory=dict)  # what the IVR collected, for the screen pop
    # (1.4) the ringing phone may be answered from the desk: sent again, true, once the phone's ringing says so
    remote_answer: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(Event):
    topic: ClassVar[str] = "calls.answered"
    call_id: str
    role: str
    party: str
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallBridged(Event):
    """The caller and `party` hear each other."""

    topic: ClassVar[str] = "calls.bridged"
    call_id: str
    party: str
    agent: str
    recording: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CallHeld(Event):
    topic: ClassVar[str] = "calls.held"
    call_id: str
    held: bool
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTransferred(Event):
    topic: ClassVar[str] = "calls.transferred"
    call_id: str
    kind: str  # blind | attended | take_over
    by: str  # who asked (agent id, extension or "api")
    agent: str  # the agent who handed the call on ("" when none)
    to: str  # "queue:x", "agent:x", "extension:x", "flow:x", "did:x", "external:x", or the new party


@dataclass(frozen=True, slots=True, kw_only=True)
class CallQueued(Event):
    topic: ClassVar[str] = "calls.queued"
    call_id: str
    queue: str
    caller: str
    priority: int
    vip: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDequeued(Event):
    """The call left its queue: `reason` answered | overflow | callback | caller (hung up) | ended."""

    topic: ClassVar[str] = "calls.dequeued"
    call_id: str
    queue: str
    reason: str
    agent: str
    waited: float  # seconds in the queue


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned(Event):
    """The caller hung up before an agent answered (in a queue, or in the IVR)."""

    topic: ClassVar[str] = "calls.abandoned"
    call_id: str
    queue: str
    phase: str  # where the caller was: ivr, queued, ringing
    waited: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(Event):
    """The call is over; `cdr` is its call detail record, as the records API returns it."""

    topic: ClassVar[str] = "calls.ended"
    call_id: str
    agent: str
    disposition: str
    hangup_side: str
    hangup_cause: str
    duration: float
    cdr: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorStarted(Event):
    """A supervisor joined an agent's call: listen, whisper, barge or take_over."""

    topic: ClassVar[str] = "calls.monitor_started"
    call_id: str  # the monitored call
    supervisor: str
    agent: str
    mode: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TollFraudSuspected(Event):
    """`attempts` international or premium-rate attempts within `window_s` seconds, from the whole box (once per
    window); `extension` made the last of them."""

    topic: ClassVar[str] = "calls.toll_fraud_suspected"
    attempts: int
    window_s: int
    extension: str
    number_class: str


PUBLIC_CALL_EVENTS: tuple[type[Event], ...] = (
    CallOffered, CallRinging, CallAnswered, CallBridged, CallHeld, CallTransferred, CallQueued, CallDequeued,
    CallAbandoned, CallEnded, MonitorStarted, TollFraudSuspected,
)
