"""Faults: each gives a clear error and an event, never lists a partial backup as good, and leaves the data
directory unchanged; the next run after a fault succeeds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from appliance.backups.errors import (
    BackupError,
    ConnectionLost,
    RepositoryCorrupt,
    Stalled,
    TargetFull,
    TargetUnavailable,
    WrongPassword,
)
from appliance.backups.models import Part
from appliance.backups.operations import TEMP_GLOB
from appliance.backups.service import PASSWORD_FILE
from appliance.backups.targets import Disks
from appliance.public_events import to_public
from tests.backups.conftest import Box, Sshd, local_target, sftp_target, tree_digest

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def big_recordings(data: Path, megabytes: int) -> None:
    """Incompressible audio-sized files, so an upload takes long enough to be interrupted."""
    folder = data / "recordings" / "20261203"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(megabytes // 8):
        (folder / f"long-{i:03d}.wav").write_bytes(os.urandom(8 << 20))


async def wait_uploading(box: Box, task: asyncio.Task[object], min_bytes: int = 4 << 20) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not task.done():
        done = [e for e in box.events.of("backups.progress")
                if e.part == "audio" and e.bytes_done >= min_bytes]  # type: ignore[attr-defined]
        if done:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no upload progress seen (task done: {task.done()})")


def failed_event(box: Box) -> object:
    failed = box.events.of("backups.failed")
    assert failed, box.events.topics()
    return failed[-1]


async def test_sshd_killed_mid_upload_then_next_run_succeeds(box: Box, sshd: Sshd) -> None:
    await sftp_target(box, sshd, upload_kib_s=8192)  # 8 MB/s: the upload lasts long enough to be cut
    big_recordings(box.data, 160)
    before = tree_digest(box.data)
    task = asyncio.create_task(box.service.run_backup("remote", [Part.AUDIO]))
    await wait_uploading(box, task)
    sshd.kill()
    with pytest.raises(ConnectionLost) as info:
        await task
    assert "connection" in info.value.message
    assert failed_event(box).error_id == "backup_connection_lost"  # type: ignore[attr-defined]
    assert tree_digest(box.data) == before
    assert box.service.health().status == "degraded"

    sshd.start()  # the same server back: a stale lock and abandoned uploads are waiting there
    await sftp_target(box, sshd)  # the same pinned key; no bandwidth cap for the run that must succeed
    assert not await box.service.list_snapshots("remote", Part.AUDIO)  # the broken run is not listed as good
    assert list((sshd.root / "repo" / "locks").iterdir())
    again = await box.service.run_backup("remote", [Part.AUDIO])
    assert again.ok and len(again.snapshots) == 1
    assert not list((sshd.root / "repo" / "locks").iterdir())
    assert not list((sshd.root / "repo").glob(f"data/*/{TEMP_GLOB}"))
    assert box.service.health().status == "ok"


async def test_sshd_stopped_mid_upload_fails_instead_of_hanging(box: Box, sshd: Sshd) -> None:
    await sftp_target(box, sshd, upload_kib_s=8192)  # 8 MB/s: the upload lasts long enough to be cut
    big_recordings(box.data, 160)
    before = tree_digest(box.data)
    task = asyncio.create_task(box.service.run_backup("remote", [Part.AUDIO]))
    await wait_uploading(box, task)
    sshd.stop_all()
    started = time.monotonic()
    try:
        with pytest.raises((ConnectionLost, Stalled)):
            await asyncio.wait_for(task, 90)
    finally:
        sshd.resume()
    assert time.monotonic() - started < 60  # keepalives (3 x 5 s) end it, not a TCP time-out of hours
    assert failed_event(box).error_id in ("backup_connection_lost", "backup_stalled")  # type: ignore[attr-defined]
    assert tree_digest(box.data) == before
    assert not await box.service.list_snapshots("remote", Part.AUDIO)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_target_fills_up(box: Box, tiny_tmpfs: Path) -> None:
    await local_target(box, tiny_tmpfs / "repo")
    assert (await box.service.run_backup("local", [Part.CONFIG])).ok
    big_recordings(box.data, 48)
    before = tree_digest(box.data)
    with pytest.raises(TargetFull) as info:
        await box.service.run_backup("local", [Part.AUDIO])
    assert "full" in info.value.message
    assert failed_event(box).error_id == "backup_target_full"  # type: ignore[attr-defined]
    assert tree_digest(box.data) == before
    assert not await box.service.list_snapshots("local", Part.AUDIO)
    assert len(await box.service.list_snapshots("local", Part.CONFIG)) == 1


async def test_corrupted_pack_found_and_restore_refused(box: Box, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    await local_target(box, repo)
    assert (await box.service.run_backup("local")).ok
    assert (await box.service.verify("local", read_data="all")).ok
    packs = sorted(repo.glob("data/*/*"), key=lambda p: p.stat().st_size)
    victim = packs[-1]
    os.chmod(victim, 0o600)
    with open(victim, "r+b") as f:  # a few bytes flipped in the middle: silent disk rot, or tampering
        f.seek(victim.stat().st_size // 2)
        chunk = f.read(16)
        f.seek(victim.stat().st_size // 2)
        f.write(bytes(b ^ 0xFF for b in chunk))
    with pytest.raises(RepositoryCorrupt) as info:
        await box.service.verify("local", read_data="all")
    assert info.value.error_id == "backup_repository_corrupt"
    assert failed_event(box).kind == "verify"  # type: ignore[attr-defined]
    found = box.events.of("backups.verify_failed")
    assert len(found) == 1 and found[0].kind == "verify"  # type: ignore[attr-defined]
    assert "ciphertext" in found[0].detail or "error" in found[0].detail.lower()  # type: ignore[attr-defined]
    assert to_public(found[0])["topic"] == "backups.verify_failed"  # it leaves the box as the contract says

    dest = tmp_path / "restored"
    with pytest.raises(RepositoryCorrupt):
        await box.service.restore("local", dest)
    assert not dest.exists()
    assert [e.kind for e in box.events.of("backups.verify_failed")] == ["verify", "restore"]  # type: ignore[attr-defined]
    assert not [p for p in tmp_path.iterdir() if ".restore-" in p.name]


async def test_wrong_password(box: Box, tmp_path: Path) -> None:
    await local_target(box, tmp_path / "repo")
    assert (await box.service.run_backup("local", [Part.CONFIG])).ok
    password = box.service.state / PASSWORD_FILE
    password.write_text("not-the-password\n")
    before = tree_digest(box.data)
    with pytest.raises(WrongPassword):
        await box.service.run_backup("local", [Part.CONFIG])
    with pytest.raises(WrongPassword):
        await box.service.restore("local", tmp_path / "restored")
    assert failed_event(box).error_id == "backup_wrong_password"  # type: ignore[attr-defined]
    assert tree_digest(box.data) == before
    assert not (tmp_path / "restored").exists()


async def test_removable_disk_found_by_label(box: Box, tmp_path: Path, tiny_tmpfs: Path) -> None:
    by_label, device = tmp_path / "by-label", tmp_path / "sdz1"
    by_label.mkdir()
    device.write_bytes(b"")
    mounts = tmp_path / "mounts"
    mounts.write_text("")
    box.service.disks = Disks(by_label=by_label, mounts=mounts)
    await box.service.save_settings({"targets": [{"name": "usb", "kind": "removable", "label": "CC_BACKUP",
                                                  "path": "appliance"}]})
    with pytest.raises(TargetUnavailable, match="no disk labelled 'CC_BACKUP' is connected"):
        await box.service.run_backup("usb", trigger="schedule")
    (by_label / "CC_BACKUP").symlink_to(device)
    with pytest.raises(TargetUnavailable, match="is not mounted"):
        await box.service.run_backup("usb", trigger="schedule")
    assert failed_event(box).error_id == "backup_target_unavailable"  # type: ignore[attr-defined]
    # the kernel lists the disk at a mount point that is a real mount (a tmpfs standing for the USB disk)
    mounts.write_text(f"{device} {tiny_tmpfs} vfat rw 0 0\n")
    with pytest.raises(TargetUnavailable, match="no backup repository there yet"):
        await box.service.run_backup("usb", trigger="schedule")  # the scheduler never initialises a disk
    assert not (tiny_tmpfs / "appliance").exists()
    assert (await box.service.run_backup("usb", [Part.CONFIG])).ok
    assert (tiny_tmpfs / "appliance" / "config").exists()


KILLED_RUNNER = """
import asyncio, sys
from pathlib import Path
from appliance.backups.models import Part
from appliance.backups.service import BackupService
from appliance.clock import SystemClock
from appliance.events import EventBus

class Settings:
    settings = {"backups": {"targets": [{"name": "local", "kind": "local", "path": sys.argv[2],
                                         "upload_kib_s": 16384}]}}
    async def set_settings(self, **values): pass

async def main():
    bus = EventBus()
    def seen(event):
        if event.part == "audio" and event.bytes_done > (4 << 20):
            print("uploading", flush=True)
    bus.subscribe(seen, {"backups.progress"})
    service = BackupService(Path(sys.argv[1]), Settings(), bus, SystemClock(), host="box-test")
    await service.start()
    await service.run_backup("local", [Part.AUDIO])
    print("finished", flush=True)

asyncio.run(main())
"""


async def test_appliance_killed_mid_backup_then_next_run_succeeds(box: Box, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    await local_target(box, repo)
    assert (await box.service.run_backup("local", [Part.CONFIG])).ok
    big_recordings(box.data, 160)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_RUNNER, str(box.data), str(repo), stdout=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[2]))
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert line.strip() == b"uploading"
    children = psutil.Process(proc.pid).children(recursive=True)
    assert any("restic" in " ".join(c.cmdline()) for c in children)
    proc.kill()
    await proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # restic dies with the appliance rather than running on unsupervised
        # gone and reaped: a zombie still counts as alive for restic's stale-lock test
        if not [c.pid for c in children if psutil.pid_exists(c.pid)]:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("restic outlived the appliance")
    assert list((repo / "locks").iterdir())  # the dead run's lock is still there
    assert not await box.service.list_snapshots("local", Part.AUDIO)
    again = await box.service.run_backup("local", [Part.AUDIO])
    assert again.ok
    assert not list((repo / "locks").iterdir())
    assert not list(repo.glob(f"data/*/{TEMP_GLOB}"))
    with contextlib.suppress(BackupError):
        assert (await box.service.verify("local", read_data="all")).ok


async def test_stall_watchdog_kills_a_run_making_no_progress(box: Box, sshd: Sshd) -> None:
    """With the watchdog shorter than ssh's keepalives, it is the watchdog that ends a hung upload: restic and
    its ssh are killed as a group, and the run says it stalled."""
    await sftp_target(box, sshd, upload_kib_s=8192)
    big_recordings(box.data, 160)
    box.service.restic.stall_s = 4.0
    task = asyncio.create_task(box.service.run_backup("remote", [Part.AUDIO]))
    await wait_uploading(box, task)
    mine = [p for p in psutil.Process().children(recursive=True)
            if any("restic" in part or part == "ssh" or part.endswith("/ssh") for part in p.cmdline()[:8])]
    assert mine
    sshd.stop_all()
    started = time.monotonic()
    try:
        with pytest.raises(Stalled) as info:
            await asyncio.wait_for(task, 60)
    finally:
        sshd.resume()
    assert time.monotonic() - started < 12
    assert "no progress" in info.value.message
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in mine):
        await asyncio.sleep(0.1)
    assert not [p for p in mine if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert failed_event(box).error_id == "backup_stalled"  # type: ignore[attr-defined]
