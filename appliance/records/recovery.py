"""Crash recovery of the records, run once at start-up before the journal and call control start.

A kill -9 (or a power cut) can stop the box with calls in progress. What it leaves is put right here:
- every call with an open row (`open_call`: begun, its CDR not written) gets a CDR marked interrupted, with
  what the journal knew of it (caller, IVR path, queue, agent, recordings) and `ended` at the last thing
  known to have happened in it; the open row goes in the same transaction;
- recordings cut off mid-write get a header that agrees with their length (the repair is injected: it
  belongs to the media recorder) and each is named by a CDR, an interrupted one made from the file alone if
  the call left no other trace, so every recording on disk is reachable through the records API;
- agents whose last agent-log line leaves them logged in get a closing line (→ logged_out, reason
  "restart"): the ACD starts with every agent logged out, and the log must say so. Their last states are
  kept in the report for the optional restore of agent states (`appliance.acd.restore`);
- an interrupted call that an agent had answered from a queue gets its queue-log completion line
  (`complete_system`, talk up to the last moment known, hold unknown), as a finished call gets one from its
  CDR, so the reports count it as served.
The log lines are written with the journal's writer (`open_writer`), so the reports' roll-ups take them as
they take the journal's.
Nothing here runs on the event loop: the work is done on a thread with a connection of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import wave
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.acd import commands as C
from appliance.acd.restore import AfterRestart, restore_commands
from appliance.clock import Clock
from appliance.health import Health, Status
from appliance.records.journal import BatchWriter
from appliance.records.sqlite_store import RecordStore

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
RESTART_REASON = "restart"
_LOGGED_OUT = "logged_out"
# The repair of recordings: (recordings folder, files to check besides the newest day folders) → repaired.
Repair = Callable[[Path, Iterable[Path]], list[Path]]
# Opens the writer the log lines go through (the journal's, which keeps the reports' roll-ups).
OpenWriter = Callable[[], BatchWriter]
_ANSWERED_IN = ("SELECT queue FROM queue_log WHERE call_id = ? AND agent = ? AND event = 'answered' "
                "ORDER BY id DESC LIMIT 1")


@dataclass(frozen=True, slots=True)
class LastAgentState:
    state: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    interrupted_calls: tuple[str, ...] = ()
    repaired_recordings: tuple[str, ...] = ()  # relative to the data directory, as CDRs name them
    agents_logged_out: tuple[str, ...] = ()  # logged in when the box stopped
    last_agent_states: Mapping[str, LastAgentState] = field(default_factory=dict)
    seconds: float = 0.0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def interrupted_cdr(call_id: str, started: float, last_seen: float, facts: Mapping[str, Any],
                    ivr_nodes: list[str], recordings: list[str], recovered_at: float) -> dict[str, Any]:
    """The CDR of a call the box stopped in the middle of: the fields a finished call's CDR has, from what
    its events said (`facts`), and `interrupted` with the last step known."""
    answered_at = _number(facts.get("answered_at"))  # the latest leg answered (the caller's, then an agent's)
    queued_at = _number(facts.get("queued_at"))
    agent = _text(facts.get("agent"))
    agent_answered = answered_at if _text(facts.get("role")) == "agent" else _number(facts.get("bridged_at"))
    if agent_answered is None:
        agent = ""  # offered, never talked to: the CDR's agent is who served the call
    return {
        "call_id": call_id,
        "direction": _text(facts.get("direction")),
        "caller": _text(facts.get("caller")),
        "caller_name": _text(facts.get("caller_name")),
        "callee": _text(facts.get("callee")),
        "did": _text(facts.get("did")),
        "trunk": _text(facts.get("trunk")),
        "started": round(started, 3),
        "answered": answered_at,
        "ended": round(last_seen, 3),  # the last moment known: the crash came after it
        "duration": round(last_seen - started, 3),
        "ivr_path": ivr_nodes,
        "queue": _text(facts.get("queue")),
        "queued_at": queued_at,
        "wait": round((agent_answered or last_seen) - queued_at, 3) if queued_at is not None else None,
        "vip": bool(facts.get("vip", False)),
        "offered_agents": [facts["party"]] if _text(facts.get("party")) and facts.get("ringing_at") else [],
        "agent": agent,
        "agent_answered": agent_answered,
        "talk": None,
        "recording": recordings[0] if recordings else "",
        "recordings": recordings,
        "hangup_side": "",
        "hangup_cause": "",
        "disposition": INTERRUPTED,
        "missed": [],
        "legs": [],
        "interrupted": {"last_step": _text(facts.get("last_step")), "recovered_at": round(recovered_at, 3)},
        "known": dict(facts),
    }


def _recordings_of(recordings_dir: Path, call_id: str) -> list[Path]:
    """A call's recording segments: `<call>.wav`, `<call>-2.wav`, ... in the day folders."""
    found = [*recordings_dir.glob(f"*/{call_id}.wav"), *recordings_dir.glob(f"*/{call_id}-*.wav")]
    return sorted(found, key=lambda p: (p.parent.name, len(p.stem), p.stem))


def _call_of(recording: Path) -> str:
    """The call a recording belongs to: call ids end in "-<n>" (`c<time>-<n>`), a call's later segments add
    another "-<n>"."""
    segment = re.fullmatch(r"(.+-\d+)-\d+", recording.stem)
    return segment.group(1) if segment else recording.stem


def _seconds_of(path: Path) -> float:
    try:
        with wave.open(str(path)) as w:
            return float(w.getnframes()) / float(w.getframerate())
    except (OSError, EOFError, wave.Error):
        return 0.0


def _ivr_journey(conn: Any, call_id: str) -> tuple[list[str], str]:
    """The IVR nodes a call went through ("flow/node": the session's own summary when it ended, else the
    nodes it entered as far as the journal wrote them) and the number it dialled (DID)."""
    path: list[str] = []
    did = ""
    for flow, node, event, data in conn.execute(
            "SELECT flow, node, event, data FROM ivr_journey WHERE call_id = ? ORDER BY id", (call_id,)):
        if event == "started":
            did = _text(json.loads(data or "{}").get("did"))
        elif event == "ended":
            summary = json.loads(data or "{}").get("path")
            if isinstance(summary, list):
                path = [str(p) for p in summary]
        elif event == "node_entered":
            path.append(f"{flow}/{node}")
    return path, did


def _named_recordings(conn: Any) -> set[str]:
    named: set[str] = set()
    for (text,) in conn.execute("SELECT json_extract(data, '$.recordings') FROM cdr WHERE json_extract("
                                "data, '$.recordings') IS NOT NULL AND json_extract(data, '$.recordings') != '[]'"):
        named.update(json.loads(text))
    return named


def _completion_line(conn: Any, cdr: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The queue-log line closing an interrupted call's agent part, when the agent answered it from a queue."""
    agent, answered = cdr.get("agent"), cdr.get("agent_answered")
    if not agent or not isinstance(answered, int | float):
        return None
    found = conn.execute(_ANSWERED_IN, (cdr["call_id"], agent)).fetchone()
    if found is None:
        return None  # rung directly, not through a queue
    ended = float(cdr["ended"])
    return (ended, cdr["call_id"], found[0], "complete_system", agent,
            {"talk": round(max(0.0, ended - float(answered)), 3), "hold": 0.0, "answered": float(answered),
             "hangup_side": "", "transfers": 0, "interrupted": True})


def recover(records_path: Path, data_dir: Path, now: float, repair: Repair,
            open_writer: OpenWriter | None = None) -> RecoveryReport:
    """Put right what a crash left in the records and recordings (see the module's text). `open_writer`:
    what the log lines are written with (default: a plain writer of the store, with no roll-ups)."""
    started_at = time.monotonic()
    recordings_dir = data_dir / "recordings"
    store = RecordStore.open_writer(records_path)
    try:
        conn = store.conn
        open_rows = conn.execute("SELECT call_id, started, updated, data FROM open_call ORDER BY started").fetchall()
        segments = {row[0]: _recordings_of(recordings_dir, row[0]) for row in open_rows}
        repaired = repair(recordings_dir, [p for paths in segments.values() for p in paths])
        relative = {p: str(p.relative_to(data_dir)) for paths in segments.values() for p in paths}
        cdrs: list[dict[str, Any]] = []
        for call_id, started, updated, data in open_rows:
            facts = json.loads(data or "{}")
            nodes, facts["did"] = _ivr_journey(conn, call_id)
            cdrs.append(interrupted_cdr(call_id, started, updated, facts, nodes,
                                        [relative[p] for p in segments[call_id]], now))
        # A repaired recording of a call with no trace at all (its first events never reached the disk)
        # is still listed: a CDR made from the file.
        named = _named_recordings(conn) | {r for cdr in cdrs for r in cdr["recordings"]}
        for path in repaired:
            name = str(path.relative_to(data_dir))
            if name in named:
                continue
            call_id = _call_of(path)
            began = path.stat().st_mtime - _seconds_of(path)
            cdrs.append(interrupted_cdr(call_id, began, path.stat().st_mtime, {}, [], [name], now))
            named.add(name)
        last = {agent: LastAgentState(state, reason, at) for agent, state, reason, at in conn.execute(
            "SELECT agent, state_to, reason, at FROM agent_log WHERE id IN "
            "(SELECT max(id) FROM agent_log GROUP BY agent)")}
        logged_in = sorted(a for a, s in last.items() if s.state != _LOGGED_OUT)
        closing = [_completion_line(conn, cdr) for cdr in cdrs]
        lines: list[tuple[str, Any]] = [("queue_log", line) for line in closing if line is not None]
        lines += [("agent_log", (now, agent, last[agent].state, _LOGGED_OUT, RESTART_REASON,
                                 {"since": last[agent].at, "duration": None, "by": "system"}))
                  for agent in logged_in]
        with conn:  # one transaction: the CDRs, the open rows they close and the agents' closing lines
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT OR IGNORE INTO cdr(call_id, started, ended, direction, caller, callee, did, queue, agent, "
                "disposition, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(c["call_id"], c["started"], c["ended"], c["direction"], c["caller"], c["callee"], c["did"],
                  c["queue"], c["agent"], c["disposition"], json.dumps(c, ensure_ascii=False, sort_keys=True))
                 for c in cdrs])
            conn.executemany("DELETE FROM open_call WHERE call_id = ?", [(row[0],) for row in open_rows])
        if lines:
            writer: BatchWriter = open_writer() if open_writer is not None else store
            try:
                writer.write_batch(lines)
            finally:
                if writer is not store:
                    writer.close()
        return RecoveryReport(
            interrupted_calls=tuple(c["call_id"] for c in cdrs),
            repaired_recordings=tuple(str(p.relative_to(data_dir)) for p in repaired),
            agents_logged_out=tuple(logged_in), last_agent_states=last,
            seconds=round(time.monotonic() - started_at, 3))
    finally:
        store.close()


class CrashRecovery:
    """The recovery as a service: started before the record journal (which must not write an open row of a
    new call before the old ones are read) and before call control."""

    name = "crash_recovery"

    def __init__(self, records: RecordStore, data_dir: Path, clock: Clock, repair: Repair,
                 open_writer: OpenWriter | None = None) -> None:
        self._records = records
        self._data_dir = data_dir
        self._clock = clock
        self._repair = repair
        self._open_writer = open_writer
        self.report: RecoveryReport | None = None
        self._error = ""

    async def start(self) -> None:
        if self.report is not None:
            return  # once per process: a later start would take live calls for interrupted ones
        try:
            self.report = await asyncio.to_thread(recover, self._records.path, self._data_dir,
                                                  self._clock.wall(), self._repair, self._open_writer)
        except Exception as exc:  # the box must start even so: its calls matter more than old records
            log.exception("crash recovery failed")
            self._error = str(exc)
            self.report = RecoveryReport()
            return
        r = self.report
        if r.interrupted_calls or r.repaired_recordings or r.agents_logged_out:
            log.warning("recovered after an unclean stop in %.2f s: %d calls marked interrupted, %d recordings "
                        "repaired, %d agents logged out", r.seconds, len(r.interrupted_calls),
                        len(r.repaired_recordings), len(r.agents_logged_out))

    async def stop(self) -> None:
        return None

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        r = self.report
        if r is None:
            return Health.of(self.name, Status.STARTING)
        counters = {"interrupted_calls": len(r.interrupted_calls), "repaired_recordings": len(r.repaired_recordings),
                    "agents_logged_out": len(r.agents_logged_out)}
        if self._error:
            return Health.of(self.name, Status.DEGRADED, f"recovery failed: {self._error}", counters=counters)
        detail = (f"{len(r.interrupted_calls)} calls interrupted, {len(r.repaired_recordings)} recordings repaired "
                  f"in {r.seconds:.2f} s")
        return Health.of(self.name, Status.OK, detail, counters=counters, gauges={"seconds": r.seconds})


class AgentStateRestore:
    """Agents back as the setting says (`appliance.acd.restore`): the logins are applied once, after call
    control has started (the ACD's actions need it), from the last states the recovery read."""

    name = "agent_restore"

    def __init__(self, recovery: CrashRecovery, mode: Callable[[], AfterRestart],
                 agents: Callable[[], Iterable[str]], pause_codes: Callable[[], Collection[str]],
                 command: Callable[[C.Command], Any]) -> None:
        self._recovery = recovery
        self._mode = mode
        self._agents = agents
        self._pause_codes = pause_codes
        self._command = command
        self.restored: list[str] | None = None

    async def start(self) -> None:
        if self.restored is not None:
            return
        report = self._recovery.report or RecoveryReport()
        last = {agent: (s.state, s.reason) for agent, s in report.last_agent_states.items()}
        self.restored = []
        for command in restore_commands(last, self._mode(), self._agents(), self._pause_codes()):
            try:
                self._command(command)
            except Exception:  # one agent the ACD refuses stays logged out; the box starts regardless
                log.exception("agent %s could not be restored to its last state", command.agent_id)
                continue
            self.restored.append(command.agent_id)

    async def stop(self) -> None:
        return None

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        if self.restored is None:
            return Health.of(self.name, Status.STARTING)
        return Health.of(self.name, Status.OK, f"{len(self.restored)} agents restored to their last state",
                         counters={"restored": len(self.restored)})
