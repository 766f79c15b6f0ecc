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

from appliance.reports.models import Basis, Kind, ReportPolicy, ReportQuery
from appliance.reports.periods import label, slot_periods
from appliance.reports.rollups import AGENT, IVR, QUEUE, install


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


def run(conn: sqlite3.Connection, q: ReportQuery, zone: ZoneInfo, policy: ReportPolicy,
        groups: Mapping[str, str]) -> list[dict[str, Any]]:
    """The report's rows, oldest period first; `groups` maps agents to their work group (the groups report)."""
    install(conn)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS slot_period (slot INTEGER PRIMARY KEY, period INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.slot_period")
    conn.executemany("INSERT INTO temp.slot_period VALUES (?, ?)", slot_periods(int(q.start), int(q.end), q.period,
                                                                               zone))
    span = " WHERE r.slot >= ? AND r.slot < ?"
    args: list[Any] = [int(q.start), int(q.end)]
    join = "JOIN temp.slot_period p ON p.slot = r.slot"
    if q.kind is Kind.QUEUES:
        where, more = _in("r.queue", q.queues)
        rows = _rows(conn, f"SELECT p.period, r.queue, {_sums(QUEUE.sums, QUEUE.maxes)} FROM {QUEUE.name} r {join}"
                           f"{span}{where} GROUP BY p.period, r.queue ORDER BY p.period, r.queue", args + more)
        out = [_queue_figures(r, policy) for r in rows]
    elif q.kind is Kind.AGENT_CALLS:
        where, more = _in("r.agent", q.agents)
        rows = _rows(conn, f"SELECT p.period, r.agent, {_sums(AGENT.sums, AGENT.maxes)} FROM {AGENT.name} r {join}"
                           f"{span}{where} GROUP BY p.period, r.agent ORDER BY p.period, r.agent", args + more)
        out = [_agent_figures(r) for r in rows]
    elif q.kind is Kind.GROUPS:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS agent_group (agent TEXT PRIMARY KEY, grp TEXT NOT NULL)")
        conn.execute("DELETE FROM temp.agent_group")
        conn.executemany("INSERT INTO temp.agent_group VALUES (?, ?)", sorted(groups.items()))
        where, more = _in("g.grp", q.groups)
        agents, more2 = _in("r.agent", q.agents)
        rows = _rows(conn, f"SELECT p.period, g.grp AS \"group\", count(DISTINCT r.agent) AS agents, "
                           f"{_sums(AGENT.sums, AGENT.maxes)} FROM {AGENT.name} r {join} "
                           f"JOIN temp.agent_group g ON g.agent = r.agent{span}{where}{agents} "
                           f"GROUP BY p.period, g.grp ORDER BY p.period, g.grp", args + more + more2)
        out = [_agent_figures(r) for r in rows]
    elif q.kind is Kind.AGENT_STATES:
        where, more = _in("r.agent", q.agents)
        rows = _rows(conn, f"SELECT p.period, r.agent, r.state, sum(r.seconds) AS seconds, sum(r.entered) AS entered "
                           f"FROM report_agent_state_hh r {join}{span}{where} "
                           f"GROUP BY p.period, r.agent, r.state ORDER BY p.period, r.agent, r.state", args + more)
        merged: dict[tuple[int, str], dict[str, Any]] = {}
        for r in rows:
            row = merged.setdefault((r["period"], r["agent"]), {"period": r["period"], "agent": r["agent"],
                                                              "states": {}, "entered": {}, "total": 0.0})
            row["states"][r["state"]] = round(r["seconds"], 3)
            row["entered"][r["state"]] = r["entered"]
            row["total"] += r["seconds"]
        out = list(merged.values())
    else:
        where, more = _in("r.flow", q.flows)
        rows = _rows(conn, f"SELECT p.period, r.flow, r.node, {_sums(IVR.sums, ())} FROM {IVR.name} r {join}"
                           f"{span}{where} GROUP BY p.period, r.flow, r.node ORDER BY p.period, r.flow, r.node",
                     args + more)
        out = [_ivr_figures(r) for r in rows]
    return [{"period_start": r["period"], "period_label": label(r["period"], zone),
             **{k: v for k, v in _rounded(r).items() if k != "period"}} for r in out]
