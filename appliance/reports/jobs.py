"""Export jobs: a long export written on a worker thread of the reports' own, its progress readable while it
runs, its file kept for a while for its owner to download.

Files live in `<data dir>/exports/` as `<job id>.<format>` (written as `.part` and renamed when whole); what a
previous run of the box left there is removed at start. A job and its file are dropped `keep_s` after they
finish, or when the list is full (oldest finished first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from appliance.errors import ApplianceError, Conflict, NotFound
from appliance.health import Health, Status
from appliance.reports.export import Format, Progress

log = logging.getLogger(__name__)
Work = Callable[[IO[bytes], Progress], int]  # writes the file, reporting rows done; returns the row count


@dataclass
class ExportJob:
    """One export; `rows_done` is advanced by the worker thread while the loop reads it (an int: no lock)."""

    id: str
    owner: str
    source: str
    format: Format
    filename: str
    created: float
    rows_total: int | None = None
    rows_done: int = 0
    state: str = "running"  # running | done | failed
    error: str = ""
    finished: float | None = None
    size: int = 0
    path: Path = field(default=Path(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        progress = 1.0 if self.state == "done" else (
            round(min(1.0, self.rows_done / self.rows_total), 4) if self.rows_total else None)
        return {"id": self.id, "source": self.source, "format": self.format.value, "filename": self.filename,
                "state": self.state, "rows_done": self.rows_done, "rows_total": self.rows_total,
                "progress": progress, "created": self.created, "finished": self.finished, "size": self.size,
                "error": self.error}


class ExportBusy(Conflict):
    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} exports are already running for you; wait for one to finish",
                         f"您已有 {limit} 个导出正在进行,请等待完成")


class ExportNotReady(Conflict):
    def __init__(self, state: str) -> None:
        super().__init__(f"the export is {state}, not done", f"导出尚未完成(状态:{state})", {"state": state})


@dataclass
class ExportJobs:
    folder: Path
    workers: int = 1  # exports queue behind each other rather than take both cores from calls
    keep_s: float = 3600.0
    max_jobs: int = 50
    per_owner: int = 2
    clock: Callable[[], float] = time.time
    _jobs: dict[str, ExportJob] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None
    _counts: dict[str, int] = field(default_factory=lambda: {"done": 0, "failed": 0})

    name: str = "report_exports"

    async def start(self) -> None:
        await asyncio.to_thread(self._clear)

    def _clear(self) -> None:
        """Removes what a previous run left (its jobs are gone with the process)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.iterdir():
            if leftover.is_file():
                with contextlib.suppress(OSError):
                    leftover.unlink()

    async def stop(self) -> None:
        """Exports waiting to run are dropped; one running finishes its file on its thread."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        return Health.of(self.name, Status.OK, f"{self.running} exports running",
                         counters={"exports_done": self._counts["done"], "exports_failed": self._counts["failed"]},
                         gauges={"exports_running": self.running})

    def submit(self, owner: str, source: str, fmt: Format, filename: str, rows_total: int | None,
               work: Work) -> ExportJob:
        with self._lock:
            self._expire()
            running = [j for j in self._jobs.values() if j.owner == owner and j.state == "running"]
            if len(running) >= self.per_owner:
                raise ExportBusy(self.per_owner)
            job = ExportJob(id=secrets.token_hex(8), owner=owner, source=source, format=fmt, filename=filename,
                            created=self.clock(), rows_total=rows_total)
            job.path = self.folder / f"{job.id}.{fmt.value}"
            self._jobs[job.id] = job
            if self._pool is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="report-export")
            pool = self._pool
        pool.submit(self._run, job, work)
        return job

    def _run(self, job: ExportJob, work: Work) -> None:
        part = job.path.with_name(job.path.name + ".part")

        def progress(rows: int) -> None:
            job.rows_done = rows

        try:
            with part.open("wb") as out:
                job.rows_done = work(out, progress)
            os.replace(part, job.path)
            job.size = job.path.stat().st_size
            if job.rows_total is None:
                job.rows_total = job.rows_done
            job.state = "done"
        except ApplianceError as exc:
            job.state, job.error = "failed", exc.message
        except Exception as exc:  # an export that fails says so on its job; the box goes on
            log.exception("export %s failed", job.id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished = self.clock()
            self._counts[job.state] = self._counts.get(job.state, 0) + 1
            with contextlib.suppress(OSError):
                part.unlink()

    def _expire(self) -> None:
        now = self.clock()
        done = sorted((j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.finished or 0.0)
        excess = len(self._jobs) - self.max_jobs + 1
        for job in done:
            if excess > 0 or now - (job.finished or now) > self.keep_s:
                self._jobs.pop(job.id, None)
                with contextlib.suppress(OSError):
                    job.path.unlink()
                excess -= 1
        if len(self._jobs) >= self.max_jobs:
            raise ExportBusy(self.max_jobs)

    def get(self, job_id: str, owner: str) -> ExportJob:
        """The owner's job; anyone else's is not found (its existence is nobody else's business)."""
        job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise NotFound("export", job_id)
        return job

    def of(self, owner: str) -> list[ExportJob]:
        return sorted((j for j in self._jobs.values() if j.owner == owner), key=lambda j: j.created, reverse=True)

    def file(self, job_id: str, owner: str) -> ExportJob:
        job = self.get(job_id, owner)
        if job.state != "done" or not job.path.exists():
            raise ExportNotReady(job.state if job.state != "done" else "expired")
        return job

    @property
    def running(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state == "running")
