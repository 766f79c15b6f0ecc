"""The journal: turns bus events into CDRs, queue-log, agent-log and IVR-journey rows, written in batches on a
thread of its own.

Events arrive one at a time on the event loop, which also relays RTP, so the loop only turns each event into
a row and appends it to a bounded in-memory backlog. One writer thread owns its own SQLite connection and
writes the backlog every `flush_interval` seconds (or as soon as `max_batch` rows wait), a batch per
transaction, so a burst of calls costs one commit, not hundreds, and a crash mid-batch leaves the store
whole. A call's first row and its CDR do not wait for the interval: the caller already knows the call
has begun, or is over.

Each call also has an open row (`open_call`) from its first `calls.*` event until its CDR is written, in the
same transaction as that CDR, holding what the events told of it (caller, queue, agent, recording): after a
crash, `appliance.records.recovery` turns every open row into a CDR marked interrupted.

A row in the backlog is accepted and is never dropped afterwards: when a write fails (a full disk, an I/O
error) the writer keeps the batch, publishes `records.write_failed` once, and retries with back-off; when
writes succeed again it publishes `records.write_recovered` and writes everything in the order it came.
What bounds memory is the backlog's limit: a full backlog refuses new rows (counted as dropped, announced
with `records.backlog_full`) — the caller is never blocked and never sees an exception.

`stop()` writes what it can within `drain_timeout`, then ends the thread; rows still unwritten stay in the
backlog (a later `start()` writes them) and are logged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.clock import Clock, SystemClock
from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.records.events import (
    RecordsBacklogFull,
    RecordsCallCompleted,
    RecordsWriteFailed,
    RecordsWriteRecovered,
)
from appliance.records.sqlite_store import RecordStore

log = logging.getLogger(__name__)

_QUEUE_COLUMNS = {"at", "topic", "call_id", "queue_id"}
CDR_TOPIC = "calls.ended"  # its event carries the call's record as a dict in `cdr`

# Entries of the backlog: (table, row); table "cdr" has the CDR dict as its row.
Entry = tuple[str, Any]
# A row the store can never take (bad data, not a bad disk): retrying would hold up every row behind it.
_BAD_ROW = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError,
            KeyError, TypeError, ValueError)


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


def open_call_row(event: Event) -> tuple[Any, ...] | None:
    """What a `calls.*` event tells about a call still going: its fields (the latest of each kind wins: the
    agent, the queue) and when this step happened, merged into the call's open row."""
    data = event.to_dict()
    call_id = data.pop("call_id", None)
    if not isinstance(call_id, str) or not call_id:
        return None
    data.pop("topic", None)
    data.pop("at", None)
    step = event.topic.removeprefix("calls.")
    data[f"{step}_at"] = event.at
    data["last_step"] = step
    return (call_id, event.at, data)


# How a queue call ended, like Asterisk's queue log: COMPLETEAGENT, COMPLETECALLER, TRANSFER (the agent's part
# ended by a transfer), and the box's own ending (a supervisor's hang-up, a time limit).
_COMPLETED_BY = {"agent": "complete_agent", "caller": "complete_caller"}
COMPLETION_EVENTS = ("complete_agent", "complete_caller", "complete_system", "transfer")


def completion_rows(cdr: dict[str, Any], answered_in: dict[str, str]) -> list[tuple[Any, ...]]:
    """Queue-log rows for each agent who answered the call from a queue (`answered_in`: agent → the queue
    it answered in), from the CDR's agent legs: talk is the leg's answered time to its end, less the call's
    hold time for the last agent (the one the hold belongs to); an earlier agent's part ended by a transfer."""
    legs = sorted((leg for leg in cdr.get("legs") or () if isinstance(leg, dict) and leg.get("role") == "agent"
                   and leg.get("agent") and isinstance(leg.get("answered"), int | float)),
                  key=lambda leg: float(leg["answered"]))
    caller_left = max((float(leg.get("ended") or 0.0) for leg in cdr.get("legs") or ()
                       if isinstance(leg, dict) and leg.get("role") == "caller"), default=0.0)
    rows: list[tuple[Any, ...]] = []
    for i, leg in enumerate(legs):
        agent = str(leg["agent"])
        queue = answered_in.get(agent)
        if not queue:
            continue  # rung directly (a transfer to the agent), not through a queue
        last = i == len(legs) - 1
        answered = float(leg["answered"])
        ended = float(leg.get("ended") or cdr.get("ended") or answered)
        hold = float(cdr.get("hold") or 0.0) if last else 0.0
        # The agent who left while the caller stayed on (a survey) completed it, whatever ended the call later.
        side = "agent" if last and float(leg.get("ended") or ended) < caller_left else str(cdr.get("hangup_side") or "")
        event = _COMPLETED_BY.get(side, "complete_system") if last else "transfer"
        rows.append((ended, str(cdr["call_id"]), queue, event, agent,
                     {"talk": round(max(0.0, ended - answered - hold), 3), "hold": round(hold, 3),
                      "answered": answered, "hangup_side": cdr.get("hangup_side") or "",
                      "transfers": len(cdr.get("transfers") or ())}))
    return rows


def entry_of(event: Event) -> Entry | None:
    """The row an event becomes, or None for events the journal does not record."""
    topic = event.topic
    if topic == CDR_TOPIC:
        cdr = getattr(event, "cdr", None)
        return ("cdr", dict(cdr)) if isinstance(cdr, dict) else None
    if topic.startswith("calls."):
        row = open_call_row(event)
        return ("open_call", row) if row is not None else None
    if topic == "acd.agent_state_changed":
        return ("agent_log", agent_row(event))
    if topic.startswith("acd."):
        row = queue_row(event)
        return ("queue_log", row) if row is not None else None
    if topic in ("ivr.step", "ivr.started", "ivr.ended"):
        return ("ivr_journey", ivr_row(event))
    return None


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL:
        return True
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


class BatchWriter(Protocol):
    """What the writer thread writes with (a `RecordStore` on its own connection; a fake in tests)."""

    def write_batch(self, entries: Sequence[Entry]) -> int:
        """Write all entries in one transaction, or raise and write none."""

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class JournalConfig:
    flush_interval: float = 0.2  # seconds between writes when rows trickle in
    urgent_gap: float = 0.01  # a call's start or end waits at most this long after the previous write
    max_batch: int = 500  # rows per transaction; this many waiting wakes the writer at once
    max_backlog: int = 100_000  # rows accepted but not yet written; past it new rows are refused
    retry_min: float = 0.1  # back-off after the first failed write, doubling up to retry_max
    retry_max: float = 5.0
    drain_timeout: float = 5.0  # stop(): how long the writer may go on writing what is waiting

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_backlog < self.max_batch:
            raise ValueError("a journal needs max_batch >= 1 and max_backlog >= max_batch")


@dataclass
class _Outage:
    since: float  # monotonic
    failures: int
    error: str


class RecordJournal:
    def __init__(
        self, records: RecordStore, bus: EventBus, config: JournalConfig | None = None, *,
        clock: Clock | None = None, open_writer: Callable[[], BatchWriter] | None = None,
        name: str = "records_journal",
    ) -> None:
        self.records = records
        self.bus = bus
        self.config = config or JournalConfig()
        self.clock = clock or SystemClock()
        self.name = name
        self._open_writer = open_writer or (lambda: RecordStore.open_writer(records.path))
        # Shared with the writer thread, under `_cond`: the backlog (accepted rows not yet handed to the
        # writer), `_queued` (accepted rows not yet written, the writer's batch included) and `_stopping`.
        self._cond = threading.Condition()
        self._backlog: collections.deque[Entry] = collections.deque()
        self._queued = 0
        self._urgent = False  # a call's first row or CDR waits: write without waiting out the flush interval
        self._last_take = 0.0  # writer thread: when it last took a batch (monotonic)
        self._stopping = False
        self._drain_until = 0.0
        self._outage: _Outage | None = None  # set and cleared by the writer thread only
        self._refusing = False  # loop only: the backlog was full at the last row offered
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subs: list[Any] = []
        self._answered_in: dict[str, dict[str, str]] = {}  # call → agent → queue, until the call's CDR
        self.rows_written = 0
        self.rows_dropped = 0
        self.rows_rejected = 0  # accepted rows the store could never take (bad data); logged
        self.write_failures = 0

    # ---- the event loop's side -------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        entry = entry_of(event)
        if entry is None:
            return
        table, row = entry
        if table == "queue_log" and row[3] == "answered" and row[4]:
            self._answered_in.setdefault(row[1], {})[row[4]] = row[2]
        elif table == "cdr":  # the call's completion lines go in the CDR's transaction, just before it
            for line in completion_rows(row, self._answered_in.pop(str(row.get("call_id")), {})):
                self.accept(("queue_log", line))
                at, call_id, queue, completed_by, agent, data = line
                self.bus.publish(RecordsCallCompleted(at=at, call_id=call_id, queue=queue, agent=agent,
                                                      completed_by=completed_by, talk=data["talk"],
                                                      hold=data["hold"]))
        self.accept(entry)

    def accept(self, entry: Entry) -> bool:
        """Take a row to be written; False (and counted) when the backlog is full. Never blocks, never
        raises."""
        limit = self.config.max_backlog
        with self._cond:
            full = self._queued >= limit
            if not full:
                self._backlog.append(entry)
                self._queued += 1
                # A call's start and end are written at once (its caller has reached the box, or has been
                # told the call is over, and a crash must not take its record); the rows waiting with them
                # share the transaction, and a burst still makes one commit per write.
                if entry[0] == "cdr" or (entry[0] == "open_call" and entry[1][2].get("last_step") == "offered"):
                    self._urgent = True
                    self._cond.notify()
                elif len(self._backlog) >= self.config.max_batch:
                    self._cond.notify()
        if full:
            self.rows_dropped += 1
            if not self._refusing:
                self._refusing = True
                log.error("the record backlog is full (%d rows not written): refusing new rows", limit)
                self.bus.publish(RecordsBacklogFull(at=self.clock.wall(), limit=limit))
        elif self._refusing:
            self._refusing = False
            log.warning("the record backlog takes rows again; %d were refused", self.rows_dropped)
        return not full

    @property
    def backlog(self) -> int:
        """Rows accepted and not yet written."""
        return self._queued

    async def start(self) -> None:
        if self._thread is not None:
            if not self._stopping:
                return  # running
            raise RuntimeError("the previous record writer has not ended yet")  # two writers must never run
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._write_loop, name="records-writer", daemon=True)
        self._thread.start()
        self._subs = [self.bus.subscribe(self.handle, {"acd.*", "ivr.*", "calls.*"})]

    async def stop(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._drain_until = time.monotonic() + self.config.drain_timeout
            self._cond.notify_all()
        # The writer checks the deadline between writes; allow one write (and its busy wait) beyond it.
        deadline = time.monotonic() + self.config.drain_timeout + 10.0
        while thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if thread.is_alive():
            log.error("the record writer did not stop in time; it ends after its current write")
        else:
            self._thread = None
        if self._queued:
            log.error("stopping with %d record rows not written (%s)", self._queued,
                      self._outage.error if self._outage else "no time left")

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        counters = {"rows_written": self.rows_written, "rows_dropped": self.rows_dropped,
                    "rows_rejected": self.rows_rejected, "write_failures": self.write_failures}
        gauges = {"backlog": float(self._queued), "backlog_limit": float(self.config.max_backlog)}
        outage = self._outage
        if self._thread is None:
            status, detail = Status.STARTING, "not running"
        elif not self._thread.is_alive():
            status, detail = Status.DOWN, "the writer thread has ended"
        elif outage is not None:
            status = Status.DEGRADED
            detail = f"writes failing for {time.monotonic() - outage.since:.0f} s: {outage.error}"
        else:
            status, detail = Status.OK, f"{self.rows_written} rows written"
        return Health.of(self.name, status, detail, counters=counters, gauges=gauges)

    # ---- the writer thread -----------------------------------------------------------------------

    def _publish(self, event: Event) -> None:
        """Publish from the writer thread: bus handlers run on the loop."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
                self._loop.call_soon_threadsafe(self.bus.publish, event)

    def _next_batch(self, batch: list[Entry], delay: float) -> bool:
        """Wait for work (or, with a batch that failed, out the back-off) and fill an empty `batch`; False
        when the writer should end."""
        cfg = self.config
        with self._cond:
            if batch:
                was_stopping = self._stopping
                if was_stopping:
                    delay = min(delay, max(0.0, self._drain_until - time.monotonic()))
                self._cond.wait_for(lambda: self._stopping != was_stopping, delay)  # stop() tries at once
            else:
                self._cond.wait_for(lambda: self._stopping or self._urgent or len(self._backlog) >= cfg.max_batch,
                                    cfg.flush_interval)
                gap = cfg.urgent_gap - (time.monotonic() - self._last_take)
                if self._urgent and gap > 0:  # a burst of calls: the rows of the next moment share the commit
                    self._cond.wait_for(lambda: self._stopping or len(self._backlog) >= cfg.max_batch, gap)
                self._urgent = False
                self._last_take = time.monotonic()
                for _ in range(min(len(self._backlog), cfg.max_batch)):
                    batch.append(self._backlog.popleft())
            return not (self._stopping and (not batch or time.monotonic() >= self._drain_until))

    def _write_loop(self) -> None:
        batch: list[Entry] = []  # taken from the backlog, not yet written: retried until it is
        delay = 0.0
        writer: BatchWriter | None = None
        try:
            while self._next_batch(batch, delay):
                if not batch:
                    continue
                try:
                    if writer is None:
                        writer = self._open_writer()
                    self._write(writer, batch)
                except Exception as exc:  # the disk, not the rows: keep them and try again later
                    self._failed(exc)
                    delay = min(max(delay * 2, self.config.retry_min), self.config.retry_max)
                    if writer is not None:  # a fresh connection for the retry
                        with contextlib.suppress(Exception):
                            writer.close()
                        writer = None
                    continue
                delay = 0.0
                self._recovered()
        except BaseException:
            log.exception("the record writer failed")
        finally:
            with self._cond:  # rows it held go back in front, in order, for a later start()
                self._backlog.extendleft(reversed(batch))
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()

    def _write(self, writer: BatchWriter, batch: list[Entry]) -> None:
        """Write `batch` and empty it. A row the store can never take must not hold up the others: then the
        batch goes one row per transaction, that row is left out, and an error of the disk stops it with
        the unwritten rows still in `batch`."""
        try:
            writer.write_batch(batch)
        except _BAD_ROW:
            while batch:
                try:
                    writer.write_batch(batch[:1])
                except _BAD_ROW as exc:
                    log.error("a %s row cannot be written and is left out: %s: %r", batch[0][0], exc,
                              batch[0][1])
                    self.rows_rejected += 1
                    self._settle(batch, 1, written=0)
                else:
                    self._settle(batch, 1, written=1)
        else:
            self._settle(batch, len(batch), written=len(batch))

    def _settle(self, batch: list[Entry], count: int, *, written: int) -> None:
        del batch[:count]
        with self._cond:
            self._queued -= count
        self.rows_written += written

    def _failed(self, exc: Exception) -> None:
        self.write_failures += 1
        if self._outage is not None:
            self._outage.failures += 1
            log.debug("writing records failed again: %s", exc)
            return
        disk_full = is_disk_full(exc)
        self._outage = _Outage(time.monotonic(), 1, f"{type(exc).__name__}: {exc}")
        log.error("writing records failed (%s); %d rows kept, retrying", exc, self._queued)
        self._publish(RecordsWriteFailed(at=self.clock.wall(), disk_full=disk_full, error=self._outage.error,
                                         backlog=self._queued))

    def _recovered(self) -> None:
        outage, self._outage = self._outage, None
        if outage is None:
            return
        failed_for = time.monotonic() - outage.since
        log.warning("writing records works again after %.1f s; %d rows still waiting", failed_for, self._queued)
        self._publish(RecordsWriteRecovered(at=self.clock.wall(), failed_for=failed_for,
                                            failures=outage.failures, backlog=self._queued))
