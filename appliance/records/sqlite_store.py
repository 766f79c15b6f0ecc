"""The record store: SQLite in WAL mode behind a small repository interface.

Why not TinyDB: it rewrites its whole file on every write, which is fine for configuration and ruinous for
thousands of CDR and log rows an hour. SQLite in WAL mode appends, lets readers (reports, the API) run
beside the one writer, and survives a crash with every committed row. `synchronous=NORMAL` in WAL mode
keeps commits durable against a process crash; a power cut may lose the last few commits, never corrupt.

The store opened by `open` is used on the event loop for reads (reports, the API; small indexed queries)
and a few rare writes (audit log, voicemail index). The high-volume rows (CDRs, queue/agent logs, IVR
journeys) are written by the journal's writer thread on a connection of its own (`open_writer`), a batch
per transaction (`write_batch`): WAL lets the loop's reads run beside it, and a crash mid-batch leaves the
batch out, never half in.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from appliance.records.models import AuditEntry, Page

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    kind TEXT NOT NULL, key TEXT NOT NULL, before TEXT, after TEXT, source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_kind_key ON audit_log(kind, key);
CREATE INDEX IF NOT EXISTS audit_at ON audit_log(at);

CREATE TABLE IF NOT EXISTS cdr (
    call_id TEXT PRIMARY KEY,
    started REAL NOT NULL, ended REAL, direction TEXT, caller TEXT, callee TEXT, did TEXT,
    queue TEXT, agent TEXT, disposition TEXT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cdr_started ON cdr(started);
CREATE INDEX IF NOT EXISTS cdr_agent ON cdr(agent, started);
CREATE INDEX IF NOT EXISTS cdr_queue ON cdr(queue, started);
-- The call records page (appliance.records.search): its filters are read from these indexes alone, in start
-- order (all calls, an agent's, a queue's), so a page far down a filtered list skips index entries instead of
-- rows; numbers have their own.
CREATE INDEX IF NOT EXISTS cdr_search ON cdr(started, direction, disposition, queue, agent, ended);
CREATE INDEX IF NOT EXISTS cdr_agent_search ON cdr(agent, started, direction, disposition, queue, ended);
CREATE INDEX IF NOT EXISTS cdr_queue_search ON cdr(queue, started, direction, disposition, agent, ended);
CREATE INDEX IF NOT EXISTS cdr_caller ON cdr(caller, started);
CREATE INDEX IF NOT EXISTS cdr_callee ON cdr(callee, started);
-- Missed calls only, with their kinds (the CDR's `missed` list as JSON text): counted per kind, and listed in
-- start order, without reading the other calls.
CREATE INDEX IF NOT EXISTS cdr_missed ON cdr(json_extract(data, '$.missed'), started)
    WHERE json_extract(data, '$.missed') <> '[]';
CREATE INDEX IF NOT EXISTS cdr_missed_time ON cdr(started, json_extract(data, '$.missed'))
    WHERE json_extract(data, '$.missed') <> '[]';
-- Intended customers (意向客户: marked by the agent's * key or from the desk), in start order.
CREATE INDEX IF NOT EXISTS cdr_intended ON cdr(started) WHERE json_extract(data, '$.intended_customer') = 1;

CREATE TABLE IF NOT EXISTS queue_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, call_id TEXT NOT NULL, queue TEXT NOT NULL, event TEXT NOT NULL,
    agent TEXT, data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS queue_log_queue_at ON queue_log(queue, at);
CREATE INDEX IF NOT EXISTS queue_log_call ON queue_log(call_id);

CREATE TABLE IF NOT EXISTS agent_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, agent TEXT NOT NULL, state_from TEXT NOT NULL, state_to TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS agent_log_agent_at ON agent_log(agent, at);

CREATE TABLE IF NOT EXISTS ivr_journey (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, call_id TEXT NOT NULL, flow TEXT NOT NULL, node TEXT NOT NULL,
    event TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS ivr_journey_call ON ivr_journey(call_id);

-- Calls begun and not yet ended: what the journal knew of each, so a crash leaves an interrupted CDR, not none.
-- A call's row goes in the transaction that writes its CDR.
CREATE TABLE IF NOT EXISTS open_call (
    call_id TEXT PRIMARY KEY, started REAL NOT NULL, updated REAL NOT NULL, data TEXT NOT NULL DEFAULT '{}'
);
"""

_TABLES: dict[str, tuple[str, ...]] = {
    "queue_log": ("at", "call_id", "queue", "event", "agent", "data"),
    "agent_log": ("at", "agent", "state_from", "state_to", "reason", "data"),
    "ivr_journey": ("at", "call_id", "flow", "node", "event", "data"),
}


_CDR_FILTERS = ("direction", "caller", "callee", "did", "queue", "agent", "disposition", "call_id")
_CDR_INSERT = (
    "INSERT OR REPLACE INTO cdr(call_id, started, ended, direction, caller, callee, did, queue, agent, "
    "disposition, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
# A call's facts merged into its open row (a JSON merge patch), unless its CDR is already written (an event
# published after `calls.ended` must not reopen it).
_OPEN_CALL_UPSERT = (
    "INSERT INTO open_call(call_id, started, updated, data) SELECT ?1, ?2, ?2, ?3 "
    "WHERE NOT EXISTS (SELECT 1 FROM cdr WHERE call_id = ?1) "
    "ON CONFLICT(call_id) DO UPDATE SET updated = max(open_call.updated, excluded.updated), "
    "data = json_patch(open_call.data, excluded.data)"
)
_OPEN_CALL_DELETE = "DELETE FROM open_call WHERE call_id = ?"
# While another connection (the journal's writer, the loop's) holds the write lock, wait this long for it.
_BUSY_TIMEOUT_S = 5.0


def _where(
    where: dict[str, str] | None, allowed: tuple[str, ...], time_column: str, since: float | None,
    until: float | None, extra: str | None = None,
) -> tuple[str, list[Any]]:
    """A WHERE clause of exact matches on known columns and a half-open time range, with its arguments.
    Column names come only from `allowed` (never from the request), values only as parameters."""
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (where or {}).items():
        if column not in allowed:
            raise KeyError(column)
        clauses.append(f"{column} = ?")
        args.append(value)
    if since is not None:
        clauses.append(f"{time_column} >= ?")
        args.append(since)
    if until is not None:
        clauses.append(f"{time_column} < ?")
        args.append(until)
    if extra:
        clauses.append(extra)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), args


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _insert_sql(table: str) -> str:
    if table == "cdr":
        return _CDR_INSERT
    if table == "open_call":
        return _OPEN_CALL_UPSERT
    columns = _TABLES[table]
    return f"INSERT INTO {table}({','.join(columns)}) VALUES ({','.join('?' for _ in columns)})"


def _params(table: str, row: Any) -> tuple[Any, ...]:
    """The SQL parameters of one row: a CDR is a dict, a log row a tuple in the table's column order."""
    if table == "cdr":
        cdr = row
        return (cdr["call_id"], cdr["started"], cdr.get("ended"), cdr.get("direction"), cdr.get("caller"),
                cdr.get("callee"), cdr.get("did"), cdr.get("queue"), cdr.get("agent"), cdr.get("disposition"),
                _json(cdr))
    if table == "open_call":  # (call id, wall time, facts)
        return (row[0], row[1], _json(row[2]))
    return tuple(_json(v) if isinstance(v, dict) else v for v in row)


def _connect(path: Path, *, check_same_thread: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread,
                           timeout=_BUSY_TIMEOUT_S)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to the record store's file opened as the box opens all of them (WAL, `synchronous=NORMAL`,
    foreign keys, the busy timeout), for contexts that keep tables of their own in it (customers)."""
    return _connect(Path(path), check_same_thread=check_same_thread)


# Called inside each batch's transaction after its rows are in (roll-ups kept beside the rows they come from):
# whatever it writes commits or rolls back with them.
AfterBatch = Callable[[sqlite3.Connection, Sequence[tuple[str, Any]]], None]


@dataclass
class RecordStore:
    path: Path
    _conn: sqlite3.Connection | None = field(default=None, repr=False)
    after_batch: AfterBatch | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: Path) -> RecordStore:
        store = cls(Path(path))
        store.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(store.path, check_same_thread=False)
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        store._conn = conn
        return store

    @classmethod
    def open_reader(cls, path: Path) -> RecordStore:
        """A connection for a long read (an export) on worker threads, one at a time, beside the loop's and the
        writer's."""
        return cls(Path(path), _connect(Path(path), check_same_thread=False))

    @classmethod
    def open_writer(cls, path: Path) -> RecordStore:
        """A second connection to a store `open` has created, for the one thread that calls it (the
        journal's writer). It writes nothing on opening, so it opens on a full disk too."""
        return cls(Path(path), _connect(Path(path), check_same_thread=True))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the record store is closed")
        return self._conn

    def journal_mode(self) -> str:
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0])

    def integrity(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    # ---- audit log --------------------------------------------------------------------------------

    def append_audit(self, entry: AuditEntry) -> int:
        cur = self.conn.execute(
            "INSERT INTO audit_log(at, actor, action, kind, key, before, after, source) VALUES (?,?,?,?,?,?,?,?)",
            (entry.at, entry.actor, entry.action, entry.kind, entry.key, _json(entry.before), _json(entry.after),
             entry.source),
        )
        return int(cur.lastrowid or 0)

    def audit(
        self, *, kind: str | None = None, key: str | None = None, actor: str | None = None,
        offset: int = 0, limit: int = 50,
    ) -> Page:
        where, args = [], []
        for column, value in (("kind", kind), ("key", key), ("actor", actor)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        total = self.conn.execute(f"SELECT count(*) FROM audit_log {clause}", args).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT id, at, actor, action, kind, key, before, after, source FROM audit_log {clause} "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        items = tuple(
            AuditEntry(id=r[0], at=r[1], actor=r[2], action=r[3], kind=r[4], key=r[5],
                       before=json.loads(r[6]) if r[6] else None, after=json.loads(r[7]) if r[7] else None,
                       source=r[8])
            for r in rows
        )
        return Page(items=items, total=int(total), offset=offset, limit=limit)

    # ---- logs (queue, agent, IVR) ------------------------------------------------------------------

    def append_many(self, table: str, rows: Iterable[Sequence[Any]]) -> int:
        return self.write_batch([(table, row) for row in rows])

    def write_batch(self, entries: Sequence[tuple[str, Any]]) -> int:
        """Write `(table, row)` entries — log rows and CDRs (table "cdr", the row a dict) — in their order, in
        one transaction: all of them or, on any error, none."""
        if not entries:
            return 0
        for table, _ in entries:
            if table not in ("cdr", "open_call") and table not in _TABLES:
                raise KeyError(table)
        with self.conn:
            self.conn.execute("BEGIN")
            for table, run in groupby(entries, key=lambda entry: entry[0]):
                params = [_params(table, row) for _, row in run]
                self.conn.executemany(_insert_sql(table), params)
                if table == "cdr":  # the call is no longer open: its record is whole
                    self.conn.executemany(_OPEN_CALL_DELETE, [(p[0],) for p in params])
            if self.after_batch is not None:
                self.after_batch(self.conn, entries)
        return len(entries)

    def rows(
        self, table: str, *, where: dict[str, str] | None = None, since: float | None = None,
        until: float | None = None, offset: int = 0, limit: int = 100,
    ) -> Page:
        """Rows of a log table as dicts, oldest first, filtered on exact column values and a time range."""
        columns = _TABLES[table]
        clause, args = _where(where, columns, "at", since, until)
        total = self.conn.execute(f"SELECT count(*) FROM {table} {clause}", args).fetchone()[0]
        cur = self.conn.execute(
            f"SELECT id, {','.join(columns)} FROM {table} {clause} ORDER BY at, id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        items = []
        for row in cur.fetchall():
            item = dict(zip(("id", *columns), row, strict=True))
            item["data"] = json.loads(item["data"]) if item.get("data") else {}
            items.append(item)
        return Page(items=tuple(items), total=int(total), offset=offset, limit=limit)

    # ---- CDRs -------------------------------------------------------------------------------------

    def put_cdr(self, cdr: dict[str, Any]) -> None:
        """Insert or replace one CDR (a call's record is written once, when it ends). On the loop's connection
        this blocks the loop: call control hands CDRs to the journal (`calls.ended`) instead."""
        self.conn.execute(_CDR_INSERT, _params("cdr", cdr))

    def cdrs(
        self, *, where: dict[str, str] | None = None, since: float | None = None, until: float | None = None,
        missed: bool | None = None, offset: int = 0, limit: int = 50, intended: bool | None = None,
    ) -> Page:
        """CDRs newest first, filtered on exact column values, a start-time range, missed calls and intended
        customers."""
        clause, args = self._cdr_clause(where, since, until, missed, intended)
        total = self.conn.execute(f"SELECT count(*) FROM cdr {clause}", args).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT data FROM cdr {clause} ORDER BY started DESC LIMIT ? OFFSET ?", [*args, limit, offset]
        ).fetchall()
        return Page(items=tuple(json.loads(r[0]) for r in rows), total=int(total), offset=offset, limit=limit)

    def iter_cdrs(
        self, *, where: dict[str, str] | None = None, since: float | None = None, until: float | None = None,
        missed: bool | None = None, batch: int = 500, intended: bool | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The CDRs `cdrs` would list, newest first, read as a stream (exports): constant memory whatever the
        count. Use it on a connection of its own (`open_reader`), not the loop's."""
        clause, args = self._cdr_clause(where, since, until, missed, intended)
        cur = self.conn.execute(f"SELECT data FROM cdr {clause} ORDER BY started DESC", args)
        while rows := cur.fetchmany(batch):
            for (data,) in rows:
                yield json.loads(data)

    def count_cdrs(
        self, *, where: dict[str, str] | None = None, since: float | None = None, until: float | None = None,
        missed: bool | None = None, intended: bool | None = None,
    ) -> int:
        clause, args = self._cdr_clause(where, since, until, missed, intended)
        return int(self.conn.execute(f"SELECT count(*) FROM cdr {clause}", args).fetchone()[0])

    @staticmethod
    def _cdr_clause(where: dict[str, str] | None, since: float | None, until: float | None,
                    missed: bool | None, intended: bool | None = None) -> tuple[str, list[Any]]:
        # The `missed` list's JSON text, as the missed-calls index (`cdr_missed`) holds it: no row read to test it
        extras = [] if missed is None else ["json_extract(data, '$.missed') " + ("<> '[]'" if missed else "= '[]'")]
        if intended is not None:  # as the intended customers' partial index (`cdr_intended`) says it
            extras.append("json_extract(data, '$.intended_customer') " + ("= 1" if intended else "IS NOT 1"))
        return _where(where, _CDR_FILTERS, "started", since, until, " AND ".join(extras) or None)

    def count(self, table: str) -> int:
        if table not in (*_TABLES, "cdr", "audit_log", "open_call"):
            raise KeyError(table)
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
