"""Scheduled-report routes: the schedules (`GET`/`PUT /api/v1/reports/schedules`, admins change them, audited),
running one now, and the files they made (`GET /api/v1/reports/files`, `.../files/{schedule}/{file}`): admins
and QA only, as a scheduled report sees every agent."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.configuration.service import Actor, ConfigService
from appliance.domain.models import Role
from appliance.errors import NotFound
from appliance.http_api import Api, body_of, ok, send_file, session_of, source_of
from appliance.reports import export
from appliance.reports.schedules import EVERY, SETTING, ReportSchedules, parse, stored

READERS = frozenset({Role.ADMIN, Role.QA})


def add_routes(api: Api, bp: Blueprint, schedules: ReportSchedules, config: ConfigService) -> None:
    async def get_schedules(request: Request) -> HTTPResponse:
        items = [s.to_dict() for s in stored(config.store.settings)]
        runs = schedules.next_runs()
        for item in items:
            item["next_run"] = runs.get(item["name"])
        return ok({"items": items})

    async def put_schedules(request: Request) -> HTTPResponse:
        body = body_of(request)
        raw = body.get("items") if isinstance(body, dict) else body
        parsed = parse(raw)
        before = [s.to_dict() for s in stored(config.store.settings)]
        after = [s.to_dict() for s in parsed]
        s = session_of(request)
        await config.replace_setting(SETTING, {"items": before}, {"items": after}, Actor(s.user, source_of(request)))
        schedules.apply(parsed)
        return ok({"items": after})

    async def run_now(request: Request, name: str) -> HTTPResponse:
        match = [s for s in stored(config.store.settings) if s.name == name]
        if not match:
            raise NotFound("report schedule", name)
        path = await schedules.run(match[0])
        return ok({"schedule": name, "file": path.name, "size": path.stat().st_size})

    async def list_files(request: Request) -> HTTPResponse:
        items = schedules.files()
        return ok({"items": items, "total": len(items)})

    async def get_file(request: Request, schedule: str, file: str) -> HTTPResponse:
        path = schedules.file(schedule, file)
        kind = export.XLSX_TYPE if path.suffix == ".xlsx" else export.CSV_TYPE
        return await send_file(request, path, kind, path.name)

    one = {"type": "object", "required": ["name", "kind", "every"], "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"},
        "kind": {"type": "string", "enum": ["queues", "agent-calls", "groups", "agent-states", "ivr"]},
        "every": {"type": "string", "enum": list(EVERY)},
        "period": {"type": "string", "enum": ["half_hour", "hour", "day", "week", "month"]},
        "format": {"type": "string", "enum": ["xlsx", "csv"]}, "at": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
        **{k: {"type": "array", "items": {"type": "string"}} for k in ("queue", "agent", "group", "flow")}}}
    listing: dict[str, Any] = {"type": "object", "properties": {"items": {"type": "array", "items": one}}}
    api.route(bp, "GET", "/api/v1/reports/schedules", get_schedules,
              summary="Scheduled reports (daily, weekly, monthly) with each one's next run", tag="reports",
              operation_id="get_report_schedules", roles=READERS, response=listing)
    api.route(bp, "PUT", "/api/v1/reports/schedules", put_schedules,
              summary="Replace the scheduled reports (audited); each runs over the day, week or month just ended",
              tag="reports", operation_id="set_report_schedules", roles=WRITE_CONFIG, request=listing,
              response=listing, errors=(400, 422))
    api.route(bp, "POST", "/api/v1/reports/schedules/{name}/run", run_now,
              summary="Run a scheduled report now (over the period just ended) and save its file", tag="reports",
              operation_id="run_report_schedule", roles=WRITE_CONFIG,
              response={"type": "object", "properties": {"file": {"type": "string"}}}, errors=(404,))
    file_item = {"type": "object", "properties": {"schedule": {"type": "string"}, "file": {"type": "string"},
                                                  "size": {"type": "integer"}, "made": {"type": "number"}}}
    api.route(bp, "GET", "/api/v1/reports/files", list_files, summary="Files the scheduled reports made, newest first",
              tag="reports", operation_id="list_report_files", roles=READERS,
              response={"type": "object", "properties": {"items": {"type": "array", "items": file_item},
                                                         "total": {"type": "integer"}}})
    api.route(bp, "GET", "/api/v1/reports/files/{schedule}/{file}", get_file, summary="Download a scheduled report's file",
              tag="reports", operation_id="get_report_file", roles=READERS, content_type=f"text/csv,{export.XLSX_TYPE}",
              response={"type": "string", "format": "binary"}, errors=(404,))
