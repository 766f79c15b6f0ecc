"""A PRI call as an `appliance.legs.CallLeg`: one B-channel of one span, its Q.931 call and its frame port.

The leg only asks its span for things (`E1Driver` in service.py does the signalling and owns the card);
its media side is an A-law frame port the driver feeds from the card's bearer ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused
from appliance.media.frame_media import FramePortLike

if TYPE_CHECKING:
    from drivers.e1.service import E1Driver, SpanRuntime

KIND = "e1_pri"


@dataclass(eq=False)
class PriLeg:
    driver: E1Driver = field(repr=False)
    span: SpanRuntime = field(repr=False)
    leg_id: str
    call: int  # the Q.931 call id on the span
    channel: int
    outbound: bool
    caller: str
    callee: str
    kind: str = KIND
    endpoint_id: str | None = None
    mos: float | None = None  # a B-channel measures no MOS
    port: FramePortLike | None = field(default=None, repr=False)
    ended: bool = False
    answered: bool = False

    async def open_media(self) -> str:
        if self.ended:
            raise LegRefused(Cause.NORMAL_CLEARING, f"leg {self.leg_id} has ended")
        if self.endpoint_id is None:
            self.driver.open_port(self)
        assert self.endpoint_id is not None
        return self.endpoint_id

    def progress(self) -> None:
        if not self.ended and not self.outbound:
            self.driver.q931_request(self.span, self.span.stack.q931.alerting, self.call)

    def answer(self) -> None:
        if self.ended or self.outbound:
            return
        if self.endpoint_id is None:
            raise RuntimeError(f"leg {self.leg_id}: answered before its media was opened")
        self.driver.q931_request(self.span, self.span.stack.q931.connect, self.call)
        if self.span.settings.role == "network":  # the network side is active at once (no CONNECT ACK wait)
            self.driver.answered(self)

    def reject(self, cause: Cause) -> None:
        self.hangup(cause)

    def hangup(self, cause: Cause = Cause.NORMAL_CLEARING) -> None:
        if not self.ended:
            self.driver.hangup(self, int(cause))

    def send_dtmf(self, digit: str) -> None:
        """PRI carries digits in band: the media engine sends them as tones through the frame port."""

    def transfer_progress(self, failure: Cause | None) -> None:
        """PRI has no transfer request of the far end here (no ECT / explicit call transfer)."""
