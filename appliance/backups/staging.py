"""What is backed up, made ready on a worker thread.

The configuration part is staged into one directory: the configuration store's files, the certificates and
keys, the record store as a consistent online copy made with SQLite's backup API in one step (never the live
file, which a writer may be changing), and a manifest. The audio part is read in place (recordings, voicemail,
prompts). Restore moves what restic extracted into a data directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import appliance
from appliance.backups.errors import BackupError
from appliance.backups.models import Part

RECORDS_FILE = "records.sqlite3"
MANIFEST_FILE = "manifest.json"
CONFIG_FILES = ("config.json", "config.last-good.json", "demo-credentials.json")
CONFIG_DIRS = ("sip",)  # registrar bindings, the TLS certificate and key
AUDIO_DIRS = ("recordings", "voicemail", "prompts")
MANIFEST_VERSION = 1


def sqlite_copy(src: Path, dst: Path) -> int:
    """The record store copied with the backup API in one step (a reader in WAL mode: the writer never waits);
    returns the copy's CDR count after its integrity check."""
    dst.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)  # pages=-1: one step, a single consistent read transaction
        target.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
        check = str(target.execute("PRAGMA integrity_check").fetchone()[0])
        if check != "ok":
            raise BackupError(f"the record store copy failed its integrity check: {check}",
                              f"记录库副本完整性检查失败: {check}", "backup_records_copy")
        has_cdr = target.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='cdr'").fetchone()
        return int(target.execute("SELECT count(*) FROM cdr").fetchone()[0]) if has_cdr else 0
    finally:
        target.close()
        source.close()


def _tree_counts(root: Path) -> dict[str, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            files += 1
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, name)).st_size
    return {"files": files, "bytes": size}


def _config_counts(path: Path) -> tuple[int, dict[str, int]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return 0, {}
    version = 0
    counts: dict[str, int] = {}
    for table, rows in doc.items():
        if not isinstance(rows, dict):
            continue
        if table == "_meta":
            first: Any = next(iter(rows.values()), {})
            version = int(first.get("schema_version", 0)) if isinstance(first, dict) else 0
        elif table != "settings":
            counts[table] = len(rows)
    return version, counts


def stage_config(data_dir: Path, staging: Path, *, host: str) -> dict[str, Any]:
    """Fill `staging` with the configuration part; returns the manifest written into it."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True, mode=0o700)
    for name in CONFIG_FILES:
        if (data_dir / name).is_file():
            shutil.copy2(data_dir / name, staging / name)
    for name in CONFIG_DIRS:
        if (data_dir / name).is_dir():
            shutil.copytree(data_dir / name, staging / name, symlinks=True)
    cdrs = 0
    records_version = 0
    if (data_dir / RECORDS_FILE).is_file():
        cdrs = sqlite_copy(data_dir / RECORDS_FILE, staging / RECORDS_FILE)
        conn = sqlite3.connect(staging / RECORDS_FILE)
        try:
            records_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    config_version, entities = _config_counts(staging / "config.json")
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "appliance_version": appliance.__version__,
        "created_at": time.time(),
        "host": host,
        "data_dir": str(data_dir),
        "schema_versions": {"config": config_version, "records": records_version},
        "counts": {"entities": entities, "cdr": cdrs,
                   "audio": {d: _tree_counts(data_dir / d) for d in AUDIO_DIRS}},
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return manifest


def audio_paths(data_dir: Path) -> list[Path]:
    return [data_dir / d for d in AUDIO_DIRS if (data_dir / d).is_dir()]


def source_root(part: Part, paths: Iterable[str]) -> Path:
    """The directory whose contents become the data directory's (the snapshot holds absolute paths)."""
    listed = [Path(p) for p in paths]
    if not listed:
        raise BackupError("the snapshot lists no paths", "快照中没有路径", "backup_snapshot_empty")
    return listed[0] if part is Part.CONFIG else listed[0].parent


def move_into(extracted: Path, dest: Path) -> list[str]:
    """Move restored entries from `extracted` into `dest` (same file system: renames), replacing what is there."""
    moved: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(extracted.iterdir()):
        final = dest / entry.name
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() or final.is_symlink():
            final.unlink()
        os.replace(entry, final)
        moved.append(entry.name)
    return moved
