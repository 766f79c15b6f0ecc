"""Backup targets, schedules and retention (kept in the configuration store's settings under "backups"),
and the snapshots, runs and progress the service reports. Input is validated once, here, naming each field."""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from appliance.errors import FieldError, ValidationFailed

SETTINGS_KEY = "backups"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


class TargetKind(enum.StrEnum):
    LOCAL = "local"  # a directory on the box
    REMOVABLE = "removable"  # a USB disk found by filesystem label; `path` is inside its mount point
    SFTP = "sftp"  # any plain SSH/SFTP server


class SshAuth(enum.StrEnum):
    KEY = "key"  # the appliance's own key (or `identity_file`), added to the server's authorized_keys
    PASSWORD = "password"  # the account's password, kept in a 0600 file under the backup state directory


class Part(enum.StrEnum):
    """The two tags: configuration and records (small, nightly) versus audio (large, often)."""

    CONFIG = "config"
    AUDIO = "audio"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    kind: TargetKind
    path: str  # local: absolute directory; removable: relative to the mount point; sftp: path on the server
    label: str = ""  # removable only
    host: str = ""  # sftp only
    port: int = 22
    user: str = ""
    identity_file: str = ""  # sftp: a private key; empty means the appliance's own key (generated)
    host_key: str = ""  # sftp: the pinned "type base64" key, confirmed by the admin
    upload_kib_s: int = 0  # a bandwidth cap for the upload (a shared office line); 0: none
    auth: SshAuth = SshAuth.KEY  # sftp only
    # sftp password: write-only, never in the settings (kept in a 0600 file); "" when read back or unchanged
    password: str = field(default="", repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        out = {**asdict(self), "kind": self.kind.value, "auth": self.auth.value}
        del out["password"]
        return out


@dataclass(frozen=True, slots=True)
class Retention:
    daily: int = 7
    weekly: int = 4
    monthly: int = 12


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    target: str
    parts: tuple[Part, ...]
    cron: str  # five fields, as crontab: "30 2 * * *" (or six, seconds first)
    verify_subset: bool = False  # a `check --read-data-subset` run instead of a backup (weekly, rotating)


@dataclass(frozen=True, slots=True)
class BackupSettings:
    targets: tuple[Target, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    retention: Retention = field(default_factory=Retention)

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "targets": [t.to_json() for t in self.targets],
            "schedules": [{**asdict(s), "parts": [p.value for p in s.parts]} for s in self.schedules],
            "retention": asdict(self.retention),
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: str
    short_id: str
    time: str
    host: str
    tags: tuple[str, ...]
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    snapshot: Snapshot
    size: int  # bytes its backup read; -1: not known (made elsewhere, or before sizes were kept)
    files: int
    verified: str  # checked (by its run's `restic check`) | verified (a later verification passed) | failed
    verified_at: float  # wall-clock seconds of that verification; 0 when none
    verified_scope: str = ""  # what that verification read: all | subset (a rotating quarter) | structure

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self.snapshot), "size": self.size, "files": self.files, "verified": self.verified,
                "verified_at": self.verified_at, "verified_scope": self.verified_scope}


@dataclass(frozen=True, slots=True)
class Progress:
    percent_done: float = 0.0
    files_done: int = 0
    total_files: int = 0
    bytes_done: int = 0
    total_bytes: int = 0
    seconds_elapsed: float = 0.0
    seconds_remaining: float = 0.0


@dataclass(frozen=True, slots=True)
class BackupSummary:
    snapshot_id: str
    files_new: int = 0
    files_changed: int = 0
    files_unmodified: int = 0
    data_added: int = 0
    total_files_processed: int = 0
    total_bytes_processed: int = 0
    total_duration: float = 0.0


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One line of the history: what ran, on which target, how it ended."""

    run_id: str
    kind: str  # backup | verify | restore | dry_run
    target: str
    parts: tuple[str, ...]
    started_at: float
    ended_at: float
    ok: bool
    snapshots: tuple[str, ...] = ()
    files_new: int = 0
    files_changed: int = 0
    bytes_added: int = 0
    bytes_processed: int = 0
    error_id: str = ""
    message: str = ""
    message_zh: str = ""
    trigger: str = "manual"  # manual | schedule | missed | safety (taken before a restore)

    def message_in(self, language: str) -> str:
        return (self.message_zh or self.message) if language.startswith("zh") else self.message

    @property
    def duration_s(self) -> float:
        return self.ended_at - self.started_at


# ---- validation at the edge ---------------------------------------------------------------------------

def _at(where: str, key: str) -> str:
    """A field's name as the client sent it: "targets.0.path" in the whole settings, "path" in one target."""
    return f"{where}.{key}" if where else key


def _err(errors: list[FieldError], name: str, rule: str, en: str, zh: str) -> None:
    errors.append(FieldError(name, rule, f"{name}: {en}", f"{name}: {zh}"))


def _str(raw: dict[str, Any], key: str, where: str, errors: list[FieldError], *, required: bool = False,
         pattern: re.Pattern[str] | None = None) -> str:
    value = raw.get(key, "")
    name = _at(where, key)
    if not isinstance(value, str):
        _err(errors, name, "type", "must be a string", "应为字符串")
        return ""
    if required and not value:
        _err(errors, name, "required", "is required", "必填")
    elif value and pattern is not None and not pattern.match(value):
        _err(errors, name, "format", f"must match {pattern.pattern}", f"格式应为 {pattern.pattern}")
    return str(value)


def _int(raw: dict[str, Any], key: str, where: str, default: int, lo: int, hi: int,
         errors: list[FieldError]) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _err(errors, _at(where, key), "range", f"an integer from {lo} to {hi}", f"应为 {lo} 到 {hi} 之间的整数")
        return default
    return value


def parse_target(raw: Any, where: str = "target") -> Target:
    errors: list[FieldError] = []
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError(where, "type", f"{where}: must be an object", f"{where}: 应为对象")])
    name = _str(raw, "name", where, errors, required=True, pattern=_NAME)
    try:
        kind = TargetKind(str(raw.get("kind")))
    except ValueError:
        _err(errors, _at(where, "kind"), "enum", "one of local, removable, sftp", "应为 local、removable 或 sftp")
        kind = TargetKind.LOCAL
    path = _str(raw, "path", where, errors, required=kind is not TargetKind.REMOVABLE)
    if path and ("\n" in path or ".." in path.split("/")):
        _err(errors, _at(where, "path"), "format", "no line breaks or '..'", "不能含换行或 '..'")
    if kind is TargetKind.LOCAL and path and not path.startswith("/"):
        _err(errors, _at(where, "path"), "absolute", "must be an absolute directory", "应为绝对路径")
    if kind is TargetKind.REMOVABLE and path.startswith("/"):
        _err(errors, _at(where, "path"), "relative", "is relative to the disk's mount point", "应为相对挂载点的路径")
    label = _str(raw, "label", where, errors, required=kind is TargetKind.REMOVABLE, pattern=_LABEL)
    sftp = kind is TargetKind.SFTP
    host = _str(raw, "host", where, errors, required=sftp, pattern=_HOST)
    user = _str(raw, "user", where, errors, required=sftp, pattern=_USER)
    port = _int(raw, "port", where, 22, 1, 65535, errors)
    identity = _str(raw, "identity_file", where, errors)
    if identity and (not identity.startswith("/") or "\n" in identity):
        _err(errors, _at(where, "identity_file"), "absolute", "must be an absolute path", "应为绝对路径")
    host_key = _str(raw, "host_key", where, errors)
    if host_key and not re.match(r"^(ssh-|ecdsa-)[a-z0-9-]+ [A-Za-z0-9+/=]+$", host_key):
        _err(errors, _at(where, "host_key"), "format", "'type base64' as ssh-keyscan prints it",
             "格式应为 ssh-keyscan 输出的 '类型 base64'")
    upload = _int(raw, "upload_kib_s", where, 0, 0, 10_000_000, errors)
    try:
        auth = SshAuth(str(raw.get("auth", "key")))
    except ValueError:
        _err(errors, _at(where, "auth"), "enum", "key or password", "应为 key 或 password")
        auth = SshAuth.KEY
    password = _str(raw, "password", where, errors)
    if len(password) > 256 or any(c in password for c in "\r\n\0"):
        _err(errors, _at(where, "password"), "format", "at most 256 characters, on one line", "最多 256 个字符,不能换行")
    if password and (not sftp or auth is not SshAuth.PASSWORD):
        _err(errors, _at(where, "password"), "unused", "only for an SFTP target with password authentication",
             "仅用于使用密码认证的 SFTP 目标")
    if errors:
        raise ValidationFailed(errors, "backup target")
    return Target(name, kind, path, label, host, port, user, identity, host_key, upload, auth, password)


def parse_schedule(raw: Any, where: str = "schedule") -> Schedule:
    errors: list[FieldError] = []
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError(where, "type", f"{where}: must be an object", f"{where}: 应为对象")])
    name = _str(raw, "name", where, errors, required=True, pattern=_NAME)
    target = _str(raw, "target", where, errors, required=True, pattern=_NAME)
    cron = _str(raw, "cron", where, errors, required=True)
    if cron:
        try:
            fields = cron.split()
            if len(fields) == 6:  # seconds first
                CronTrigger(second=fields[0], minute=fields[1], hour=fields[2], day=fields[3], month=fields[4],
                            day_of_week=fields[5])
            else:
                CronTrigger.from_crontab(cron)
        except ValueError as exc:
            _err(errors, _at(where, "cron"), "cron", f"not a crontab time ({exc})", f"不是有效的 crontab 时间({exc})")
    parts_raw = raw.get("parts", ["config", "audio"])
    parts: list[Part] = []
    if not isinstance(parts_raw, list) or not parts_raw:
        _err(errors, _at(where, "parts"), "type", "a non-empty list of config, audio", "应为 config、audio 的非空列表")
    else:
        for i, p in enumerate(parts_raw):
            try:
                part = Part(p)
            except ValueError:
                _err(errors, _at(where, f"parts.{i}"), "enum", "config or audio", "应为 config 或 audio")
                continue
            if part not in parts:
                parts.append(part)
    verify = raw.get("verify_subset", False)
    if not isinstance(verify, bool):
        _err(errors, _at(where, "verify_subset"), "type", "must be true or false", "应为布尔值")
        verify = False
    if errors:
        raise ValidationFailed(errors, "backup schedule")
    return Schedule(name, target, tuple(parts), cron, verify)


def parse_retention(raw: Any, where: str = "retention") -> Retention:
    errors: list[FieldError] = []
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError(where, "type", f"{where}: must be an object", f"{where}: 应为对象")])
    daily = _int(raw, "daily", where, 7, 1, 3650, errors)  # at least one: the last good backup always stays
    weekly = _int(raw, "weekly", where, 4, 0, 520, errors)
    monthly = _int(raw, "monthly", where, 12, 0, 1200, errors)
    if errors:
        raise ValidationFailed(errors, "backup retention")
    return Retention(daily, weekly, monthly)


def _list(raw: dict[str, Any], key: str, errors: list[FieldError]) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        _err(errors, key, "type", "must be a list", "应为列表")
        return []
    return value


def parse_settings(raw: Any) -> BackupSettings:
    if raw is None:
        return BackupSettings()
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError("backups", "type", "backups: must be an object", "backups: 应为对象")])
    errors: list[FieldError] = []
    targets: list[Target] = []
    schedules: list[Schedule] = []
    retention = Retention()
    for i, t in enumerate(_list(raw, "targets", errors)):
        try:
            targets.append(parse_target(t, f"targets.{i}"))
        except ValidationFailed as exc:
            errors += exc.errors
    for i, s in enumerate(_list(raw, "schedules", errors)):
        try:
            schedules.append(parse_schedule(s, f"schedules.{i}"))
        except ValidationFailed as exc:
            errors += exc.errors
    try:
        retention = parse_retention(raw.get("retention", {}))
    except ValidationFailed as exc:
        errors += exc.errors
    names = [t.name for t in targets]
    for i, n in enumerate(names):
        if n in names[:i]:
            _err(errors, f"targets.{i}.name", "unique", "used twice", "重复")
    snames = [s.name for s in schedules]
    for i, s in enumerate(schedules):
        if s.name in snames[:i]:
            _err(errors, f"schedules.{i}.name", "unique", "used twice", "重复")
        if s.target not in names:
            _err(errors, f"schedules.{i}.target", "reference", f"no target named {s.target!r}",
                 f"没有名为 {s.target!r} 的目标")
    if errors:
        raise ValidationFailed(errors, "backup settings")
    return BackupSettings(tuple(targets), tuple(schedules), retention)
