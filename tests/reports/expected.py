"""Every report figure computed again from the raw logs (queue log, agent log, IVR journeys, CDRs) in plain
Python, by the definitions of docs/REPORTS.md and without the roll-ups or the SQL: the talk and hold of each
agent come from the CDR's agent legs (not from the queue log's completion lines), and periods are named by
their local calendar fields (the hour with its UTC offset, so the hour that repeats when the clocks go back
is two hours) instead of epoch seconds."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from appliance.records.sqlite_store import RecordStore

Key = tuple[Any, ...]
LONG_CALL_S = 15.0  # seed 004: the calls talked over 15 s


def period_key(local: datetime, period: str) -> Key:
    if period == "half_hour":
        return (local.date(), local.hour, local.minute // 30, local.utcoffset())
    if period == "hour":
        return (local.date(), local.hour, local.utcoffset())
    if period == "day":
        return (local.date(),)
    if period == "week":
        return tuple(local.isocalendar()[:2])
    return (local.year, local.month)


def key_at(at: float, period: str, zone: ZoneInfo) -> Key:
    return period_key(datetime.fromtimestamp(at, zone), period)


def key_of_label(label: str, period: str) -> Key:
    return period_key(datetime.fromisoformat(label), period)


def _split(start: float, end: float, period: str, zone: ZoneInfo) -> list[tuple[Key, float]]:
    """[start, end) cut where the period changes, found by walking minute by minute (periods start on whole
    minutes), each piece with its period."""
    pieces: list[tuple[Key, float]] = []
    t = start
    while t < end:
        key = key_at(t, period, zone)
        nxt = min(end, (int(t // 60) + 1) * 60.0)
        while nxt < end and key_at(nxt, period, zone) == key:
            nxt = min(end, nxt + 60.0)
        pieces.append((key, nxt - t))
        t = nxt
    return pieces


class Raw:
    def __init__(self, records: RecordStore, start: float, end: float) -> None:
        big = 1_000_000
        self.queue_log = list(records.rows("queue_log", limit=big).items)
        self.agent_log = list(records.rows("agent_log", limit=big).items)
        self.ivr = list(records.rows("ivr_journey", limit=big).items)
        self.cdrs = list(records.cdrs(limit=big).items)
        self.start, self.end = start, end

    def entered(self, call_id: str, queue: str, at: float) -> float | None:
        times = [r["at"] for r in self.queue_log
                 if r["call_id"] == call_id and r["queue"] == queue and r["event"] == "queued" and r["at"] <= at]
        return max(times) if times else None

    def segments(self) -> list[dict[str, Any]]:
        """Each agent's part of a queue call, from the CDRs."""
        out = []
        for cdr in self.cdrs:
            legs = sorted((leg for leg in cdr["legs"] if leg["role"] == "agent" and leg.get("answered") is not None),
                          key=lambda leg: leg["answered"])
            caller_left = max((leg["ended"] or 0.0 for leg in cdr["legs"] if leg["role"] == "caller"), default=0.0)
            for i, leg in enumerate(legs):
                queues = [r["queue"] for r in self.queue_log if r["call_id"] == cdr["call_id"]
                          and r["event"] == "answered" and r["agent"] == leg["agent"]]
                if not queues:
                    continue
                last = i == len(legs) - 1
                hold = cdr["hold"] if last else 0.0
                ended = leg["ended"] or cdr["ended"]
                if not last:
                    by = "transfer"
                elif ended < caller_left or cdr["hangup_side"] == "agent":
                    by = "agent"
                else:
                    by = "caller" if cdr["hangup_side"] == "caller" else "system"
                out.append({"call_id": cdr["call_id"], "agent": leg["agent"], "queue": queues[-1],
                            "answered": leg["answered"], "talk": ended - leg["answered"] - hold, "hold": hold,
                            "by": by})
        return out


def _zero() -> dict[str, float]:
    return defaultdict(float)


def queues(raw: Raw, period: str, zone: ZoneInfo, short_abandon_s: float,
           targets: dict[str, float]) -> dict[tuple[Key, str], dict[str, float]]:
    out: dict[tuple[Key, str], dict[str, float]] = defaultdict(_zero)
    for r in raw.queue_log:
        if r["event"] == "queued":
            if raw.start <= r["at"] < raw.end:
                out[(key_at(r["at"], period, zone), r["queue"])]["queued"] += 1
            continue
        if r["event"] not in ("answered", "abandoned", "overflowed"):
            continue
        entered = raw.entered(r["call_id"], r["queue"], r["at"])
        fig = None
        if entered is None:
            entered = r["at"]
            if raw.start <= entered < raw.end:
                fig = out[(key_at(entered, period, zone), r["queue"])]
                fig["queued"] += 1
        if not raw.start <= entered < raw.end:
            continue
        fig = fig or out[(key_at(entered, period, zone), r["queue"])]
        wait = r["at"] - entered
        fig["waited"] += 1
        fig["wait_total"] += wait
        fig["wait_max"] = max(fig["wait_max"], wait)
        if r["event"] == "answered":
            fig["answered"] += 1
            fig["answered_in_sl"] += wait <= targets[r["queue"]]
        elif r["event"] == "abandoned":
            fig["short_abandoned" if wait < short_abandon_s else "abandoned"] += 1
        else:
            fig["timed_out" if r["data"]["reason"] == "max_wait" else "overflowed"] += 1
    for s in raw.segments():
        entered = raw.entered(s["call_id"], s["queue"], s["answered"])
        assert entered is not None
        if raw.start <= entered < raw.end:
            fig = out[(key_at(entered, period, zone), s["queue"])]
            fig["completed"] += 1
            fig["talk_total"] += s["talk"]
            fig["hold_total"] += s["hold"]
            fig["long_calls"] += s["talk"] > LONG_CALL_S
    return out


def agents(raw: Raw, period: str, zone: ZoneInfo) -> dict[tuple[Key, str], dict[str, float]]:
    out: dict[tuple[Key, str], dict[str, float]] = defaultdict(_zero)
    for r in raw.queue_log:
        if r["event"] in ("offered", "returned", "answered") and raw.start <= r["at"] < raw.end:
            name = {"offered": "offered", "returned": "missed", "answered": "answered"}[r["event"]]
            for agent in r["agent"].split(","):
                out[(key_at(r["at"], period, zone), agent)][name] += 1
    for s in raw.segments():
        if raw.start <= s["answered"] < raw.end:
            fig = out[(key_at(s["answered"], period, zone), s["agent"])]
            fig["completed"] += 1
            fig["talk_total"] += s["talk"]
            fig["hold_total"] += s["hold"]
            fig["talk_max"] = max(fig["talk_max"], s["talk"])
            fig["long_calls"] += s["talk"] > LONG_CALL_S
            fig[{"agent": "complete_agent", "caller": "complete_caller", "transfer": "transferred"}.get(
                s["by"], "complete_system")] += 1
    return out


def agent_states(raw: Raw, period: str, zone: ZoneInfo) -> dict[tuple[Key, str], dict[str, float]]:
    out: dict[tuple[Key, str], dict[str, float]] = defaultdict(_zero)
    for r in raw.agent_log:
        if r["state_from"] == "logged_out":
            continue
        start = r["at"] - r["data"]["duration"]
        if raw.start <= start < raw.end:
            out[(key_at(start, period, zone), r["agent"])][f"entered:{r['state_from']}"] += 1
        for key, seconds in _split(max(start, raw.start), min(r["at"], raw.end), period, zone):
            out[(key, r["agent"])][r["state_from"]] += seconds
    return out


def ivr(raw: Raw, period: str, zone: ZoneInfo) -> dict[tuple[Key, str, str], dict[str, float]]:
    out: dict[tuple[Key, str, str], dict[str, float]] = defaultdict(_zero)
    outcomes = {"self_served": "self_served", "transferred_to_agent": "to_agent", "transferred_external": "external",
                "voicemail": "voicemail", "abandoned": "abandoned", "failed": "failed"}
    for r in raw.ivr:
        if r["event"] == "started" and raw.start <= r["at"] < raw.end:
            out[(key_at(r["at"], period, zone), r["flow"], "")]["entries"] += 1
        elif r["event"] == "node_entered" and raw.start <= r["at"] < raw.end:
            out[(key_at(r["at"], period, zone), r["flow"], r["node"])]["visits"] += 1
        elif r["event"] == "ended" and raw.start <= r["data"]["started_at"] < raw.end:
            key = key_at(r["data"]["started_at"], period, zone)
            fig = out[(key, r["data"]["entry_flow"], "")]
            fig["ended"] += 1
            fig["duration_total"] += r["data"]["duration"]
            outcome = outcomes.get(r["data"]["exit_reason"])
            if outcome:
                fig[outcome] += 1
            if outcome == "abandoned":
                out[(key, r["flow"], r["node"])]["abandoned"] += 1
    return out


def local_day(day: str, zone: ZoneInfo) -> tuple[float, float]:
    d = datetime.fromisoformat(day).date()
    nxt = d + timedelta(days=1)
    return (datetime(d.year, d.month, d.day, tzinfo=zone).timestamp(),
            datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp())
