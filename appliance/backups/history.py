"""The run history: one JSON line per backup, verification or restore run, newest last, in
`<data>/backups/history.jsonl`. Appending is one write; the file is cut back to the newest `KEEP` runs by
writing a copy and renaming it into place, so a crash leaves the old file or the new one, never half of one.
A line that does not parse (torn by a crash) is skipped."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from appliance.backups.models import RunRecord
from appliance.store.atomic import atomic_write_text

FILE = "history.jsonl"
KEEP = 500


def record_of(data: dict[str, Any]) -> RunRecord:
    data = {k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(RunRecord)}}
    data["parts"] = tuple(data.get("parts", ()))
    data["snapshots"] = tuple(data.get("snapshots", ()))
    return RunRecord(**data)


def _records(lines: list[str]) -> list[RunRecord]:
    out: list[RunRecord] = []
    for line in lines:
        with contextlib.suppress(ValueError, TypeError):
            out.append(record_of(json.loads(line)))
    return out


def read(state: Path, limit: int = 50) -> list[RunRecord]:
    """The newest `limit` runs, newest first."""
    path = state / FILE
    if not path.exists():
        return []
    return _records(path.read_text(encoding="utf-8").splitlines()[-limit:])[::-1]


def last_and_last_backup_ok(state: Path) -> tuple[RunRecord | None, float]:
    """The newest run, and when the newest successful backup ended (0: none), read at start."""
    runs = read(state, KEEP)
    last_ok = next((r.ended_at for r in runs if r.ok and r.kind == "backup"), 0.0)
    return (runs[0] if runs else None), last_ok


def append(state: Path, record: RunRecord) -> None:
    path = state / FILE
    line = json.dumps({**dataclasses.asdict(record), "duration_s": record.duration_s}) + "\n"
    with open(path, "a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = "\n" + line  # a line torn by a crash stays on a line of its own, skipped when read
        f.write(line.encode("utf-8"))
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) > 2 * KEEP:
        atomic_write_text(path, "\n".join(lines[-KEEP:]) + "\n")
