"""Monitoring routes: the alarm table, thresholds (read by admins and supervisors, changed by admins), the
last sample of the box, and Prometheus metrics at /metrics with their own read-only token."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable, Iterable
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from appliance.domain.models import Role
from appliance.errors import ApplianceError, Forbidden
from appliance.health import Health
from appliance.http_api import Api, Param, body_of, ok, source_of
from appliance.monitoring.logs import LogService, parse_query
from appliance.monitoring.metrics import exposition, registry_for
from appliance.monitoring.service import SETTINGS_KEY, MonitorService

READ = frozenset({Role.ADMIN, Role.SUPERVISOR})
WRITE = frozenset({Role.ADMIN})
_OBJ: dict[str, Any] = {"type": "object"}
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _metrics_allowed(request: Request, token: str) -> bool:
    """With a token set, only its bearer; without one, only the box itself (a local exporter)."""
    if token:
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        return hmac.compare_digest(given.encode(), token.encode())
    return source_of(request) in ("127.0.0.1", "::1")


def make_blueprint(api: Api, monitor: MonitorService | None, health: Callable[[], Iterable[Health]],
                   logs: LogService | None = None) -> Blueprint:
    bp = Blueprint("monitoring", url_prefix="")
    if monitor is None:
        return bp
    registry = registry_for(monitor, health)

    async def alarms(request: Request) -> HTTPResponse:
        rows = monitor.table.rows()
        if request.args.get("active") in ("1", "true"):
            rows = [a for a in rows if a.active]
        rows.sort(key=lambda a: (not a.active, -(a.cleared_at or a.raised_at)))
        return ok({"items": [a.to_json() for a in rows], "total": len(rows),
                   "active": sum(a.active for a in rows)})

    async def get_thresholds(request: Request) -> HTTPResponse:
        return ok({"items": [t.to_json() for t in monitor.thresholds().values()]})

    async def patch_thresholds(request: Request) -> HTTPResponse:
        merged = await monitor.patch_thresholds(body_of(request))
        return ok({"items": [t.to_json() for t in merged.values()]})

    async def system(request: Request) -> HTTPResponse:
        s = monitor.sample
        return ok({"sample": s.to_json() if s else None, "queues": monitor.queue_figures(),
                   "services": {h.name: h.to_dict() for h in monitor.services}})

    async def metrics(request: Request) -> HTTPResponse:
        token = str(monitor.store.settings.get(SETTINGS_KEY, {}).get("metrics_token", ""))
        if not _metrics_allowed(request, token):
            raise Forbidden("metrics need their bearer token", "指标需要其访问令牌", error_id="metrics_token")
        return raw(exposition(registry), content_type=PROMETHEUS_TYPE)

    async def put_metrics_token(request: Request) -> HTTPResponse:
        body = body_of(request)
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not (token == "" or 16 <= len(token) <= 128):
            raise ApplianceError("token: empty (local access only) or 16 to 128 characters",
                                 "token: 为空(仅本机访问)或 16 到 128 个字符", error_id="invalid_token",
                                 http_status=422)
        current = dict(monitor.store.settings.get(SETTINGS_KEY, {}))
        current["metrics_token"] = token
        await monitor.store.set_settings(**{SETTINGS_KEY: current})
        return ok({"token_set": bool(token)})

    async def download_logs(request: Request) -> HTTPResponse:
        assert logs is not None
        query = {k: request.args.get(k, "") for k in ("since", "until", "level", "limit")}
        since, until, level, limit = parse_query({k: str(v) for k, v in query.items()})
        records = await asyncio.to_thread(logs.read, since, until, level, limit)
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
        return raw(body, content_type="application/x-ndjson",
                   headers={"Content-Disposition": 'attachment; filename="appliance-log.jsonl"'})

    tag = "monitoring"
    items = {"type": "object", "properties": {"items": {"type": "array", "items": _OBJ}}}
    api.route(bp, "GET", "/api/v1/alarms", alarms, summary="The alarm table: active alarms first (告警)", tag=tag,
              operation_id="list_alarms", roles=READ, response=items, errors=(401, 403),
              params=(Param("active", description="true: only active alarms"),))
    api.route(bp, "GET", "/api/v1/monitoring/thresholds", get_thresholds, summary="Alarm thresholds", tag=tag,
              operation_id="get_thresholds", roles=READ, response=items, errors=(401, 403))
    api.route(bp, "PATCH", "/api/v1/monitoring/thresholds", patch_thresholds,
              summary="Change thresholds: {name: {set_level, clear_level, severity, enabled}}", tag=tag,
              operation_id="patch_thresholds", roles=WRITE, request=_OBJ, response=items, errors=(400, 401, 403, 422))
    api.route(bp, "GET", "/api/v1/monitoring/system", system, summary="The box now: CPU, memory, disks, services",
              tag=tag, operation_id="get_system", roles=READ, response=_OBJ, errors=(401, 403))
    api.route(bp, "PUT", "/api/v1/monitoring/metrics-token", put_metrics_token,
              summary="The read-only bearer token of /metrics (empty: the box itself only)", tag=tag,
              operation_id="put_metrics_token", roles=WRITE, request=_OBJ, response=_OBJ, errors=(401, 403, 422))
    if logs is not None:
        api.route(bp, "GET", "/api/v1/logs", download_logs,
                  summary="Service logs as JSON lines, filtered by time and level (日志下载)", tag=tag,
                  operation_id="download_logs", roles=WRITE, errors=(400, 401, 403, 422),
                  content_type="application/x-ndjson",
                  params=(Param("since", description="epoch seconds or YYYY-MM-DDTHH:MM:SS (UTC)"),
                          Param("until", description="epoch seconds or YYYY-MM-DDTHH:MM:SS (UTC)"),
                          Param("level", description="the lowest level shown (default info)"),
                          Param("limit", schema={"type": "integer"}, description="the newest N (10000)")))
    # Outside /api/v1 where scrapers look for it, so outside the OpenAPI document too.
    bp.add_route(metrics, "/metrics", methods=["GET"], name="metrics", error_format="json")
    return bp
