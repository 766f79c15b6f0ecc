"""The `appliance` command as an installer uses it: run, set a password, export/import, check, demo info."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.domain.kinds import all_kinds
from appliance.security.passwords import sip_ha1, verify_password
from appliance.store.config_store import ConfigStore
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
APPLIANCE = [sys.executable, "-m", "appliance"]


def cli(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*APPLIANCE, *args], input=stdin, capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT, timeout=120)


def test_help_lists_every_subcommand() -> None:
    out = cli("--help").stdout
    for command in ("run", "user", "config", "db", "demo"):
        assert command in out
    assert "set-password" in cli("user", "--help").stdout
    assert {"export", "import"} <= set(re.findall(r"\b(export|import)\b", cli("config", "--help").stdout))
    assert "check" in cli("db", "--help").stdout
    run_help = cli("run", "--help").stdout
    for flag in ("--data-dir", "--http-port", "--sip-port", "--snmp-port", "--bind"):
        assert flag in run_help


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path, list[str]]]:
    port = free_port()
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [*APPLIANCE, "run", "--data-dir", str(data), "--http-port", str(port), "--https-port", "0", "--sip-port", str(free_port()),
         "--snmp-port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "demo info" in line:
            break
    try:
        yield proc, port, data, lines
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post(port: int, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow
def test_run_serves_health_prints_listeners_and_a_setup_token(running: tuple[subprocess.Popen[str], int, Path,
                                                                             list[str]]) -> None:
    proc, port, data, lines = running
    text = "\n".join(lines)
    assert f"127.0.0.1:{port}" in text
    token = re.search(r"setup token.*\n\s+(\S+)", text)
    assert token, text
    status, health = get(port, "/api/v1/health")
    assert status == 200 and health["status"] == "ok"
    # the media engine runs the compiled packet path that `make` builds
    media = health["services"]["media"]
    assert media["detail"].startswith("packet path compiled"), health
    assert {"telephony", "sip", "media", "records_journal"} <= set(health["services"]), health
    assert media["gauges"]["endpoints_in_use"] == 0 and "packets_relayed" in media["counters"], media
    status, body = get(port, "/api/v1/staff")
    assert status == 403 and body["error_id"] == "setup_required"
    status, _ = post(port, "/api/v1/setup", {"token": token.group(1), "password": "a long admin password"})
    assert status == 200
    # a second process on the same data directory is refused
    second = cli("config", "import", str(data / "nothing.json"), "--data-dir", str(data))
    assert second.returncode != 0
    # and `demo info` works beside the running appliance (read-only)
    info = cli("demo", "info", "--data-dir", str(data))
    assert info.returncode == 0 and "8000" in info.stdout
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_set_password_from_stdin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli("user", "set-password", "admin", "--data-dir", str(data), stdin="too short\n").returncode == 2
    # the admin account is created on first start; make one here through the store
    import asyncio

    from appliance.app import Core

    core = Core.open(data)
    asyncio.run(core.auth.ensure_admin())
    core.close()
    result = cli("user", "set-password", "admin", "--data-dir", str(data), stdin="the new admin password\n")
    assert result.returncode == 0, result.stderr
    store = ConfigStore.open(data, all_kinds(), read_only=True)
    assert verify_password("the new admin password", store.get("users", "admin").password_hash)
    bad = cli("user", "set-password", "admin", "--data-dir", str(data), stdin="short\n")
    assert bad.returncode == 2 and "password" in bad.stderr


def _seeded(tmp_path: Path) -> Path:
    import asyncio

    from appliance.app import create_appliance
    from appliance.config import RunConfig

    data = tmp_path / "data"
    appliance = create_appliance(RunConfig(data_dir=data, https_port=0))
    asyncio.run(appliance.prepare())
    appliance.core.close()
    return data


def test_demo_info_prints_passwords_that_match_the_stored_digests(tmp_path: Path) -> None:
    data = _seeded(tmp_path)
    out = cli("demo", "info", "--data-dir", str(data)).stdout
    store = ConfigStore.open(data, all_kinds(), read_only=True)
    realm = store.settings["sip_realm"]
    rows = re.findall(r"^\s+(1\d{3})\s+\S+\s+(agent|supervisor)\s+(\S+)\s+(\d{4})$", out, re.M)
    assert {r[0] for r in rows} == {"1001", "1002", "1003", "1004", "1005", "1901"}
    for number, _role, password, pin in rows:
        assert store.get("extensions", number).ha1_md5 == sip_ha1(number, realm, password, "MD5")
        assert verify_password(pin, store.get("staff", number).pin_hash)
    assert "8000" in out and "sales" in out and "support" in out
    assert oct((data / "demo-credentials.json").stat().st_mode & 0o777) == "0o600"


def test_config_export_import_and_db_check(tmp_path: Path) -> None:
    data = _seeded(tmp_path)
    exported = tmp_path / "export.json"
    assert cli("config", "export", str(exported), "--data-dir", str(data)).returncode == 0
    doc = json.loads(exported.read_text())
    assert len(doc["entities"]["staff"]) == 6
    doc["entities"]["skills"].append({"id": "billing", "name": "Billing"})
    exported.write_text(json.dumps(doc))
    result = cli("config", "import", str(exported), "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    assert ConfigStore.open(data, all_kinds(), read_only=True).find("skills", "billing") is not None
    before = (data / "config.json").read_bytes()
    doc["entities"]["staff"][0]["level"] = 42
    exported.write_text(json.dumps(doc))
    bad = cli("config", "import", str(exported), "--data-dir", str(data))
    assert bad.returncode == 2 and "entities.staff.0.level" in bad.stderr
    assert (data / "config.json").read_bytes() == before
    check = cli("db", "check", "--data-dir", str(data))
    assert check.returncode == 0 and "no problems found" in check.stdout
    (data / "config.json").write_text("{ truncated")
    check = cli("db", "check", "--data-dir", str(data))
    assert check.returncode == 1 and "unreadable" in check.stdout and "restore-last-good" in check.stdout
    run = cli("run", "--data-dir", str(data), "--http-port", str(free_port()), "--https-port", "0")
    assert run.returncode == 2 and "corrupt" in run.stderr and "config.last-good.json" in run.stderr
    assert cli("db", "restore-last-good", "--data-dir", str(data)).returncode == 0
    assert cli("db", "check", "--data-dir", str(data)).returncode == 0


def test_the_backup_commands_are_part_of_the_appliance_command() -> None:
    from appliance.backups.cli import HANDLERS
    from appliance.cli import build_parser

    args = build_parser().parse_args(["backup", "list", "usb", "--data-dir", "var"])
    assert (args.command, args.backup_command, args.target) == ("backup", "list", "usb")
    assert ("backup", "list") in HANDLERS
