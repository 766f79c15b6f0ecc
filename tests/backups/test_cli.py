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
