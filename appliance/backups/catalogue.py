"""What the snapshot list shows beyond restic's own listing: the size and files each backup read (kept from
its summary in `<state>/snapshots.json`: restic 0.14's `snapshots` has no size, and `stats` per row would
read the whole index each time) and the verification state, from the history of verification runs."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from appliance.backups.models import BackupSummary, RunRecord, Snapshot, SnapshotInfo
from appliance.backups.operations import restic_time

CATALOGUE_FILE = "snapshots.json"  # snapshot id -> bytes and files its backup read
KEEP = 1000


def read(state: Path) -> dict[str, dict[str, int]]:
    """Blocking (a small file): a worker thread."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((state / CATALOGUE_FILE).read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    return {}


def add(state: Path, summary: BackupSummary) -> None:
    """Blocking: a worker thread."""
    data = read(state)
    data[summary.snapshot_id] = {"bytes": summary.total_bytes_processed,
                                 "files": summary.total_files_processed, "added": summary.data_added}
    if len(data) > 2 * KEEP:  # forgotten snapshots' lines go, oldest first
        data = dict(list(data.items())[-KEEP:])
    tmp = state / (CATALOGUE_FILE + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, state / CATALOGUE_FILE)


def infos(snaps: Sequence[Snapshot], catalogue: dict[str, dict[str, int]],
          history: Sequence[RunRecord], target: str) -> list[SnapshotInfo]:
    """Newest first. A snapshot is "verified" when a later verification of its target passed, "failed" when a
    later one found the repository damaged, else "checked" (by its own run's closing `restic check`)."""
    verifies = [r for r in history if r.kind == "verify" and r.target == target]  # history is newest first
    out: list[SnapshotInfo] = []
    for snap in reversed(snaps):
        taken = restic_time(snap.time) or 0.0
        after = next((r for r in verifies if r.started_at >= taken
                      and (r.ok or r.error_id == "backup_repository_corrupt")), None)
        state = "checked" if after is None else "verified" if after.ok else "failed"
        scope = "" if after is None or not after.ok else (
            "all" if after.message.endswith(": all") else "subset" if "/" in after.message else "structure")
        # restic 0.14's backup summary names the snapshot by its short id
        size = catalogue.get(snap.id) or catalogue.get(snap.short_id) or {}
        out.append(SnapshotInfo(snap, int(size.get("bytes", -1)), int(size.get("files", -1)), state,
                                after.ended_at if after else 0.0, scope))
    return out
