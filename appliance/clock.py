"""Time as a dependency.

Protocol stacks and engines never read the clock themselves: they are handed a `Clock` (or plain `now`
values) so that tests and simulators run at any speed. `SystemClock` is the only place the real time is read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for timers and durations)."""

    def wall(self) -> float:
        """Seconds since the Unix epoch (for records people read)."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


@dataclass
class ManualClock:
    """A clock that moves only when told to: for tests and simulations."""

    now: float = 0.0
    epoch_offset: float = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.epoch_offset + self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self.now += seconds
