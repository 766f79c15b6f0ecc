"""The restic driver: restic run as an asyncio subprocess at idle CPU and I/O priority, its JSON lines read as
they come, a stall watchdog, and its exit codes and stderr turned into errors that say what failed.

restic 0.14 facts this relies on: only `backup`, `snapshots`, `forget` and `stats` speak `--json`; JSON
omits zero-valued fields; exit 3 means a source file could not be read (a snapshot exists but is partial);
fatal errors are plain text on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.backups.errors import (
    BackupError,
    ConnectionLost,
    HostKeyChanged,
    RepositoryCorrupt,
    ResticFailed,
    Stalled,
    TargetFull,
    WrongPassword,
)
from appliance.backups.models import BackupSummary, Progress

log = logging.getLogger(__name__)

EXIT_PARTIAL = 3  # backup: some source files were unreadable, the snapshot was still written
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if the appliance dies, restic dies with it (its lock is then stale and the
    next run removes it), rather than running on unsupervised."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def low_priority_prefix() -> list[str]:
    """restic and the ssh it starts share the box with the RTP relay: the idle CPU scheduling class (they run
    only on a core nothing else wants; `nice 19` where `chrt` is missing) and the idle I/O class."""
    prefix: list[str] = []
    chrt, nice, ionice = shutil.which("chrt"), shutil.which("nice"), shutil.which("ionice")
    if chrt:
        prefix += [chrt, "--idle", "0"]
    elif nice:
        prefix += [nice, "-n", "19"]
    if ionice:
        prefix += [ionice, "-c", "3"]
    return prefix


STALE_LOCK = "the `unlock` command can be used to remove stale locks"  # restic's hint when a lock refused it


@dataclass(frozen=True, slots=True)
class Repository:
    """Where restic writes: the repository string, `-o` options, and the target's name for messages."""

    target: str
    url: str
    options: tuple[str, ...] = ()
    limit_upload_kib: int = 0


@dataclass
class ResticResult:
    code: int
    messages: list[dict[str, Any]] = field(default_factory=list)  # JSON lines
    text: list[str] = field(default_factory=list)  # stdout lines that were not JSON
    stderr: str = ""


def _as_int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _as_float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def progress_of(msg: Mapping[str, Any]) -> Progress:
    """A status line, any field possibly missing (restic omits zeros)."""
    return Progress(
        percent_done=_as_float(msg.get("percent_done")), files_done=_as_int(msg.get("files_done")),
        total_files=_as_int(msg.get("total_files")), bytes_done=_as_int(msg.get("bytes_done")),
        total_bytes=_as_int(msg.get("total_bytes")), seconds_elapsed=_as_float(msg.get("seconds_elapsed")),
        seconds_remaining=_as_float(msg.get("seconds_remaining")))


def summary_of(msg: Mapping[str, Any]) -> BackupSummary:
    return BackupSummary(
        snapshot_id=str(msg.get("snapshot_id", "")), files_new=_as_int(msg.get("files_new")),
        files_changed=_as_int(msg.get("files_changed")), files_unmodified=_as_int(msg.get("files_unmodified")),
        data_added=_as_int(msg.get("data_added")), total_files_processed=_as_int(msg.get("total_files_processed")),
        total_bytes_processed=_as_int(msg.get("total_bytes_processed")),
        total_duration=_as_float(msg.get("total_duration")))


def classify(target: str, command: str, code: int, stderr: str) -> BackupError:
    """restic's exit code and stderr as the error a person can act on."""
    low = stderr.lower()
    tail = " ".join(line.strip() for line in stderr.strip().splitlines()[-3:])[:400] or f"exit status {code}"
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return HostKeyChanged(target)
    if "wrong password" in low:
        return WrongPassword(target)
    if "no space left on device" in low or "ssh_fx_failure" in low or "disk quota exceeded" in low:
        return TargetFull(target, tail)
    if ("ciphertext verification failed" in low or "repository contains errors" in low
            or "pack file cannot be listed" in low or "hash does not match" in low):
        return RepositoryCorrupt(target, tail)
    if ("ssh command exited" in low or "connection lost" in low or "connection closed" in low
            or "broken pipe" in low or "connection refused" in low or "timed out" in low
            or "unable to start the sftp session" in low):
        return ConnectionLost(target, tail)
    return ResticFailed(target, command, code, tail)


@dataclass
class Restic:
    """Runs restic commands against repositories. One instance per service; it holds no repository state."""

    password_file: str
    cache_dir: str
    host: str  # fixed `--host`, so snapshots stay grouped whatever the box's hostname becomes
    binary: str = "restic"
    stall_s: float = 120.0  # no progress for this long kills the run (keepalives catch most hangs first)
    low_priority: bool = True
    max_procs: int = 1

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(RESTIC_PASSWORD_FILE=self.password_file, RESTIC_CACHE_DIR=self.cache_dir,
                   RESTIC_PROGRESS_FPS="1",
                   # one core for restic's Go runtime whatever the box has: the other stays the relay's
                   GOMAXPROCS=str(self.max_procs))
        return env

    def argv(self, repo: Repository, args: Sequence[str]) -> list[str]:
        opts = [x for o in repo.options for x in ("-o", o)]
        if repo.limit_upload_kib:
            opts += ["--limit-upload", str(repo.limit_upload_kib)]
        prefix = low_priority_prefix() if self.low_priority else []
        return [*prefix, self.binary, "-r", repo.url, *opts, *args]

    async def run(self, repo: Repository, args: Sequence[str], *, command: str = "",
                  on_progress: Callable[[Progress], None] | None = None,
                  ok_codes: tuple[int, ...] = (0,), stall_s: float | None = None) -> ResticResult:
        """Run one restic command; raise a classified `BackupError` unless it exits with one of `ok_codes`.

        A command refused for a lock left by a process that died (restic tells which: "the `unlock` command can
        be used to remove stale locks") runs once more after `restic unlock`, which removes only stale locks."""
        command = command or args[0]
        result = await self._run_once(repo, args, command, on_progress, stall_s)
        if result.code not in ok_codes and args[0] != "unlock" and STALE_LOCK in result.stderr:
            log.info("restic %s on %s found a stale lock: unlocking and running it again", command, repo.target)
            self._raise_unless(await self._run_once(repo, ["unlock"], "unlock", None, None), repo, "unlock", (0,))
            result = await self._run_once(repo, args, command, on_progress, stall_s)
        self._raise_unless(result, repo, command, ok_codes)
        return result

    @staticmethod
    def _raise_unless(result: ResticResult, repo: Repository, command: str, ok_codes: tuple[int, ...]) -> None:
        if result.code not in ok_codes:
            level = logging.DEBUG if command == "open" else logging.WARNING  # "open" failing is how we find none
            log.log(level, "restic %s on %s exited %d: %s", command, repo.target, result.code, result.stderr[-2000:])
            raise classify(repo.target, command, result.code, result.stderr)

    async def _run_once(self, repo: Repository, args: Sequence[str], command: str,
                        on_progress: Callable[[Progress], None] | None, stall_s: float | None) -> ResticResult:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(repo, args), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env(), start_new_session=True,
            preexec_fn=_die_with_parent)
        result = ResticResult(code=-1)
        began = asyncio.get_running_loop().time()
        stderr_parts: list[bytes] = []
        loop = asyncio.get_running_loop()
        last_activity = loop.time()
        last_mark: tuple[int, int] | None = None
        limit = self.stall_s if stall_s is None else stall_s
        if repo.limit_upload_kib:  # a capped line may take this long for a few packs (up to 16 MiB each)
            limit = max(limit, 3 * 16 * 1024 / repo.limit_upload_kib)

        async def read_stdout() -> None:
            nonlocal last_activity, last_mark
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                msg: Any = None
                if line[0] in "[{":
                    with contextlib.suppress(json.JSONDecodeError):
                        msg = json.loads(line)
                if isinstance(msg, dict) and msg.get("message_type") == "status":
                    progress = progress_of(msg)
                    mark = (progress.bytes_done, progress.files_done)
                    if mark != last_mark:  # a hung target keeps printing the same figures
                        last_mark, last_activity = mark, loop.time()
                    if on_progress is not None:
                        on_progress(progress)
                    continue
                last_activity = loop.time()
                if msg is not None:
                    result.messages.append(msg if isinstance(msg, dict) else {"list": msg})
                else:
                    result.text.append(line)

        async def read_stderr() -> None:
            nonlocal last_activity
            assert proc.stderr is not None
            async for raw in proc.stderr:
                stderr_parts.append(raw)
                last_activity = loop.time()

        readers = asyncio.gather(read_stdout(), read_stderr())
        stalled = False
        try:
            while not readers.done():
                await asyncio.wait([readers], timeout=1.0)
                if not readers.done() and loop.time() - last_activity > limit:
                    stalled = True
                    self._kill(proc)
                    break
            with contextlib.suppress(Exception):
                await asyncio.wait_for(readers, timeout=10)
            result.code = await proc.wait()
        except BaseException:
            self._kill(proc)
            readers.cancel()
            with contextlib.suppress(BaseException):
                await proc.wait()
            raise
        result.stderr = b"".join(stderr_parts).decode("utf-8", "replace")
        log.debug("restic %s on %s: exit %d after %.2f s", command, repo.target, result.code, loop.time() - began)
        if stalled:
            raise Stalled(repo.target, limit)
        return result

    @staticmethod
    def _kill(proc: asyncio.subprocess.Process) -> None:
        # the whole group: restic and the ssh it started for the SFTP target
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
