"""Analog calls as legs (`appliance.legs`): kind "fxo" for lines from the exchange (trunk legs), kind "fxs" for
agents' analog phones (extension legs). Each leg owns an A-law frame port while it lives; the service's
bearer loop pushes the line's audio into it and pulls the line's audio out of it on the card's 20 ms clock.

Q.850 at this edge: the far end's busy tone, a polarity reversal or a loop-current drop end an FXO leg with
NORMAL_CLEARING (remote); a dead line with NETWORK_OUT_OF_ORDER; a phone put down ends an FXS leg with
NORMAL_CLEARING (remote); an FXS phone that is already in use refuses with USER_BUSY, a trunk with no idle
line with NO_CIRCUIT_AVAILABLE.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.events import Event
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import CallLeg, LegRefused, LegSink, OutboundLeg
from appliance.media.frame_media import FramePortLike

if TYPE_CHECKING:
    from drivers.analog.service import AnalogService


@dataclass(eq=False)
class AnalogLeg:
    """One call on one analog port (implements `appliance.legs.CallLeg`)."""

    provider: AnalogLegProvider = field(repr=False)
    leg_id: str
    port: int
    outbound: bool
    kind: str
    endpoint_id: str | None = None
    mos: float | None = None  # an analog line measures no MOS
    state: str = "offered"  # offered | ringing | answered | ended
    frame_port: FramePortLike | None = field(default=None, repr=False)
    held: bool = False

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    async def open_media(self) -> str:
        if self.ended:
            raise LegRefused(Cause.NORMAL_CLEARING, f"leg {self.leg_id} has ended")
        if self.endpoint_id is None:
            self.provider.service.open_media(self)
        assert self.endpoint_id is not None
        return self.endpoint_id

    def progress(self) -> None:
        if self.state == "offered":
            self.state = "ringing"  # (an analog caller already hears the exchange's ringback)

    def answer(self) -> None:
        if self.ended or self.state == "answered":
            return
        if self.endpoint_id is None:
            raise RuntimeError(f"leg {self.leg_id}: answered before its media was opened")
        self.provider.service.answer_leg(self)

    def reject(self, cause: Cause) -> None:
        self.provider.service.hangup_leg(self, cause)

    def hangup(self, cause: Cause = Cause.NORMAL_CLEARING) -> None:
        self.provider.service.hangup_leg(self, cause)

    def send_dtmf(self, digit: str) -> None:
        self.provider.service.send_digits(self, digit)

    def transfer_progress(self, failure: Cause | None) -> None:
        self.provider.service.transfer_outcome(self, failure)


@dataclass(eq=False)
class AnalogLegProvider:
    """The legs of one port kind; the service does the work, the provider is the seam call control sees."""

    service: AnalogService
    kind: str
    _legs: dict[str, AnalogLeg] = field(default_factory=dict)
    _sink: LegSink | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def attach(self, sink: LegSink) -> None:
        self._sink = sink

    def leg(self, leg_id: str) -> CallLeg:
        return self._legs[leg_id]

    async def create(self, request: OutboundLeg) -> CallLeg:
        if self.kind == "fxo":
            return self.service.dial_out(self, request)
        return self.service.ring_phone(self, request)

    # ---------------------------------------------------------------- for the service

    def new_leg(self, port: int, *, outbound: bool) -> AnalogLeg:
        leg = AnalogLeg(self, f"{self.kind}-{port}-{next(self._ids)}", port, outbound, self.kind)
        self._legs[leg.leg_id] = leg
        return leg

    def forget(self, leg: AnalogLeg) -> None:
        self._legs.pop(leg.leg_id, None)

    @property
    def live_legs(self) -> int:
        return len(self._legs)

    def emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)

    def incoming(self, leg: AnalogLeg, *, caller: str, caller_name: str | None, callee: str,
                 extension: str | None = None, trunk: str | None = None) -> None:
        self.emit(leg_events.LegIncoming(at=time.time(), leg_id=leg.leg_id, kind=self.kind, caller=caller,
                                         caller_name=caller_name, callee=callee, extension=extension,
                                         trunk=trunk))
