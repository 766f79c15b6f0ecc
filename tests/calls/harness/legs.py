"""Fake legs and leg providers: the `appliance.legs` contract with nothing behind it but a record.

`FakeLegProvider` implements `LegProvider` the way `appliance.sip.leg_provider` does: an outbound leg gets
its media endpoint when it is created, an inbound one when call control opens its media, and the endpoint is
released when the leg ends, whoever ends it. A leg ended by call control (hangup, reject) reports
`LegEnded(remote=False)` at once, as the SIP core does. Extensions that are "not registered" are refused at
`create()` with `LegRefused(SUBSCRIBER_ABSENT)` before any endpoint is allocated. A leg keeps the MOS its
provider measured (`FakeLeg.measures`, the fake engine's figure unless a test sets another or None) as its
media is released.

Two providers share one `Switchboard` (legs, registrations, media): kind "test" carries the customers'
calls, kind "sip" the extensions and the SIP trunk, because call control rings extensions as "sip".

`FakeLeg` records every command call control gave it (`commands`); a `Phone` is the test's hand on the far
end of one leg: answer, ring, refuse, hang up, press keys, hold, transfer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from appliance.events import Event
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused, LegSink, OutboundLeg
from tests.calls.harness.media import MOS, FakeMedia

CUSTOMER_KIND = "test"
EXTENSION_KIND = "sip"


@dataclass(eq=False)
class FakeLeg:
    """One leg (implements `appliance.legs.CallLeg`)."""

    board: Switchboard = field(repr=False)
    leg_id: str
    kind: str
    outbound: bool
    party: str  # who is at the far end: the callee we rang, or the caller who rang us
    endpoint_id: str | None = None
    mos: float | None = None  # set as the leg ends, whoever ends it (the provider's measurement)
    measures: float | None = MOS  # what the provider will measure (None: a line that measures none)
    state: str = "ringing"  # ringing | answered | ended
    commands: list[tuple[Any, ...]] = field(default_factory=list)
    refuse_media: Cause | None = None  # open_media fails with this cause

    # ---------------------------------------------------------------- call control's side

    async def open_media(self) -> str:
        self.commands.append(("open_media",))
        if self.refuse_media is not None:
            raise LegRefused(self.refuse_media, "the test refused this leg's media")
        if self.endpoint_id is None:
            self.endpoint_id = self.board.media.allocate()
        return self.endpoint_id

    def progress(self) -> None:
        self.commands.append(("progress",))

    def answer(self) -> None:
        self.commands.append(("answer",))
        if self.endpoint_id is None:
            raise AssertionError(f"leg {self.leg_id}: answered before its media was opened")
        if self.state == "ringing":
            self.state = "answered"

    def reject(self, cause: Cause) -> None:
        self.commands.append(("reject", cause))
        self.board.end(self, cause, remote=False)

    def hangup(self, cause: Cause = Cause.NORMAL_CLEARING) -> None:
        self.commands.append(("hangup", cause))
        self.board.end(self, cause, remote=False)

    def send_dtmf(self, digit: str) -> None:
        self.commands.append(("send_dtmf", digit))

    def transfer_progress(self, failure: Cause | None) -> None:
        self.commands.append(("transfer_progress", failure))

    # ---------------------------------------------------------------- what tests read

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    @property
    def command_names(self) -> list[str]:
        return [c[0] for c in self.commands]


@dataclass(eq=False)
class Phone:
    """The far end of one leg, as a test drives it."""

    leg: FakeLeg

    @property
    def board(self) -> Switchboard:
        return self.leg.board

    @property
    def endpoint(self) -> str | None:
        return self.leg.endpoint_id

    def hears(self) -> str | None:
        """What is played to this leg now: a prompt's name, "tone:ringback", "tts:<text>", or None."""
        return self.board.media.hears(self.leg.endpoint_id)

    def bridged_with(self) -> set[str]:
        """The other endpoints in this leg's bridge."""
        return set(self.board.media.parties(self.leg.endpoint_id)) - {self.leg.endpoint_id or ""}

    def _emit(self, event: Event) -> None:
        if self.leg.ended:
            raise AssertionError(f"leg {self.leg.leg_id} ({self.leg.party}) has ended: {event.topic} is too late")
        self.board.emit(self.leg.kind, event)

    def ring(self, early_media: bool = False) -> None:
        self._emit(leg_events.LegProgress(leg_id=self.leg.leg_id, early_media=early_media))

    def answer(self) -> None:
        assert self.leg.outbound, "an inbound caller is answered by call control, not by the test"
        self._emit(leg_events.LegAnswered(leg_id=self.leg.leg_id))
        self.leg.state = "answered"

    def refuse(self, cause: Cause = Cause.USER_BUSY) -> None:
        """The phone rejects the call (busy, declined), or the network gives up ringing (NO_ANSWER)."""
        assert self.leg.state == "ringing", f"leg {self.leg.leg_id} is {self.leg.state}"
        self.hang_up(cause)

    def hang_up(self, cause: Cause = Cause.NORMAL_CLEARING) -> None:
        if self.leg.ended:
            raise AssertionError(f"leg {self.leg.leg_id} ({self.leg.party}) has ended already")
        self.board.end(self.leg, cause, remote=True)

    def press(self, digits: str, *, out_of_band: bool = False) -> None:
        """Keys pressed: RFC 4733 through the media engine, or SIP INFO / Q.931 keypad (`out_of_band`)."""
        for digit in digits:
            if out_of_band:
                self._emit(leg_events.LegDtmf(leg_id=self.leg.leg_id, digit=digit))
            else:
                assert self.leg.endpoint_id is not None, f"leg {self.leg.leg_id} has no media"
                self.board.media.digit(self.leg.endpoint_id, digit)

    def hold(self, held: bool = True) -> None:
        self._emit(leg_events.LegHoldChanged(leg_id=self.leg.leg_id, held=held))

    def refer(self, target: str) -> None:
        """Blind transfer from the phone (REFER to `target`)."""
        self._emit(leg_events.LegTransferRequested(leg_id=self.leg.leg_id, target=target))

    def refer_replacing(self, other: Phone) -> None:
        """Attended transfer from the phone (REFER with Replaces naming our leg `other`)."""
        self._emit(leg_events.LegTransferRequested(leg_id=self.leg.leg_id, target=None,
                                                   replaces_leg=other.leg.leg_id))


@dataclass
class Switchboard:
    """What the fake providers share: every leg, which extensions are registered, the media engine."""

    media: FakeMedia
    sinks: dict[str, LegSink] = field(default_factory=dict)
    legs: dict[str, FakeLeg] = field(default_factory=dict)  # live legs
    history: list[FakeLeg] = field(default_factory=list)  # every leg, in order of creation
    unregistered: set[str] = field(default_factory=set)  # extensions whose phone cannot be rung
    refusals: dict[str, Cause] = field(default_factory=dict)  # callee → cause create() refuses it with
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def emit(self, kind: str, event: Event) -> None:
        self.sinks[kind](event)

    def new_leg(self, kind: str, party: str, *, outbound: bool) -> FakeLeg:
        leg = FakeLeg(self, f"{kind}-{next(self._ids)}", kind, outbound, party)
        self.legs[leg.leg_id] = leg
        self.history.append(leg)
        return leg

    def end(self, leg: FakeLeg, cause: Cause, *, remote: bool) -> None:
        if leg.ended:
            return  # a second hang-up of a leg that is gone (SIP answers it with nothing)
        leg.state = "ended"
        self.legs.pop(leg.leg_id, None)
        if leg.endpoint_id is not None:
            # The engine reports its own figure (`media.leg_quality`); the leg keeps what its provider measured.
            if self.media.release(leg.endpoint_id) is not None:
                leg.mos = leg.measures
            leg.endpoint_id = None
        self.emit(leg.kind, leg_events.LegEnded(leg_id=leg.leg_id, cause=cause, remote=remote))

    def set_registered(self, extension: str, registered: bool) -> None:
        if registered:
            self.unregistered.discard(extension)
        else:
            self.unregistered.add(extension)
        self.emit(EXTENSION_KIND, leg_events.EndpointReachable(extension=extension, reachable=registered))


@dataclass(eq=False)
class FakeLegProvider:
    """One kind of fake leg (implements `appliance.legs.LegProvider`)."""

    board: Switchboard
    kind: str

    def attach(self, sink: LegSink) -> None:
        self.board.sinks[self.kind] = sink

    def leg(self, leg_id: str) -> FakeLeg:
        leg = self.board.legs[leg_id]
        if leg.kind != self.kind:
            raise KeyError(leg_id)
        return leg

    async def create(self, request: OutboundLeg) -> FakeLeg:
        board = self.board
        if request.extension is not None and request.extension in board.unregistered:
            raise LegRefused(Cause.SUBSCRIBER_ABSENT, f"extension {request.extension} is not registered")
        cause = board.refusals.get(request.callee)
        if cause is not None:
            raise LegRefused(cause, f"the test refuses calls to {request.callee}")
        leg = board.new_leg(self.kind, request.callee, outbound=True)
        leg.commands.append(("create", request))
        leg.endpoint_id = board.media.allocate()
        return leg
