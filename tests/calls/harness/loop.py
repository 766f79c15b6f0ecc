"""An asyncio loop whose time is a `ManualClock`: call control's timers run in virtual time.

Call control arms timers three ways: `loop.call_later` (voicemail limit, REFER clean-up, callback retries),
`asyncio.timeout` in the ACD timer task, and the IVR runner's `call_later` computed from the injected clock.
With the loop's `time()` being the harness's `ManualClock`, all three agree with the clock the ACD, the IVR
and the CDRs read, and a test moves them all by advancing that one clock (`VirtualTimeLoop.advance_to`).

Virtual time never passes by itself. When the loop has nothing ready it would block in `select` for the time
to its next timer, read as real seconds; the selector caps that wait so that a test awaiting something that
never comes fails on pytest's timeout instead of sleeping out a virtual two-minute timer.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

from appliance.clock import ManualClock

# Wednesday 2023-11-15 10:00 in Asia/Shanghai: inside the demo tenant's work hours (Mon-Fri 09:00-18:00).
WORK_HOURS_EPOCH = 1_700_013_600.0
REAL_WAIT_CAP_S = 0.05  # the longest real wait in select (threads still wake it at once)


class _CappedSelector(selectors.DefaultSelector):
    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > REAL_WAIT_CAP_S:
            timeout = REAL_WAIT_CAP_S
        return super().select(timeout)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: ManualClock | None = None) -> None:
        super().__init__(_CappedSelector())
        self.clock = clock or ManualClock(epoch_offset=WORK_HOURS_EPOCH)

    def time(self) -> float:
        return self.clock.monotonic()

    # The loop's queues are read (never changed) to tell when everything that can run has run.
    def busy(self) -> bool:
        """Something is ready to run, or a timer is due at the current virtual time."""
        ready: Any = self._ready  # type: ignore[attr-defined]
        if ready:
            return True
        due = self.next_timer()
        return due is not None and due <= self.time()

    def next_timer(self) -> float | None:
        """When the earliest live timer is due (None: no timer armed)."""
        scheduled: list[asyncio.TimerHandle] = self._scheduled  # type: ignore[attr-defined]
        return min((h.when() for h in scheduled if not h.cancelled()), default=None)

    async def settle(self, limit: int = 100_000) -> None:
        """Run everything that can run now: until nothing is ready and no timer is due, twice in a row."""
        quiet = 0
        for _ in range(limit):
            await asyncio.sleep(0)
            quiet = 0 if self.busy() else quiet + 1
            if quiet >= 2:
                return
        raise AssertionError(f"the loop did not settle within {limit} steps (a busy loop?)")

    async def advance(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass, firing each timer at its own time and settling after each."""
        end = self.clock.now + seconds
        await self.settle()
        while (due := self.next_timer()) is not None and due <= end:
            if due > self.clock.now:
                self.clock.advance(due - self.clock.now)
            await self.settle()
        if end > self.clock.now:
            self.clock.advance(end - self.clock.now)
        await self.settle()
