"""Backup routes (admin only, like every configuration write): settings (targets, schedules, retention), host
key scan and the appliance's public key, the repository password (once), run now, verify, snapshots, restore,
progress and history."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.backups.models import Part
from appliance.backups.service import BackupService
from appliance.errors import ApplianceError, FieldError, ValidationFailed
from appliance.http_api import Api, Param, body_of, int_arg, ok

_OBJ: dict[str, Any] = {"type": "object"}


def _parts(body: Any) -> tuple[Part, ...]:
    raw = body.get("parts", ["config", "audio"]) if isinstance(body, dict) else ["config", "audio"]
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed([FieldError("parts", "type", "parts: a non-empty list of config, audio",
                                           "parts: 应为 config、audio 的非空列表")])
    parts: list[Part] = []
    for i, p in enumerate(raw):
        try:
            parts.append(Part(p))
        except ValueError:
            raise ValidationFailed([FieldError(f"parts.{i}", "enum", f"parts.{i}: config or audio",
                                               f"parts.{i}: 应为 config 或 audio")]) from None
    return tuple(dict.fromkeys(parts))


def _snapshot_ids(body: Any) -> dict[Part, str]:
    raw = body.get("snapshots", {}) if isinstance(body, dict) else {}
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError("snapshots", "type", "snapshots: an object of part: snapshot id",
                                           "snapshots: 应为 部分: 快照ID 的对象")])
    out: dict[Part, str] = {}
    for key, value in raw.items():
        if key not in ("config", "audio") or not isinstance(value, str) or not value.isalnum():
            raise ValidationFailed([FieldError(f"snapshots.{key}", "format", f"snapshots.{key}: a snapshot id",
                                               f"snapshots.{key}: 应为快照 ID")])
        out[Part(key)] = value
    return out


def _flag(body: Any, key: str) -> bool:
    value = body.get(key, False) if isinstance(body, dict) else False
    if not isinstance(value, bool):
        raise ValidationFailed([FieldError(key, "type", f"{key}: must be true or false", f"{key}: 应为布尔值")])
    return value


def make_blueprint(api: Api, service: BackupService) -> Blueprint:
    bp = Blueprint("backups", url_prefix="")

    async def get_settings(request: Request) -> HTTPResponse:
        settings = service.settings()
        return ok({**settings.to_json(), "next_runs": service.next_runs()})

    async def put_settings(request: Request) -> HTTPResponse:
        settings = await service.save_settings(body_of(request))
        return ok({**settings.to_json(), "next_runs": service.next_runs()})

    async def list_targets(request: Request) -> HTTPResponse:
        return ok({"items": service.settings().to_json()["targets"]})

    async def scan(request: Request, name: str) -> HTTPResponse:
        keys = await service.scan_host_key(name)
        return ok({"items": [dataclasses.asdict(k) for k in keys]})

    async def public_key(request: Request) -> HTTPResponse:
        return ok({"public_key": await service.public_key()})

    async def password(request: Request) -> HTTPResponse:
        value = await asyncio.to_thread(service.password_once)
        if value is None:
            raise ApplianceError("the repository password was shown once already", "仓库密码已显示过一次",
                                 error_id="backup_password_shown", http_status=410)
        return ok({"password": value})

    async def run(request: Request, name: str) -> HTTPResponse:
        service.launch("backup", name, _parts(body_of(request)))
        return ok({"accepted": True, "target": name}, status=202)

    async def verify(request: Request, name: str) -> HTTPResponse:
        service.launch("verify", name)
        return ok({"accepted": True, "target": name}, status=202)

    async def snapshots(request: Request, name: str) -> HTTPResponse:
        part_arg = request.args.get("part")
        part = _parts({"parts": [part_arg]})[0] if part_arg else None
        infos = await service.snapshot_infos(name, part)
        return ok({"items": [i.to_json() for i in infos]})

    async def create_target(request: Request) -> HTTPResponse:
        return ok((await service.put_target(body_of(request))).to_json(), status=201)

    async def put_target(request: Request, name: str) -> HTTPResponse:
        return ok((await service.put_target(body_of(request), name)).to_json())

    async def delete_target(request: Request, name: str) -> HTTPResponse:
        await service.delete_target(name)
        return HTTPResponse(status=204)

    async def create_schedule(request: Request) -> HTTPResponse:
        await service.put_schedule(body_of(request))
        return ok(service.settings().to_json()["schedules"], status=201)

    async def put_schedule(request: Request, name: str) -> HTTPResponse:
        await service.put_schedule(body_of(request), name)
        return ok(service.settings().to_json()["schedules"])

    async def delete_schedule(request: Request, name: str) -> HTTPResponse:
        await service.delete_schedule(name)
        return HTTPResponse(status=204)

    async def put_retention(request: Request) -> HTTPResponse:
        return ok(dataclasses.asdict(await service.put_retention(body_of(request))))

    async def scan_address(request: Request) -> HTTPResponse:
        keys = await service.scan_address(body_of(request))
        return ok({"items": [dataclasses.asdict(k) for k in keys]})

    async def restore(request: Request, name: str) -> HTTPResponse:
        body = body_of(request)
        dry_run = _flag(body, "dry_run")
        if _flag(body, "live") and not dry_run:
            report, done, aside = await service.outliving(
                service.restore_online(name, _parts(body), snapshot_ids=_snapshot_ids(body)))
            return ok({**dataclasses.asdict(report), **dataclasses.asdict(done), "aside": str(aside),
                       "records_integrity": done.records_integrity or report.records_integrity})
        # A real restore goes beside the live data directory, never into it while the services hold it open.
        dest = (service.data_dir if dry_run else
                service.data_dir.parent / f"{service.data_dir.name}.restored-{time.strftime('%Y%m%d-%H%M%S')}")
        report = await service.outliving(service.restore(name, Path(dest), _parts(body),
                                                         snapshot_ids=_snapshot_ids(body), dry_run=dry_run))
        return ok(dataclasses.asdict(report))

    async def progress(request: Request) -> HTTPResponse:
        return ok({"running": service.progress})

    async def history(request: Request) -> HTTPResponse:
        limit = int_arg(request, "limit", 50, 1, 500)
        records = await asyncio.to_thread(service.history, limit)  # a file read: off the loop
        return ok({"items": [{**dataclasses.asdict(r), "duration_s": r.duration_s} for r in records]})

    settings_schema = {"type": "object", "properties": {"targets": {"type": "array", "items": _OBJ},
                                                        "schedules": {"type": "array", "items": _OBJ},
                                                        "retention": _OBJ}}
    parts_schema: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": ["config", "audio"]}}
    parts_body: dict[str, Any] = {"type": "object", "properties": {"parts": parts_schema}}
    items = {"type": "object", "properties": {"items": {"type": "array", "items": _OBJ}}}
    tag = "backups"
    api.route(bp, "GET", "/api/v1/backups/settings", get_settings, summary="Backup targets, schedules, retention",
              tag=tag, operation_id="get_backup_settings", roles=WRITE_CONFIG, response=settings_schema,
              errors=(401, 403))
    api.route(bp, "PUT", "/api/v1/backups/settings", put_settings, summary="Replace backup settings (备份管理)",
              tag=tag, operation_id="put_backup_settings", roles=WRITE_CONFIG, request=settings_schema,
              response=settings_schema, errors=(400, 401, 403, 422))
    api.route(bp, "GET", "/api/v1/backups/targets", list_targets, summary="List backup targets", tag=tag,
              operation_id="list_backup_targets", roles=WRITE_CONFIG, response=items, errors=(401, 403))
    api.route(bp, "POST", "/api/v1/backups/targets/{name}/scan-host-key", scan,
              summary="The SFTP server's host keys and fingerprints, to confirm and pin", tag=tag,
              operation_id="scan_backup_host_key", roles=WRITE_CONFIG, response=items, errors=(401, 403, 404, 502))
    target_schema: dict[str, Any] = {"type": "object", "properties": {
        "name": {"type": "string"}, "kind": {"type": "string", "enum": ["local", "removable", "sftp"]},
        "path": {"type": "string"}, "label": {"type": "string"}, "host": {"type": "string"},
        "port": {"type": "integer"}, "user": {"type": "string"}, "identity_file": {"type": "string"},
        "host_key": {"type": "string"}, "upload_kib_s": {"type": "integer"},
        "auth": {"type": "string", "enum": ["key", "password"]},
        "password": {"type": "string", "writeOnly": True}}}
    schedule_schema: dict[str, Any] = {"type": "object", "properties": {
        "name": {"type": "string"}, "target": {"type": "string"}, "cron": {"type": "string"},
        "parts": parts_schema, "verify_subset": {"type": "boolean"}}}
    api.route(bp, "POST", "/api/v1/backups/targets", create_target, summary="Add a backup target", tag=tag,
              operation_id="create_backup_target", roles=WRITE_CONFIG, request=target_schema,
              response=target_schema, response_status=201, errors=(400, 401, 403, 422))
    api.route(bp, "PUT", "/api/v1/backups/targets/{name}", put_target, summary="Replace a backup target",
              tag=tag, operation_id="replace_backup_target", roles=WRITE_CONFIG, request=target_schema,
              response=target_schema, errors=(400, 401, 403, 422))
    api.route(bp, "DELETE", "/api/v1/backups/targets/{name}", delete_target,
              summary="Remove a backup target (refused while a schedule uses it; its repository is kept)", tag=tag,
              operation_id="delete_backup_target", roles=WRITE_CONFIG, response_status=204,
              errors=(401, 403, 404, 409))
    api.route(bp, "POST", "/api/v1/backups/schedules", create_schedule, summary="Add a backup schedule", tag=tag,
              operation_id="create_backup_schedule", roles=WRITE_CONFIG, request=schedule_schema,
              response={"type": "array", "items": _OBJ}, response_status=201, errors=(400, 401, 403, 422))
    api.route(bp, "PUT", "/api/v1/backups/schedules/{name}", put_schedule, summary="Replace a backup schedule",
              tag=tag, operation_id="replace_backup_schedule", roles=WRITE_CONFIG, request=schedule_schema,
              response={"type": "array", "items": _OBJ}, errors=(400, 401, 403, 422))
    api.route(bp, "DELETE", "/api/v1/backups/schedules/{name}", delete_schedule, summary="Remove a backup schedule",
              tag=tag, operation_id="delete_backup_schedule", roles=WRITE_CONFIG, response_status=204,
              errors=(401, 403, 404))
    api.route(bp, "PUT", "/api/v1/backups/retention", put_retention,
              summary="Keep N daily, M weekly, K monthly snapshots", tag=tag, operation_id="put_backup_retention",
              roles=WRITE_CONFIG, request=_OBJ, response=_OBJ, errors=(400, 401, 403, 422))
    api.route(bp, "POST", "/api/v1/backups/scan-host-key", scan_address,
              summary="An SFTP server's host keys and fingerprints, before its target is saved", tag=tag,
              operation_id="scan_backup_address", roles=WRITE_CONFIG,
              request={"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}},
              response=items, errors=(400, 401, 403, 422, 502))
    api.route(bp, "GET", "/api/v1/backups/public-key", public_key,
              summary="The appliance's SSH public key, for the server's authorized_keys", tag=tag,
              operation_id="backup_public_key", roles=WRITE_CONFIG, response=_OBJ, errors=(401, 403))
    api.route(bp, "POST", "/api/v1/backups/password", password,
              summary="The repository password, shown once for safekeeping", tag=tag,
              operation_id="backup_password", roles=WRITE_CONFIG, response=_OBJ, errors=(401, 403, 410))
    api.route(bp, "POST", "/api/v1/backups/targets/{name}/run", run, summary="Back up now", tag=tag,
              operation_id="run_backup", roles=WRITE_CONFIG, request=parts_body, response=_OBJ,
              response_status=202, errors=(401, 403, 404, 409, 422))
    api.route(bp, "POST", "/api/v1/backups/targets/{name}/verify", verify,
              summary="Verify the repository (check, and a rotating slice of the data)", tag=tag,
              operation_id="verify_backup", roles=WRITE_CONFIG, response=_OBJ, response_status=202,
              errors=(401, 403, 404, 409))
    api.route(bp, "GET", "/api/v1/backups/targets/{name}/snapshots", snapshots, summary="List snapshots",
              tag=tag, operation_id="list_backup_snapshots", roles=WRITE_CONFIG, response=items,
              params=(Param("part", schema={"type": "string", "enum": ["config", "audio"]}),),
              errors=(401, 403, 404, 409, 422, 502))
    api.route(bp, "POST", "/api/v1/backups/targets/{name}/restore", restore,
              summary="Restore into a new data directory beside the live one, or (live) into the running box's own "
                      "after a safety backup, naming what needs a restart; or a dry run against the live data",
              tag=tag, operation_id="restore_backup", roles=WRITE_CONFIG,
              request={"type": "object", "properties": {
                  "parts": parts_schema, "dry_run": {"type": "boolean"}, "live": {"type": "boolean"},
                  "snapshots": {"type": "object", "additionalProperties": {"type": "string"}}}},
              response=_OBJ, errors=(401, 403, 404, 409, 422, 502))
    api.route(bp, "GET", "/api/v1/backups/progress", progress, summary="The run in progress, if any", tag=tag,
              operation_id="backup_progress", roles=WRITE_CONFIG, response=_OBJ, errors=(401, 403))
    api.route(bp, "GET", "/api/v1/backups/history", history, summary="Past runs: size, files, duration, outcome",
              tag=tag, operation_id="backup_history", roles=WRITE_CONFIG, response=items,
              params=(Param("limit", schema={"type": "integer"}),), errors=(401, 403, 422))
    return bp
