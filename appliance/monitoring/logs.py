"""Service logs kept in the data directory: JSON lines, rotated by size, written by a thread of their own
(a `QueueHandler` on the root logger, so the event loop never waits on the disk), and read back filtered by
time and level for download."""

from __future__ import annotations

import asyncio
import calendar
import json
import logging
import logging.handlers
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.errors import FieldError, ValidationFailed
from appliance.health import Health, Status
from appliance.logging_setup import JsonFormatter, RedactingFilter

LOG_DIR = Path("logs")
LOG_FILE = "appliance.log"
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class LogService:
    """Adds the file log on start and takes it away on stop (the console log is left as it is)."""

    name = "logs"

    def __init__(self, data_dir: Path, *, max_bytes: int = 5 * 2**20, backups: int = 5,
                 level: int = logging.INFO) -> None:
        self.dir = Path(data_dir) / LOG_DIR
        self.max_bytes, self.backups, self.level = max_bytes, backups, level
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._handler: logging.handlers.QueueHandler | None = None
        self._listener: logging.handlers.QueueListener | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(self.dir / LOG_FILE, maxBytes=self.max_bytes,
                                                            backupCount=self.backups, encoding="utf-8", delay=True)
        file_handler.setFormatter(JsonFormatter())
        self._listener = logging.handlers.QueueListener(self._queue, file_handler, respect_handler_level=False)
        self._listener.start()
        handler = logging.handlers.QueueHandler(self._queue)
        handler.setLevel(self.level)
        handler.addFilter(RedactingFilter())  # before the record leaves: secrets never reach the disk
        logging.getLogger().addHandler(handler)
        self._handler = handler

    async def stop(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await asyncio.to_thread(listener.stop)  # writes what is queued, then closes the file
            for h in listener.handlers:
                h.close()

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        return Health.of(self.name, Status.OK if self._listener else Status.STARTING, str(self.dir / LOG_FILE))

    def read(self, since: float | None, until: float | None, level: str, limit: int) -> list[dict[str, Any]]:
        """Records from the rotated files, oldest first, filtered (blocking: call on a worker thread)."""
        floor = LEVELS[level]
        files = sorted(self.dir.glob(f"{LOG_FILE}*"), key=_age, reverse=True)  # oldest backup first
        out: list[dict[str, Any]] = []
        for path in files:
            for record in _records(path):
                at = _epoch(record.get("ts", ""))
                if (since is not None and at < since) or (until is not None and at > until):
                    continue
                if LEVELS.get(str(record.get("level", "info")), 20) < floor:
                    continue
                out.append(record)
        return out[-limit:]


def _age(path: Path) -> int:
    suffix = path.name[len(LOG_FILE):].lstrip(".")
    return int(suffix) if suffix.isdigit() else 0


def _records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    value = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
                if isinstance(value, dict):
                    yield value
    except FileNotFoundError:
        return


def _epoch(ts: str) -> float:
    try:
        base = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return 0.0
    return calendar.timegm(base) + (int(ts[20:23]) / 1000 if len(ts) >= 23 and ts[20:23].isdigit() else 0.0)


def parse_query(args: dict[str, str]) -> tuple[float | None, float | None, str, int]:
    """`since` / `until` (epoch seconds or YYYY-MM-DDTHH:MM:SS UTC), `level` (the lowest shown), `limit`."""
    problems: list[FieldError] = []

    def when(name: str) -> float | None:
        raw = args.get(name)
        if raw in (None, ""):
            return None
        assert raw is not None
        try:
            return float(raw)
        except ValueError:
            at = _epoch(raw)
            if at == 0.0:
                problems.append(FieldError(name, "datetime", f"{name}: epoch seconds or YYYY-MM-DDTHH:MM:SS (UTC)",
                                           f"{name}: 应为秒数或 YYYY-MM-DDTHH:MM:SS (UTC)"))
            return at

    since, until = when("since"), when("until")
    level = args.get("level", "info") or "info"
    if level not in LEVELS:
        problems.append(FieldError("level", "enum", "level: debug, info, warning, error or critical",
                                   "level: 应为 debug、info、warning、error 或 critical"))
    raw_limit = args.get("limit", "10000") or "10000"
    limit = int(raw_limit) if raw_limit.isdigit() else 0
    if not 1 <= limit <= 100000:
        problems.append(FieldError("limit", "range", "limit: 1 to 100000", "limit: 1 到 100000"))
    if problems:
        raise ValidationFailed(problems, "log query")
    return since, until, level, limit
