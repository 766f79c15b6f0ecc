"""The backup pages (System → Backups): targets, schedules and retention, the run in progress and the history
(`/admin/backups`); a target's form with the SFTP server's host key shown to confirm on first use
(`/admin/backups/targets/...`); a schedule's form; and a target's snapshots with size and verification state,
where a restore is previewed and then confirmed (`/admin/backups/targets/<name>/snapshots`).

The pages read through the backup service; every change (saving, back up now, verify, restore) is made by the
browser through `/api/v1/backups/...` (`app.js` for the forms and buttons, `backups.js` for the host-key scan,
the progress bar, the password shown once, and the restore).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.backups.errors import BackupError
from appliance.backups.models import Part, RunRecord, SnapshotInfo, Target, TargetKind
from appliance.backups.operations import restic_time
from appliance.backups.ssh import fingerprint
from appliance.backups.targets import connected
from appliance.errors import NotFound
from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of

if TYPE_CHECKING:
    from appliance.backups.service import BackupService

KIND_LABELS = {"local": N_("Local directory"), "removable": N_("USB disk (by label)"), "sftp": N_("SFTP server")}
PART_LABELS = {"config": N_("Configuration and records"), "audio": N_("Recordings, voicemail and prompts"),
               "safety": N_("Safety copy before a restore")}
RUN_LABELS = {"backup": N_("Backup"), "verify": N_("Verification"), "restore": N_("Restore"),
              "dry_run": N_("Restore preview"), "restore_live": N_("Live restore")}
VERIFIED_LABELS = {"checked": N_("Checked when written"), "verified": N_("Verified"),
                   "failed": N_("Verification failed")}
SCOPE_LABELS = {"all": N_("every pack read and authenticated"),
                "subset": N_("a quarter of the packs read (all of them over four verifications)"),
                "structure": N_("the repository's structure")}
TRIGGER_LABELS = {"schedule": N_("scheduled"), "missed": N_("missed while off, run at start")}
HISTORY_ROWS = 20


def size_text(value: int) -> str:
    """Bytes as people read them (binary units, one decimal)."""
    if value < 0:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


@dataclass(frozen=True, slots=True)
class TargetRow:
    target: Target
    where: str
    last: RunRecord | None  # the latest backup to it
    next_run: str


def where_of(target: Target) -> str:
    if target.kind is TargetKind.SFTP:
        return f"{target.user}@{target.host}:{target.port}{target.path}"
    if target.kind is TargetKind.REMOVABLE:
        return f"LABEL={target.label} /{target.path}"
    return target.path


def service_of(ui: WebUi) -> BackupService:
    service = getattr(ui, "backups", None)
    if service is None:
        raise NotFound("page", "backups")
    return service  # type: ignore[no-any-return]


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("backup_pages", url_prefix="")

    async def overview(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        service = service_of(ui)
        settings = service.settings()
        history = await asyncio.to_thread(service.history, 200)
        next_runs = service.next_runs()
        rows = [TargetRow(t, where_of(t), next((r for r in history if r.target == t.name and r.kind == "backup"),
                                               None),
                          min((next_runs[s.name] for s in settings.schedules
                               if s.target == t.name and s.name in next_runs), default=""))
                for t in settings.targets]
        password_shown = await asyncio.to_thread(service.password_was_shown)
        return render(ui, request, "backups/overview.html", viewer=viewer, rows=rows, settings=settings,
                      next_runs=next_runs, history=history[:HISTORY_ROWS], progress=service.progress,
                      password_shown=password_shown, kinds=KIND_LABELS, parts=PART_LABELS, runs=RUN_LABELS,
                      triggers=TRIGGER_LABELS,
                      size=size_text, epoch_of_iso=_epoch_of_iso)

    async def target_form(request: Request, name: str = "") -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        service = service_of(ui)
        target = service.target(name) if name else None
        pinned = await fingerprint(target.host_key) if target is not None and target.host_key else ""
        public_key = await service.public_key()
        has_password = bool(target) and await asyncio.to_thread(service.ssh.has_password, name)
        disks = await asyncio.to_thread(connected, service.disks)
        return render(ui, request, "backups/target.html", viewer=viewer, target=target, name=name,
                      pinned=pinned, public_key=public_key, has_password=has_password, kinds=KIND_LABELS,
                      disks=disks)

    async def schedule_form(request: Request, name: str = "") -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        service = service_of(ui)
        settings = service.settings()
        schedule = next((s for s in settings.schedules if s.name == name), None)
        if name and schedule is None:
            raise NotFound("backup schedule", name)
        return render(ui, request, "backups/schedule.html", viewer=viewer, schedule=schedule, name=name,
                      targets=settings.targets, parts=PART_LABELS, next_run=service.next_runs().get(name, ""),
                      epoch_of_iso=_epoch_of_iso)

    async def snapshots(request: Request, name: str) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        service = service_of(ui)
        target = service.target(name)
        infos: list[SnapshotInfo] = []
        problem = None
        try:
            infos = await service.snapshot_infos(name)
        except BackupError as exc:  # an absent disk, a refused key: said on the page, not an error page
            problem = exc
        return render(ui, request, "backups/snapshots.html", viewer=viewer, target=target, where=where_of(target),
                      snapshots=infos, problem=problem, parts=PART_LABELS, verified=VERIFIED_LABELS, scopes=SCOPE_LABELS,
                      size=size_text, epoch=lambda s: restic_time(s) or 0.0, kinds=KIND_LABELS,
                      part_values=[p.value for p in Part])

    bp.add_route(overview, "/admin/backups", methods=["GET"], name="backups_page")
    bp.add_route(target_form, "/admin/backups/targets/new", methods=["GET"], name="backup_target_new")
    bp.add_route(target_form, "/admin/backups/targets/<name>", methods=["GET"], name="backup_target")
    bp.add_route(snapshots, "/admin/backups/targets/<name>/snapshots", methods=["GET"], name="backup_snapshots")
    bp.add_route(schedule_form, "/admin/backups/schedules/new", methods=["GET"], name="backup_schedule_new")
    bp.add_route(schedule_form, "/admin/backups/schedules/<name>", methods=["GET"], name="backup_schedule")
    return bp


def _epoch_of_iso(text: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp() if text else 0.0
    except ValueError:
        return 0.0
