"""Half-hour roll-ups, kept by the journal's writer in the transaction of the rows they come from.

Each batch the journal writes (queue-log, agent-log and IVR-journey rows) is turned into additions to a few
small tables keyed by the UTC start of a half-hour (`slot`), so a report over a year reads some thousands of
roll-up rows instead of millions of raw ones, and history is never scanned again. What goes where is
defined in docs/REPORTS.md; in short:

- queue figures belong to the half-hour in which the call entered that queue (its `queued` line; a call
  refused at entry — queue full, no agent — enters and leaves at its `overflowed` line), whenever it left;
- an agent's offers belong to the half-hour of the ring, answers, talk and hold to that of the answer;
- agent state time is cut at half-hour boundaries (a state still going is counted when it ends);
- an IVR journey's figures belong to the half-hour it started, a node's visits to the half-hour entered.

The short-abandon threshold and each queue's service-level target are read when the rows are written
(`ReportPolicy`), so a changed target applies from then on.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.records.journal import BatchWriter
from appliance.records.sqlite_store import RecordStore
from appliance.reports import days
from appliance.reports.models import ReportPolicy

SLOT = 1800  # seconds in a roll-up's half-hour

SCHEMA = """
CREATE TABLE IF NOT EXISTS report_queue_hh (
    queue TEXT NOT NULL, slot INTEGER NOT NULL,
    queued INTEGER NOT NULL DEFAULT 0, short_abandoned INTEGER NOT NULL DEFAULT 0,
    answered INTEGER NOT NULL DEFAULT 0, answered_in_sl INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0, timed_out INTEGER NOT NULL DEFAULT 0, overflowed INTEGER NOT NULL DEFAULT 0,
    waited INTEGER NOT NULL DEFAULT 0, wait_total REAL NOT NULL DEFAULT 0, wait_max REAL NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0, talk_total REAL NOT NULL DEFAULT 0, hold_total REAL NOT NULL DEFAULT 0,
    long_calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, slot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS report_queue_hh_slot ON report_queue_hh(slot);

CREATE TABLE IF NOT EXISTS report_agent_hh (
    agent TEXT NOT NULL, slot INTEGER NOT NULL,
    offered INTEGER NOT NULL DEFAULT 0, missed INTEGER NOT NULL DEFAULT 0, answered INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0, talk_total REAL NOT NULL DEFAULT 0, hold_total REAL NOT NULL DEFAULT 0,
    talk_max REAL NOT NULL DEFAULT 0, complete_agent INTEGER NOT NULL DEFAULT 0,
    complete_caller INTEGER NOT NULL DEFAULT 0, transferred INTEGER NOT NULL DEFAULT 0,
    long_calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, slot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS report_agent_hh_slot ON report_agent_hh(slot);

CREATE TABLE IF NOT EXISTS report_agent_state_hh (
    agent TEXT NOT NULL, state TEXT NOT NULL, slot INTEGER NOT NULL,
    seconds REAL NOT NULL DEFAULT 0, entered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, state, slot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS report_agent_state_hh_slot ON report_agent_state_hh(slot);

CREATE TABLE IF NOT EXISTS report_ivr_hh (
    flow TEXT NOT NULL, node TEXT NOT NULL, slot INTEGER NOT NULL,
    entries INTEGER NOT NULL DEFAULT 0, visits INTEGER NOT NULL DEFAULT 0, ended INTEGER NOT NULL DEFAULT 0,
    duration_total REAL NOT NULL DEFAULT 0, self_served INTEGER NOT NULL DEFAULT 0,
    to_agent INTEGER NOT NULL DEFAULT 0, external INTEGER NOT NULL DEFAULT 0, voicemail INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, node, slot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS report_ivr_hh_slot ON report_ivr_hh(slot);
"""


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    maxes: tuple[str, ...] = ()

    def upsert(self) -> str:
        columns = (*self.keys, *self.sums, *self.maxes)
        sets = [f"{c} = {c} + excluded.{c}" for c in self.sums] + [f"{c} = max({c}, excluded.{c})" for c in self.maxes]
        return (f"INSERT INTO {self.name}({','.join(columns)}) VALUES ({','.join('?' for _ in columns)}) "
                f"ON CONFLICT({','.join(self.keys)}) DO UPDATE SET {', '.join(sets)}")


QUEUE = Table("report_queue_hh", ("queue", "slot"),
              ("queued", "short_abandoned", "answered", "answered_in_sl", "abandoned", "timed_out", "overflowed",
               "waited", "wait_total", "completed", "talk_total", "hold_total", "long_calls"), ("wait_max",))
AGENT = Table("report_agent_hh", ("agent", "slot"),
              ("offered", "missed", "answered", "completed", "talk_total", "hold_total", "complete_agent",
               "complete_caller", "transferred", "long_calls"), ("talk_max",))
AGENT_STATE = Table("report_agent_state_hh", ("agent", "state", "slot"), ("seconds", "entered"))
IVR = Table("report_ivr_hh", ("flow", "node", "slot"),
            ("entries", "visits", "ended", "duration_total", "self_served", "to_agent", "external", "voicemail",
             "abandoned", "failed"))
TABLES = (QUEUE, AGENT, AGENT_STATE, IVR)
IVR_OUTCOMES = {"self_served": "self_served", "transferred_to_agent": "to_agent", "transferred_external": "external",
                "voicemail": "voicemail", "abandoned": "abandoned", "failed": "failed"}
UNTRACKED_STATES = frozenset({"logged_out"})  # time logged out is nobody's working time
# The longest state time one change is spread over: more than a long holiday left logged in. A longer one comes
# from a clock that jumped (a box that booted in 1970 before NTP set it), and spread over every half-hour since
# would be millions of rows; it is counted from this long before the change instead.
STATE_SPAN_MAX = 31 * 86400
TIMED_OUT = "max_wait"  # the overflow reason that is the queue's time-out (排队超时)
# Seed 004's monitor counts the calls talked over 15 s as a sign of an interested customer (意向客户): an
# agent's part of a queue call whose talk time (hold excluded) is over this many seconds.
LONG_CALL_S = 15.0
# Columns added after a release shipped the tables: added on open, so an older store keeps its history.
_ADDED_COLUMNS = {"report_queue_hh": ("long_calls",), "report_agent_hh": ("long_calls",)}


def slot_of(at: float) -> int:
    return int(at // SLOT) * SLOT


def _data(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return json.loads(value) if isinstance(value, str) and value else {}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class _Deltas:
    """What one batch adds to each roll-up, merged in memory and written as one upsert per row touched."""

    def __init__(self) -> None:
        self.rows: dict[Table, dict[tuple[Any, ...], dict[str, float]]] = {t: {} for t in TABLES}

    def add(self, table: Table, key: tuple[Any, ...], **values: float) -> None:
        row = self.rows[table].setdefault(key, defaultdict(float))
        for name, value in values.items():
            if name in table.maxes:
                row[name] = max(row[name], value)
            else:
                row[name] += value

    def write(self, conn: sqlite3.Connection, day_of: days.DayOf | None = None) -> None:
        for table, rows in self.rows.items():
            if rows:
                conn.executemany(table.upsert(), [
                    (*key, *(row.get(c, 0) for c in table.sums), *(row.get(c, 0) for c in table.maxes))
                    for key, row in rows.items()])
        if day_of is not None:  # and to the days they fall in (appliance.reports.days)
            days.write(conn, self.rows, day_of)


_ENTERED = ("SELECT at FROM queue_log WHERE call_id = ? AND queue = ? AND event = 'queued' AND at <= ? "
            "ORDER BY at DESC, id DESC LIMIT 1")


class Rollup:
    """The `after_batch` of the journal's writer: adds a written batch to the roll-ups."""

    def __init__(self, policy: Callable[[], ReportPolicy], zone: Callable[[], ZoneInfo] | None = None) -> None:
        """`zone`: the box's time zone, which the daily tables are cut in (None: keep the zone they have)."""
        self.policy = policy
        self.zone = zone
        self._day_of: days.DayOf | None = None

    def cut_days(self, conn: sqlite3.Connection) -> days.DayOf:
        """The daily tables' zone made the box's (cut again from the half-hours when it was not)."""
        stored = days.zone_of(conn)
        target = self.zone() if self.zone is not None else None
        if target is None:
            try:
                target = ZoneInfo(stored or "UTC")
            except (ZoneInfoNotFoundError, ValueError):
                target = ZoneInfo("UTC")
        if stored != target.key:  # a new zone, or a store from before the daily tables: cut them again
            days.rebuild(conn, TABLES, target)
        if self._day_of is None or self._day_of.zone.key != target.key:
            self._day_of = days.DayOf(target)
        return self._day_of

    def __call__(self, conn: sqlite3.Connection, entries: Sequence[tuple[str, Any]]) -> None:
        policy = self.policy()
        day_of = self.cut_days(conn)
        deltas = _Deltas()
        for table, row in entries:
            if table == "queue_log":
                self._queue_line(conn, policy, deltas, row)
            elif table == "agent_log":
                self._agent_line(deltas, row)
            elif table == "ivr_journey":
                self._ivr_line(deltas, row)
        deltas.write(conn, day_of)

    @staticmethod
    def _entered(conn: sqlite3.Connection, call_id: str, queue: str, at: float) -> float | None:
        found = conn.execute(_ENTERED, (call_id, queue, at)).fetchone()
        return None if found is None else float(found[0])

    def _queue_line(self, conn: sqlite3.Connection, policy: ReportPolicy, d: _Deltas, row: Sequence[Any]) -> None:
        at, call_id, queue, event, agent, raw = row
        at = float(at)
        data = _data(raw)
        if event == "queued":
            d.add(QUEUE, (queue, slot_of(at)), queued=1)
        elif event == "offered":
            for one in str(agent or "").split(","):
                if one:
                    d.add(AGENT, (one, slot_of(at)), offered=1)
        elif event == "returned":
            for one in str(agent or "").split(","):
                if one:
                    d.add(AGENT, (one, slot_of(at)), missed=1)
        elif event in ("answered", "abandoned", "overflowed"):
            entered = self._entered(conn, call_id, queue, at)
            refused_at_entry = entered is None and event == "overflowed"
            if entered is None:  # no queued line: refused at entry (overflow), else a line lost before it
                entered = at if refused_at_entry else at - _number(data.get("wait"))
            wait = max(0.0, at - entered)
            key = (queue, slot_of(entered))
            d.add(QUEUE, key, waited=1, wait_total=wait, wait_max=wait, queued=1 if refused_at_entry else 0)
            if event == "answered":
                in_sl = 1 if wait <= policy.level(queue).target_s else 0
                d.add(QUEUE, key, answered=1, answered_in_sl=in_sl)
                if agent:
                    d.add(AGENT, (agent, slot_of(at)), answered=1)
            elif event == "abandoned":
                d.add(QUEUE, key, **{"short_abandoned" if wait < policy.short_abandon_s else "abandoned": 1})
            else:
                d.add(QUEUE, key, **{"timed_out" if data.get("reason") == TIMED_OUT else "overflowed": 1})
        elif event in ("complete_agent", "complete_caller", "complete_system", "transfer"):
            answered = _number(data.get("answered")) or at
            talk, hold = _number(data.get("talk")), _number(data.get("hold"))
            entered = self._entered(conn, call_id, queue, answered)
            long_call = 1 if talk > LONG_CALL_S else 0
            d.add(QUEUE, (queue, slot_of(answered if entered is None else entered)),
                  completed=1, talk_total=talk, hold_total=hold, long_calls=long_call)
            if agent:
                d.add(AGENT, (agent, slot_of(answered)), completed=1, talk_total=talk, hold_total=hold,
                      talk_max=talk, long_calls=long_call, complete_agent=1 if event == "complete_agent" else 0,
                      complete_caller=1 if event == "complete_caller" else 0,
                      transferred=1 if event == "transfer" else 0)

    @staticmethod
    def _agent_line(d: _Deltas, row: Sequence[Any]) -> None:
        at, agent, old, _new, _reason, raw = row
        state = str(old)
        if state in UNTRACKED_STATES:
            return
        end = float(at)
        start = end - min(STATE_SPAN_MAX, max(0.0, _number(_data(raw).get("duration"))))
        d.add(AGENT_STATE, (agent, state, slot_of(start)), entered=1)
        slot = slot_of(start)
        while slot < end:  # the state's time, cut at each half-hour it spans
            part = min(end, slot + SLOT) - max(start, slot)
            if part > 0:
                d.add(AGENT_STATE, (agent, state, slot), seconds=part)
            slot += SLOT

    @staticmethod
    def _ivr_line(d: _Deltas, row: Sequence[Any]) -> None:
        at, _call_id, flow, node, event, raw = row
        if event == "started":
            d.add(IVR, (flow, "", slot_of(float(at))), entries=1)
        elif event == "node_entered":
            d.add(IVR, (flow, node, slot_of(float(at))), visits=1)
        elif event == "ended":
            data = _data(raw)
            started = _number(data.get("started_at")) or float(at)
            outcome = IVR_OUTCOMES.get(str(data.get("exit_reason", "")))
            values: dict[str, float] = {"ended": 1, "duration_total": _number(data.get("duration"))}
            if outcome is not None:
                values[outcome] = 1
            d.add(IVR, (str(data.get("entry_flow") or flow), "", slot_of(started)), **values)
            if outcome == "abandoned":  # where the caller gave up
                d.add(IVR, (flow, node, slot_of(started)), abandoned=1)


def install(conn: sqlite3.Connection) -> None:
    """The roll-up tables (created when missing; additive, like the record store's own schema)."""
    conn.executescript(SCHEMA)
    conn.executescript(days.schema(TABLES))
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")


def writer_opener(path: Path, policy: Callable[[], ReportPolicy],
                  zone: Callable[[], ZoneInfo] | None = None) -> Callable[[], BatchWriter]:
    """What the journal opens its writer with: the record store's writer connection, keeping the roll-ups
    (the daily ones in `zone`, the box's time zone)."""
    rollup = Rollup(policy, zone)

    def open_writer() -> BatchWriter:
        store = RecordStore.open_writer(path)
        try:
            install(store.conn)
            with store.conn:  # a store from before the daily tables, or a new zone: cut the days at start
                store.conn.execute("BEGIN")
                rollup.cut_days(store.conn)
        except BaseException:
            store.close()
            raise
        store.after_batch = rollup
        return store

    return open_writer
