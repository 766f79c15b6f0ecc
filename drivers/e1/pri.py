"""One PRI D-channel signalling stack, sans-IO: LAPD (q921) under Q.931 (q931), glued as Q.921 §4 and
Q.931 §5.8.8 say — DL-DATA both ways, DL-ESTABLISH/RELEASE indications into Q.931's data link handling,
and the HDLC FCS added on what goes to the card and checked on what comes from it (Q.921 §2.7).

Call requests go to `q931` methods and their outputs through `feed`; what the stack wants sent to the card
is in `frames` (with FCS), what call control should hear in `events` (`take()` empties both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.e1 import q921, q931_model
from drivers.e1 import q931 as l3
from drivers.hal.crc import add_fcs, check_fcs

Event = q931_model.Output | q921.Established | q921.Released | q921.MdlError
Tap = Callable[[bytes, bool, float], None]  # (frame without FCS, sent by us, time): a pcap, a test's hand


@dataclass
class PriStack:
    role: l3.Role
    lapd: q921.Lapd = field(init=False)
    q931: l3.Q931 = field(init=False)
    t200: float = 1.0
    t203: float = 10.0
    timers: q931_model.Timers = field(default_factory=q931_model.Timers)
    overlap_digits: int = 0
    frames: list[bytes] = field(default_factory=list)  # to the card, with FCS
    events: list[Event] = field(default_factory=list)
    tap: Tap | None = None
    bad_fcs: int = 0

    def __post_init__(self) -> None:
        self.lapd = q921.Lapd(self.role, t200=self.t200, t203=self.t203)
        self.q931 = l3.Q931(self.role, timers=self.timers, overlap_digits=self.overlap_digits)

    def start(self, now: float) -> None:
        self._l2(self.lapd.establish(now), now)

    def release(self, now: float) -> None:
        """Take the data link down (DISC), as on shutdown."""
        self._l2(self.lapd.release(now), now)

    def receive(self, frame_with_fcs: bytes, now: float) -> None:
        frame = check_fcs(frame_with_fcs)
        if frame is None:
            self.bad_fcs += 1  # discarded (Q.921 §2.9): LAPD recovers it
            return
        if self.tap is not None:
            self.tap(frame, False, now)
        self._l2(self.lapd.receive(frame, now), now)

    def feed(self, outputs: list[q931_model.Output], now: float) -> None:
        """Send what a Q.931 request returned: `stack.feed(stack.q931.alerting(call_id, now), now)`."""
        for out in outputs:
            if isinstance(out, q931_model.Send):
                self._l2(self.lapd.send(out.data, now), now)
            else:
                self.events.append(out)

    def next_deadline(self) -> float | None:
        times = [t for t in (self.lapd.next_deadline(), self.q931.next_deadline()) if t is not None]
        return min(times) if times else None

    def handle_timeout(self, now: float) -> None:
        self._l2(self.lapd.handle_timeout(now), now)
        self.feed(self.q931.handle_timeout(now), now)

    def take(self) -> tuple[list[bytes], list[Event]]:
        frames, events = self.frames, self.events
        self.frames, self.events = [], []
        return frames, events

    def _l2(self, outputs: list[q921.Output], now: float) -> None:
        for out in outputs:
            if isinstance(out, q921.Transmit):
                if self.tap is not None:
                    self.tap(out.frame, True, now)
                self.frames.append(add_fcs(out.frame))
            elif isinstance(out, q921.DataIndication):
                self.feed(self.q931.receive(out.data, now), now)
            elif isinstance(out, q921.Established):
                self.events.append(out)
                self.feed(self.q931.link_up(now), now)
            elif isinstance(out, q921.Released):
                self.events.append(out)
                self.feed(self.q931.link_down(now), now)
            else:
                self.events.append(out)
