"""Reports (报表): today's figures (`/reports`) and a page per report of `GET /api/v1/reports/{kind}`
(`/reports/{kind}`): queue, agent call, agent state, work group and IVR statistics by half-hour, hour, day,
week or month, and the detail lists of queue calls, agent states and IVR journeys.

A page takes the API's own query (`from`, `to`, `period`, `queue`, `agent`, `group`, `flow`), read and
narrowed to the viewer's data scope by the same functions the API uses (`appliance.reports.http.query_of`
and `scoped`), runs the report through the same service, and draws its rows (sorted and paged here), the
report's definitions (service-level targets and basis, short-abandon threshold, time zone), a chart of the
whole range (ECharts, SVG renderer, in `reports.js`) and links to the export of the same query. The filters
are a plain GET form, so every page is a shareable address and works from the keyboard.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect

from appliance.auth.models import ANY_ROLE
from appliance.domain.models import Role
from appliance.errors import ApplianceError, Forbidden
from appliance.reports.definitions import DETAIL_KINDS
from appliance.reports.http import query_of, scoped
from appliance.reports.models import Kind, Period, Report, ReportQuery
from appliance.reports.periods import slot_periods
from web_ui.i18n import N_
from web_ui.pages.context import PageForbidden, Viewer, WebUi, render, viewer_of

PAGE_SIZE = 50
MAX_CHART_SLOTS = 2 * 24 * 92  # up to a quarter's half-hours the chart shows every period, quiet ones too
FILTERS = ("from", "to", "period", "queue", "agent", "group", "flow")
STATES = ("idle", "ringing", "on_call", "wrap_up", "paused", "disconnected")

TITLES = {Kind.QUEUES: N_("Queue statistics"), Kind.AGENT_CALLS: N_("Agent call statistics"),
          Kind.AGENT_STATES: N_("Agent state statistics"), Kind.GROUPS: N_("Work group statistics"),
          Kind.IVR: N_("IVR statistics"), Kind.QUEUE_CALLS: N_("Queue waiting detail"),
          Kind.AGENT_STATE_LOG: N_("Agent state detail"), Kind.IVR_JOURNEYS: N_("IVR detail")}
PERIODS = {Period.HALF_HOUR: N_("Half-hour"), Period.HOUR: N_("Hour"), Period.DAY: N_("Day"),
           Period.WEEK: N_("Week"), Period.MONTH: N_("Month")}
VALUES = {  # words for the values of text columns
    "idle": N_("Idle"), "ringing": N_("Ringing"), "on_call": N_("On a call"), "wrap_up": N_("Wrap-up"),
    "paused": N_("Busy"), "disconnected": N_("Phone unreachable"), "logged_out": N_("Logged out"),
    "answered": N_("Answered"), "abandoned": N_("Abandoned"), "short_abandoned": N_("Short abandon"),
    "timed_out": N_("Timed out"), "overflowed": N_("Overflowed"), "waiting": N_("Still waiting"),
    "self_served": N_("Self-served"), "to_agent": N_("To an agent"), "external": N_("To an outside number"),
    "voicemail": N_("Voicemail"), "failed": N_("Failed"), "system": N_("System")}


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    # int, sec (h:mm:ss), pct, text, value (a word of VALUES), name (an id), time, period, list, reason (a
    # state's: a pause code's name)
    fmt: str = "int"

    @property
    def numeric(self) -> bool:
        return self.fmt in ("int", "sec", "pct")


def _c(key: str, label: str, fmt: str = "int") -> Column:
    return Column(key, label, fmt)


_CALLS = (_c("offered", N_("Offered")), _c("answered", N_("Answered")), _c("missed", N_("Missed")),
          _c("answer_rate", N_("Answer rate"), "pct"), _c("completed", N_("Completed")),
          _c("talk_total", N_("Total talk time"), "sec"), _c("avg_talk", N_("Average talk time"), "sec"),
          _c("talk_max", N_("Longest talk"), "sec"), _c("hold_total", N_("Hold time"), "sec"),
          _c("complete_agent", N_("Ended by agent")), _c("complete_caller", N_("Ended by caller")),
          _c("transferred", N_("Transferred")))
COLUMNS: dict[Kind, tuple[Column, ...]] = {
    Kind.QUEUES: (_c("period_start", N_("Period"), "period"), _c("queue", N_("Queue"), "name"),
                  _c("queued", N_("Calls queued")), _c("offered", N_("Offered")), _c("answered", N_("Answered")),
                  _c("answered_in_sl", N_("Answered within target")),
                  _c("service_level", N_("Service level"), "pct"), _c("abandoned", N_("Abandoned")),
                  _c("short_abandoned", N_("Short abandons")), _c("abandon_rate", N_("Abandon rate"), "pct"),
                  _c("timed_out", N_("Timed out")), _c("timeout_rate", N_("Time-out rate"), "pct"),
                  _c("overflowed", N_("Overflowed")), _c("avg_wait", N_("Average wait"), "sec"),
                  _c("wait_max", N_("Longest wait"), "sec"), _c("talk_total", N_("Total talk time"), "sec"),
                  _c("avg_talk", N_("Average talk time"), "sec"), _c("hold_total", N_("Hold time"), "sec")),
    Kind.AGENT_CALLS: (_c("period_start", N_("Period"), "period"), _c("agent", N_("Agent"), "name"), *_CALLS),
    Kind.GROUPS: (_c("period_start", N_("Period"), "period"), _c("group", N_("Work group"), "name"),
                  _c("agents", N_("Agents")), *_CALLS),
    Kind.AGENT_STATES: (_c("period_start", N_("Period"), "period"), _c("agent", N_("Agent"), "name"),
                        _c("total", N_("Logged in"), "sec"),
                        *(_c(f"state_{s}", VALUES[s], "sec") for s in STATES),
                        _c("entered_paused", N_("Times busy"))),
    Kind.IVR: (_c("period_start", N_("Period"), "period"), _c("flow", N_("Flow"), "name"),
               _c("node", N_("Node"), "text"), _c("entries", N_("Entries")), _c("visits", N_("Visits")),
               _c("ended", N_("Ended")), _c("avg_duration", N_("Average time in IVR"), "sec"),
               _c("duration_total", N_("Time in IVR"), "sec"), _c("self_served", N_("Self-served")),
               _c("self_served_rate", N_("Self-service rate"), "pct"), _c("to_agent", N_("To an agent")),
               _c("external", N_("To an outside number")), _c("voicemail", N_("Voicemail")),
               _c("abandoned", N_("Abandoned")), _c("abandon_rate", N_("Abandon rate"), "pct"),
               _c("failed", N_("Failed"))),
    Kind.QUEUE_CALLS: (_c("entered", N_("Entered the queue"), "time"), _c("queue", N_("Queue"), "name"),
                       _c("caller", N_("Caller"), "text"), _c("outcome", N_("Outcome"), "value"),
                       _c("wait", N_("Wait"), "sec"), _c("agent", N_("Agent"), "name"),
                       _c("in_service_level", N_("Within target"), "bool"), _c("reason", N_("Reason"), "text"),
                       _c("call_id", N_("Call"), "text")),
    Kind.AGENT_STATE_LOG: (_c("since", N_("Began"), "time"), _c("agent", N_("Agent"), "name"),
                           _c("state", N_("State"), "value"), _c("reason", N_("Reason"), "reason"),
                           _c("until", N_("Until"), "time"), _c("duration", N_("Length"), "sec"),
                           _c("by", N_("Changed by"), "value")),
    Kind.IVR_JOURNEYS: (_c("started", N_("Started"), "time"), _c("caller", N_("Caller"), "text"),
                        _c("did", N_("Number dialled"), "text"), _c("entry_flow", N_("Flow"), "name"),
                        _c("duration", N_("Time in IVR"), "sec"), _c("path", N_("Path taken"), "list"),
                        _c("keys", N_("Keys"), "text"), _c("outcome", N_("Outcome"), "value"),
                        _c("last_node", N_("Last node"), "text"), _c("call_id", N_("Call"), "text")),
}
# what the chart of each report shows: (figure, label) summed per period, stacked; agent states in hours
CHART: dict[Kind, tuple[tuple[str, str], ...]] = {
    Kind.QUEUES: (("answered", N_("Answered")), ("abandoned", N_("Abandoned")), ("timed_out", N_("Timed out")),
                  ("overflowed", N_("Overflowed"))),
    Kind.AGENT_CALLS: (("answered", N_("Answered")), ("missed", N_("Missed"))),
    Kind.GROUPS: (("answered", N_("Answered")), ("missed", N_("Missed"))),
    Kind.AGENT_STATES: tuple((f"state_{s}", VALUES[s]) for s in STATES),
    Kind.IVR: (("self_served", N_("Self-served")), ("to_agent", N_("To an agent")), ("abandoned", N_("Abandoned")),
               ("voicemail", N_("Voicemail")), ("external", N_("To an outside number")), ("failed", N_("Failed"))),
}
# detail lists: rows counted per period by this column's value
CHART_BY = {Kind.QUEUE_CALLS: "outcome", Kind.AGENT_STATE_LOG: "state", Kind.IVR_JOURNEYS: "outcome"}
FILTER_OF = {Kind.QUEUES: ("queue",), Kind.QUEUE_CALLS: ("queue",), Kind.AGENT_CALLS: ("agent",),
             Kind.AGENT_STATES: ("agent",), Kind.AGENT_STATE_LOG: ("agent",), Kind.GROUPS: ("group",),
             Kind.IVR: ("flow",), Kind.IVR_JOURNEYS: ("flow",)}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def period_text(start: float, period: Period, zone: ZoneInfo) -> str:
    """A period as people name it; an hour's UTC offset is added on a day the clocks change (01:00 twice)."""
    local = datetime.fromtimestamp(start, zone)
    if period is Period.MONTH:
        return local.strftime("%Y-%m")
    if period is Period.WEEK:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d} ({local:%Y-%m-%d})"
    if period is Period.DAY:
        return local.strftime("%Y-%m-%d")
    text = local.strftime("%Y-%m-%d %H:%M")
    day = datetime(local.year, local.month, local.day, tzinfo=zone)
    if day.utcoffset() != (day + timedelta(days=1)).utcoffset():
        text += local.strftime(" (UTC%z)")
    return text


def local_input(at: float, zone: ZoneInfo) -> str:
    """A time as a datetime-local control shows it."""
    return datetime.fromtimestamp(at, zone).strftime("%Y-%m-%dT%H:%M")


def flatten(kind: Kind, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with nested figures spread into columns (agent states by state)."""
    if kind is not Kind.AGENT_STATES:
        return dict(row)
    out = {k: v for k, v in row.items() if k not in ("states", "entered")}
    for state in STATES:
        out[f"state_{state}"] = row["states"].get(state, 0.0)
    out["entered_paused"] = row["entered"].get("paused", 0)
    out["total"] = round(row["total"], 3)
    return out


class Cells:
    """Turns a value into what a cell shows, in the viewer's language."""

    def __init__(self, _: Callable[[str], str], zone: ZoneInfo, period: Period, names: Mapping[str, str],
                 pauses: Mapping[str, str] | None = None) -> None:
        self._, self.zone, self.period, self.names, self.pauses = _, zone, period, names, pauses or {}

    def text(self, column: Column, value: Any, row: Mapping[str, Any] | None = None) -> str:
        if value is None or value == "":
            return "—" if column.fmt in ("pct", "sec", "time", "bool") else ""
        fmt = column.fmt
        if fmt == "reason":
            paused = row is not None and row.get("state") == "paused"
            return self.pauses.get(str(value), str(value)) if paused else str(value)
        if fmt == "pct":
            return f"{float(value) * 100:.1f}%"
        if fmt == "sec":
            return duration(float(value))
        if fmt == "time":
            return datetime.fromtimestamp(float(value), self.zone).strftime("%Y-%m-%d %H:%M:%S")
        if fmt == "period":
            return period_text(float(value), self.period, self.zone)
        if fmt == "bool":
            return self._("Yes") if value else self._("No")
        if fmt == "value":
            word = VALUES.get(str(value))
            return self._(word) if word else str(value)
        if fmt == "name":
            return self.names.get(str(value), str(value))
        if fmt == "list":
            return " → ".join(str(v) for v in value)
        if fmt == "int" and isinstance(value, float):
            return f"{value:g}"
        return str(value)


def _sort_key(key: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    def of(row: dict[str, Any]) -> tuple[int, Any]:
        value = row.get(key)
        if value is None or value == "":
            return (1, 0)
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        return (0, value if isinstance(value, int | float) else str(value))
    return of


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Sorted on one column; empty values last either way."""
    present = [r for r in rows if r.get(key) not in (None, "")]
    empty = [r for r in rows if r.get(key) in (None, "")]
    return sorted(present, key=_sort_key(key), reverse=descending) + empty


def chart_of(kind: Kind, rows: list[dict[str, Any]], period: Period, zone: ZoneInfo,
             _: Callable[[str], str], span: tuple[float, float]) -> dict[str, Any]:
    """Series summed per period over every row of the report (not just the page shown), every period of the
    range on the axis (a trend shows its quiet hours as nothing, not as missing)."""
    periods = sorted({int(r["period_start"]) for r in rows})
    if (span[1] - span[0]) / 1800 <= MAX_CHART_SLOTS:
        periods = sorted({p for _slot, p in slot_periods(int(span[0]), int(span[1]), period, zone)} | set(periods))
    index = {p: i for i, p in enumerate(periods)}
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(periods))
    names: dict[str, str] = {}
    unit = _("Calls")
    if kind in CHART_BY:
        column = CHART_BY[kind]
        unit = _("States") if kind is Kind.AGENT_STATE_LOG else _("Calls")
        for r in rows:
            value = str(r.get(column) or "")
            sums[value][index[int(r["period_start"])]] += 1
            names[value] = _(VALUES[value]) if value in VALUES else value
    else:
        wanted = CHART[kind]
        for key, label in wanted:
            names[key] = _(label)
            sums[key]  # every series present, even when all zero
        for r in rows:
            if kind is Kind.IVR and r.get("node"):
                continue  # the flows as a whole, not their nodes twice
            for key, _label in wanted:
                sums[key][index[int(r["period_start"])]] += float(r.get(key) or 0)
        if kind is Kind.AGENT_STATES:
            unit = _("Hours")
            for key in sums:
                sums[key] = [round(v / 3600, 2) for v in sums[key]]
    return {"x": [period_text(p, period, zone) for p in periods], "unit": unit, "integer": kind is not Kind.AGENT_STATES,
            "series": [{"name": names[k], "data": v} for k, v in sums.items()]}


def staff_groups(ui: WebUi) -> dict[str, str]:
    return {str(s.employee_no): str(s.work_group or "") for s in ui.config.store.list("staff")}


def names_of(ui: WebUi, language: str) -> dict[str, str]:
    """Ids of queues, agents, work groups and flows → what people call them."""
    store = ui.config.store
    names: dict[str, str] = {}
    for kind in ("queues", "work_groups"):
        for item in store.list(kind):
            names[str(item.id)] = str(item.name)
    for s in store.list("staff"):
        names[str(s.employee_no)] = f"{s.name} ({s.employee_no})"
    return names


class Args:
    """The page's query with defaults filled in (today, by hour), as the API reads it."""

    def __init__(self, request: Request, zone: ZoneInfo, detail: bool) -> None:
        today = datetime.now(zone).date()
        self.values = {name: str(request.args.get(name) or "") for name in FILTERS}
        self.values["from"] = self.values["from"] or today.isoformat()
        self.values["to"] = self.values["to"] or (today + timedelta(days=1)).isoformat()
        self.values["period"] = self.values["period"] or (Period.DAY.value if detail else Period.HOUR.value)
        self.args = self.values  # what `query_of` reads (`.args.get`)

    def query(self, **more: str) -> str:
        return urlencode({k: v for k, v in {**self.values, **more}.items() if v})


def filter_choices(ui: WebUi, viewer: Viewer, kind: Kind) -> dict[str, list[tuple[str, str]]]:
    """What each filter may choose, within the viewer's scope."""
    store = ui.config.store
    scope = viewer.scope
    out: dict[str, list[tuple[str, str]]] = {}
    wanted = FILTER_OF[kind]
    if "queue" in wanted:
        out["queue"] = [(q.id, q.name) for q in store.list("queues")]
    if "agent" in wanted:
        out["agent"] = [(s.employee_no, f"{s.name} ({s.employee_no})") for s in store.list("staff")
                        if scope.sees_staff(str(s.employee_no), s.work_group)]
    if "group" in wanted:
        out["group"] = [(g.id, g.name) for g in store.list("work_groups") if scope.everyone or g.id in scope.work_groups]
    if "flow" in wanted:
        out["flow"] = [(f.name, f.name) for f in store.list("ivr_flows")]
    return out


async def run_report(ui: WebUi, viewer: Viewer, query: ReportQuery) -> Report:
    """The report as the API gives it to this viewer (same scope, same service); PageForbidden outside it."""
    assert ui.reports is not None
    groups = staff_groups(ui)
    try:
        query = scoped(query, viewer.session.role, viewer.scope, groups)
    except Forbidden:
        raise PageForbidden() from None
    staff = groups if query.kind in (Kind.GROUPS, Kind.AGENT_STATE_LOG) else None
    return await ui.reports.run(query, staff)


def header_of(report: Report, names: Mapping[str, str], _: Callable[[str], str]) -> list[tuple[str, str]]:
    """The report's definitions, as shown above its table (the short-abandon threshold where calls wait in
    queues: the queue reports and the agents', whose offers come from queues)."""
    lines = [(_("Time zone"), report.time_zone)]
    if report.kind not in (Kind.IVR, Kind.IVR_JOURNEYS, Kind.AGENT_STATES, Kind.AGENT_STATE_LOG):
        lines.append((_("Short abandon"), _("callers who hang up within %(s)s s are not counted as abandoned")
                      % {"s": f"{report.header['short_abandon_s']:g}"}))
    levels = report.header.get("service_level")
    if levels is not None:
        basis = {"offered": _("over calls offered"), "answered": _("over calls answered")}

        def level_text(level: Mapping[str, Any]) -> str:
            return _("answered within %(s)s s, %(basis)s") % {"s": f"{level['target_s']:g}",
                                                               "basis": basis[str(level["basis"])]}
        default = report.header.get("default_service_level")
        if default:
            lines.append((_("Service level (default)"), level_text(default)))
        for queue, level in levels.items():
            lines.append((_("Service level: %(queue)s") % {"queue": names.get(queue, queue)}, level_text(level)))
    return lines


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("report_pages", url_prefix="")

    async def report_page(request: Request, kind: str) -> HTTPResponse:
        viewer = viewer_of(ui, request, ANY_ROLE)
        _ = ui.languages.gettext(viewer.language)
        try:
            which = Kind(kind)
        except ValueError:
            return render(ui, request, "error.html", status=404, message_id="not_found", viewer=viewer)
        if viewer.session.role is Role.AGENT and which not in (Kind.AGENT_CALLS, Kind.AGENT_STATES,
                                                                 Kind.AGENT_STATE_LOG):
            raise PageForbidden()
        zone = ui.zone()
        detail = which in DETAIL_KINDS
        args = Args(request, zone, detail)
        names = names_of(ui, viewer.language)
        errors: list[str] = []
        report: Report | None = None
        inputs = {"from": args.values["from"], "to": args.values["to"]}  # as typed, until they parse
        try:
            query = query_of(args, kind, zone)  # type: ignore[arg-type]  # reads `.args.get` only
            inputs = {"from": local_input(query.start, zone), "to": local_input(query.end, zone)}
            report = await run_report(ui, viewer, query)
        except ApplianceError as exc:
            if exc.http_status == 403:
                raise PageForbidden() from None
            fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
            errors = [str(f.get("message_zh" if viewer.language == "zh_CN" else "message")) for f in fields or ()] or [
                exc.message_zh if viewer.language == "zh_CN" else exc.message]
        columns = COLUMNS[which]
        keys = {c.key for c in columns}
        sort = str(request.args.get("sort") or "")
        sort = sort if sort in keys else ""
        descending = request.args.get("dir") == "desc"
        rows = [flatten(which, r) for r in report.rows] if report else []
        period = Period(args.values["period"]) if args.values["period"] in tuple(Period) else Period.HOUR
        chart = chart_of(which, rows, period, zone, _, (report.start, report.end)) if report and rows else None
        if sort:
            rows = sort_rows(rows, sort, descending)
        try:
            page = max(1, int(request.args.get("page") or 1))
        except ValueError:
            page = 1
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(page, pages)
        shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        zh = viewer.language == "zh_CN"
        pauses = {str(p.code): str(p.name_zh if zh else p.name) for p in ui.config.store.list("pause_reasons")}
        cells = Cells(_, zone, period, names, pauses)
        table = [[(c, cells.text(c, r.get(c.key), r), json.dumps(r.get(c.key))) for c in columns] for r in shown]
        export = {fmt: f"/api/v1/reports/{kind}/export?{args.query(format=fmt)}" for fmt in ("xlsx", "csv")}
        return render(ui, request, "reports/report.html", viewer=viewer, kind=which, title=_(TITLES[which]),
                      detail=detail, args=args, inputs=inputs, errors=errors, report=report, columns=columns, table=table,
                      sort=sort, descending=descending, page=page, pages=pages, total=len(rows),
                      first=(page - 1) * PAGE_SIZE + 1, last=(page - 1) * PAGE_SIZE + len(shown),
                      periods=[(p.value, _(label)) for p, label in PERIODS.items()],
                      choices=filter_choices(ui, viewer, which),
                      header=header_of(report, names, _) if report else [],
                      chart=json.dumps(chart, ensure_ascii=False) if chart else "", export=export)

    async def dashboard(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, ANY_ROLE)
        _ = ui.languages.gettext(viewer.language)
        zone = ui.zone()
        today = datetime.now(zone).date()
        start = int(datetime(today.year, today.month, today.day, tzinfo=zone).timestamp())
        tomorrow = today + timedelta(days=1)
        end = int(datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).timestamp())
        week_ago = today - timedelta(days=6)
        week_start = int(datetime(week_ago.year, week_ago.month, week_ago.day, tzinfo=zone).timestamp())
        names = names_of(ui, viewer.language)
        agent_only = viewer.session.role is Role.AGENT
        kind = Kind.AGENT_CALLS if agent_only else Kind.QUEUES
        by_hour = await run_report(ui, viewer, ReportQuery(kind=kind, period=Period.HOUR, start=start, end=end))
        by_day = await run_report(ui, viewer, ReportQuery(kind=kind, period=Period.DAY, start=week_start, end=end))
        agents = await run_report(ui, viewer, ReportQuery(kind=Kind.AGENT_CALLS, period=Period.DAY, start=start,
                                                          end=end))
        totals: dict[str, float] = defaultdict(float)
        for r in by_hour.rows:
            for key, value in r.items():
                if isinstance(value, int | float) and key not in ("period_start", "wait_max", "talk_max"):
                    totals[key] += value
        tiles: list[tuple[str, str, str]] = []  # (id, label, text)
        if agent_only:
            tiles += [("answered", _("Answered"), f"{totals['answered']:g}"),
                      ("missed", _("Missed"), f"{totals['missed']:g}"),
                      ("talk_total", _("Total talk time"), duration(totals["talk_total"])),
                      ("avg_talk", _("Average talk time"),
                       duration(totals["talk_total"] / totals["completed"]) if totals["completed"] else "—")]
        else:
            offered = totals["offered"]
            tiles += [("offered", _("Offered"), f"{offered:g}"), ("answered", _("Answered"), f"{totals['answered']:g}"),
                      ("abandoned", _("Abandoned"), f"{totals['abandoned']:g}"),
                      ("timed_out", _("Timed out"), f"{totals['timed_out']:g}"),
                      ("abandon_rate", _("Abandon rate"),
                       f"{totals['abandoned'] / offered * 100:.1f}%" if offered else "—"),
                      ("avg_wait", _("Average wait"),
                       duration(totals["wait_total"] / totals["waited"]) if totals["waited"] else "—")]
        hour_chart = chart_of(kind, [dict(r) for r in by_hour.rows], Period.HOUR, zone, _, (start, end))
        day_chart = chart_of(kind, [dict(r) for r in by_day.rows], Period.DAY, zone, _, (week_start, end))
        queue_rows = [] if agent_only else [r for r in (await run_report(ui, viewer, ReportQuery(
            kind=Kind.QUEUES, period=Period.DAY, start=start, end=end))).rows]
        cells = Cells(_, zone, Period.DAY, names)
        queue_columns = [c for c in COLUMNS[Kind.QUEUES] if c.key in (
            "queue", "offered", "answered", "abandoned", "timed_out", "service_level", "avg_wait", "wait_max")]
        agent_columns = [c for c in COLUMNS[Kind.AGENT_CALLS] if c.key in (
            "agent", "offered", "answered", "missed", "talk_total", "avg_talk")]
        top = sorted(agents.rows, key=lambda r: (-r["answered"], str(r["agent"])))[:10]
        return render(ui, request, "reports/dashboard.html", viewer=viewer, tiles=tiles, agent_only=agent_only,
                      hour_chart=json.dumps(hour_chart, ensure_ascii=False),
                      day_chart=json.dumps(day_chart, ensure_ascii=False),
                      queue_columns=queue_columns, agent_columns=agent_columns,
                      queues=[[(c, cells.text(c, r.get(c.key)), json.dumps(r.get(c.key))) for c in queue_columns]
                              for r in queue_rows],
                      agents=[[(c, cells.text(c, r.get(c.key)), json.dumps(r.get(c.key))) for c in agent_columns] for r in top],
                      header=header_of(by_hour, names, _), day=today.isoformat())

    async def no_reports(request: Request) -> HTTPResponse:
        return redirect("/")

    if ui.reports is None:  # a box built without the reports service: no report pages (and no menu target)
        bp.add_route(no_reports, "/reports", methods=["GET"], name="reports_missing")
        return bp
    bp.add_route(dashboard, "/reports", methods=["GET"], name="reports_dashboard")
    bp.add_route(report_page, "/reports/<kind>", methods=["GET"], name="report_page")
    return bp
