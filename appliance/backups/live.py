"""Restore into the live data directory while the appliance runs, part by part, each the way its owner can
take it without a restart; what cannot be taken live is said, not hidden.

- Configuration: the restored `config.json` is opened read-only (migrated in memory when the backup is from an
  older schema version) and put in with the live store's `replace_all`: one atomic write, validated as a whole,
  and the `config.replaced` event that every service reconfigures from. The live backup settings are kept (the
  target being restored from stays configured).
- Records: the restored copy is written into the live SQLite file with SQLite's backup API (the journal's
  writer waits for the one step, its connection stays valid), then `PRAGMA integrity_check`.
- `sip/` (the TLS certificate and key, the registrar's bindings) and the demo credentials: files swapped; the
  certificate is read when SIP over TLS and HTTPS start, so a changed one needs a restart (reported).
- Audio: every file of the snapshot is put in place; recordings made since the backup stay.

Whatever is replaced goes to `<data>.before-restore-<time>/` first (the safety backup is in the repository too).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from appliance.backups.errors import BackupError
from appliance.backups.models import SETTINGS_KEY, Part
from appliance.backups.staging import AUDIO_DIRS, RECORDS_FILE


class LiveStore(Protocol):
    """The running configuration store (`appliance.store.config_store.ConfigStore`)."""

    @property
    def settings(self) -> dict[str, Any]: ...

    async def replace_all(self, entities: Any, settings: dict[str, Any] | None = None, *,
                          if_revision: int | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class RestartNeeded:
    component: str
    reason: str
    reason_zh: str


@dataclass
class LiveReport:
    applied: dict[str, list[str]] = field(default_factory=dict)  # part -> what was put in place
    counts: dict[str, int] = field(default_factory=dict)  # config_entities, audio_added, audio_replaced
    records_integrity: str = ""
    restart_required: list[RestartNeeded] = field(default_factory=list)


def read_config(root: Path) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """The restored configuration, parsed (and migrated in memory when older). Blocking: a worker thread."""
    from appliance.domain.kinds import all_kinds
    from appliance.store.config_store import ConfigStore

    store = ConfigStore.open(root, all_kinds(), read_only=True)
    return store.parse_export(store.export())


def _keep_aside(path: Path, aside: Path, name: str) -> None:
    if path.exists() or path.is_symlink():
        target = aside / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.copytree(path, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)


def records_into_live(restored: Path, live: Path, aside: Path) -> str:
    """The live record store's current content copied aside, then the restored one written into it, both with
    SQLite's backup API (never a file copy of a database in use)."""
    aside.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{restored}?mode=ro", uri=True)
    dst = sqlite3.connect(live, timeout=30)
    try:
        keep = sqlite3.connect(aside / RECORDS_FILE)
        try:
            dst.backup(keep)
        finally:
            keep.close()
        src.backup(dst, sleep=0.05)  # retried while the journal's writer holds its lock
        return str(dst.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        dst.close()
        src.close()


def config_files_into_live(root: Path, live: Path, aside: Path, report: LiveReport) -> None:
    """`sip/` and the demo credentials (the configuration document and records go their own ways)."""
    applied = report.applied.setdefault(Part.CONFIG.value, [])
    demo = root / "demo-credentials.json"
    if demo.is_file():
        _keep_aside(live / demo.name, aside, demo.name)
        os.replace(demo, live / demo.name)
        applied.append(demo.name)
    sip = root / "sip"
    if sip.is_dir():
        current = live / "sip"
        same = current.is_dir() and _same_tree(sip, current)
        if not same:
            _keep_aside(current, aside, "sip")
            for path in sorted(sip.rglob("*")):
                if path.is_file():
                    final = current / path.relative_to(sip)
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, final)
            applied.append("sip")
            report.restart_required.append(RestartNeeded(
                "sip", "the SIP over TLS and HTTPS certificate and key are read when the box starts: restart it "
                "to present the restored ones",
                "SIP over TLS 与 HTTPS 的证书和密钥在设备启动时读取:请重启设备以使用恢复的证书"))


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def audio_into_live(root: Path, live: Path, aside: Path, report: LiveReport) -> None:
    """Every audio file of the snapshot put in place; a different file of the same name is kept aside first.
    Files that are not in the snapshot (calls recorded since) stay."""
    added = replaced = 0
    applied = report.applied.setdefault(Part.AUDIO.value, [])
    for top in AUDIO_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        applied.append(top)
        for path in sorted(base.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root)
            final = live / rel
            if final.exists():
                if final.stat().st_size == path.stat().st_size and filecmp.cmp(final, path, shallow=False):
                    continue
                (aside / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(final, aside / rel)
                replaced += 1
            else:
                added += 1
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
    report.counts["audio_added"] = added
    report.counts["audio_replaced"] = replaced


async def config_into_live(store: LiveStore, root: Path, live: Path, aside: Path, report: LiveReport) -> None:
    """The configuration document through the live store; the backup settings that are live now are kept."""
    import asyncio

    if not (root / "config.json").is_file():
        raise BackupError("the configuration snapshot holds no config.json", "配置快照中没有 config.json",
                          "backup_snapshot_empty")
    entities, settings = await asyncio.to_thread(read_config, root)
    await asyncio.to_thread(_keep_aside, live / "config.json", aside, "config.json")
    merged = {**settings, SETTINGS_KEY: store.settings.get(SETTINGS_KEY, settings.get(SETTINGS_KEY))}
    report.counts["config_entities"] = await store.replace_all(entities, merged)
    report.applied.setdefault(Part.CONFIG.value, []).append("config.json")


def swap_in(incoming: Path, live: Path, aside: Path) -> None:
    """Move each restored entry into `live`, what it replaces into `aside`. A restored record store comes
    without the live one's `-wal`/`-shm` files, which SQLite would otherwise replay onto it."""
    aside.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in incoming.iterdir())
    extra = [f"{n}{suffix}" for n in names if n.endswith(".sqlite3") for suffix in ("-wal", "-shm")]
    for name in names + extra:
        current = live / name
        if current.exists() or current.is_symlink():
            os.replace(current, aside / name)
    for name in names:
        os.replace(incoming / name, live / name)


def records_integrity(root: Path) -> str:
    path = root / "records.sqlite3"
    if not path.exists():
        return "absent"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()
