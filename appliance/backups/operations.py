"""The restic operations a run is made of, each one command (or a few) against one repository:
open or initialise, remove stale locks and abandoned temporary files, back up a part, check, forget by
the retention rules, list snapshots, restore a snapshot into a directory, and a dry run of a restore."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import glob
import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.backups.errors import BackupError, RepositoryCorrupt, ResticFailed, TargetUnavailable
from appliance.backups.models import BackupSummary, Part, Progress, Retention, Snapshot
from appliance.backups.restic import EXIT_PARTIAL, Repository, Restic, summary_of

log = logging.getLogger(__name__)

TEMP_GLOB = "*-restic-temp-*"  # restic's SFTP (and local) backend writes a pack under this name, then renames it


async def open_repository(restic: Restic, repo: Repository, *, may_init: bool) -> bool:
    """True when the repository was created now. Only a person's run may initialise one: a scheduled run
    against an empty or wrong place (an unmounted disk, a mistyped path) must fail, not start a new repository.

    Opening is `restic unlock`: it proves the repository and the password, and removes stale locks (only locks
    whose process is gone, or older than 30 min; the service's run lock means no run of ours holds one)."""
    try:
        await restic.run(repo, ["unlock"], command="open")
        return False
    except ResticFailed as exc:
        missing = "is there a repository" in str(exc).lower() or "does not exist" in str(exc).lower()
        if not missing:
            raise
    if not may_init:
        raise TargetUnavailable(repo.target, "no backup repository there yet; run a backup by hand to create it",
                                "该处尚无备份仓库;请先手动运行一次备份以创建")
    await restic.run(repo, ["init", "--repository-version", "2"], command="init")
    return True


async def cleanup_temp_files(repo: Repository, local_root: Path | None, sftp_batch: Callable[[str], Any] | None,
                             remote_path: str) -> int:
    """Abandoned `*-restic-temp-*` uploads from a killed run (prune ignores them)."""
    if local_root is not None:
        def sweep() -> int:
            found = glob.glob(str(local_root / "data" / "*" / TEMP_GLOB)) + glob.glob(str(local_root / TEMP_GLOB))
            for name in found:
                with contextlib.suppress(OSError):
                    os.unlink(name)
            return len(found)
        return await asyncio.to_thread(sweep)
    if sftp_batch is not None:
        # "-" before a command: no match is not an error
        await sftp_batch(f"-rm {remote_path}/data/*/{TEMP_GLOB}\n-rm {remote_path}/{TEMP_GLOB}\n")
    return 0


@dataclass(frozen=True, slots=True)
class PartResult:
    part: Part
    summary: BackupSummary
    partial: bool  # exit 3: some files could not be read


async def backup_part(restic: Restic, repo: Repository, part: Part, paths: Sequence[Path], *,
                      on_progress: Callable[[Progress], None] | None = None,
                      at: dt.datetime | None = None, extra_tags: Sequence[str] = ()) -> PartResult:
    args = ["backup", "--json", "--host", restic.host, "--tag", part.value, "--exclude-caches"]
    for tag in extra_tags:
        args += ["--tag", tag]
    if at is not None:
        args += ["--time", at.strftime("%Y-%m-%d %H:%M:%S")]
    result = await restic.run(repo, [*args, *map(str, paths)], command="backup", on_progress=on_progress,
                              ok_codes=(0, EXIT_PARTIAL))
    summaries = [m for m in result.messages if m.get("message_type") == "summary"]
    if not summaries or not summaries[-1].get("snapshot_id"):
        raise ResticFailed(repo.target, "backup", result.code, "restic reported no snapshot")
    return PartResult(part, summary_of(summaries[-1]), result.code == EXIT_PARTIAL)


async def check(restic: Restic, repo: Repository, subset: str | None = None, *, with_cache: bool = False) -> str:
    """`restic check` (structure), or with `--read-data-subset` (reads and authenticates that share of packs).
    `with_cache`: index and tree data already in the local cache are not fetched again, and no lock is taken.
    That is for the check closing a run: the service runs one command at a time on a repository only this box
    writes (the password is its own), so no prune can race it, and restic's lock costs a fixed wait of its
    own. A verification on its schedule takes the lock."""
    if subset == "all":
        args = ["check", "--read-data"]
    else:
        args = ["check"] + ([f"--read-data-subset={subset}"] if subset else [])
    if with_cache:
        args = ["--no-lock", *args, "--with-cache"]
    try:
        result = await restic.run(repo, args, command="check", stall_s=max(restic.stall_s, 600))
    except ResticFailed as exc:
        raise RepositoryCorrupt(repo.target, str(exc.details.get("detail") or exc.message)) from None
    return "\n".join(result.text)


async def forget(restic: Restic, repo: Repository, parts: Sequence[Part], keep: Retention) -> dict[Part, list[str]]:
    """Apply the retention rules to the parts' snapshots (one command: `--tag` filters are or-ed, and each tag
    set is its own group); returns the ids removed per part, each one logged. `--keep-daily` is at least 1, so
    the newest snapshot of each group (the last good backup) always stays. The data only they used goes with
    `prune`, which the caller runs (it reads the whole index: not after every hourly run)."""
    tags = [x for p in parts for x in ("--tag", p.value)]
    result = await restic.run(repo, [
        "forget", "--json", "--host", restic.host, *tags, "--group-by", "host,tags",
        "--keep-daily", str(max(1, keep.daily)), "--keep-weekly", str(keep.weekly),
        "--keep-monthly", str(keep.monthly)], command="forget")
    removed: dict[Part, list[str]] = {}
    for msg in result.messages:
        groups = msg.get("list", [msg])
        for group in groups if isinstance(groups, list) else []:
            if not isinstance(group, dict):
                continue
            for snap in group.get("remove") or []:
                sid = str(snap.get("id", ""))
                snap_tags = snap.get("tags") or []
                part = next((p for p in parts if p.value in snap_tags), parts[0])
                log.info("backup retention on %s removed %s snapshot %s of %s", repo.target, part.value,
                         sid[:8], snap.get("time", "?"))
                removed.setdefault(part, []).append(sid)
    return removed


async def prune(restic: Restic, repo: Repository) -> None:
    await restic.run(repo, ["prune"], command="prune", stall_s=max(restic.stall_s, 600))


async def snapshots(restic: Restic, repo: Repository, part: Part | None = None) -> list[Snapshot]:
    args = ["snapshots", "--json", "--host", restic.host] + (["--tag", part.value] if part else [])
    try:
        result = await restic.run(repo, args, command="snapshots")
    except ResticFailed as exc:
        if "is there a repository" in str(exc).lower():
            raise TargetUnavailable(repo.target, "no backup repository there yet; back up once to create it",
                                    "该处尚无备份仓库;请先备份一次以创建") from None
        raise
    out: list[Snapshot] = []
    for msg in result.messages:
        for s in msg.get("list", []):
            if isinstance(s, dict) and s.get("id"):
                out.append(Snapshot(str(s["id"]), str(s.get("short_id", str(s["id"])[:8])), str(s.get("time", "")),
                                    str(s.get("hostname", "")), tuple(s.get("tags") or ()),
                                    tuple(s.get("paths") or ())))
    return sorted(out, key=lambda s: s.time)


async def restore_to(restic: Restic, repo: Repository, snapshot: Snapshot, into: Path) -> Path:
    """Extract `snapshot` under `into` (which is created, and removed again on failure); `--verify` re-reads
    every file written. A corrupted or tampered pack fails the MAC check and the restore is refused."""
    into.mkdir(parents=True, exist_ok=False)
    try:
        result = await restic.run(repo, ["restore", snapshot.id, "--target", str(into), "--verify"],
                                  command="restore", stall_s=max(restic.stall_s, 600))
    except ResticFailed as exc:
        await asyncio.to_thread(shutil.rmtree, into, True)
        raise RepositoryCorrupt(repo.target, str(exc.details.get("detail") or exc.message)) from None
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, into, True)
        raise
    # restic 0.14 prints errors for single files and still exits 0 in some versions; trust only a clean report
    bad = [line for line in result.text if "error" in line.lower() or "ciphertext" in line.lower()]
    if bad:
        await asyncio.to_thread(shutil.rmtree, into, True)
        raise RepositoryCorrupt(repo.target, "; ".join(bad[:3]))
    return into


async def list_files(restic: Restic, repo: Repository, snapshot: Snapshot) -> list[dict[str, Any]]:
    result = await restic.run(repo, ["ls", "--json", snapshot.id], command="ls")
    return [m for m in result.messages if m.get("struct_type") == "node" and m.get("type") == "file"]


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def restic_time(text: str) -> float | None:
    """restic's RFC 3339 times carry nanoseconds and the zone it ran in ("Z" or "+08:00")."""
    m = _TIME.match(text)
    if m is None:
        return None
    base, frac, zone = m.groups()
    parsed = dt.datetime.fromisoformat(f"{base}{'.' + (frac or '0')[:6].ljust(6, '0')}"
                                       f"{'+00:00' if zone == 'Z' else zone}")
    return parsed.timestamp()


def diff_against(nodes: Sequence[dict[str, Any]], root: str, dest: Path) -> dict[str, list[str]]:
    """What a restore would change in `dest`: files it would add, files it would replace, files the same."""
    plan: dict[str, list[str]] = {"new": [], "changed": [], "unchanged": []}
    prefix = root.rstrip("/") + "/"
    for node in nodes:
        path = str(node.get("path", ""))
        if not path.startswith(prefix):
            continue
        rel = path[len(prefix):]
        try:
            st = (dest / rel).stat()
        except OSError:
            plan["new"].append(rel)
            continue
        same_size = st.st_size == int(node.get("size", 0) or 0)
        when = restic_time(str(node.get("mtime", "")))
        same_time = when is not None and abs(when - st.st_mtime) < 1.0
        plan["unchanged" if same_size and same_time else "changed"].append(rel)
    return plan


def latest(snaps: Sequence[Snapshot], part: Part) -> Snapshot:
    mine = [s for s in snaps if part.value in s.tags]
    if not mine:
        raise BackupError(f"there is no {part.value} backup to restore", f"没有可恢复的 {part.value} 备份",
                          "backup_no_snapshot", http_status=404)
    return mine[-1]
