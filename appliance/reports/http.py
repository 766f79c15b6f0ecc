"""Report routes: `GET /api/v1/reports/{kind}` and the reports' setting (`GET`/`PATCH /api/v1/reports/settings`).

Who sees what (the data scope, as for CDRs): admins and QA every report; supervisors every queue and IVR
report, and agent and group reports of the work groups they manage and themself; agents their own agent
reports only. A bad parameter is a 400 naming it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE, WRITE_CONFIG, DataScope
from appliance.configuration.service import Actor, ConfigService
from appliance.domain.models import Role
from appliance.errors import FieldError, Forbidden, ValidationFailed
from appliance.http_api import Api, Param, body_of, ok, session_of, source_of
from appliance.reports.definitions import DETAIL_KINDS, DETAIL_MAX_RANGE_S
from appliance.reports.errors import BadParameter
from appliance.reports.export_http import add_routes as add_export_routes
from appliance.reports.jobs import ExportJobs
from appliance.reports.models import SETTING, Kind, Period, ReportPolicy, ReportQuery, policy_of
from appliance.reports.rollups import SLOT
from appliance.reports.schedules import ReportSchedules
from appliance.reports.schedules_http import add_routes as add_schedule_routes
from appliance.reports.service import ReportService

MAX_RANGE_S = 3 * 366 * 86_400 + 7 * 86_400  # three years and the week around them
MAX_IDS = 200
AGENT_KINDS = (Kind.AGENT_CALLS, Kind.AGENT_STATES, Kind.AGENT_STATE_LOG)


def _time(request: Request, name: str, zone: ZoneInfo) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        raise BadParameter(name, "required", "required (epoch seconds or a local ISO date/time)",
                           "必填(纪元秒或本地 ISO 日期/时间)")
    try:
        value = float(raw)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise BadParameter(name, "format", "epoch seconds or an ISO date/time such as 2024-03-10 or "
                               "2024-03-10T08:30", "应为纪元秒或 ISO 日期/时间,例如 2024-03-10 或 2024-03-10T08:30") from None
        value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).timestamp()
    if value % SLOT:
        raise BadParameter(name, "half_hour", "must fall on a half-hour", "必须是整半点")
    return int(value)


def _ids(request: Request, name: str) -> tuple[str, ...] | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    ids = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids or len(ids) > MAX_IDS or any(len(i) > 64 for i in ids):
        raise BadParameter(name, "list", f"a comma-separated list of at most {MAX_IDS} ids",
                           f"应为逗号分隔的标识列表(最多 {MAX_IDS} 个)")
    return ids


def query_of(request: Request, kind_name: str, zone: ZoneInfo) -> ReportQuery:
    try:
        kind = Kind(kind_name)
    except ValueError:
        raise BadParameter("kind", "choice", f"one of {', '.join(k.value for k in Kind)}",
                           f"应为 {', '.join(k.value for k in Kind)} 之一") from None
    try:
        period = Period(request.args.get("period") or Period.DAY.value)
    except ValueError:
        raise BadParameter("period", "choice", f"one of {', '.join(p.value for p in Period)}",
                           f"应为 {', '.join(p.value for p in Period)} 之一") from None
    start, end = _time(request, "from", zone), _time(request, "to", zone)
    if end <= start:
        raise BadParameter("to", "range", "must be after from", "必须晚于 from")
    if end - start > MAX_RANGE_S:
        raise BadParameter("to", "range", "a range of at most three years", "范围最长三年")
    if kind in DETAIL_KINDS and end - start > DETAIL_MAX_RANGE_S:
        raise BadParameter("to", "range", "a detail list covers at most 31 days", "明细最长 31 天")
    return ReportQuery(kind=kind, period=period, start=start, end=end, queues=_ids(request, "queue"),
                       agents=_ids(request, "agent"), groups=_ids(request, "group"), flows=_ids(request, "flow"))


def scoped(query: ReportQuery, role: Role, scope: DataScope, staff_groups: dict[str, str]) -> ReportQuery:
    """The query narrowed to what the viewer may see; asking for more is refused."""
    if scope.everyone:
        return query
    if role == Role.AGENT and query.kind not in AGENT_KINDS:
        raise Forbidden("agents may read only their own agent reports", "座席只能查看自己的座席报表")
    if query.kind in (Kind.QUEUES, Kind.IVR, Kind.QUEUE_CALLS, Kind.IVR_JOURNEYS):
        return query
    visible = tuple(sorted(a for a, g in staff_groups.items() if scope.sees_staff(a, g or None)))
    if scope.staff and scope.staff not in visible:
        visible = (*visible, scope.staff)
    if query.agents is not None and not set(query.agents) <= set(visible):
        raise Forbidden("this report names agents outside your scope", "报表包含您无权查看的座席")
    if query.kind is Kind.GROUPS:
        groups = tuple(sorted(scope.work_groups))
        if query.groups is not None and not set(query.groups) <= set(groups):
            raise Forbidden("this report names work groups outside your scope", "报表包含您无权查看的座席组")
        return ReportQuery(kind=query.kind, period=query.period, start=query.start, end=query.end,
                           groups=query.groups if query.groups is not None else groups, agents=query.agents)
    return ReportQuery(kind=query.kind, period=query.period, start=query.start, end=query.end,
                       agents=query.agents if query.agents is not None else visible)


def make_blueprint(api: Api, service: ReportService, config: ConfigService,
                   exports: ExportJobs | None = None, schedules: ReportSchedules | None = None) -> Blueprint:
    """`exports`: where export jobs run (a service the box starts and stops; a fresh one when not given);
    `schedules`: the scheduled reports (their routes are there only with them)."""
    bp = Blueprint("reports", url_prefix="")

    def staff_groups() -> dict[str, str]:
        return {str(s.employee_no): str(s.work_group or "") for s in config.store.list("staff")}

    async def report(request: Request, kind: str) -> HTTPResponse:
        query = query_of(request, kind, service.zone())
        session = session_of(request)
        groups = staff_groups()
        query = scoped(query, session.role, config.scope_of(session.role, session.staff), groups)
        staff = groups if query.kind in (Kind.GROUPS, Kind.AGENT_STATE_LOG) else None
        return ok((await service.run(query, staff)).to_dict())

    async def get_setting(request: Request) -> HTTPResponse:
        return ok(service.policy().to_dict())

    async def change_setting(request: Request) -> HTTPResponse:
        change = body_of(request)
        if not isinstance(change, dict):
            raise ValidationFailed([FieldError("(body)", "type", "the body must be a JSON object",
                                               "请求体应为 JSON 对象")])
        before = policy_of(config.store.settings).to_dict()
        after = ReportPolicy.parse({**before, **change}).to_dict()
        s = session_of(request)
        await config.replace_setting(SETTING, before, after, Actor(s.user, source_of(request)))
        return ok(after)

    level = {"type": "object", "properties": {"target_s": {"type": "number", "minimum": 0},
                                              "basis": {"type": "string", "enum": ["offered", "answered"]}}}
    policy = {"type": "object", "properties": {
        "short_abandon_s": {"type": "number", "minimum": 0, "maximum": 86_400}, "service_level": level,
        "queues": {"type": "object", "additionalProperties": level}}}
    api.route(bp, "GET", "/api/v1/reports/settings", get_setting,
              summary="How calls are counted in reports: the short-abandon threshold, the service-level target "
                      "and basis (offered or answered), per queue", tag="reports", operation_id="get_report_settings",
              roles=ANY_ROLE, response=policy)
    api.route(bp, "PATCH", "/api/v1/reports/settings", change_setting,
              summary="Change how calls are counted (applies to records written from now on); audited",
              tag="reports", operation_id="set_report_settings", roles=WRITE_CONFIG, request=policy,
              response=policy, errors=(400, 422))
    row = {"type": "object", "required": ["period_start", "period_label"], "additionalProperties": True,
           "properties": {"period_start": {"type": "integer", "description": "the local period's start (epoch s)"},
                          "period_label": {"type": "string", "description": "its local time with the UTC offset"}}}
    answer = {"type": "object", "required": ["kind", "period", "from", "to", "time_zone", "header", "rows"],
              "properties": {"kind": {"type": "string", "enum": [k.value for k in Kind]},
                             "period": {"type": "string", "enum": [p.value for p in Period]},
                             "from": {"type": "number"}, "to": {"type": "number"}, "time_zone": {"type": "string"},
                             "header": {"type": "object"}, "rows": {"type": "array", "items": row}}}
    when = "epoch seconds or a local ISO date/time (the box's time zone), on a half-hour"
    ids = "a comma-separated list"
    api.route(bp, "GET", "/api/v1/reports/{kind}", report,
              summary="A report by local half-hour, hour, day, week or month (docs/REPORTS.md): queues (队列统计), "
                      "agent-calls (座席通话统计), agent-states (座席状态统计), groups (座席组通话统计), ivr (IVR统计); detail "
                      "lists of at most 31 days: queue-calls (队列等待明细), agent-state-log (座席状态明细), "
                      "ivr-journeys (IVR明细)",
              tag="reports", operation_id="get_report", roles=ANY_ROLE, response=answer, errors=(400,),
              params=(Param("from", schema={"type": "string"}, description=f"start: {when}", required=True),
                      Param("to", schema={"type": "string"}, description=f"end (excluded): {when}", required=True),
                      Param("period", schema={"type": "string", "enum": [p.value for p in Period]},
                            description="the period size (default day)"),
                      Param("queue", description=f"queues: {ids}"), Param("agent", description=f"agents: {ids}"),
                      Param("group", description=f"work groups: {ids}"), Param("flow", description=f"IVR flows: {ids}")))
    add_export_routes(api, bp, service, config, exports or ExportJobs(service.records_path.parent / "exports"),
                      query_of, scoped)
    if schedules is not None:
        add_schedule_routes(api, bp, schedules, config)
    return bp
