"""Events the SIP engine publishes (topic "sip.*").

Call-control events name a leg by `leg_id`; registrar, trunk and security events are published on the
appliance `EventBus` for records, SNMP traps and the UI. All are frozen dataclasses (see `appliance.events`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingCall(Event):
    """A new inbound leg waits for call control: answer, progress (183), reject or route it."""

    topic: ClassVar[str] = "sip.incoming_call"
    leg_id: str
    caller: str  # user part of From (after the trunk's caller-ID rules)
    caller_name: str | None
    callee: str  # user part of the Request-URI
    sdp_offer: bytes  # empty when the INVITE had no offer (call control then offers in the answer)
    source: str  # "ip:port"
    transport: str
    extension: str | None  # authenticated extension, when a phone called
    trunk: str | None  # trunk name, when a carrier called
    call_id: str
    replaces: str | None = None  # leg_id this call replaces (RFC 3891 attended transfer), if any


@dataclass(frozen=True, slots=True, kw_only=True)
class LegProgress(Event):
    topic: ClassVar[str] = "sip.leg_progress"
    leg_id: str
    status: int  # 180, 183
    sdp: bytes  # early media answer when present
    allow_events: tuple[str, ...] = ()  # the event packages its Allow-Events lists (lower case): "talk" ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LegAnswered(Event):
    topic: ClassVar[str] = "sip.leg_answered"
    leg_id: str
    sdp: bytes  # the far end's answer (outbound) or our answer (inbound)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEnded(Event):
    """The leg is gone. `cause`: "hangup_local", "hangup_remote", "rejected", "cancelled", "timeout",
    "no_answer", "transport_error", "session_expired", "failed"; `status` the SIP code when there was one."""

    topic: ClassVar[str] = "sip.leg_ended"
    leg_id: str
    cause: str
    status: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LegMediaChanged(Event):
    """The far end changed the session (re-INVITE/UPDATE): hold is direction sendonly or inactive."""

    topic: ClassVar[str] = "sip.leg_media_changed"
    leg_id: str
    sdp: bytes
    direction: str  # the far end's direction: sendrecv, sendonly (holding us), recvonly, inactive


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfReceived(Event):
    topic: ClassVar[str] = "sip.dtmf"
    leg_id: str
    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRequested(Event):
    """The far end sent REFER: blind when `replaces` is None, attended when it names the leg to replace.
    Call control carries it out and reports with `transfer_progress(leg_id, status)`."""

    topic: ClassVar[str] = "sip.transfer_requested"
    leg_id: str
    target: str  # the Refer-To URI without its ?Replaces=...
    target_user: str | None
    replaces_leg: str | None  # our leg id named by Replaces, when the dialog is one of ours
    replaces: str | None  # the raw Replaces value (call-id;to-tag=..;from-tag=..)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferProgress(Event):
    """A NOTIFY (message/sipfrag) about a REFER we sent: final when status >= 200."""

    topic: ClassVar[str] = "sip.transfer_progress"
    leg_id: str
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteAnswerResult(Event):
    """What became of our talk NOTIFY (see `talk`): `accepted` when the phone answered it 2xx (its 200 OK to
    the INVITE follows); else `status` is its refusal, 408 when it never answered, 503 when undeliverable."""

    topic: ClassVar[str] = "sip.remote_answer"
    leg_id: str
    status: int
    accepted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationChanged(Event):
    topic: ClassVar[str] = "sip.registration"
    extension: str
    contact: str
    expires: int  # 0: removed
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactReachability(Event):
    topic: ClassVar[str] = "sip.reachability"
    extension: str
    contact: str
    reachable: bool
    rtt_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthFailed(Event):
    topic: ClassVar[str] = "sip.auth_failed"
    source: str
    username: str
    method: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthBlocked(Event):
    """A source is refused for `seconds` (its requests dropped unheard): `kind` is "source", `key` its address;
    `reason` "failures" (too many of its own) or "attack" (it failed during an attack on `extension`)."""

    topic: ClassVar[str] = "sip.auth_blocked"
    kind: str
    key: str
    seconds: float
    failures: int
    reason: str = "failures"
    extension: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthUnblocked(Event):
    """A source's block ended: `reason` "expired", or "lifted" by an admin."""

    topic: ClassVar[str] = "sip.auth_unblocked"
    source: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionUnderAttack(Event):
    """`failures` failed authentications against one extension from `sources` (at least the policy's
    `spread_sources` addresses) within the guard's window, reported once per window. The extension stays in
    service; while the attack lasts, each source that never authenticated as it is blocked at its first
    failure."""

    topic: ClassVar[str] = "sip.extension_under_attack"
    extension: str
    failures: int
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimited(Event):
    topic: ClassVar[str] = "sip.rate_limited"
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkRegistrationChanged(Event):
    topic: ClassVar[str] = "sip.trunk_registration"
    trunk: str
    registered: bool
    status: int
    retry_in: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolViolation(Event):
    """A peer sent a malformed message (answered with `status`, or dropped when 0)."""

    topic: ClassVar[str] = "sip.protocol_violation"
    source: str
    reason: str
    status: int
