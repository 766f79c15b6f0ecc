"""A known day through the real call control, ACD, IVR and journal; every report figure the API returns, for
each period size, checked against the same figure computed from the raw logs in plain Python
(`expected.py`) — in Asia/Shanghai (a call before work hours goes to the off-hours flow) and in
America/New_York on the Sunday the clocks go back (made a working day, so it is routed to the queues), whose
day has 25 hours and whose 01:00 hour comes twice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.reports.models import ReportPolicy
from tests.api_client import Client
from tests.calls.test_http import login_as
from tests.reports import expected as X
from tests.reports.day import run_day

PERIODS = ("half_hour", "hour", "day", "week", "month")
POLICY = {"short_abandon_s": 5, "service_level": {"target_s": 20, "basis": "offered"},
          "queues": {"support": {"target_s": 10, "basis": "answered"}}}
TARGETS = {"sales": 20.0, "support": 10.0}
QUEUE_SUMS = ("queued", "short_abandoned", "answered", "answered_in_sl", "abandoned", "timed_out", "overflowed",
              "waited", "wait_total", "wait_max", "completed", "talk_total", "hold_total", "long_calls")
AGENT_SUMS = ("offered", "missed", "answered", "completed", "talk_total", "hold_total", "talk_max",
              "complete_agent", "complete_caller", "transferred", "long_calls")
IVR_SUMS = ("entries", "visits", "ended", "duration_total", "self_served", "to_agent", "external", "voicemail",
            "abandoned", "failed")


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def avg(total: float, count: float) -> float | None:
    return round(total / count, 3) if count else None


def same(got: dict[str, Any], want: dict[str, float], names: tuple[str, ...], where: str) -> None:
    for name in names:
        assert got[name] == pytest.approx(want.get(name, 0.0), abs=1e-3), f"{where}: {name}"


async def report(client: Client, kind: str, start: float, end: float, period: str, token: str | None = None,
                 **more: str) -> dict[str, Any]:
    query = "&".join([f"from={int(start)}", f"to={int(end)}", f"period={period}",
                      *(f"{k}={v}" for k, v in more.items())])
    status, data = await client.call("GET", f"/api/v1/reports/{kind}?{query}", token=token)
    assert status == 200, data
    return dict(data)


async def check_day(admin: Client, tmp_path: Path, zone_name: str, day: str, start: float, **day_kw: Any) -> None:
    zone = ZoneInfo(zone_name)
    status, _ = await admin.call("PATCH", "/api/v1/settings", {"time_zone": zone_name})
    assert status == 200
    status, policy = await admin.call("PATCH", "/api/v1/reports/settings", POLICY)
    assert status == 200, policy
    records = admin.appliance.core.records
    await asyncio.to_thread(run_day, tmp_path / "harness", records.path, start, ReportPolicy.parse(policy), **day_kw)
    first, end = X.local_day(day, zone)
    raw = X.Raw(records, first, end)
    assert {r["event"] for r in raw.queue_log} >= {"queued", "answered", "abandoned", "overflowed", "returned",
                                                   "complete_caller", "complete_agent", "transfer"}
    talks = [float(r["data"]["talk"]) for r in raw.queue_log if r["event"].startswith("complete_")]
    assert min(talks) < X.LONG_CALL_S < max(talks)  # the day has calls on both sides of the 15 s line
    names_seen = 0
    for period in PERIODS:
        data = await report(admin, "queues", first, end, period)
        assert data["time_zone"] == zone_name and data["header"]["short_abandon_s"] == 5
        assert data["header"]["service_level"]["support"] == {"target_s": 10.0, "basis": "answered"}
        want = X.queues(raw, period, zone, 5.0, TARGETS)
        got = {(X.key_of_label(r["period_label"], period), r["queue"]): r for r in data["rows"]}
        assert set(got) == set(want), period
        for key, row in got.items():
            w = want[key]
            same(row, w, QUEUE_SUMS, f"{period} {key}")
            offered = w["queued"] - w["short_abandoned"]
            base = offered if key[1] == "sales" else w["answered"]
            assert row["offered"] == offered
            assert row["service_level"] == ratio(w["answered_in_sl"], base)
            assert row["abandon_rate"] == ratio(w["abandoned"], offered)
            assert row["timeout_rate"] == ratio(w["timed_out"], offered)
            assert row["avg_wait"] == pytest.approx(avg(w["wait_total"], w["waited"]))
            assert row["avg_talk"] == pytest.approx(avg(w["talk_total"], w["completed"]))
            names_seen += 1

        data = await report(admin, "agent-calls", first, end, period)
        want = X.agents(raw, period, zone)
        got = {(X.key_of_label(r["period_label"], period), r["agent"]): r for r in data["rows"]}
        assert set(got) == set(want), period
        for key, row in got.items():
            same(row, want[key], AGENT_SUMS, f"{period} {key}")
            assert row["answer_rate"] == ratio(want[key]["answered"], want[key]["offered"])

        data = await report(admin, "groups", first, end, period)
        groups: dict[Any, dict[str, float]] = {}
        team = {"1001": "sales-team", "1002": "sales-team", "1003": "sales-team", "1004": "support-team"}
        for (key, agent), figures in want.items():
            g = groups.setdefault((key, team[agent]), dict.fromkeys(AGENT_SUMS, 0.0))
            for name in AGENT_SUMS:
                v = figures.get(name, 0.0)
                g[name] = max(g[name], v) if name == "talk_max" else g[name] + v
        got = {(X.key_of_label(r["period_label"], period), r["group"]): r for r in data["rows"]}
        assert set(got) == set(groups), period
        for key, row in got.items():
            same(row, groups[key], AGENT_SUMS, f"{period} {key}")

        data = await report(admin, "agent-states", first, end, period)
        want = X.agent_states(raw, period, zone)
        got = {(X.key_of_label(r["period_label"], period), r["agent"]): r for r in data["rows"]}
        assert set(got) == set(want), period
        for key, row in got.items():
            seconds = {k: v for k, v in want[key].items() if not k.startswith("entered:") and v}
            assert row["states"].keys() >= seconds.keys()
            for state, value in row["states"].items():
                assert value == pytest.approx(seconds.get(state, 0.0), abs=1e-3), f"{period} {key} {state}"
            assert {s: n for s, n in row["entered"].items() if n} == {
                k.removeprefix("entered:"): v for k, v in want[key].items() if k.startswith("entered:")}

        data = await report(admin, "ivr", first, end, period)
        want_ivr = X.ivr(raw, period, zone)
        got_ivr = {(X.key_of_label(r["period_label"], period), r["flow"], r["node"]): r for r in data["rows"]}
        assert set(got_ivr) == set(want_ivr), period
        for k3, row in got_ivr.items():
            same(row, want_ivr[k3], IVR_SUMS, f"{period} {k3}")
    assert names_seen > 5
    return None


async def test_a_day_in_shanghai(admin: Client, tmp_path: Path) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    from datetime import datetime
    start = datetime(2023, 11, 15, 8, 50, tzinfo=zone).timestamp()  # a Wednesday; work hours from 09:00
    await check_day(admin, tmp_path, "Asia/Shanghai", "2023-11-15", start, work_hours_at=900)
    first, end = X.local_day("2023-11-15", zone)
    day = await report(admin, "queues", first, end, "day")
    assert [r["period_label"] for r in day["rows"]] == ["2023-11-15T00:00:00+08:00"] * 2
    ivr = await report(admin, "ivr", first, end, "day")
    flows = {r["flow"]: r for r in ivr["rows"] if r["node"] == ""}
    # ten calls through the menu (one hung up there), one out of hours, one survey after the agent left (the caller hung up in it)
    assert {f: (r["entries"], r["abandoned"]) for f, r in flows.items()} == {
        "main": (11, 1), "off_hours": (1, 0), "survey": (1, 1)}, flows


async def test_the_day_the_clocks_go_back_in_new_york(admin: Client, tmp_path: Path) -> None:
    zone = ZoneInfo("America/New_York")
    from datetime import datetime
    start = datetime(2024, 11, 3, 0, 20, tzinfo=zone).timestamp()  # 01:00-02:00 comes twice this night
    await check_day(admin, tmp_path, "America/New_York", "2024-11-03", start, special_workday="2024-11-03")
    first, end = X.local_day("2024-11-03", zone)
    assert end - first == 25 * 3600
    hours = await report(admin, "agent-states", first, end, "hour")
    labels = sorted({r["period_label"] for r in hours["rows"]})
    assert "2024-11-03T01:00:00-04:00" in labels and "2024-11-03T01:00:00-05:00" in labels


async def test_bad_parameters_name_the_field_and_agents_see_their_own(admin: Client) -> None:
    cases = {"?from=0&to=1800&period=fortnight": "period", "?from=x&to=1800": "from", "?from=0&to=100": "to",
             "?to=1800": "from", "?from=3600&to=1800": "to"}
    for query, name in cases.items():
        status, data = await admin.call("GET", f"/api/v1/reports/queues{query}")
        assert status == 400 and [f["field"] for f in data["details"]["fields"]] == [name], (query, data)
    status, data = await admin.call("GET", "/api/v1/reports/nothing?from=0&to=1800")
    assert status == 400 and data["details"]["fields"][0]["field"] == "kind"
    token = await login_as(admin, "agent1001", "agent", staff="1001")
    status, _ = await admin.call("GET", "/api/v1/reports/queues?from=0&to=1800", token=token)
    assert status == 403
    status, _ = await admin.call("GET", "/api/v1/reports/agent-calls?from=0&to=1800&agent=1002", token=token)
    assert status == 403
    status, data = await admin.call("GET", "/api/v1/reports/agent-calls?from=0&to=1800", token=token)
    assert status == 200 and data["rows"] == []
    status, doc = await admin.call("GET", "/api/v1/openapi.json")
    assert status == 200 and "/api/v1/reports/{kind}" in doc["paths"]
