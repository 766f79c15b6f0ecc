"""What a leg provider tells call control (internal to the box; the public contract is `calls.*`).

Each event names its leg by `leg_id`; a provider's ids are unique across providers (they carry the kind
as a prefix where they could clash)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event
from appliance.legs.causes import Cause


@dataclass(frozen=True, slots=True, kw_only=True)
class LegIncoming(Event):
    """A new inbound leg waits for call control: open its media, then answer, ring or reject it."""

    topic: ClassVar[str] = "legs.incoming"
    leg_id: str
    kind: str
    caller: str
    caller_name: str | None
    callee: str
    extension: str | None = None  # the authenticated extension of ours that called
    trunk: str | None = None  # the trunk (or span / port group) a carrier's call came in on


@dataclass(frozen=True, slots=True, kw_only=True)
class LegProgress(Event):
    topic: ClassVar[str] = "legs.progress"
    leg_id: str
    early_media: bool = False  # the far end sends audio (ringback, announcements) before answering
    remote_answer: bool = False  # the ringing phone may be answered from the box (`RemotelyAnswerable`)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegAnswered(Event):
    topic: ClassVar[str] = "legs.answered"
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegRemoteAnswerRefused(Event):
    """The ringing phone would not be answered from the box (`reason`: its refusal, or no answer at all);
    it keeps ringing."""

    topic: ClassVar[str] = "legs.remote_answer_refused"
    leg_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEnded(Event):
    """The leg is gone and its media released. `remote`: the far end ended it (else we, or a timer)."""

    topic: ClassVar[str] = "legs.ended"
    leg_id: str
    cause: Cause
    remote: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LegDtmf(Event):
    """A digit signalled out of band (SIP INFO, Q.931 KEYPAD); in-band and RFC 4733 digits come from media."""

    topic: ClassVar[str] = "legs.dtmf"
    leg_id: str
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegHoldChanged(Event):
    """The far end put us on hold or took us off it."""

    topic: ClassVar[str] = "legs.hold"
    leg_id: str
    held: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LegTransferRequested(Event):
    """The far end asked to transfer its call: blind to `target`, or attended replacing our leg
    `replaces_leg`. Call control carries it out and reports with `CallLeg.transfer_progress`."""

    topic: ClassVar[str] = "legs.transfer_requested"
    leg_id: str
    target: str | None
    replaces_leg: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointReachable(Event):
    """One of our extensions can be rung again (a phone registered), or can no longer be."""

    topic: ClassVar[str] = "legs.endpoint_reachable"
    extension: str
    reachable: bool
