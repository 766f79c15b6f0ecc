"""The pure parts: validation naming fields, restic's JSON with fields missing, its errors classified, the
staged configuration part (SQLite copied under a live writer, the manifest), the dry-run plan, mounts."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from appliance.backups import history, retention
from appliance.backups.errors import (
    ConnectionLost,
    HostKeyChanged,
    RepositoryCorrupt,
    ResticFailed,
    TargetFull,
    WrongPassword,
)
from appliance.backups.models import Part, Retention, RunRecord, TargetKind, parse_settings
from appliance.backups.operations import diff_against, restic_time
from appliance.backups.restic import classify, progress_of, summary_of
from appliance.backups.staging import MANIFEST_FILE, source_root, stage_config
from appliance.backups.targets import Disks, connected
from appliance.errors import ValidationFailed
from tests.backups.conftest import add_cdrs, write_recordings


def test_settings_validation_names_every_field() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_settings({
            "targets": [{"name": "Bad Name", "kind": "sftp", "path": "/srv", "port": 70000},
                        {"name": "usb", "kind": "removable", "path": "/abs"}],
            "schedules": [{"name": "s", "target": "usb", "cron": "* * *", "parts": ["video"]}],
            "retention": {"daily": 0}})
    fields = {f.field for f in info.value.errors}
    assert fields == {"targets.0.name", "targets.0.host", "targets.0.user", "targets.0.port",
                      "targets.1.label", "targets.1.path", "schedules.0.cron", "schedules.0.parts.0",
                      "retention.daily"}
    ok = parse_settings({"targets": [{"name": "nas", "kind": "sftp", "host": "10.0.0.5", "user": "backup",
                                      "path": "/srv/box"}],
                         "schedules": [{"name": "nightly", "target": "nas", "cron": "30 2 * * *",
                                        "parts": ["config"]}]})
    assert ok.targets[0].kind is TargetKind.SFTP and ok.targets[0].port == 22
    assert ok.schedules[0].parts == (Part.CONFIG,)
    assert parse_settings(ok.to_json()) == ok  # what is stored reads back the same
    with pytest.raises(ValidationFailed) as info:
        parse_settings({"targets": [], "schedules": [{"name": "x", "target": "gone", "cron": "0 3 * * *"}]})
    assert [f.field for f in info.value.errors] == ["schedules.0.target"]


def test_restic_json_with_fields_missing() -> None:
    # restic omits zero-valued fields
    assert progress_of({"message_type": "status", "percent_done": 0.5}).bytes_done == 0
    summary = summary_of({"message_type": "summary", "snapshot_id": "abcd1234", "files_new": 3})
    assert (summary.files_changed, summary.data_added, summary.files_new) == (0, 0, 3)
    assert progress_of({"percent_done": "x", "bytes_done": True}).percent_done == 0.0


@pytest.mark.parametrize(("stderr", "kind"), [
    ("subprocess ssh: Host key verification failed.\nFatal: unable to start the sftp session, error: EOF",
     HostKeyChanged),
    ("Fatal: wrong password or no key found", WrongPassword),
    ("Save(<data/2a1b>) returned error: write /x/data/2a/tmp: no space left on device", TargetFull),
    ('Fatal: unable to save snapshot: sftp: "Failure" (SSH_FX_FAILURE)', TargetFull),
    ("ssh command exited: exit status 255", ConnectionLost),
    ("Pack ID does not match, want 5e1c, got 77aa\nFatal: repository contains errors", RepositoryCorrupt),
    ("something else entirely", ResticFailed),
])
def test_errors_classified(stderr: str, kind: type[Exception]) -> None:
    error = classify("nas", "backup", 1, stderr)
    assert isinstance(error, kind)
    assert "nas" in error.message and error.message_zh


def test_config_part_staged_while_a_writer_inserts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    add_cdrs(data, 500)
    (data / "config.json").write_text(json.dumps({"_meta": {"1": {"schema_version": 3}},
                                                  "queues": {"1": {}, "2": {}}, "settings": {"1": {}}}))
    (data / "sip").mkdir()
    (data / "sip" / "tls.key").write_text("key")
    write_recordings(data, "20261201", 3, 1024, seed=9)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        conn = sqlite3.connect(data / "records.sqlite3", timeout=5, isolation_level=None)
        i = 10_000
        try:
            while not stop.is_set():
                conn.execute("INSERT INTO cdr(call_id, started, data) VALUES (?, ?, '{}')", (f"w{i}", time.time()))
                i += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.1)
        manifest = stage_config(data, tmp_path / "staging", host="box")
    finally:
        stop.set()
        thread.join()
    assert not errors  # the writer never saw the copy
    staged = tmp_path / "staging"
    copy = sqlite3.connect(staged / "records.sqlite3")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = copy.execute("SELECT count(*) FROM cdr").fetchone()[0]
    finally:
        copy.close()
    assert copied >= 500 and manifest["counts"]["cdr"] == copied
    assert manifest["schema_versions"] == {"config": 3, "records": 1}
    assert manifest["counts"]["entities"] == {"queues": 2}
    assert manifest["counts"]["audio"]["recordings"]["files"] == 3
    assert json.loads((staged / MANIFEST_FILE).read_text()) == manifest
    assert (staged / "sip" / "tls.key").read_text() == "key"
    assert not (staged / "records.sqlite3-wal").exists()


def test_dry_run_plan(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "recordings").mkdir(parents=True)
    (dest / "recordings" / "same.wav").write_bytes(b"x" * 10)
    (dest / "recordings" / "other.wav").write_bytes(b"y" * 3)
    mtime = (dest / "recordings" / "same.wav").stat().st_mtime
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(mtime)) + f"{mtime % 1:.9f}"[1:] + "Z"
    nodes = [{"path": "/old/data/recordings/same.wav", "size": 10, "mtime": stamp},
             {"path": "/old/data/recordings/other.wav", "size": 4, "mtime": stamp},
             {"path": "/old/data/recordings/new.wav", "size": 1, "mtime": stamp},
             {"path": "/elsewhere/x", "size": 1}]
    plan = diff_against(nodes, "/old/data", dest)
    assert plan == {"new": ["recordings/new.wav"], "changed": ["recordings/other.wav"],
                    "unchanged": ["recordings/same.wav"]}
    local = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(mtime))
    offset = time.strftime("%z", time.localtime(mtime))
    zoned = [{**nodes[0], "mtime": f"{local}.5{offset[:3]}:{offset[3:]}"}]  # as restic prints under TZ=...
    assert diff_against(zoned, "/old/data", dest)["unchanged"] == ["recordings/same.wav"]
    assert restic_time("2026-12-06T19:25:46.028042423+08:00") == restic_time("2026-12-06T11:25:46.028042Z")
    assert source_root(Part.AUDIO, ["/old/data/recordings", "/old/data/voicemail"]) == Path("/old/data")
    assert source_root(Part.CONFIG, ["/old/data/backups/staging/config"]) == Path("/old/data/backups/staging/config")


def test_mount_table_read_with_escapes(tmp_path: Path) -> None:
    (tmp_path / "by-label").mkdir()
    device = tmp_path / "sdb1"
    device.write_bytes(b"")
    (tmp_path / "by-label" / "CC_BACKUP").symlink_to(device)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\n{device} /media/usb\\040disk vfat rw 0 0\n")
    disks = Disks(tmp_path / "by-label", mounts)
    found = disks.device_of("CC_BACKUP")
    assert found == device
    assert disks.mount_point_of(found) == Path("/media/usb disk")
    assert disks.device_of("OTHER") is None


def test_connected_disks_listed_for_the_form(tmp_path: Path) -> None:
    (tmp_path / "by-label").mkdir()
    for name in ("sdb1", "sdc1"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "by-label" / "CC_BACKUP").symlink_to(tmp_path / "sdb1")
    (tmp_path / "by-label" / "SPARE").symlink_to(tmp_path / "sdc1")
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\n{tmp_path / 'sdb1'} / vfat rw 0 0\n")  # "/" stands in: a mount point
    assert connected(Disks(tmp_path / "by-label", mounts)) == [("CC_BACKUP", "/"), ("SPARE", "")]
    assert connected(Disks(tmp_path / "absent", mounts)) == []


def test_retention_runs_once_a_day_per_part_and_again_when_the_rules_change(tmp_path: Path) -> None:
    keep, day = Retention(daily=7, weekly=4, monthly=6), dt.date(2026, 12, 1)
    both = (Part.CONFIG, Part.AUDIO)
    assert retention.due(tmp_path, "usb", both, keep, day) == both
    retention.mark_done(tmp_path, "usb", (Part.CONFIG,), keep, day)
    assert retention.due(tmp_path, "usb", both, keep, day) == (Part.AUDIO,)  # the audio part's group is its own
    assert retention.due(tmp_path, "nas", both, keep, day) == both  # and each target keeps its own record
    assert retention.due(tmp_path, "usb", both, keep, day + dt.timedelta(days=1)) == both
    assert retention.due(tmp_path, "usb", both, Retention(daily=3, weekly=4, monthly=6), day) == both
    (tmp_path / "retention.usb.json").write_text("{torn")
    assert retention.due(tmp_path, "usb", both, keep, day) == both  # an unreadable record: run it again


def test_history_skips_a_torn_line_and_keeps_the_newest_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "KEEP", 3)

    def run(i: int, kind: str = "backup", ok: bool = True) -> RunRecord:
        return RunRecord(f"r{i}", kind, "usb", ("config",), float(i), float(i) + 1, ok)

    history.append(tmp_path, run(1))
    with open(tmp_path / history.FILE, "a", encoding="utf-8") as f:
        f.write('{"run_id": "torn", "ki')  # a crash in the middle of a line
    history.append(tmp_path, run(2, "verify"))
    assert [r.run_id for r in history.read(tmp_path)] == ["r2", "r1"]
    assert history.last_and_last_backup_ok(tmp_path) == (run(2, "verify"), 2.0)  # r1's backup ended at 2.0
    for i in range(3, 9):
        history.append(tmp_path, run(i, ok=i != 8))
    # cut back to the newest KEEP when it reaches twice that (r1 and the torn line went at r6)
    assert [r.run_id for r in history.read(tmp_path, 10)] == ["r8", "r7", "r6", "r5", "r4"]
    assert history.last_and_last_backup_ok(tmp_path)[1] == 8.0  # r7, the newest that succeeded
