"""The journal: turns bus events into queue-log, agent-log and IVR-journey rows, written in batches.

Events arrive one at a time on the call path; rows are queued in memory and written every
`flush_interval` seconds (or when `max_batch` rows wait) in one SQLite transaction, so a burst of calls costs
one commit, not hundreds. `stop()` writes whatever is still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from appliance.events import Event, EventBus
from appliance.records.sqlite_store import RecordStore

log = logging.getLogger(__name__)

_QUEUE_COLUMNS = {"at", "topic", "call_id", "queue_id"}


def queue_row(event: Event) -> tuple[Any, ...] | None:
    data = event.to_dict()
    if "call_id" not in data or "queue_id" not in data:
        return None
    agents = data.pop("agent_ids", None)
    agent = data.pop("agent_id", None) or (",".join(agents) if agents else None)
    name = event.topic.removeprefix("acd.").removeprefix("call_")
    extra = {k: v for k, v in data.items() if k not in _QUEUE_COLUMNS}
    return (event.at, data["call_id"], data["queue_id"], name, agent, extra)


def agent_row(event: Event) -> tuple[Any, ...]:
    d = event.to_dict()
    return (event.at, d["agent_id"], d["old"], d["new"], d.get("reason", ""),
            {"since": d.get("since"), "duration": d.get("duration"), "by": d.get("by", "")})


def ivr_row(event: Event) -> tuple[Any, ...]:
    d = event.to_dict()
    if event.topic == "ivr.step":
        return (event.at, d["call_id"], d["flow"], d["node"], d["kind"],
                {"seq": d["seq"], "flow_version": d["flow_version"], "detail": d.get("detail", "")})
    if event.topic == "ivr.started":
        return (event.at, d["call_id"], d["flow"], "", "started",
                {"caller": d["caller"], "did": d["did"], "flow_version": d["flow_version"], "vip": d["vip"]})
    extra = {k: v for k, v in d.items() if k not in ("at", "topic", "call_id", "last_flow", "last_node")}
    return (event.at, d["call_id"], d["last_flow"], d["last_node"], "ended", extra)


@dataclass
class RecordJournal:
    records: RecordStore
    bus: EventBus
    flush_interval: float = 0.2
    max_batch: int = 500
    name: str = "records"
    _pending: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {"queue_log": [], "agent_log": [], "ivr_journey": []}
    )
    _subs: list[Any] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    written: int = 0

    def handle(self, event: Event) -> None:
        if event.topic == "acd.agent_state_changed":
            self._pending["agent_log"].append(agent_row(event))
        elif event.topic.startswith("acd."):
            row = queue_row(event)
            if row is not None:
                self._pending["queue_log"].append(row)
        elif event.topic in ("ivr.step", "ivr.started", "ivr.ended"):
            self._pending["ivr_journey"].append(ivr_row(event))
        else:
            return
        if sum(len(v) for v in self._pending.values()) >= self.max_batch:
            self._wake.set()

    async def start(self) -> None:
        self._subs = [self.bus.subscribe(self.handle, {"acd.*", "ivr.*"})]
        self._task = asyncio.create_task(self._run(), name="records-journal")

    async def stop(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()

    def flush(self) -> int:
        count = 0
        for table, rows in self._pending.items():
            if rows:
                count += self.records.append_many(table, rows)
                self._pending[table] = []  # only once written: a failed write is retried on the next tick
        self.written += count
        return count

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the disk may be full: keep the call path alive, retry next tick
                log.exception("writing the journal failed")

    def listening(self) -> list[str]:
        return []

    def health(self) -> tuple[str, str]:
        return ("ok", f"{self.written} rows written")
