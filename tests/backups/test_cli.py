"""`appliance backup run|list|verify|restore` through the argument parser the CLI hooks in."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from appliance.backups.cli import HANDLERS, add_commands
from tests.backups.conftest import Box, local_target

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance")
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub, lambda p: p.add_argument("--data-dir", type=Path, required=True))
    return parser


async def _cli(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return await asyncio.to_thread(HANDLERS[(args.command, args.backup_command)], args)


async def test_cli_run_list_verify_restore(box: Box, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await local_target(box, tmp_path / "repo")
    await box.service.stop()  # the command line runs while the appliance is stopped
    data = str(box.data)
    assert await _cli("backup", "run", "local", "--data-dir", data) == 0
    out = capsys.readouterr()
    assert "backup to local:" in out.out and "%" in out.err  # the progress bar went to stderr
    assert await _cli("backup", "list", "local", "--data-dir", data) == 0
    listed = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[2] for line in listed) == ["audio", "config"]
    assert await _cli("backup", "verify", "local", "--all", "--data-dir", data) == 0
    into = tmp_path / "restored"
    assert await _cli("backup", "restore", "local", "--into", str(into), "--parts", "config", "--dry-run",
                      "--data-dir", data) == 0
    assert "config:" in capsys.readouterr().out and not into.exists()
    assert await _cli("backup", "restore", "local", "--into", str(into), "--parts", "config",
                      "--data-dir", data) == 0
    assert json.loads((into / "config.json").read_text()) == json.loads((box.data / "config.json").read_text())


async def test_cli_restore_live_takes_a_safety_backup_and_keeps_what_it_replaced(
        box: Box, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    from tests.backups.conftest import add_cdrs

    await local_target(box, tmp_path / "repo")
    await box.service.stop()
    data = str(box.data)
    assert await _cli("backup", "run", "local", "--parts", "config", "--data-dir", data) == 0
    config_then = (box.data / "config.json").read_bytes()
    add_cdrs(box.data, 30, start=5000)  # calls taken after the backup (the live store is in WAL mode)
    box.store.close()
    assert await _cli("backup", "restore", "local", "--live", "--parts", "config", "--data-dir", data) == 0
    out = capsys.readouterr().out
    aside = Path(out.split("what it replaced is in ")[1].split(";")[0])
    conn = sqlite3.connect(box.data / "records.sqlite3")
    try:
        assert conn.execute("SELECT count(*) FROM cdr").fetchone()[0] == 120
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert not (box.data / "records.sqlite3-wal").exists()
    assert (box.data / "config.json").read_bytes() == config_then
    kept = sqlite3.connect(aside / "records.sqlite3")
    try:
        assert kept.execute("SELECT count(*) FROM cdr").fetchone()[0] == 150
    finally:
        kept.close()
    assert await _cli("backup", "list", "local", "--data-dir", data) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # the backup and the safety backup before the restore
