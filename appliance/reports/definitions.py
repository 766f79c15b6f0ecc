"""The reports: SQL over the half-hour roll-ups, grouped by local period, and each figure's formula.

Every figure is defined in docs/REPORTS.md; the formulas of the derived ones are here, in `_queue_figures`,
`_agent_figures`, `_ivr_figures` (ratios are None when their denominator is 0). The half-hours of the range
are mapped to their local period in a temporary table (`slot_period`), so the SQL groups by that period
without knowing about time zones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from appliance.reports import days
from appliance.reports.models import Basis, Kind, Period, ReportPolicy, ReportQuery
from appliance.reports.periods import label, period_start, slot_periods
from appliance.reports.rollups import (
    AGENT,
    AGENT_STATE,
    IVR,
    IVR_OUTCOMES,
    QUEUE,
    SLOT,
    TIMED_OUT,
    _data,
    _number,
    install,
    slot_of,
)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _avg(total: float, count: float) -> float | None:
    return round(total / count, 3) if count else None


def _in(column: str, values: tuple[str, ...] | None) -> tuple[str, list[Any]]:
    if values is None:
        return "", []
    return f" AND {column} IN ({','.join('?' for _ in values)})", list(values)


def _sums(table_columns: Iterable[str], maxes: Iterable[str], prefix: str = "r.") -> str:
    return ", ".join([f"sum({prefix}{c}) AS {c}" for c in table_columns] + [f"max({prefix}{c}) AS {c}" for c in maxes])


def _rows(conn: sqlite3.Connection, sql: str, args: list[Any]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _queue_figures(r: dict[str, Any], policy: ReportPolicy) -> dict[str, Any]:
    level = policy.level(str(r["queue"]))
    offered = r["queued"] - r["short_abandoned"]
    base = offered if level.basis is Basis.OFFERED else r["answered"]
    return {
        **r, "offered": offered,
        "avg_wait": _avg(r["wait_total"], r["waited"]), "avg_talk": _avg(r["talk_total"], r["completed"]),
        "service_level": _ratio(r["answered_in_sl"], base), "abandon_rate": _ratio(r["abandoned"], offered),
        "timeout_rate": _ratio(r["timed_out"], offered),
    }


def _agent_figures(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "avg_talk": _avg(r["talk_total"], r["completed"]), "answer_rate": _ratio(r["answered"], r["offered"])}


def _ivr_figures(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "avg_duration": _avg(r["duration_total"], r["ended"]),
            "self_served_rate": _ratio(r["self_served"], r["ended"]), "abandon_rate": _ratio(r["abandoned"], r["ended"])}


_RATIOS = frozenset({"service_level", "abandon_rate", "timeout_rate", "answer_rate", "self_served_rate"})


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """Seconds to the millisecond (ratios are rounded to 4 places where they are made)."""
    return {k: round(v, 3) if isinstance(v, float) and k not in _RATIOS else v for k, v in row.items()}


# ---- detail lists: one row per queue call, agent state or IVR journey, from the raw records ----------------
# They read the raw rows through the record store's indexes (queue and time, agent and time, call id), never a
# whole table, over at most DETAIL_MAX_RANGE_S.

DETAIL_KINDS = frozenset({Kind.QUEUE_CALLS, Kind.AGENT_STATE_LOG, Kind.IVR_JOURNEYS})
DETAIL_MAX_RANGE_S = 31 * 86_400 + 3_600  # a month of rows (and the hour a change of clocks adds)
CALL_SPAN_S = 86_400  # a call's IVR journey starts within a day of the call (looked up through the CDRs)
_OUTCOMES = "('answered', 'abandoned', 'overflowed')"

# Each call's entry into a queue (its `queued` line) with the first outcome after it; and the calls refused at
# entry (an `overflowed` line with no `queued` line before it), which enter and leave at once.
_QUEUE_CALLS = f"""
SELECT e.call_id, e.queue, e.at AS entered, json_extract(e.data, '$.caller') AS caller,
       o.at AS left_at, o.event, o.agent, o.data
FROM queue_log e LEFT JOIN queue_log o ON o.id = (
    SELECT x.id FROM queue_log x WHERE x.call_id = e.call_id AND x.queue = e.queue AND x.event IN {_OUTCOMES}
    AND x.id > e.id ORDER BY x.id LIMIT 1)
WHERE e.event = 'queued' AND e.queue IN ({{queues}}) AND e.at >= ? AND e.at < ?
UNION ALL
SELECT r.call_id, r.queue, r.at, NULL, r.at, r.event, r.agent, r.data FROM queue_log r
WHERE r.event = 'overflowed' AND r.queue IN ({{queues}}) AND r.at >= ? AND r.at < ? AND NOT EXISTS (
    SELECT 1 FROM queue_log x WHERE x.call_id = r.call_id AND x.queue = r.queue AND x.event = 'queued'
    AND x.at <= r.at)
"""

# Each state an agent entered (its agent-log line), in each agent's order; the line that ended it is the next
# one (looked up after the range for each agent's last state).
_STATE_LOG = """
SELECT r.id, r.agent, r.state_to AS state, r.reason, r.at AS since, json_extract(r.data, '$.by') AS by,
       json_extract(r.data, '$.duration') AS duration
FROM agent_log r WHERE r.agent IN ({agents}) AND r.at >= ? AND r.at < ? ORDER BY r.agent, r.at, r.id
"""
_STATE_END = ("SELECT at, json_extract(data, '$.duration') FROM agent_log WHERE agent = ? AND at >= ? "
              "AND (at > ? OR id > ?) ORDER BY at, id LIMIT 1")

# Journeys that have ended (the `ended` line holds the entry flow, start, length, path and outcome), found
# through the calls that started in the range (CDRs) or are still going (open rows).
_JOURNEYS = """
SELECT j.call_id, j.flow AS last_flow, j.node AS last_node, j.data FROM ivr_journey j
WHERE j.event = 'ended' AND j.call_id IN (
    SELECT call_id FROM cdr WHERE started >= ? AND started < ? UNION SELECT call_id FROM open_call)
"""


def _marks(values: tuple[str, ...]) -> str:
    return ",".join("?" for _ in values) or "NULL"


def _queue_calls(conn: sqlite3.Connection, q: ReportQuery, policy: ReportPolicy) -> list[dict[str, Any]]:
    start, end = int(q.start), int(q.end)
    # every queue a call entered in the range has a roll-up row from its entry on (the `queued` line's)
    queues = q.queues if q.queues is not None else tuple(r[0] for r in conn.execute(
        f"SELECT DISTINCT queue FROM {QUEUE.name} WHERE slot >= ? AND slot < ?", (start - start % SLOT, end)))
    sql = _QUEUE_CALLS.format(queues=_marks(queues))
    out = []
    for r in _rows(conn, sql, [*queues, start, end, *queues, start, end]):
        data = _data(r.pop("data"))
        event = r.pop("event")
        wait = None if r["left_at"] is None else max(0.0, r["left_at"] - r["entered"])
        if event is None:
            outcome = "waiting"
        elif event == "answered":
            outcome = "answered"
        elif event == "abandoned":
            outcome = "short_abandoned" if wait is not None and wait < policy.short_abandon_s else "abandoned"
        else:
            outcome = "timed_out" if data.get("reason") == TIMED_OUT else "overflowed"
        in_sl = None if outcome != "answered" or wait is None else wait <= policy.level(str(r["queue"])).target_s
        out.append({**r, "entered": _r3(r["entered"]), "left_at": _r3(r["left_at"]), "caller": r["caller"] or "",
                    "agent": r["agent"] if event == "answered" else None, "outcome": outcome,
                    "reason": str(data.get("reason") or ""), "target": str(data.get("target") or ""),
                    "wait": _r3(wait), "in_service_level": in_sl})
    out.sort(key=lambda r: (r["entered"], r["queue"], r["call_id"]))
    return out


def _r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _state_log(conn: sqlite3.Connection, q: ReportQuery, staff: Mapping[str, str]) -> list[dict[str, Any]]:
    agents = q.agents if q.agents is not None else tuple(sorted(staff))
    lines = conn.execute(_STATE_LOG.format(agents=_marks(agents)), [*agents, int(q.start), int(q.end)]).fetchall()
    out = []
    for i, (id_, agent, state, reason, since, by, _duration) in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) and lines[i + 1][1] == agent else None
        end = (nxt[4], nxt[6]) if nxt is not None else conn.execute(_STATE_END, (agent, since, since, id_)).fetchone()
        until = None if end is None else float(end[0])  # None: the state is still going
        duration = None if until is None else _number(end[1]) or until - since
        out.append({"agent": agent, "state": state, "reason": reason, "since": _r3(since), "by": by or "",
                    "until": _r3(until), "duration": _r3(duration)})
    out.sort(key=lambda r: (r["since"], r["agent"]))
    return out


def _journeys(conn: sqlite3.Connection, q: ReportQuery) -> list[dict[str, Any]]:
    start, end = int(q.start), int(q.end)
    flows = set(q.flows) if q.flows is not None else None
    out = []
    for r in _rows(conn, _JOURNEYS, [start - CALL_SPAN_S, end]):
        data = _data(r.pop("data"))
        started = _number(data.get("started_at"))
        entry = str(data.get("entry_flow") or r["last_flow"])
        if not start <= started < end or (flows is not None and entry not in flows):
            continue
        outcome = str(data.get("exit_reason") or "")
        out.append({**r, "started": _r3(started), "entry_flow": entry, "caller": str(data.get("caller") or ""),
                    "did": str(data.get("did") or ""), "duration": _r3(_number(data.get("duration"))),
                    "outcome": IVR_OUTCOMES.get(outcome, outcome), "exit_reason": outcome,
                    "path": [str(p) for p in data.get("path") or ()], "keys": str(data.get("keys") or ""),
                    "destination": str(data.get("destination") or "")})
    out.sort(key=lambda r: (r["started"], r["call_id"]))
    return out


def detail(conn: sqlite3.Connection, q: ReportQuery, zone: ZoneInfo, policy: ReportPolicy,
           staff: Mapping[str, str]) -> list[dict[str, Any]]:
    """A detail list's rows, oldest first, each with the period it began in (`period_start`, `period_label`);
    `staff`: the configured agents (the state log of everyone)."""
    install(conn)
    if q.kind is Kind.QUEUE_CALLS:
        rows, at = _queue_calls(conn, q, policy), "entered"
    elif q.kind is Kind.AGENT_STATE_LOG:
        rows, at = _state_log(conn, q, staff), "since"
    else:
        rows, at = _journeys(conn, q), "started"
    periods: dict[int, tuple[int, str]] = {}  # half-hour → its period (a month's list has 150,000 rows)
    out = []
    for r in rows:
        slot = slot_of(r[at])
        if slot not in periods:
            start = period_start(slot, q.period, zone)
            periods[slot] = (start, label(start, zone))
        start, text = periods[slot]
        out.append({"period_start": start, "period_label": text, **r})
    return out


# The agent states the ACD has, one column each: a row per period and agent comes out of SQL instead of one
# per state (six times fewer rows to fetch and merge). A state outside them (none today) takes the long way.
_STATES = ("idle", "ringing", "on_call", "wrap_up", "paused", "disconnected")


def _agent_states(conn: sqlite3.Connection, source: str, args: list[Any]) -> list[dict[str, Any]]:
    marks = ",".join("?" for _ in _STATES)
    columns = ", ".join("sum(CASE WHEN r.state = ? THEN r.seconds END), sum(CASE WHEN r.state = ? THEN r.entered END)"
                        for _ in _STATES)
    pivot = [s for s in _STATES for _ in (0, 1)]
    cur = conn.execute(f"SELECT p.period, r.agent, {columns}, count(CASE WHEN r.state NOT IN ({marks}) THEN 1 END) "
                       f"{source} GROUP BY p.period, r.agent ORDER BY p.period, r.agent", [*pivot, *_STATES, *args])
    rows = cur.fetchall()
    out: list[dict[str, Any]] = []
    if all(r[-1] == 0 for r in rows):
        for r in rows:
            states, entered, total = {}, {}, 0.0
            for i, state in enumerate(_STATES):
                seconds = r[2 + 2 * i]
                if seconds is not None:
                    states[state] = round(seconds, 3)
                    entered[state] = r[3 + 2 * i]
                    total += seconds
            out.append({"period": r[0], "agent": r[1], "states": states, "entered": entered, "total": total})
        return out
    merged: dict[tuple[int, str], dict[str, Any]] = {}
    for r in _rows(conn, f"SELECT p.period, r.agent, r.state, sum(r.seconds) AS seconds, sum(r.entered) AS entered "
                         f"{source} GROUP BY p.period, r.agent, r.state ORDER BY p.period, r.agent, r.state", args):
        row = merged.setdefault((r["period"], r["agent"]), {"period": r["period"], "agent": r["agent"],
                                                          "states": {}, "entered": {}, "total": 0.0})
        row["states"][r["state"]] = round(r["seconds"], 3)
        row["entered"][r["state"]] = r["entered"]
        row["total"] += r["seconds"]
    return list(merged.values())


def run(conn: sqlite3.Connection, q: ReportQuery, zone: ZoneInfo, policy: ReportPolicy,
        groups: Mapping[str, str]) -> list[dict[str, Any]]:
    """The report's rows, oldest period first; `groups` maps agents to their work group (the groups report,
    and the agents of the state log)."""
    if q.kind in DETAIL_KINDS:
        return detail(conn, q, zone, policy, groups)
    install(conn)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS slot_period (slot INTEGER PRIMARY KEY, period INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.slot_period")
    start, end = int(q.start), int(q.end)
    # by day, week or month from midnight to midnight: the daily roll-ups, when cut in this zone (days.py)
    daily = (q.period in (Period.DAY, Period.WEEK, Period.MONTH) and days.zone_of(conn) == zone.key
             and days.midnight(start, zone) == start and days.midnight(end, zone) == end)
    slots = ([(d, period_start(d, q.period, zone)) for d in days.midnights(start, end, zone)] if daily
             else slot_periods(start, end, q.period, zone))
    conn.executemany("INSERT INTO temp.slot_period VALUES (?, ?)", slots)
    queue_t, agent_t, state_t, ivr_t = (days.day_table(t) if daily else t.name for t in (QUEUE, AGENT, AGENT_STATE, IVR))
    span = " WHERE r.slot >= ? AND r.slot < ?"
    args: list[Any] = [int(q.start), int(q.end)]
    join = "JOIN temp.slot_period p ON p.slot = r.slot"
    if q.kind is Kind.QUEUES:
        where, more = _in("r.queue", q.queues)
        rows = _rows(conn, f"SELECT p.period, r.queue, {_sums(QUEUE.sums, QUEUE.maxes)} FROM {queue_t} r {join}"
                           f"{span}{where} GROUP BY p.period, r.queue ORDER BY p.period, r.queue", args + more)
        out = [_queue_figures(r, policy) for r in rows]
    elif q.kind is Kind.AGENT_CALLS:
        where, more = _in("r.agent", q.agents)
        rows = _rows(conn, f"SELECT p.period, r.agent, {_sums(AGENT.sums, AGENT.maxes)} FROM {agent_t} r {join}"
                           f"{span}{where} GROUP BY p.period, r.agent ORDER BY p.period, r.agent", args + more)
        out = [_agent_figures(r) for r in rows]
    elif q.kind is Kind.GROUPS:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS agent_group (agent TEXT PRIMARY KEY, grp TEXT NOT NULL)")
        conn.execute("DELETE FROM temp.agent_group")
        conn.executemany("INSERT INTO temp.agent_group VALUES (?, ?)", sorted(groups.items()))
        where, more = _in("g.grp", q.groups)
        agents, more2 = _in("r.agent", q.agents)
        rows = _rows(conn, f"SELECT p.period, g.grp AS \"group\", count(DISTINCT r.agent) AS agents, "
                           f"{_sums(AGENT.sums, AGENT.maxes)} FROM {agent_t} r {join} "
                           f"JOIN temp.agent_group g ON g.agent = r.agent{span}{where}{agents} "
                           f"GROUP BY p.period, g.grp ORDER BY p.period, g.grp", args + more + more2)
        out = [_agent_figures(r) for r in rows]
    elif q.kind is Kind.AGENT_STATES:
        where, more = _in("r.agent", q.agents)
        out = _agent_states(conn, f"FROM {state_t} r {join}{span}{where}", args + more)
    else:
        where, more = _in("r.flow", q.flows)
        rows = _rows(conn, f"SELECT p.period, r.flow, r.node, {_sums(IVR.sums, ())} FROM {ivr_t} r {join}"
                           f"{span}{where} GROUP BY p.period, r.flow, r.node ORDER BY p.period, r.flow, r.node",
                     args + more)
        out = [_ivr_figures(r) for r in rows]
    labels: dict[int, str] = {}  # one per period, not per row (a three-year report by day has 100,000 rows)
    return [{"period_start": r["period"],
             "period_label": labels.get(r["period"]) or labels.setdefault(r["period"], label(r["period"], zone)),
             **{k: v for k, v in _rounded(r).items() if k != "period"}} for r in out]
