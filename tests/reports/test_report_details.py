"""The detail lists (queue-calls 队列等待明细, agent-state-log 座席状态明细, ivr-journeys IVR明细) over the known day
of `day.py`: each row the API gives is checked against the same row rebuilt from the raw logs in plain Python
(walking the logs in order, not the SQL's look-ups), and the lists' counts and sums against the statistics
reports of the same range, so a detail list and its report never disagree."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.reports.models import ReportPolicy
from tests.api_client import Client
from tests.calls.test_http import login_as
from tests.reports import expected as X
from tests.reports.day import run_day
from tests.reports.test_report_day import POLICY, TARGETS, report

ZONE = ZoneInfo("Asia/Shanghai")
DAY = "2023-11-15"
OUTCOME = {"answered": "answered", "abandoned": "abandoned"}


def queue_calls(raw: X.Raw) -> dict[tuple[str, str, float], dict[str, Any]]:
    """Each entry into a queue, walking the queue log in order: a `queued` line opens it, the call's next
    answer, abandon or overflow in that queue closes it; an overflow with nothing open was refused at entry."""
    out: dict[tuple[str, str, float], dict[str, Any]] = {}
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    for r in raw.queue_log:
        key = (r["call_id"], r["queue"])
        if r["event"] == "queued":
            open_[key] = {"entered": r["at"], "outcome": "waiting", "wait": None, "agent": None,
                          "caller": r["data"]["caller"]}
            if raw.start <= r["at"] < raw.end:
                out[(*key, r["at"])] = open_[key]
        elif r["event"] in ("answered", "abandoned", "overflowed"):
            row = open_.pop(key, None)
            if row is None:  # refused at entry
                row = {"entered": r["at"], "caller": ""}
                if raw.start <= r["at"] < raw.end:
                    out[(*key, r["at"])] = row
            wait = r["at"] - row["entered"]
            if r["event"] == "overflowed":
                outcome = "timed_out" if r["data"]["reason"] == "max_wait" else "overflowed"
            elif r["event"] == "abandoned" and wait < POLICY["short_abandon_s"]:
                outcome = "short_abandoned"
            else:
                outcome = r["event"]
            row.update(outcome=outcome, wait=wait, agent=r["agent"] if r["event"] == "answered" else None)
    return out


def state_log(raw: X.Raw) -> dict[tuple[str, float, str], dict[str, Any]]:
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in raw.agent_log:
        by_agent[r["agent"]].append(r)
    out = {}
    for agent, lines in by_agent.items():
        for here, nxt in zip(lines, [*lines[1:], None], strict=True):
            if raw.start <= here["at"] < raw.end:
                out[(agent, here["at"], here["state_to"])] = {"state": here["state_to"], "reason": here["reason"],
                                            "until": nxt["at"] if nxt else None,
                                            "duration": nxt["at"] - here["at"] if nxt else None}
    return out


def journeys(raw: X.Raw) -> dict[tuple[str, float], dict[str, Any]]:
    return {(r["call_id"], r["data"]["started_at"]): r["data"] for r in raw.ivr
            if r["event"] == "ended" and raw.start <= r["data"]["started_at"] < raw.end}


@pytest.mark.slow
async def test_detail_lists_agree_with_the_raw_logs_and_the_reports(admin: Client, tmp_path: Path) -> None:
    assert (await admin.call("PATCH", "/api/v1/settings", {"time_zone": "Asia/Shanghai"}))[0] == 200
    status, policy = await admin.call("PATCH", "/api/v1/reports/settings", POLICY)
    assert status == 200, policy
    records = admin.appliance.core.records
    start = datetime(2023, 11, 15, 8, 50, tzinfo=ZONE).timestamp()
    await asyncio.to_thread(run_day, tmp_path / "harness", records.path, start, ReportPolicy.parse(policy),
                            work_hours_at=900)
    first, end = X.local_day(DAY, ZONE)
    raw = X.Raw(records, first, end)

    # queue waiting detail
    data = await report(admin, "queue-calls", first, end, "hour")
    assert data["header"]["service_level"]["support"] == {"target_s": 10.0, "basis": "answered"}
    want = queue_calls(raw)
    got = {(r["call_id"], r["queue"], r["entered"]): r for r in data["rows"]}
    assert set(got) == set(want) and len(got) == len(data["rows"])
    for key, row in got.items():
        w = want[key]
        assert (row["outcome"], row["agent"]) == (w["outcome"], w["agent"]), key
        assert row["wait"] == (None if w["wait"] is None else pytest.approx(w["wait"], abs=1e-3)), key
        if w["caller"]:
            assert row["caller"] == w["caller"]
        if row["outcome"] == "answered":
            assert row["in_service_level"] == (w["wait"] <= TARGETS[key[1]])
        assert X.key_of_label(row["period_label"], "hour") == X.key_at(row["entered"], "hour", ZONE)
    assert {r["outcome"] for r in got.values()} >= {"answered", "abandoned", "short_abandoned", "timed_out",
                                                    "overflowed"}
    stats = (await report(admin, "queues", first, end, "day"))["rows"]
    for s in stats:
        mine = [r for r in got.values() if r["queue"] == s["queue"]]
        counts = Counter(r["outcome"] for r in mine)
        assert len(mine) == s["queued"]
        for name in ("answered", "abandoned", "short_abandoned", "timed_out", "overflowed"):
            assert counts[name] == s[name], (s["queue"], name)
        assert sum(r["wait"] or 0 for r in mine) == pytest.approx(s["wait_total"], abs=1e-2)
        assert sum(1 for r in mine if r["in_service_level"]) == s["answered_in_sl"]
    only = await report(admin, "queue-calls", first, end, "day", queue="support")
    assert only["rows"] and {r["queue"] for r in only["rows"]} == {"support"}

    # agent state detail
    data = await report(admin, "agent-state-log", first, end, "half_hour")
    want_states = state_log(raw)
    got_states = {(r["agent"], r["since"], r["state"]): r for r in data["rows"]}  # a 0 s state shares its time
    assert set(got_states) == set(want_states) and len(got_states) == len(data["rows"])
    for skey, row in got_states.items():
        w = want_states[skey]
        assert (row["state"], row["reason"]) == (w["state"], w["reason"]), skey
        assert row["until"] == (None if w["until"] is None else pytest.approx(w["until"], abs=1e-3))
        assert row["duration"] == (None if w["duration"] is None else pytest.approx(w["duration"], abs=1e-2))
    assert {"paused", "idle", "on_call", "logged_out"} <= {r["state"] for r in got_states.values()}
    assert {r["reason"] for r in got_states.values() if r["state"] == "paused"} >= {"1", "4", "2"}
    states = (await report(admin, "agent-states", first, end, "day"))["rows"]
    for s in states:  # every state that began and ended within the day was entered once
        began = Counter(r["state"] for r in got_states.values() if r["agent"] == s["agent"]
                       and r["until"] is not None and r["until"] < end and r["state"] != "logged_out")
        assert began == Counter({k: v for k, v in s["entered"].items() if v}), s["agent"]

    # IVR detail
    data = await report(admin, "ivr-journeys", first, end, "day")
    want_ivr = journeys(raw)
    got_ivr = {(r["call_id"], r["started"]): r for r in data["rows"]}
    assert set(got_ivr) == set(want_ivr) and len(got_ivr) == len(data["rows"])
    for jkey, row in got_ivr.items():
        w = want_ivr[jkey]
        assert (row["entry_flow"], row["exit_reason"], row["path"], row["keys"]) == (
            w["entry_flow"], w["exit_reason"], list(w["path"]), w["keys"]), jkey
        assert row["duration"] == pytest.approx(w["duration"], abs=1e-3)
    flows = {r["flow"]: r for r in (await report(admin, "ivr", first, end, "day"))["rows"] if r["node"] == ""}
    for flow, s in flows.items():
        mine = [r for r in got_ivr.values() if r["entry_flow"] == flow]
        assert len(mine) == s["ended"]
        assert sum(r["duration"] for r in mine) == pytest.approx(s["duration_total"], abs=1e-2)
        outcomes = Counter(r["outcome"] for r in mine)
        assert (outcomes["self_served"], outcomes["abandoned"], outcomes["to_agent"]) == (
            s["self_served"], s["abandoned"], s["to_agent"]), flow
    assert any(len(r["path"]) > 1 for r in got_ivr.values())

    # who sees what, and the range limit
    token = await login_as(admin, "agent1001", "agent", staff="1001")
    mine_only = await report(admin, "agent-state-log", first, end, "day", token=token)
    assert mine_only["rows"] and {r["agent"] for r in mine_only["rows"]} == {"1001"}
    for kind in ("queue-calls", "ivr-journeys"):
        status, _ = await admin.call("GET", f"/api/v1/reports/{kind}?from={int(first)}&to={int(end)}", token=token)
        assert status == 403
    status, err = await admin.call("GET", f"/api/v1/reports/queue-calls?from={int(first)}&to={int(first) + 40 * 86400}")
    assert status == 400 and err["details"]["fields"][0]["field"] == "to"
