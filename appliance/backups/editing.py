"""Backup settings edited as a whole (the API's PUT) or one target, schedule or the retention at a time (the web
UI's forms): each validated alone first, so errors name the form's own fields, then saved within the whole
settings, where names must be unique and schedules must name a target. SFTP passwords are written to their
0600 files here and never reach the configuration store."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from appliance.backups.models import (
    SETTINGS_KEY,
    BackupSettings,
    Part,
    Retention,
    Schedule,
    SshAuth,
    Target,
    TargetKind,
    parse_retention,
    parse_schedule,
    parse_settings,
    parse_target,
)
from appliance.backups.ssh import HostKey, scan_host_keys
from appliance.errors import Conflict, FieldError, NotFound, ValidationFailed

WEEKLY_CHECK_CRON = "30 3 * * 0"  # Sunday 03:30, after the night's backups


def weekly_check(target: str) -> Schedule:
    """The rotating data check a new target gets: each week `check --read-data-subset` reads another share."""
    return Schedule(f"{target[:26]}-check", target, (Part.CONFIG, Part.AUDIO), WEEKLY_CHECK_CRON,
                    verify_subset=True)

if TYPE_CHECKING:
    from appliance.backups.schedule import BackupScheduler
    from appliance.backups.service import SettingsStore
    from appliance.backups.ssh import SshFiles


class SettingsEditing:
    """Mixed into `BackupService`, whose store, SSH files and scheduler it uses."""

    store: SettingsStore
    ssh: SshFiles
    _scheduler: BackupScheduler | None

    def settings(self) -> BackupSettings:
        return parse_settings(self.store.settings.get(SETTINGS_KEY))

    def target(self, name: str) -> Target:
        target = self.settings().target(name)
        if target is None:
            raise NotFound("backup target", name)
        return target

    async def save_settings(self, raw: Any) -> BackupSettings:
        parsed = parse_settings(raw)  # validation once, here
        missing = [FieldError(f"targets.{i}.password", "required", f"targets.{i}.password: is required",
                              f"targets.{i}.password: 必填")
                   for i, t in enumerate(parsed.targets)
                   if t.kind is TargetKind.SFTP and t.auth is SshAuth.PASSWORD and not t.password
                   and not await asyncio.to_thread(self.ssh.has_password, t.name)]
        if missing:
            raise ValidationFailed(missing, "backup settings")
        await asyncio.to_thread(self._keep_passwords, parsed.targets)
        await self.store.set_settings(**{SETTINGS_KEY: parsed.to_json()})
        await asyncio.to_thread(self.ssh.write, parsed.targets)
        if self._scheduler is not None:
            await self._scheduler.apply(parsed.schedules)
        return parsed

    def _keep_passwords(self, targets: tuple[Target, ...]) -> None:
        for t in targets:
            if t.kind is TargetKind.SFTP and t.auth is SshAuth.PASSWORD:
                if t.password:
                    self.ssh.write_password(t.name, t.password)
            else:
                self.ssh.forget_password(t.name)

    # One target, schedule or the retention at a time (the web UI's forms): validated alone, so errors name
    # the form's own fields, then saved within the whole settings (uniqueness and references checked there).

    async def put_target(self, raw: Any, name: str | None = None) -> Target:
        body = {**raw, "name": name} if name is not None and isinstance(raw, dict) else raw
        target = parse_target(body, "")
        current = self.settings()
        if name is None and current.target(target.name) is not None:
            raise ValidationFailed([FieldError("name", "unique", "name: a target of this name exists",
                                               "name: 已有同名目标")])
        fresh = {**target.to_json(), "password": target.password}
        others = [t.to_json() for t in current.targets]
        if current.target(target.name):
            await self._save_whole(targets=[fresh if t["name"] == target.name else t for t in others],
                                   field_of="targets")
            return target
        # A new target comes with its weekly rotating data check (`check --read-data-subset`), as a schedule
        # the admin sees and may move or delete: a repository nobody reads back is only hoped to be good.
        schedules = current.to_json()["schedules"]
        check = weekly_check(target.name)
        if not any(s["name"] == check.name for s in schedules):
            schedules.append(BackupSettings(schedules=(check,)).to_json()["schedules"][0])
        await self._save_whole(targets=[*others, fresh], schedules=schedules, field_of="targets")
        return target

    async def delete_target(self, name: str) -> None:
        current = self.target(name)
        check = weekly_check(current.name)
        users = [s.name for s in self.settings().schedules
                 if s.target == current.name and not (s.name == check.name and s.verify_subset)]
        if users:
            raise Conflict(f"backup target {name!r} is used by the schedules {', '.join(users)}; delete them first",
                           f"备份目标 {name!r} 正被计划 {'、'.join(users)} 使用,请先删除这些计划")
        # (its own weekly check goes with it)
        await self._save_whole(targets=[t.to_json() for t in self.settings().targets if t.name != name],
                               schedules=[s for s in self.settings().to_json()["schedules"]
                                          if s["target"] != current.name])
        await asyncio.to_thread(self.ssh.forget_password, name)

    async def put_schedule(self, raw: Any, name: str | None = None) -> Schedule:
        body = {**raw, "name": name} if name is not None and isinstance(raw, dict) else raw
        schedule = parse_schedule(body, "")
        current = self.settings()
        if current.target(schedule.target) is None:
            raise ValidationFailed([FieldError("target", "reference", f"target: no target named {schedule.target!r}",
                                               f"target: 没有名为 {schedule.target!r} 的目标")])
        if name is None and any(s.name == schedule.name for s in current.schedules):
            raise ValidationFailed([FieldError("name", "unique", "name: a schedule of this name exists",
                                               "name: 已有同名计划")])
        raw_schedules = current.to_json()["schedules"]
        fresh = current.__class__(schedules=(schedule,)).to_json()["schedules"][0]
        if any(s["name"] == schedule.name for s in raw_schedules):
            raw_schedules = [fresh if s["name"] == schedule.name else s for s in raw_schedules]
        else:
            raw_schedules.append(fresh)
        await self._save_whole(schedules=raw_schedules, field_of="schedules")
        return schedule

    async def delete_schedule(self, name: str) -> None:
        current = self.settings()
        if not any(s.name == name for s in current.schedules):
            raise NotFound("backup schedule", name)
        await self._save_whole(schedules=[s for s in current.to_json()["schedules"] if s["name"] != name])

    async def put_retention(self, raw: Any) -> Retention:
        retention = parse_retention(raw, "")
        await self._save_whole(retention=dataclasses.asdict(retention))
        return retention

    async def _save_whole(self, field_of: str = "", **parts: Any) -> BackupSettings:
        whole = {**self.settings().to_json(), **parts}
        try:
            return await self.save_settings(whole)
        except ValidationFailed as exc:  # "targets.2.password" is the form's "password"
            if not field_of:
                raise
            errors = []
            for e in exc.errors:
                if e.field.startswith(field_of + "."):
                    short = e.field.split(".", 2)[-1]
                    errors.append(FieldError(short, e.rule, e.message.replace(e.field, short, 1),
                                             e.message_zh.replace(e.field, short, 1)))
                else:
                    errors.append(e)
            raise ValidationFailed(errors, "backup settings") from None

    async def scan_address(self, raw: Any) -> list[HostKey]:
        """The keys a server presents before its target is saved (the form shows them to confirm one)."""
        body = raw if isinstance(raw, dict) else {}
        probe_target = parse_target({"name": "scan", "kind": "sftp", "user": "scan", "path": "/",
                                     "host": body.get("host", ""), "port": body.get("port", 22)}, "")
        return await scan_host_keys(probe_target)

