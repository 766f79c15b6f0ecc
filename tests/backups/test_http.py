"""The backup routes through the whole appliance's API: admin only, validation naming fields, run now in the
background, snapshots, dry run and restore beside the live data directory, the password shown once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.backups.service import BackupService
from tests.api_client import Client

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def backups_of(client: Client) -> BackupService:
    return next(s for s in client.appliance.services if isinstance(s, BackupService))


async def test_backup_routes(admin: Client, tmp_path: Path) -> None:
    service = backups_of(admin)
    await service.start()
    try:
        status, _ = await admin.call("GET", "/api/v1/backups/targets", token="not-a-session")
        assert status == 401
        status, body = await admin.call("PUT", "/api/v1/backups/settings", {
            "targets": [{"name": "usb", "kind": "local", "path": "relative/dir"}],
            "schedules": [{"name": "nightly", "target": "nope", "cron": "61 * * * *"}]})
        assert status == 422
        fields = {f["field"] for f in body["details"]["fields"]}
        assert fields == {"targets.0.path", "schedules.0.cron"}

        repo = tmp_path / "repo"
        status, body = await admin.call("PUT", "/api/v1/backups/settings", {
            "targets": [{"name": "local", "kind": "local", "path": str(repo)}],
            "schedules": [{"name": "nightly", "target": "local", "parts": ["config"], "cron": "30 2 * * *"}],
            "retention": {"daily": 7, "weekly": 4, "monthly": 6}})
        assert status == 200, body
        assert set(body["next_runs"]) == {"nightly"}
        status, body = await admin.call("GET", "/api/v1/backups/targets")
        assert status == 200 and [t["name"] for t in body["items"]] == ["local"]

        status, body = await admin.call("POST", "/api/v1/backups/targets/local/run", {"parts": ["config", "audio"]})
        assert status == 202, body
        status, body = await admin.call("POST", "/api/v1/backups/targets/local/run", {})
        assert status == 409 and body["error_id"] == "backup_busy"
        for _ in range(300):
            _, progress = await admin.call("GET", "/api/v1/backups/progress")
            if progress["running"] is None:
                break
            await asyncio.sleep(0.1)
        status, history = await admin.call("GET", "/api/v1/backups/history")
        assert status == 200 and history["items"][0]["ok"], history
        status, snaps = await admin.call("GET", "/api/v1/backups/targets/local/snapshots")
        assert status == 200 and {t for s in snaps["items"] for t in s["tags"]} <= {"config", "audio"}
        assert any("config" in s["tags"] for s in snaps["items"])

        status, dry = await admin.call("POST", "/api/v1/backups/targets/local/restore",
                                       {"parts": ["config"], "dry_run": True})
        assert status == 200, dry
        assert "config.json" in dry["plan"]["config"]["unchanged"] + dry["plan"]["config"]["changed"]
        status, report = await admin.call("POST", "/api/v1/backups/targets/local/restore", {"parts": ["config"]})
        assert status == 200, report
        restored = Path(report["dest"])
        assert restored.parent == service.data_dir.parent and (restored / "config.json").exists()
        assert report["records_integrity"] == "ok"

        status, body = await admin.call("GET", "/api/v1/backups/targets/nowhere/snapshots")
        assert status == 404
        status, body = await admin.call("POST", "/api/v1/backups/password")
        assert status == 200 and len(body["password"]) >= 32
        status, body = await admin.call("POST", "/api/v1/backups/password")
        assert status == 410
    finally:
        await service.stop()
