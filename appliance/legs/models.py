"""The leg protocol call control holds, the provider protocol the drivers and SIP implement, and the
request for a new outbound leg."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from appliance.errors import ApplianceError
from appliance.events import Event
from appliance.legs.causes import Cause

LegSink = Callable[[Event], None]  # where a provider delivers its leg events (the factory's fan-in)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundLeg:
    """What call control asks a provider for: ring `callee` (an extension, or a number through `trunk`)."""

    callee: str
    caller: str
    caller_name: str | None = None
    extension: str | None = None  # ring this extension of ours
    trunk: str | None = None  # or call out through this trunk


class LegRefused(ApplianceError):
    """A leg could not be created or its media set up; `cause` says why (Q.850)."""

    def __init__(self, cause: Cause, detail: str = "") -> None:
        what = detail or cause.slug
        super().__init__(f"the leg was refused: {what}", f"呼叫分支被拒绝:{what}", error_id="leg_refused",
                         details={"cause": int(cause), "name": cause.slug}, http_status=409)
        self.cause = cause


class CallLeg(Protocol):
    """One party of a call, whatever carries it. Every method sends at once and never blocks."""

    @property
    def leg_id(self) -> str: ...

    @property
    def kind(self) -> str:
        """The provider's kind: "sip", "pri", "fxo", ..."""

    @property
    def endpoint_id(self) -> str | None:
        """The media engine endpoint of this leg; None before `open_media` (inbound) or after it ended."""

    @property
    def mos(self) -> float | None:
        """The leg's listening quality estimate, once its media was released (None where not measured)."""

    async def open_media(self) -> str:
        """Set up the media side of an inbound leg (outbound legs have it from creation); returns the
        endpoint id. Raises `LegRefused` (e.g. BEARER_CAPABILITY_NOT_IMPLEMENTED: no codec in common)."""

    def progress(self) -> None:
        """Tell an inbound caller the call is ringing (the caller hears its own ringback)."""

    def answer(self) -> None: ...

    def reject(self, cause: Cause) -> None:
        """Refuse an inbound leg before answering; its media is released."""

    def hangup(self, cause: Cause = Cause.NORMAL_CLEARING) -> None:
        """End the leg (cancel it while it rings); its media is released before this returns."""

    def send_dtmf(self, digit: str) -> None: ...

    def transfer_progress(self, failure: Cause | None) -> None:
        """Report the outcome of a transfer the far end asked for: None when it worked."""


@runtime_checkable
class RemotelyAnswerable(Protocol):
    """A leg whose ringing phone may be answered from the box (SIP phones offering the BroadSoft talk
    event). Not every `CallLeg` is one: call control asks with isinstance."""

    @property
    def remote_answer(self) -> bool:
        """The far end said, while ringing, that it can be answered from here."""

    def answer_remotely(self) -> None:
        """Ask the ringing phone to go off-hook; its answer arrives as `LegAnswered`, a refusal as
        `LegRemoteAnswerRefused`. Raises `ApplianceError` (a Conflict) when the leg cannot be."""


class LegProvider(Protocol):
    """One technology's legs. The factory hands it a sink for its events before anything starts."""

    @property
    def kind(self) -> str: ...

    def attach(self, sink: LegSink) -> None: ...

    def leg(self, leg_id: str) -> CallLeg:
        """A leg announced by `LegIncoming` (KeyError when it is gone)."""

    async def create(self, request: OutboundLeg) -> CallLeg:
        """Start an outbound leg with its media side; `LegRefused` when it cannot even be tried (an
        extension with no registered phone, a trunk with no free channel)."""
