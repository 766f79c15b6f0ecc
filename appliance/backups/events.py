"""Events of the backup service: runs starting, progressing, succeeding and failing (SNMP turns the failures
into traps), a repository that failed verification, and every snapshot the retention rules removed. All of
them are public (`appliance.public_events`): the WebSocket stream and the web UI's progress bar read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupStarted(Event):
    topic: ClassVar[str] = "backups.started"
    run_id: str
    kind: str  # backup | verify | restore
    target: str
    parts: list[str] = field(default_factory=list)
    trigger: str = "manual"  # manual | schedule | missed


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupProgress(Event):
    topic: ClassVar[str] = "backups.progress"
    run_id: str
    target: str
    part: str
    percent_done: float
    files_done: int
    total_files: int
    bytes_done: int
    total_bytes: int
    seconds_remaining: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupSucceeded(Event):
    topic: ClassVar[str] = "backups.succeeded"
    run_id: str
    kind: str
    target: str
    parts: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    files_new: int = 0
    files_changed: int = 0
    bytes_added: int = 0
    duration_s: float = 0.0
    partial: bool = False  # restic could not read some files (exit 3); the snapshot exists but is incomplete


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupFailed(Event):
    topic: ClassVar[str] = "backups.failed"
    run_id: str
    kind: str
    target: str
    error_id: str
    reason: str  # plain words, English
    reason_zh: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyFailed(Event):
    """The repository failed verification (a run's closing `check`, a scheduled or manual verification, or a
    restore refusing a damaged snapshot). Also a `backups.failed`; this one says the stored data is at risk."""

    topic: ClassVar[str] = "backups.verify_failed"
    run_id: str
    kind: str  # the run that found it: backup | verify | restore
    target: str
    detail: str  # restic's own words, e.g. "pack 1a2b... : ciphertext verification failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotsForgotten(Event):
    topic: ClassVar[str] = "backups.forgotten"
    target: str
    part: str
    snapshots: list[str] = field(default_factory=list)


PUBLIC_BACKUP_EVENTS = (BackupStarted, BackupProgress, BackupSucceeded, BackupFailed, VerifyFailed,
                        SnapshotsForgotten)
