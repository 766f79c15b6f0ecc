"""Outputs of the ACD engine: what call control (and the CRM look-up adapter) must do.

The engine decides; call control carries the decision out and reports back with a command (answered, no
answer, hung up). Frozen dataclasses, returned in order from `AcdEngine.handle` / `handle_timeout`.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.acd.models import OverflowKind


@dataclass(frozen=True, slots=True)
class Action:
    """Base of all engine outputs."""


@dataclass(frozen=True, slots=True)
class OfferCall(Action):
    """Ring `agent_id` for `call_id`; report `OfferAnswered` or `OfferFailed`."""

    call_id: str
    queue_id: str
    agent_id: str
    ring_timeout: float
    caller: str
    agent_number: str = ""
    announce_agent_number: bool = False  # play the agent's number (工号) to the caller on answer
    callback_number: str = ""  # non-empty: a callback ticket, connect the agent first then dial this


@dataclass(frozen=True, slots=True)
class RingAll(Action):
    """Ring all of `agent_ids` at once; the first `OfferAnswered` wins, the others are cancelled."""

    call_id: str
    queue_id: str
    agent_ids: tuple[str, ...]
    ring_timeout: float
    caller: str
    callback_number: str = ""


@dataclass(frozen=True, slots=True)
class CancelOffer(Action):
    """Stop ringing `agent_id` for `call_id` (timeout, another agent answered, caller left)."""

    call_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class DialCallback(Action):
    """The agent answered a callback ticket: dial the customer and bridge them to the agent."""

    call_id: str
    agent_id: str
    number: str


@dataclass(frozen=True, slots=True)
class AnnouncePosition(Action):
    call_id: str
    position: int  # 1 = next to be served
    estimated_wait: float  # seconds
    voicemail_key: str = ""
    callback_key: str = ""


@dataclass(frozen=True, slots=True)
class OverflowCall(Action):
    """Take the call out of the ACD to voicemail, an IVR node or an external number."""

    call_id: str
    kind: OverflowKind
    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class HangUpCall(Action):
    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class LookupVip(Action):
    """Ask the CRM whether the caller is a VIP; answer with `VipLookupResult` within `timeout`."""

    call_id: str
    caller: str
    queue_id: str
    timeout: float


@dataclass(frozen=True, slots=True)
class AcceptCallback(Action):
    """Confirm the callback to the caller and release the caller's leg; the ticket keeps its place."""

    call_id: str
    number: str


@dataclass(frozen=True, slots=True)
class RefuseCallback(Action):
    call_id: str
    number: str
    reason: str  # "duplicate", "not_waiting", "not_offered"


@dataclass(frozen=True, slots=True)
class GrantOutbound(Action):
    request_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class DenyOutbound(Action):
    request_id: str
    reason: str  # "reserve" (inbound reserve reached) or "no_idle_agent"
