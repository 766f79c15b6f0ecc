"""Backups to a real OpenSSH server started by the test: full, incremental, verification and restore into a
fresh data directory; the host key pinned and a changed one refused."""

from __future__ import annotations

import filecmp
import json
import sqlite3
from pathlib import Path

import psutil
import pytest

from appliance.backups.errors import HostKeyChanged, TargetUnavailable
from appliance.backups.models import Part
from tests.backups.conftest import Box, Sshd, sftp_target, write_recordings

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _cdr_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM cdr").fetchone()[0])
    finally:
        conn.close()


async def test_full_incremental_verify_restore(box: Box, sshd: Sshd, tmp_path: Path) -> None:
    await sftp_target(box, sshd)
    full = await box.service.run_backup("remote")
    assert full.ok and len(full.snapshots) == 2
    assert full.files_new >= 22  # 20 recordings, a voicemail, the prompts, the config files
    snaps = await box.service.list_snapshots("remote")
    assert sorted(t for s in snaps for t in s.tags) == ["audio", "config"]

    new = write_recordings(box.data, "20261202", 5, 32 * 1024, seed=2)
    incremental = await box.service.run_backup("remote", [Part.AUDIO])
    assert incremental.ok
    assert incremental.files_new == len(new)
    assert incremental.files_changed == 0
    assert incremental.bytes_added < 2 * 5 * 32 * 1024  # only the new files travelled
    topics = box.events.topics()
    assert topics.count("backups.started") == 2 and topics.count("backups.succeeded") == 2
    assert "backups.progress" in topics or full.duration_s < 1.0

    verified = await box.service.verify("remote")
    assert verified.ok

    dest = tmp_path / "restored"
    dry = await box.service.restore("remote", dest, dry_run=True)
    assert "config.json" in dry.plan["config"]["new"]
    assert not dest.exists()

    report = await box.service.restore("remote", dest)
    assert report.records_integrity == "ok"
    assert json.loads((dest / "config.json").read_text()) == json.loads((box.data / "config.json").read_text())
    assert _cdr_count(dest / "records.sqlite3") == _cdr_count(box.data / "records.sqlite3") == 120
    for sub in ("recordings", "voicemail"):
        cmp = filecmp.dircmp(box.data / sub, dest / sub)
        assert not cmp.left_only and not cmp.right_only and not cmp.diff_files
        for day in cmp.common_dirs:
            files = sorted(p.name for p in (box.data / sub / day).iterdir())
            match, mismatch, errors = filecmp.cmpfiles(box.data / sub / day, dest / sub / day, files, shallow=False)
            assert not mismatch and not errors and len(match) == len(files)
    assert not (dest / "manifest.json").exists()
    assert not any(p.name.startswith(".restored.restore-") for p in tmp_path.iterdir())
    history = box.service.history()
    assert [h.kind for h in history[:5]] == ["restore", "dry_run", "verify", "backup", "backup"]


async def test_a_run_shares_one_connection_and_stop_ends_it(box: Box, sshd: Sshd) -> None:
    await sftp_target(box, sshd)
    control = box.service.ssh.control_dir
    assert control is not None
    logins_before = (sshd.root / "log").read_text().count("Accepted publickey")
    assert (await box.service.run_backup("remote")).ok  # open, two parts, check, retention: five restic commands
    assert (sshd.root / "log").read_text().count("Accepted publickey") - logins_before == 1
    masters = [p for p in psutil.process_iter(["cmdline"]) if str(control) in " ".join(p.info["cmdline"] or [])]
    assert masters  # lingering for the run's next command (a few seconds)
    await box.service.stop()
    _gone, alive = psutil.wait_procs(masters, timeout=5)
    assert not alive and not control.exists()


async def test_changed_host_key_refused(box: Box, sshd: Sshd) -> None:
    await sftp_target(box, sshd)
    assert (await box.service.run_backup("remote", [Part.CONFIG])).ok
    # the server is reinstalled: same address, new host key
    sshd.kill()
    sshd.host_key.unlink()
    Path(str(sshd.host_key) + ".pub").unlink()
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(sshd.host_key)], check=True)
    sshd.start()
    with pytest.raises(HostKeyChanged) as info:
        await box.service.run_backup("remote", [Part.CONFIG])
    assert "host key" in info.value.message
    failed = box.events.of("backups.failed")
    assert failed and failed[-1].error_id == "backup_host_key_changed"  # type: ignore[attr-defined]


async def test_unconfirmed_host_key_refused(box: Box, sshd: Sshd) -> None:
    await box.service.save_settings({"targets": [{"name": "remote", "kind": "sftp", "host": "127.0.0.1",
                                                  "port": sshd.port, "user": "root", "path": "/srv/x"}]})
    with pytest.raises(TargetUnavailable, match="host key has not been confirmed"):
        await box.service.run_backup("remote")


async def test_password_authentication(box: Box, sshd: Sshd) -> None:
    """The issue's "key or password": a server that takes root's password and no key (none is authorised)."""
    sshd.kill()
    sshd.with_password("correct horse battery")
    sshd.start()
    repo = str(sshd.root / "repo")
    raw = {"name": "remote", "kind": "sftp", "host": "127.0.0.1", "port": sshd.port, "user": "root", "path": repo,
           "auth": "password", "password": "a wrong one"}
    await box.service.put_target(raw)
    keys = await box.service.scan_host_key("remote")
    pinned = next(k.key for k in keys if k.key.startswith("ssh-ed25519"))
    await box.service.put_target({**raw, "host_key": pinned, "password": ""}, "remote")  # "" keeps the password
    with pytest.raises(TargetUnavailable, match="refused the password"):
        await box.service.run_backup("remote", [Part.CONFIG])

    await box.service.put_target({**raw, "host_key": pinned, "password": "correct horse battery"}, "remote")
    record = await box.service.run_backup("remote")
    assert record.ok and len(record.snapshots) == 2
    assert (await box.service.verify("remote", read_data="all")).ok
    assert len(await box.service.list_snapshots("remote")) == 2
    # the password is in its 0600 file only: not in the settings, the ssh_config or the stored configuration
    assert "correct horse" not in json.dumps(box.service.settings().to_json())
    assert "correct horse" not in box.service.ssh.config.read_text()
    assert "correct horse" not in (box.data / "config.json").read_text()
    assert box.service.ssh.password_file("remote").stat().st_mode & 0o777 == 0o600
    assert "Accepted password for root" in (sshd.root / "log").read_text()
