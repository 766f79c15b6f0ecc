"""Reports benchmark: three years of a 100-agent centre, then every report, call-record search and an export.

The generator writes, day by day in the box's time zone (Asia/Shanghai), what the journal would have written
for a centre of 100 agents in 5 work groups serving 5 queues from 08:00 to 20:00: per call its CDR (the keys
`appliance.calls.cdr.build_cdr` writes), its queue log (queued, offered, returned for a ring nobody answered,
answered / abandoned / overflowed, and the completion line with talk and hold), the answering agent's state
changes (idle, ringing, on call, wrap-up, a lunch pause, logged in and out), and for the calls that come in
through the IVR their journey (started, the nodes entered, the key pressed, ended with its exit). Each day is
one `RecordStore.write_batch` with the reports' `Rollup` as its `after_batch`: the rows and the roll-ups are
written exactly as the journal's writer thread writes them. Agents are never on two calls at once (each call
takes the agent free the longest), so the state log adds up.

The database is kept between runs in the system's temporary directory, keyed by `GENERATOR_VERSION`
(`--fresh` writes it again); the first run takes a while.

Then it measures, in this order:
- every report kind (`ReportService.run_sync`, what the API runs) over a day by half-hour, a week by hour, a
  month by day, a year by day, week and month, and three years by week and month; a year's goal is 1 s,
  three years' 2 s;
- call-record search with filters, page 1 and page 1,000 (50 a page), p95 of `--repeat` runs each (goal
  200 ms), through the records page's search (`appliance.records.search`) and `RecordStore.cdrs` (what
  `GET /api/v1/cdr` runs); `search_p95_ms` is the worst of both;
- an export of 100,000 call records to .xlsx (`appliance.reports.export`), in a process of its own whose
  resident set is sampled every 10 ms: its peak growth over the resident set before (goal 100 MB), and rows/s.

    .venv/bin/python bench/reports.py [--days 1096] [--fresh] [--runs 2] [--repeat 20] [--export-rows 100000]

The last line printed is one JSON object: cdrs, max_report_s, search_p95_ms, export_rows_per_s, export_peak_mb
(and the slowest report, the slowest search, the year's worst report).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.records.sqlite_store import RecordStore
from appliance.reports.models import Kind, Period, ReportPolicy, ReportQuery
from appliance.reports.rollups import Rollup, install, writer_opener
from appliance.reports.service import ReportService

GENERATOR_VERSION = 1  # change when the generated data changes: the cached database is keyed by it
ZONE = "Asia/Shanghai"
AGENTS = tuple(str(1001 + i) for i in range(100))
GROUP_OF = {a: f"group{i // 20 + 1}" for i, a in enumerate(AGENTS)}
QUEUES = ("sales", "service", "billing", "tech", "vip")
QUEUE_WEIGHTS = (30, 35, 15, 15, 5)
CALLS_PER_DAY = 2750  # about 3,000,000 over three years, a little fewer at weekends
OPEN_H, CLOSE_H = 8, 20
LUNCH_S = 1800
WRAP_S = 10.0
RING_S = 4.0
MAX_WAIT_S = 120.0


def _r(x: float) -> float:
    return round(x, 3)


class Day:
    """One day's rows, built in time order per call; `entries()` orders them by table as one batch."""

    def __init__(self) -> None:
        self.cdr: list[dict[str, Any]] = []
        self.queue_log: list[tuple[Any, ...]] = []
        self.agent_log: list[tuple[Any, ...]] = []
        self.ivr: list[tuple[Any, ...]] = []

    def entries(self) -> list[tuple[str, Any]]:
        self.queue_log.sort(key=lambda r: r[0])
        self.agent_log.sort(key=lambda r: r[0])
        self.ivr.sort(key=lambda r: r[0])
        return ([("queue_log", r) for r in self.queue_log] + [("agent_log", r) for r in self.agent_log]
                + [("ivr_journey", r) for r in self.ivr] + [("cdr", c) for c in self.cdr])


class Agents:
    """Who is free when: a heap of (free from, agent); each agent's last state change for the state log."""

    def __init__(self, day: Day, opening: float, lunch: dict[str, float]) -> None:
        self.day = day
        self.heap = [(opening, a) for a in AGENTS]
        heapq.heapify(self.heap)
        self.last = {a: opening for a in AGENTS}
        self.lunch = dict(lunch)  # agent → when their lunch pause is due (removed once taken)
        for a in AGENTS:
            day.agent_log.append((opening, a, "logged_out", "idle", "login", {"since": None, "duration": 0.0,
                                                                              "by": ""}))

    def change(self, at: float, agent: str, old: str, new: str, reason: str = "") -> None:
        self.day.agent_log.append((_r(at), agent, old, new, reason,
                                   {"since": _r(self.last[agent]), "duration": _r(at - self.last[agent]), "by": ""}))
        self.last[agent] = at

    def take(self, at: float) -> tuple[float, str]:
        """The agent free longest and when they are free (their lunch taken first if it is due)."""
        while True:
            free, agent = heapq.heappop(self.heap)
            due = self.lunch.get(agent)
            if due is not None and max(free, at) >= due:
                start = max(free, due)
                self.change(start, agent, "idle", "paused", "lunch")
                self.change(start + LUNCH_S, agent, "paused", "idle")
                del self.lunch[agent]
                heapq.heappush(self.heap, (start + LUNCH_S, agent))
                continue
            return free, agent

    def release(self, free: float, agent: str) -> None:
        heapq.heappush(self.heap, (free, agent))

    def close(self, closing: float) -> None:
        for free, agent in self.heap:
            self.change(max(free, closing), agent, "idle", "logged_out", "logout")


def generate_day(rng: random.Random, day: date, zone: ZoneInfo, seq: int) -> tuple[Day, int]:
    """The rows of one day; `seq` numbers the calls (call ids sort by time, like the box's)."""
    out = Day()
    opening = datetime(day.year, day.month, day.day, OPEN_H, tzinfo=zone).timestamp()
    closing = datetime(day.year, day.month, day.day, CLOSE_H, tzinfo=zone).timestamp()
    lunch = {a: opening + 3.5 * 3600 + rng.random() * 2.5 * 3600 for a in AGENTS}
    agents = Agents(out, opening, lunch)
    count = int(CALLS_PER_DAY * (0.8 if day.weekday() >= 5 else 1.08) * rng.uniform(0.92, 1.08))
    arrivals = sorted(opening + rng.random() * (closing - opening - 600) for _ in range(count))
    for started in arrivals:
        seq += 1
        call_id = f"{day:%Y%m%d}-{seq:08d}"
        kind = rng.random()
        if kind < 0.8:
            _inbound(rng, out, agents, call_id, started)
        else:
            _other(rng, out, call_id, started, "outbound" if kind < 0.9 else "internal")
    agents.close(closing)
    return out, seq


def _cdr(call_id: str, direction: str, caller: str, callee: str, started: float, ended: float,
         **more: Any) -> dict[str, Any]:
    cdr: dict[str, Any] = {
        "call_id": call_id, "direction": direction, "caller": caller, "caller_name": "", "callee": callee,
        "did": more.pop("did", ""), "trunk": more.pop("trunk", ""), "extension": more.pop("extension", ""),
        "started": _r(started), "answered": None, "ended": _r(ended), "duration": _r(ended - started),
        "flow": "", "ivr_path": [], "ivr_keys": "", "ivr_exit": "", "queue": "", "queued_at": None, "wait": None,
        "vip": False, "offered_agents": [], "agent": "", "agent_answered": None, "talk": None, "hold": 0.0,
        "transfers": [], "survey_score": None, "intended_customer": False, "recording": "", "recordings": [],
        "voicemail": "", "hangup_side": "caller", "hangup_cause": 16, "disposition": "answered", "missed": [],
        "mos": 4.3, "legs": [], "variables": {}, "timeline": [],
    }
    cdr.update(more)
    return cdr


def _other(rng: random.Random, out: Day, call_id: str, started: float, direction: str) -> None:
    agent = rng.choice(AGENTS)
    answered = rng.random() < 0.7
    talk = rng.expovariate(1 / 150) if answered else 0.0
    ended = started + (8 + talk if answered else rng.uniform(10, 40))
    callee = f"1{rng.randrange(3000000000, 9999999999)}" if direction == "outbound" else rng.choice(AGENTS)
    out.cdr.append(_cdr(call_id, direction, agent, callee, started, ended, extension=agent, agent=agent,
                        answered=_r(started + 8) if answered else None, talk=_r(talk) if answered else None,
                        trunk="pstn" if direction == "outbound" else "",
                        disposition="answered" if answered else "no_answer",
                        legs=[{"leg": f"{call_id}.1", "role": "caller", "party": agent, "agent": agent,
                               "created": _r(started), "answered": _r(started), "ended": _r(ended), "cause": 16,
                               "mos": 4.3}]))


def _inbound(rng: random.Random, out: Day, agents: Agents, call_id: str, started: float) -> None:
    caller = f"1{rng.randrange(3000000000, 3000200000)}"  # 200,000 customers: numbers repeat, as they do
    did = "4008001000"
    queue = rng.choices(QUEUES, QUEUE_WEIGHTS)[0]
    t = started
    cdr: dict[str, Any] = {"did": did, "trunk": "pstn", "vip": queue == "vip", "timeline": [[_r(t), "offered"]]}
    if rng.random() < 0.4:  # through the IVR menu first
        path = ["welcome", "menu"]
        out.ivr.append((_r(t), call_id, "main", "", "started", {"caller": caller, "did": did, "flow_version": 3,
                                                                "vip": False}))
        out.ivr.append((_r(t + 0.2), call_id, "main", "welcome", "node_entered",
                        {"seq": 1, "flow_version": 3, "detail": ""}))
        out.ivr.append((_r(t + 6), call_id, "main", "menu", "node_entered", {"seq": 2, "flow_version": 3,
                                                                             "detail": ""}))
        fate = rng.random()
        exit_reason = "transferred_to_agent" if fate < 0.8 else "self_served" if fate < 0.92 else "abandoned"
        length = rng.uniform(9, 40)
        node = "menu"
        if exit_reason != "abandoned":
            key = "1" if exit_reason == "transferred_to_agent" else "9"
            out.ivr.append((_r(t + length - 0.5), call_id, "main", "menu", "key",
                            {"seq": 3, "flow_version": 3, "detail": key}))
            if exit_reason == "self_served":
                path.append("balance")
                node = "balance"
                out.ivr.append((_r(t + length - 0.4), call_id, "main", "balance", "node_entered",
                                {"seq": 4, "flow_version": 3, "detail": ""}))
        out.ivr.append((_r(t + length), call_id, "main", node, "ended",
                        {"entry_flow": "main", "started_at": _r(t), "duration": _r(length), "exit_reason": exit_reason,
                         "path": path}))
        cdr.update(flow="main", ivr_path=path, ivr_exit=exit_reason, ivr_keys="1" if len(path) == 2 else "9")
        t += length
        if exit_reason != "transferred_to_agent":
            missed = ["ivr_abandoned"] if exit_reason == "abandoned" else []
            out.cdr.append(_cdr(call_id, "inbound", caller, did, started, t, answered=_r(started), missed=missed,
                                disposition="abandoned" if missed else "answered", **cdr))
            return
    _queued(rng, out, agents, call_id, started, t, caller, queue, cdr)


def _queued(rng: random.Random, out: Day, agents: Agents, call_id: str, started: float, queued: float,
            caller: str, queue: str, cdr: dict[str, Any]) -> None:
    did = str(cdr["did"])
    out.queue_log.append((_r(queued), call_id, queue, "queued", None, {"position": 1, "vip": cdr["vip"]}))
    free, agent = agents.take(queued)
    offer = max(queued + rng.expovariate(1 / 6), free)
    patience = rng.expovariate(1 / 90)
    missed_first = rng.random() < 0.05
    answer = offer + RING_S + (15.0 + RING_S if missed_first else 0.0)
    common = {"queue": queue, "queued_at": _r(queued), "answered": _r(started)}
    if answer - queued > min(patience, MAX_WAIT_S):  # gone before an agent answered
        agents.release(free, agent)
        gone = queued + min(patience, MAX_WAIT_S)
        if patience < MAX_WAIT_S:
            out.queue_log.append((_r(gone), call_id, queue, "abandoned", None, {"wait": _r(gone - queued),
                                                                                "position": 1}))
            missed, disposition = ["queue_abandoned"], "abandoned"
        else:
            out.queue_log.append((_r(gone), call_id, queue, "overflowed", None,
                                  {"reason": "max_wait", "target": "voicemail", "wait": _r(gone - queued)}))
            missed, disposition = ["no_agent"], "voicemail"
        out.cdr.append(_cdr(call_id, "inbound", caller, did, started, gone + (20 if disposition == "voicemail" else 0),
                            wait=_r(gone - queued), missed=missed, disposition=disposition, **common, **cdr))
        return
    offered = [agent]
    if missed_first:  # the first ring went unanswered (the agent is reported missed; it rings again)
        out.queue_log.append((_r(offer), call_id, queue, "offered", agent, {"ring_s": 15}))
        out.queue_log.append((_r(offer + 15), call_id, queue, "returned", agent, {"reason": "no_answer"}))
        agents.change(offer, agent, "idle", "ringing")
        agents.change(offer + 15, agent, "ringing", "idle")
        offer += 15 + RING_S
        offered.append(agent)
    out.queue_log.append((_r(offer), call_id, queue, "offered", agent, {"ring_s": 15}))
    out.queue_log.append((_r(answer), call_id, queue, "answered", agent, {"wait": _r(answer - queued)}))
    talk = 20 + rng.expovariate(1 / 200)
    hold = rng.choice((0.0, 0.0, 0.0, rng.uniform(5, 60)))
    ended = answer + talk + hold
    by = "caller" if rng.random() < 0.6 else "agent"
    out.queue_log.append((_r(ended), call_id, queue, f"complete_{by}", agent,
                          {"talk": _r(talk), "hold": _r(hold), "answered": _r(answer), "hangup_side": by,
                           "transfers": 0}))
    agents.change(offer, agent, "idle", "ringing")
    agents.change(answer, agent, "ringing", "on_call")
    agents.change(ended, agent, "on_call", "wrap_up")
    agents.change(ended + WRAP_S, agent, "wrap_up", "idle")
    agents.release(ended + WRAP_S, agent)
    recording = f"recordings/{datetime.fromtimestamp(answer):%Y%m%d}/{call_id}.wav"
    legs = [{"leg": f"{call_id}.1", "role": "caller", "party": caller, "agent": None, "created": _r(started),
             "answered": _r(started), "ended": _r(ended), "cause": 16, "mos": 4.3},
            {"leg": f"{call_id}.2", "role": "agent", "party": agent, "agent": agent, "created": _r(offer),
             "answered": _r(answer), "ended": _r(ended), "cause": 16, "mos": 4.4}]
    out.cdr.append(_cdr(call_id, "inbound", caller, did, started, ended, wait=_r(answer - queued), agent=agent,
                        offered_agents=offered, agent_answered=_r(answer), talk=_r(talk), hold=_r(hold),
                        recording=recording, recordings=[recording], hangup_side=by, legs=legs, **common, **cdr))


def cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"appliance-bench-reports-v{GENERATOR_VERSION}"


def generate(path: Path, days: int, log: Callable[[str], None]) -> int:
    """Writes `days` days ending yesterday-ish (a fixed end, so the data is the same every run); the CDR count."""
    if path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    RecordStore.open(path).close()
    store = RecordStore.open_writer(path)
    install(store.conn)
    store.conn.execute("PRAGMA cache_size=-400000")  # 400 MB of page cache: the indexes stay in memory
    policy = ReportPolicy()
    zone = ZoneInfo(ZONE)
    store.after_batch = Rollup(lambda: policy, lambda: zone)
    rng = random.Random(20240101)
    first = date(2026, 11, 30) - timedelta(days=days)
    seq = 0
    started = time.monotonic()
    rows = 0
    for n in range(days):
        day, seq = generate_day(rng, first + timedelta(days=n), zone, seq)
        entries = day.entries()
        store.write_batch(entries)
        rows += len(entries)
        if n % 30 == 29:
            elapsed = time.monotonic() - started
            log(f"  {n + 1} days, {seq:,} calls, {rows:,} rows, {rows / elapsed:,.0f} rows/s")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.conn.execute("ANALYZE")
    store.close()
    return seq


def database(days: int, fresh: bool, log: Callable[[str], None]) -> Path:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"records-{days}d.sqlite3"
    done = folder / f"records-{days}d.done"
    if fresh or not done.exists():
        done.unlink(missing_ok=True)
        log(f"generating {days} days into {path} ...")
        began = time.monotonic()
        calls = generate(path, days, log)
        done.write_text(json.dumps({"calls": calls, "seconds": round(time.monotonic() - began, 1)}))
        log(f"generated {calls:,} calls in {time.monotonic() - began:.0f} s")
    else:
        log(f"using the cached database {path} ({json.loads(done.read_text())})")
    # As the box starts: the record store opened (indexes the schema gained since the data was made are built),
    # then the journal's writer (a store from before the daily roll-ups gets them cut from its half-hours)
    began = time.monotonic()
    RecordStore.open(path).close()
    log(f"the record store opened in {time.monotonic() - began:.1f} s")
    began = time.monotonic()
    policy, zone = ReportPolicy(), ZoneInfo(ZONE)
    writer_opener(path, lambda: policy, lambda: zone)().close()
    log(f"the journal's writer opened in {time.monotonic() - began:.1f} s")
    return path


# ---- measurements ------------------------------------------------------------------------------------------

REPORT_KINDS = (Kind.QUEUES, Kind.AGENT_CALLS, Kind.GROUPS, Kind.AGENT_STATES, Kind.IVR)
DETAIL = tuple(k for k in Kind if k not in REPORT_KINDS)  # the detail lists: at most 31 days


def data_end(path: Path, zone: ZoneInfo) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        last = float(conn.execute("SELECT max(started) FROM cdr").fetchone()[0])
    finally:
        conn.close()
    day = datetime.fromtimestamp(last, zone).date() + timedelta(days=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """The slowest of `runs` timed runs after one untimed (the page cache warm, as on a box in use): its wall
    time and its CPU time (this process's: SQLite runs in it), which the machine's load does not stretch."""
    result = fn()
    worst, worst_cpu = 0.0, 0.0
    for _ in range(runs):
        began, cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - began
        if wall > worst:
            worst, worst_cpu = wall, time.process_time() - cpu
    return worst, worst_cpu, result


def measure_reports(path: Path, end: int, days: int, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    settings = {"time_zone": ZONE}
    service = ReportService(path, lambda: settings)
    ranges = [("day", 1, Period.HALF_HOUR), ("week", 7, Period.HOUR), ("month", 31, Period.DAY),
              ("year", 365, Period.DAY), ("year", 365, Period.WEEK), ("year", 365, Period.MONTH),
              ("3 years", days, Period.DAY), ("3 years", days, Period.WEEK), ("3 years", days, Period.MONTH)]
    out: dict[str, Any] = {"year": 0.0, "three_years": 0.0, "detail": 0.0, "worst": "", "cpu": 0.0}
    for name, length, period in ranges:
        for kind in REPORT_KINDS:
            query = ReportQuery(kind=kind, period=period, start=end - length * 86400, end=end)
            seconds, cpu, report = timed(lambda q=query: service.run_sync(q, GROUP_OF), runs)  # type: ignore[misc]
            log(f"  {kind.value:<13} {name:<8} by {period.value:<9} {len(report.rows):>7,} rows {seconds:7.3f} s "
                f"(CPU {cpu:.3f} s)")
            out["cpu"] = max(out["cpu"], cpu)
            bucket = "three_years" if length > 366 else "year"
            if seconds > out[bucket]:
                out[bucket] = seconds
                if bucket == "three_years" or out["three_years"] == 0.0:
                    out["worst"] = f"{kind.value} over {name} by {period.value}"
    for kind in DETAIL:
        for length in (1, 31):
            query = ReportQuery(kind=kind, period=Period.DAY, start=end - length * 86400, end=end,
                                agents=AGENTS[:20] if kind.value == "agent-state-log" else None)
            seconds, cpu, report = timed(lambda q=query: service.run_sync(q, GROUP_OF), runs)  # type: ignore[misc]
            log(f"  {kind.value:<15} {length:>2} days  {len(report.rows):>9,} rows {seconds:7.3f} s (CPU {cpu:.3f} s)")
            out["detail"] = max(out["detail"], seconds)
    return out


def search_cases(end: int) -> list[tuple[str, dict[str, Any]]]:
    year, month = end - 365 * 86400, end - 30 * 86400
    return [("30 days, every call", {"since": month, "until": end}),
            ("a year, one queue", {"since": year, "until": end, "queue": "service"}),
            ("a year, one agent", {"since": year, "until": end, "agent": "1042"}),
            ("3 years, inbound abandoned", {"direction": "inbound", "result": "abandoned"}),
            ("3 years, one caller", {"number": "13000100042"}),
            ("a year, missed", {"since": year, "until": end, "missed": "any"})]


def measure_search(path: Path, end: int, repeat: int, log: Callable[[str], None]) -> dict[str, Any]:
    """p95 of page 1 and page 1,000 (50 a page) through `GET /api/v1/cdr`'s store call and, when the box has
    it, the records page's search."""
    store = RecordStore.open_reader(path)
    searchers: dict[str, Callable[[dict[str, Any], int], int]] = {}

    def api_list(f: dict[str, Any], offset: int) -> int:
        where = {k: str(v) for k, v in (("queue", f.get("queue")), ("agent", f.get("agent")),
                                        ("direction", f.get("direction")), ("disposition", f.get("result")),
                                        ("caller", f.get("number"))) if v}
        page = store.cdrs(where=where, since=f.get("since"), until=f.get("until"),
                          missed=True if f.get("missed") else None, offset=offset, limit=50)
        return page.total

    searchers["GET /api/v1/cdr"] = api_list
    try:
        from appliance.records import search as records_search  # the call records page's search, when built
    except ImportError:
        records_search = None  # type: ignore[assignment]
    if records_search is not None:
        records = records_search.CallRecords(path)

        def page_search(f: dict[str, Any], offset: int) -> int:
            return records.search_sync(records_search.CallQuery(offset=offset, limit=50, **f)).total

        searchers["records page"] = page_search
    out: dict[str, Any] = {"p95_ms": 0.0, "worst": "", "by": {}}
    try:
        for name, search in searchers.items():
            for case, filters in search_cases(end):
                for page in (1, 1000):
                    times = []
                    total = search(filters, (page - 1) * 50)
                    stop = time.perf_counter() + 15  # a slow case gets fewer runs (3 at least)
                    for _ in range(repeat):
                        began = time.perf_counter()
                        search(filters, (page - 1) * 50)
                        times.append((time.perf_counter() - began) * 1000)
                        if len(times) >= 3 and time.perf_counter() > stop:
                            break
                    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
                    log(f"  {name:<16} {case:<28} page {page:>4}: p95 {p95:8.1f} ms (total {total:,})")
                    out["by"][f"{name}: {case}, page {page}"] = round(p95, 1)
                    if p95 > out["p95_ms"]:
                        out["p95_ms"], out["worst"] = p95, f"{name}: {case}, page {page}"
    finally:
        store.close()
    return out


def export_child(path: Path, rows: int) -> dict[str, Any]:
    """In a process of its own: 100,000 call records to .xlsx; its resident-set growth and speed."""
    from appliance.reports import export

    zone = ZoneInfo(ZONE)
    end = data_end(path, zone)
    store = RecordStore.open_reader(path)
    names = {"agent": {a: f"座席{a}" for a in AGENTS}}
    header = export.headers(export.CDR_COLUMNS, "zh_CN")
    # The peak is sampled: ru_maxrss would carry the parent's resident set from before the exec
    me = psutil.Process()
    before_kb = me.memory_info().rss // 1024
    peak = [before_kb]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], me.memory_info().rss // 1024)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out_path = Path(tempfile.mkdtemp(prefix="bench-export-")) / "calls.xlsx"
    began, cpu = time.perf_counter(), time.process_time()
    with out_path.open("wb") as out:
        written = export.write_xlsx(out, export.CDR_COLUMNS,
                                    itertools.islice(store.iter_cdrs(since=end - 60 * 86400, until=end), rows),
                                    header=header, zone=zone, names=names, title="call records")
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    done.set()
    sampler.join()
    peak_kb = max(peak[0], me.memory_info().rss // 1024)
    store.close()
    size = out_path.stat().st_size
    out_path.unlink()
    out_path.parent.rmdir()
    return {"rows": written, "seconds": round(seconds, 2), "rows_per_s": round(written / seconds),
            "cpu_rows_per_s": round(written / cpu),
            "peak_mb": round((peak_kb - before_kb) / 1024, 1), "file_mb": round(size / 1e6, 1)}


def measure_export(path: Path, rows: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--export-child", str(path), "--export-rows", str(rows)],
                          capture_output=True, text=True, check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=1096)
    parser.add_argument("--fresh", action="store_true", help="generate the database again")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per search (p95 of them)")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per report (the slowest is kept)")
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--export-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child is not None:
        print(json.dumps(export_child(args.export_child, args.export_rows)))
        return

    def log(line: str) -> None:
        print(line, flush=True)

    path = database(args.days, args.fresh, log)
    zone = ZoneInfo(ZONE)
    end = data_end(path, zone)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
              for t in ("cdr", "queue_log", "agent_log", "ivr_journey")}
    conn.close()
    log(f"{counts['cdr']:,} CDRs, {counts['queue_log']:,} queue-log, {counts['agent_log']:,} agent-log and "
        f"{counts['ivr_journey']:,} IVR-journey rows; {path.stat().st_size / 1e9:.1f} GB")
    log(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    log("reports (the slowest of the timed runs):")
    reports = measure_reports(path, end, args.days, args.runs, log)
    log(f"worst over a year {reports['year']:.3f} s, over three years {reports['three_years']:.3f} s "
        f"({reports['worst']}); detail lists (31 days) {reports['detail']:.3f} s")
    log("call-record search:")
    search = measure_search(path, end, args.repeat, log)
    log(f"worst p95 {search['p95_ms']:.1f} ms ({search['worst']})")
    exported = measure_export(path, args.export_rows)
    log(f"export: {exported['rows']:,} call records to .xlsx in {exported['seconds']} s, "
        f"{exported['rows_per_s']:,} rows/s ({exported['cpu_rows_per_s']:,} per CPU second), peak memory growth {exported['peak_mb']} MB, file {exported['file_mb']} MB")
    print(json.dumps({"cdrs": counts["cdr"], "max_report_s": round(max(reports["year"], reports["three_years"]), 3),
                      "max_report_year_s": round(reports["year"], 3),
                      "max_report_3y_s": round(reports["three_years"], 3), "slowest_report": reports["worst"],
                      "max_detail_31d_s": round(reports["detail"], 3),
                      "search_p95_ms": round(search["p95_ms"], 1), "slowest_search": search["worst"],
                      "max_report_cpu_s": round(reports["cpu"], 3),
                      "export_rows_per_s": exported["rows_per_s"], "export_peak_mb": exported["peak_mb"],
                      "export_cpu_rows_per_s": exported["cpu_rows_per_s"],
                      "load_average": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
