"""Call recordings: stereo WAV, caller left and agent right, written from the tick's decoded frames.

Recording taps a leg (a copy of each payload into its jitter buffer) instead of taking a relayed bridge off
the relay. Per tick each recording costs one list append (`write`); the files are flushed in staggered tick
slots (`flush`), so a thousand recordings started together do not all write in the same tick. A write error
(a full disk) stops that recording with `media.recording_stopped` carrying the error; the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from appliance.media.bridges import Bridges
from appliance.media.core import Core
from appliance.media.endpoint import FRAME, TICK
from appliance.media.events import RecordingStopped
from appliance.media.recorder import Recorder, mp3_command

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Recording:
    recording_id: str
    caller: str
    agent: str | None
    recorder: Recorder
    mp3: bool
    started: float
    flush_slot: int = 0  # flushed on the ticks whose count modulo the flush period is this (staggered)


@dataclass(eq=False, slots=True)
class _Plan:
    """Which recordings take a frame this tick and from which decoded rows (rebuilt when legs or
    recordings change, not per tick)."""

    appends: list[Callable[[bytes], None]]
    left: npt.NDArray[np.intp]
    right: npt.NDArray[np.intp]  # the row past the last decoded one stands for "no agent": silence


class Recordings:
    def __init__(self, core: Core, bridges: Bridges, open_recording: Callable[[Path], BinaryIO] | None) -> None:
        self._core = core
        self._bridges = bridges
        self._open_recording = open_recording  # how recordings are opened (storage other than a plain file)
        self.recordings: dict[str, Recording] = {}
        self._flush_ticks = max(1, round(core.config.recording_flush_interval / TICK))
        self.flush_slots: dict[int, dict[str, Recording]] = {}
        self._plan: _Plan | None = None
        self.side_tasks: set[asyncio.Task[Any]] = set()  # lame runs after a recording with mp3=True

    def start(self, caller_id: str, agent_id: str | None, path: Path, mp3: bool) -> str:
        core = self._core
        caller = core.endpoint(caller_id)
        legs = [caller] if agent_id is None else [caller, core.endpoint(agent_id)]
        recording_id = core.new_id("rec")
        rec = Recorder(path, flush_interval=core.config.recording_flush_interval)
        if self._open_recording is not None:
            rec.open_file = self._open_recording
        now = core.now()
        rec.open(now)
        slot = secrets.randbelow(self._flush_ticks)
        recording = Recording(recording_id, caller_id, agent_id, rec, mp3, now, slot)
        self.recordings[recording_id] = recording
        self.flush_slots.setdefault(slot, {})[recording_id] = recording
        self._plan = None
        for ep in legs:
            ep.recordings.add(recording_id)
            self._bridges.refresh(ep)
        return recording_id

    def stop(self, recording_id: str) -> None:
        rec = self.recordings.pop(recording_id, None)
        if rec is None:
            return
        self._forget(rec)
        rec.recorder.close(self._core.now())
        self._ended(rec)

    def _forget(self, rec: Recording) -> None:
        slot = self.flush_slots.get(rec.flush_slot)
        if slot is not None:
            slot.pop(rec.recording_id, None)
            if not slot:
                del self.flush_slots[rec.flush_slot]
        self._plan = None

    def _ended(self, rec: Recording) -> None:
        core = self._core
        for endpoint_id in (rec.caller, rec.agent):
            ep = core.endpoints.get(endpoint_id or "")
            if ep is not None:
                ep.recordings.discard(rec.recording_id)
                self._bridges.refresh(ep)
        seconds = rec.recorder.data_bytes / (8000 * 4)
        core.bus.publish(RecordingStopped(at=core.clock.wall(), recording_id=rec.recording_id,
                                          path=str(rec.recorder.path), seconds=round(seconds, 2),
                                          error=rec.recorder.failure))
        if rec.mp3 and rec.recorder.failure is None:
            cmd = mp3_command(rec.recorder.path, rec.recorder.path.with_suffix(".mp3"))
            if cmd is not None:
                task = asyncio.get_running_loop().create_task(self._run(cmd))
                self.side_tasks.add(task)
                task.add_done_callback(self.side_tasks.discard)

    @staticmethod
    async def _run(cmd: list[str]) -> None:
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()

    async def wait_side_tasks(self) -> None:
        for task in list(self.side_tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                log.debug("an mp3 conversion did not finish", exc_info=True)
        self.side_tasks.clear()

    # ---------------------------------------------------------------- from the tick

    def invalidate(self) -> None:
        """The tick's rows changed: the rows each recording reads are worked out again at the next write."""
        self._plan = None

    def write(self, pcm: npt.NDArray[np.int16], row_of: dict[str, int]) -> None:
        """One stereo frame per recording from this tick's decoded rows."""
        plan = self._plan
        if plan is None:
            plan = self._plan = self._make_plan(row_of, len(pcm))
        appends = plan.appends
        if not appends:
            return
        padded = np.concatenate([pcm, np.zeros((1, FRAME), dtype=pcm.dtype)])
        stereo = np.empty((len(appends), FRAME, 2), dtype="<i2")  # interleaved per sample: L R L R ...
        stereo[:, :, 0] = padded[plan.left]
        stereo[:, :, 1] = padded[plan.right]
        data = stereo.tobytes()
        size = FRAME * 4
        for k, append in enumerate(appends):
            append(data[k * size:(k + 1) * size])

    def _make_plan(self, row_of: dict[str, int], rows: int) -> _Plan:
        recs = [r for r in self.recordings.values()
                if r.caller in row_of and (r.agent is None or r.agent in row_of)]
        return _Plan([r.recorder.append for r in recs],
                     np.array([row_of[r.caller] for r in recs], dtype=np.intp),
                     np.array([row_of[r.agent] if r.agent is not None else rows for r in recs], dtype=np.intp))

    def flush(self, tick_count: int, now: float) -> None:
        """This tick's share of the recordings goes to disk: each one once per flush interval, also when its
        legs stopped producing frames."""
        due = self.flush_slots.get(tick_count % self._flush_ticks)
        if not due:
            return
        failed = []
        for r in due.values():
            r.recorder.flush(now)
            if r.recorder.failure is not None:
                failed.append(r)
        for r in failed:
            self.recordings.pop(r.recording_id, None)
            self._forget(r)
            log.warning("recording %s stopped: %s", r.recorder.path, r.recorder.failure)
            self._ended(r)
