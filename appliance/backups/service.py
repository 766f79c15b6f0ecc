"""The backup service: one run at a time (backup, verify, restore), each a sequence of restic commands run as
subprocesses at low priority; progress, history and events; the password and SSH files under its state
directory; targets, schedules and retention kept in the configuration store's settings."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from appliance.backups import catalogue, live, retention
from appliance.backups import history as run_history
from appliance.backups import operations as ops
from appliance.backups.editing import SettingsEditing
from appliance.backups.errors import (
    BackupBusy,
    BackupError,
    HostKeyChanged,
    RepositoryCorrupt,
    TargetUnavailable,
)
from appliance.backups.events import (
    BackupFailed,
    BackupProgress,
    BackupStarted,
    BackupSucceeded,
    SnapshotsForgotten,
    VerifyFailed,
)
from appliance.backups.live import LiveReport
from appliance.backups.models import (
    Part,
    Progress,
    RunRecord,
    Schedule,
    Snapshot,
    SnapshotInfo,
    Target,
    TargetKind,
)
from appliance.backups.restic import Repository, Restic
from appliance.backups.schedule import BackupScheduler
from appliance.backups.ssh import HostKey, SshFiles, probe, scan_host_keys, sftp_batch
from appliance.backups.staging import RECORDS_FILE, audio_paths, move_into, source_root, stage_config
from appliance.backups.targets import Disks, repository_of
from appliance.clock import Clock
from appliance.errors import NotFound
from appliance.events import EventBus
from appliance.health import Health, Status

log = logging.getLogger(__name__)
T = TypeVar("T")

STATE_DIR = "backups"  # under the data directory; never itself backed up
PASSWORD_FILE = "repository.password"
SUBSET_SLICES = 4  # `check --read-data-subset=k/4`: the whole repository is read once every four verifications
PRUNE_EVERY_S = 20 * 3600  # forgotten snapshots' data is pruned at most about daily (prune reads every index)


class SettingsStore(Protocol):
    @property
    def settings(self) -> dict[str, Any]: ...

    async def set_settings(self, **values: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class RestoreReport:
    target: str
    dest: str
    dry_run: bool
    snapshots: dict[str, str]  # part -> snapshot id
    plan: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # dry run: part -> new/changed/unchanged
    restored: dict[str, list[str]] = field(default_factory=dict)  # part -> top-level entries moved into dest
    records_integrity: str = ""


@dataclass
class BackupService(SettingsEditing):
    name = "backups"

    data_dir: Path
    store: SettingsStore
    bus: EventBus
    clock: Clock
    host: str = "appliance"
    disks: Disks = field(default_factory=Disks)
    stall_s: float = 120.0
    restic_binary: str = "restic"
    state_dir: Path | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _running: dict[str, Any] | None = None
    _counters: dict[str, int] = field(default_factory=lambda: {"runs_ok": 0, "runs_failed": 0, "snapshots_forgotten": 0})
    _last: RunRecord | None = None
    _last_ok_at: float = 0.0
    _started: bool = False
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _clean: set[str] = field(default_factory=set)  # targets with no leftovers of ours since start
    _scheduler: BackupScheduler | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.state = Path(self.state_dir) if self.state_dir else self.data_dir / STATE_DIR
        self.ssh = SshFiles(self.state / "ssh")
        self.restic = Restic(password_file=str(self.state / PASSWORD_FILE), cache_dir=str(self.state / "cache"),
                             host=self.host, binary=self.restic_binary, stall_s=self.stall_s)

    # ---- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare_state)
        control = await asyncio.to_thread(tempfile.mkdtemp, prefix="appliance-ssh-")  # private (0700), short
        self.ssh = dataclasses.replace(self.ssh, control_dir=Path(control))
        settings = self.settings()
        await asyncio.to_thread(self.ssh.write, settings.targets)
        self._scheduler = BackupScheduler(self._fire, self.state / "schedule-state.json",
                                          str(self.store.settings.get("time_zone", "UTC")))
        await self._scheduler.start(settings.schedules)
        self._started = True

    async def stop(self) -> None:
        self._started = False
        if self._scheduler is not None:
            await self._scheduler.stop()
            self._scheduler = None
        tasks = list(self._tasks)
        for task in tasks:  # a run cancelled kills its restic (and ssh) process group
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.ssh.control_dir is not None:
            await self.ssh.close_masters(self.settings().targets)
            await asyncio.to_thread(shutil.rmtree, self.ssh.control_dir, True)
            self.ssh = dataclasses.replace(self.ssh, control_dir=None)

    async def _fire(self, schedule: Schedule, trigger: str) -> None:
        if schedule.verify_subset:
            await self.verify(schedule.target, read_data="subset", trigger=trigger, wait=True)
        else:
            await self.run_backup(schedule.target, schedule.parts, trigger=trigger, wait=True)

    def launch(self, kind: str, target_name: str, parts: Sequence[Part] = (Part.CONFIG, Part.AUDIO)) -> None:
        """Start a backup or verification in the background (the API's "run now"); progress and the outcome
        arrive as events, in `progress` and in the history."""
        self.target(target_name)
        if self._lock.locked() or any(not t.done() for t in self._tasks):
            raise BackupBusy()
        coro = (self.run_backup(target_name, parts) if kind == "backup"
                else self.verify(target_name, read_data="subset"))

        async def guarded() -> None:
            with contextlib.suppress(BackupError):
                await coro

        task = asyncio.create_task(guarded(), name=f"backup-{kind}-{target_name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def outliving(self, work: Awaitable[T]) -> T:
        """Await `work` in a task of the service's own: if the caller goes (an HTTP request that timed out, a
        browser closed), a restore already under way still finishes, and its outcome is in the history and
        the events; only `stop()` cancels it."""
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    def next_runs(self) -> dict[str, str]:
        return self._scheduler.next_runs() if self._scheduler else {}

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        last = self._last
        if not self._started:
            status, detail = Status.STARTING, "not started"
        elif last is not None and not last.ok:
            status, detail = Status.DEGRADED, f"last {last.kind} on {last.target} failed: {last.message}"
        else:
            status, detail = Status.OK, "running" if self._running else "idle"
        age = self.clock.wall() - self._last_ok_at if self._last_ok_at else -1.0
        return Health.of(self.name, status, detail, counters=dict(self._counters),
                         gauges={"running": 1.0 if self._running else 0.0, "last_success_age_s": age})

    def _prepare_state(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.state, 0o700)
        path = self.state / PASSWORD_FILE
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
                f.flush()
                os.fsync(f.fileno())
        (self.state / "cache").mkdir(exist_ok=True)
        self._last, self._last_ok_at = run_history.last_and_last_backup_ok(self.state)

    # ---- settings (and editing them: `SettingsEditing`) --------------------------------------------------

    def password_was_shown(self) -> bool:
        return (self.state / "password.shown").exists()

    def password_once(self) -> str | None:
        """The repository password, for the admin to keep somewhere safe; shown only the first time."""
        shown = self.state / "password.shown"
        if shown.exists():
            return None
        value = (self.state / PASSWORD_FILE).read_text(encoding="utf-8").strip()
        shown.touch(mode=0o600)
        return value

    async def scan_host_key(self, name: str) -> list[HostKey]:
        return await scan_host_keys(self.target(name))

    async def public_key(self) -> str:
        return await self.ssh.ensure_key()

    @property
    def progress(self) -> dict[str, Any] | None:
        return dict(self._running) if self._running else None

    # ---- runs -------------------------------------------------------------------------------------------

    async def run_backup(self, target_name: str, parts: Sequence[Part] = (Part.CONFIG, Part.AUDIO), *,
                         trigger: str = "manual", wait: bool = False, at: Any = None) -> RunRecord:
        """Back up `parts` to the target, check what was written and apply retention. A person's run may
        initialise a new repository; a scheduled one may not. `at` (a datetime) backdates the snapshot."""
        target = self.target(target_name)
        async with self._exclusive(wait):
            return await self._run("backup", target, tuple(parts), trigger,
                                   lambda rec: self._backup(target, tuple(parts), trigger, rec, at))

    async def verify(self, target_name: str, *, read_data: str = "subset", trigger: str = "manual",
                     wait: bool = False) -> RunRecord:
        """`restic check`; with `read_data` "subset" also a rotating `--read-data-subset` slice of the packs
        (the whole repository once every four runs), with "all" every pack, with "none" the structure only."""
        target = self.target(target_name)
        async with self._exclusive(wait):
            return await self._run("verify", target, (), trigger, lambda rec: self._verify(target, read_data, rec))

    async def snapshot_infos(self, target_name: str, part: Part | None = None) -> list[SnapshotInfo]:
        """The snapshots, newest first, with size, files and verification state (`catalogue`)."""
        snaps = await self.list_snapshots(target_name, part)
        sizes = await asyncio.to_thread(catalogue.read, self.state)
        runs = await asyncio.to_thread(self.history, run_history.KEEP)
        return catalogue.infos(snaps, sizes, runs, target_name)

    async def list_snapshots(self, target_name: str, part: Part | None = None) -> list[Snapshot]:
        target = self.target(target_name)
        repo = await self._repository(target)
        try:
            return await ops.snapshots(self.restic, repo, part)
        except BackupError as raw:
            diagnosed = await self._diagnosed(target, raw)
            if diagnosed is raw:
                raise
            raise diagnosed from raw

    async def restore(self, target_name: str, dest: Path, parts: Sequence[Part] = (Part.CONFIG, Part.AUDIO), *,
                      snapshot_ids: dict[Part, str] | None = None, dry_run: bool = False) -> RestoreReport:
        """Restore into `dest`, a data directory that is not the live one (the services keep theirs open).
        Each part is extracted and verified beside `dest` first, so a refused restore changes nothing there."""
        target = self.target(target_name)
        dest = Path(dest).resolve()
        if dest == self.data_dir.resolve() and not dry_run:
            raise BackupError("restore into the live data directory needs the services stopped; restore into a "
                              "new directory", "恢复到正在使用的数据目录需先停止服务;请恢复到新目录",
                              "backup_restore_live", http_status=409)
        async with self._exclusive(False):
            holder: list[RestoreReport] = []

            async def body(rec: dict[str, Any]) -> None:
                holder.append(await self._restore(target, dest, tuple(parts), snapshot_ids or {}, dry_run, rec))

            await self._run("dry_run" if dry_run else "restore", target, tuple(parts), "manual", body)
            return holder[0]

    async def restore_live(self, target_name: str, parts: Sequence[Part] = (Part.CONFIG,), *,
                           snapshot_ids: dict[Part, str] | None = None) -> tuple[RestoreReport, Path]:
        """Restore into the live data directory. Only with the services stopped (the caller holds the data
        directory's lock: the command line). The snapshots are chosen first; then a safety backup of the current
        state is taken; then they are extracted and verified beside the data directory, and only then swapped in.
        What they replace is kept aside (returned). Schema migrations run when the appliance next opens the
        stores, as after any update."""
        snaps = await self.list_snapshots(target_name)
        chosen = {p: (snapshot_ids or {}).get(p) or ops.latest(snaps, p).id for p in parts}
        await self.run_backup(target_name, parts, trigger="safety", wait=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.clock.wall()))
        incoming = self.data_dir.parent / f".{self.data_dir.name}.incoming-{stamp}"
        aside = self.data_dir.parent / f"{self.data_dir.name}.before-restore-{stamp}"
        try:
            report = await self.restore(target_name, incoming, parts, snapshot_ids=chosen)
            await asyncio.to_thread(live.swap_in, incoming, self.data_dir, aside)
        finally:
            await asyncio.to_thread(shutil.rmtree, incoming, True)
        return dataclasses.replace(report, dest=str(self.data_dir)), aside

    async def restore_online(self, target_name: str, parts: Sequence[Part] = (Part.CONFIG,), *,
                             snapshot_ids: dict[Part, str] | None = None) -> tuple[RestoreReport, LiveReport, Path]:
        """Restore into the live data directory while the appliance runs (`appliance.backups.live` says how each
        part is taken). The snapshots are chosen first, then a safety backup of the same parts is taken, then
        they are extracted and verified beside the data directory, and only then put in place; what they
        replace is kept aside (returned). The report names what needs a restart."""
        if not hasattr(self.store, "replace_all"):
            raise BackupError("a live restore needs the running appliance; stop it and use `appliance backup "
                              "restore --live`", "在线恢复需要设备正在运行;请停止设备后使用 "
                              "`appliance backup restore --live`", "backup_restore_live", http_status=409)
        snaps = await self.list_snapshots(target_name)
        chosen = {p: (snapshot_ids or {}).get(p) or ops.latest(snaps, p).id for p in parts}
        await self.run_backup(target_name, parts, trigger="safety", wait=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.clock.wall()))
        incoming = self.data_dir.parent / f".{self.data_dir.name}.incoming-{stamp}"
        aside = self.data_dir.parent / f"{self.data_dir.name}.before-restore-{stamp}"
        done = LiveReport()
        try:
            report = await self.restore(target_name, incoming, parts, snapshot_ids=chosen)
            await asyncio.to_thread(aside.mkdir, parents=True, exist_ok=True)
            if Part.CONFIG in parts:
                await live.config_into_live(self.store, incoming, self.data_dir, aside, done)  # type: ignore[arg-type]
                if (incoming / RECORDS_FILE).is_file():
                    done.records_integrity = await asyncio.to_thread(
                        live.records_into_live, incoming / RECORDS_FILE, self.data_dir / RECORDS_FILE, aside)
                await asyncio.to_thread(live.config_files_into_live, incoming, self.data_dir, aside, done)
            if Part.AUDIO in parts:
                await asyncio.to_thread(live.audio_into_live, incoming, self.data_dir, aside, done)
        finally:
            await asyncio.to_thread(shutil.rmtree, incoming, True)
        log.info("live restore from %s: %s; replaced files kept in %s", target_name, report.snapshots, aside)
        return dataclasses.replace(report, dest=str(self.data_dir)), done, aside

    def history(self, limit: int = 50) -> list[RunRecord]:
        return run_history.read(self.state, limit)

    # ---- internals --------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _exclusive(self, wait: bool) -> Any:
        """Never two runs at once (a restic repository lock would refuse the second anyway, later and louder)."""
        if not wait and self._lock.locked():
            raise BackupBusy()
        async with self._lock:
            yield

    async def _run(self, kind: str, target: Target, parts: tuple[Part, ...], trigger: str,
                   body: Callable[[dict[str, Any]], Any]) -> RunRecord:
        run_id = uuid.uuid4().hex[:12]
        started = self.clock.wall()
        rec: dict[str, Any] = {"run_id": run_id, "kind": kind, "target": target.name,
                               "parts": [p.value for p in parts], "started_at": started, "snapshots": [],
                               "files_new": 0, "files_changed": 0, "bytes_added": 0, "bytes_processed": 0,
                               "partial": False, "trigger": trigger}
        self._running = {**rec, "part": "", "progress": dataclasses.asdict(Progress())}
        self.bus.publish(BackupStarted(at=started, run_id=run_id, kind=kind, target=target.name,
                                       parts=rec["parts"], trigger=trigger))
        try:
            try:
                await body(rec)
            except BackupError as raw:
                diagnosed = await self._diagnosed(target, raw)
                if diagnosed is raw:
                    raise
                raise diagnosed from raw
        except BackupError as exc:
            self._clean.discard(target.name)
            record = self._finish(rec, ok=False, error_id=exc.error_id, message=exc.message,
                                  message_zh=exc.message_zh)
            self.bus.publish(BackupFailed(at=record.ended_at, run_id=run_id, kind=kind, target=target.name,
                                          error_id=exc.error_id, reason=exc.message, reason_zh=exc.message_zh))
            if isinstance(exc, RepositoryCorrupt):
                self.bus.publish(VerifyFailed(at=record.ended_at, run_id=run_id, kind=kind, target=target.name,
                                              detail=str(exc.details.get("detail", exc.message))))
            await asyncio.to_thread(self._append_history, record)
            raise
        except asyncio.CancelledError:
            self._clean.discard(target.name)
            record = self._finish(rec, ok=False, error_id="backup_cancelled", message="the run was stopped",
                                  message_zh="任务已被中止")
            await asyncio.shield(asyncio.to_thread(self._append_history, record))
            raise
        finally:
            self._running = None
        record = self._finish(rec, ok=True)
        self.bus.publish(BackupSucceeded(
            at=record.ended_at, run_id=run_id, kind=kind, target=target.name, parts=rec["parts"],
            snapshots=list(record.snapshots), files_new=record.files_new, files_changed=record.files_changed,
            bytes_added=record.bytes_added, duration_s=record.duration_s, partial=bool(rec["partial"])))
        await asyncio.to_thread(self._append_history, record)
        if kind == "backup":
            self._last_ok_at = record.ended_at
        return record

    def _finish(self, rec: dict[str, Any], *, ok: bool, error_id: str = "", message: str = "",
                message_zh: str = "") -> RunRecord:
        record = RunRecord(
            run_id=rec["run_id"], kind=rec["kind"], target=rec["target"], parts=tuple(rec["parts"]),
            started_at=rec["started_at"], ended_at=self.clock.wall(), ok=ok, snapshots=tuple(rec["snapshots"]),
            files_new=rec["files_new"], files_changed=rec["files_changed"], bytes_added=rec["bytes_added"],
            bytes_processed=rec["bytes_processed"], error_id=error_id, trigger=str(rec.get("trigger", "manual")),
            message=message or str(rec.get("note", "")) or (
                "partial: some files could not be read" if rec.get("partial") else ""),
            message_zh=message_zh or ("部分文件无法读取" if rec.get("partial") else ""))
        self._last = record
        self._counters["runs_ok" if ok else "runs_failed"] += 1
        return record

    def _append_history(self, record: RunRecord) -> None:
        run_history.append(self.state, record)

    async def _repository(self, target: Target) -> Repository:
        repo = await asyncio.to_thread(repository_of, target, self.ssh, self.disks)
        if target.kind is TargetKind.SFTP:
            await asyncio.to_thread(self.ssh.write, self.settings().targets)
        return repo

    async def _diagnosed(self, target: Target, exc: BackupError) -> BackupError:
        """restic says only "unable to start the sftp session, error: EOF" when ssh gave up at once, and may
        exit before relaying why; one `ssh -s sftp` of our own then reads ssh's verdict (a changed host key,
        a refused key). Only then: an SSH session per run saved."""
        if target.kind is not TargetKind.SFTP or "unable to start the sftp session" not in exc.message.lower():
            return exc
        try:
            await probe(self.ssh, target)
        except (HostKeyChanged, TargetUnavailable) as found:
            return found
        except BackupError:
            pass
        return exc

    async def _prepare_repo(self, target: Target, *, may_init: bool) -> Repository:
        repo = await self._repository(target)
        if target.name in self._clean:
            # Opened since start and no run has failed on it since: no stale lock of ours can be there, and a
            # wrong password or a vanished repository fails the run's first command as clearly. Every restic
            # command pays the repository key's derivation (about half a second), so an hourly run skips it.
            return repo
        created = await ops.open_repository(self.restic, repo, may_init=may_init)
        if created:  # nothing to prune in a new repository for a day
            await asyncio.to_thread((self.state / f"pruned.{target.name}").write_text, str(self.clock.wall()))
        if not created and target.name not in self._clean:
            # Leftovers come from a run that failed or a process that died: once after start, and after a
            # failure, not before every hourly run (each is another SSH session).
            local = None if target.kind is TargetKind.SFTP else Path(repo.url)
            await ops.cleanup_temp_files(repo, local, sftp_batch(self.ssh, target), target.path)
        self._clean.add(target.name)
        return repo

    def _on_progress(self, run_id: str, target: str, part: Part) -> Callable[[Progress], None]:
        def report(p: Progress) -> None:
            if self._running is not None:
                self._running["part"] = part.value
                self._running["progress"] = dataclasses.asdict(p)
            self.bus.publish(BackupProgress(
                at=self.clock.wall(), run_id=run_id, target=target, part=part.value, percent_done=p.percent_done,
                files_done=p.files_done, total_files=p.total_files, bytes_done=p.bytes_done,
                total_bytes=p.total_bytes, seconds_remaining=p.seconds_remaining))
        return report

    async def _backup(self, target: Target, parts: tuple[Part, ...], trigger: str, rec: dict[str, Any],
                      at: dt.datetime | None) -> None:
        repo = await self._prepare_repo(target, may_init=trigger == "manual")
        staging = self.state / "staging" / "config"
        try:
            for part in parts:
                if part is Part.CONFIG:
                    await asyncio.to_thread(stage_config, self.data_dir, staging, host=self.host)
                    paths = [staging]
                else:
                    paths = await asyncio.to_thread(audio_paths, self.data_dir)
                    if not paths:
                        continue
                result = await ops.backup_part(self.restic, repo, part, paths,
                                               on_progress=self._on_progress(rec["run_id"], target.name, part), at=at,
                                               extra_tags=("safety",) if trigger == "safety" else ())
                s = result.summary
                await asyncio.to_thread(catalogue.add, self.state, s)
                rec["snapshots"].append(s.snapshot_id)
                rec["files_new"] += s.files_new
                rec["files_changed"] += s.files_changed
                rec["bytes_added"] += s.data_added
                rec["bytes_processed"] += s.total_bytes_processed
                rec["partial"] = rec["partial"] or result.partial
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        # What it wrote: every pack the index names is there, whole, and the snapshots' trees are complete. The
        # tree data this run just cached is trusted; the scheduled verification reads the repository itself.
        await ops.check(self.restic, repo, with_cache=True)
        if trigger == "safety":
            return  # a safety copy before a restore: the snapshot about to be restored must not be forgotten now
        keep = self.settings().retention
        day = (at or dt.datetime.fromtimestamp(self.clock.wall())).date()
        due = await asyncio.to_thread(retention.due, self.state, target.name, parts, keep, day)
        if not due:
            return
        removed_by_part = await ops.forget(self.restic, repo, due, keep)
        await asyncio.to_thread(retention.mark_done, self.state, target.name, due, keep, day)
        forgotten = 0
        for part, removed in removed_by_part.items():
            forgotten += len(removed)
            self._counters["snapshots_forgotten"] += len(removed)
            self.bus.publish(SnapshotsForgotten(at=self.clock.wall(), target=target.name, part=part.value,
                                                snapshots=removed))
        stamp = self.state / f"pruned.{target.name}"
        last = await asyncio.to_thread(_mtime, stamp)
        if forgotten and self.clock.wall() - last >= PRUNE_EVERY_S:
            await ops.prune(self.restic, repo)
            await asyncio.to_thread(stamp.write_text, str(self.clock.wall()))

    async def _verify(self, target: Target, read_data: str, rec: dict[str, Any]) -> None:
        repo = await self._prepare_repo(target, may_init=False)
        subset = "all" if read_data == "all" else None
        if read_data == "subset":
            counter = self.state / f"verify-slice.{target.name}"
            n = int(counter.read_text()) if counter.exists() else 0
            subset = f"{n % SUBSET_SLICES + 1}/{SUBSET_SLICES}"
            await asyncio.to_thread(counter.write_text, str(n + 1))
        await ops.check(self.restic, repo, subset)
        rec["note"] = f"read data: {subset}" if subset else "structure only"  # what the verification covered

    async def _restore(self, target: Target, dest: Path, parts: tuple[Part, ...], ids: dict[Part, str],
                       dry_run: bool, rec: dict[str, Any]) -> RestoreReport:
        repo = await self._repository(target)
        snaps = await ops.snapshots(self.restic, repo)
        chosen: dict[Part, Snapshot] = {}
        for part in parts:
            if part in ids:
                found = [s for s in snaps if s.id.startswith(ids[part]) and part.value in s.tags]
                if not found:
                    raise NotFound(f"{part.value} snapshot", ids[part])
                chosen[part] = found[-1]
            else:
                chosen[part] = ops.latest(snaps, part)
        report = RestoreReport(target.name, str(dest), dry_run, {p.value: s.id for p, s in chosen.items()})
        if dry_run:
            for part, snap in chosen.items():
                nodes = await ops.list_files(self.restic, repo, snap)
                report.plan[part.value] = await asyncio.to_thread(
                    ops.diff_against, nodes, str(source_root(part, snap.paths)), dest)
            return report
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = dest.parent / f".{dest.name}.restore-{rec['run_id']}"
        try:
            extracted: dict[Part, Path] = {}
            for part, snap in chosen.items():  # every part extracted and verified before anything moves
                into = await ops.restore_to(self.restic, repo, snap, work / part.value)
                root = source_root(part, snap.paths)
                extracted[part] = into / root.relative_to(root.anchor)
                rec["snapshots"].append(snap.id)
            if Part.CONFIG in extracted:
                integrity = await asyncio.to_thread(live.records_integrity, extracted[Part.CONFIG])
                if integrity not in ("ok", "absent"):
                    raise BackupError(f"the restored record store failed its integrity check: {integrity}",
                                      f"恢复的记录库完整性检查失败: {integrity}", "backup_restore_records")
                report = dataclasses.replace(report, records_integrity=integrity)
            for part, path in extracted.items():
                if path.is_dir():
                    report.restored[part.value] = await asyncio.to_thread(move_into, path, dest)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        manifest = dest / "manifest.json"
        if manifest.exists():
            await asyncio.to_thread(manifest.unlink)  # it describes the backup, not the data directory
        return report


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
