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


async def test_one_target_schedule_retention_at_a_time(admin: Client, tmp_path: Path) -> None:
    """The web UI's forms: each thing saved alone, errors named after the form's own fields."""
    service = backups_of(admin)
    await service.start()
    try:
        status, body = await admin.call("POST", "/api/v1/backups/targets", {"name": "usb", "kind": "local",
                                                                            "path": "relative"})
        assert status == 422 and [f["field"] for f in body["details"]["fields"]] == ["path"]
        status, body = await admin.call("POST", "/api/v1/backups/targets", {
            "name": "nas", "kind": "sftp", "host": "127.0.0.1", "user": "backup", "path": "/srv/b", "auth": "password"})
        assert status == 422 and [f["field"] for f in body["details"]["fields"]] == ["password"], body
        status, body = await admin.call("POST", "/api/v1/backups/targets", {
            "name": "nas", "kind": "sftp", "host": "127.0.0.1", "user": "backup", "path": "/srv/b", "auth": "password",
            "password": "s3cret pass"})
        assert status == 201 and "password" not in body, body
        status, body = await admin.call("GET", "/api/v1/backups/settings")
        assert "s3cret" not in str(body)
        assert (service.ssh.password_file("nas").stat().st_mode & 0o777) == 0o600
        status, body = await admin.call("PUT", "/api/v1/backups/targets/nas", {
            "kind": "sftp", "host": "127.0.0.1", "user": "backup", "path": "/srv/c", "auth": "password"})
        assert status == 200 and body["path"] == "/srv/c"  # the kept password stays
        assert service.ssh.password_file("nas").read_text() == "s3cret pass"

        repo = tmp_path / "repo"
        status, body = await admin.call("POST", "/api/v1/backups/targets", {"name": "disk", "kind": "local",
                                                                            "path": str(repo)})
        assert status == 201, body
        # a new target comes with its weekly rotating data check, which it does not need to be deleted first
        checks = [s for s in service.settings().schedules if s.target == "disk"]
        assert [(c.name, c.cron, c.verify_subset) for c in checks] == [("disk-check", "30 3 * * 0", True)]
        status, body = await admin.call("POST", "/api/v1/backups/targets", {"name": "disk", "kind": "local",
                                                                            "path": str(repo)})
        assert status == 422 and body["details"]["fields"][0]["field"] == "name"
        status, body = await admin.call("POST", "/api/v1/backups/schedules", {"name": "hourly", "target": "nowhere",
                                                                              "cron": "0 * * * *"})
        assert status == 422 and body["details"]["fields"][0]["field"] == "target"
        status, body = await admin.call("POST", "/api/v1/backups/schedules", {"name": "hourly", "target": "disk",
                                                                              "cron": "0 * * * *", "parts": ["audio"]})
        assert status == 201 and [s["parts"] for s in body if s["name"] == "hourly"] == [["audio"]], body
        status, body = await admin.call("PUT", "/api/v1/backups/retention", {"daily": 0})
        assert status == 422 and body["details"]["fields"][0]["field"] == "daily"
        status, body = await admin.call("PUT", "/api/v1/backups/retention", {"daily": 3, "weekly": 2, "monthly": 1})
        assert status == 200 and service.settings().retention.daily == 3
        status, body = await admin.call("DELETE", "/api/v1/backups/targets/disk")
        assert status == 409 and "hourly" in body["message"] and "disk-check" not in body["message"]
        status, _ = await admin.call("DELETE", "/api/v1/backups/schedules/hourly")
        assert status == 204
        status, _ = await admin.call("DELETE", "/api/v1/backups/targets/nas")
        assert status == 204 and not service.ssh.password_file("nas").exists()
        assert [s.name for s in service.settings().schedules] == ["disk-check"]  # nas's own check went with it

        status, body = await admin.call("GET", "/api/v1/backups/targets/disk/snapshots")
        assert status == 409 and body["error_id"] == "backup_target_unavailable" and "back up once" in body["message"]
        record = await service.run_backup("disk")
        assert record.ok
        await service.verify("disk", read_data="all")
        status, snaps = await admin.call("GET", "/api/v1/backups/targets/disk/snapshots")
        assert status == 200 and snaps["items"]  # config (the test box has no audio yet)
        for snap in snaps["items"]:
            assert snap["size"] > 0 and snap["files"] > 0 and snap["verified"] == "verified", snap
            assert snap["verified_scope"] == "all"
    finally:
        await service.stop()


async def test_a_run_is_followed_on_the_event_stream(admin: Client, tmp_path: Path) -> None:
    """"Back up now" through the API, followed on the WebSocket as the web UI and a NOC tool would: the public
    events arrive in the contract's shape (valid against the served JSON Schemas)."""
    import json

    import httpx
    from jsonschema import Draft202012Validator
    from websockets.asyncio.client import connect

    from tests.calls.test_http_events import post, serving, url

    service = backups_of(admin)
    await service.start()
    try:
        await service.put_target({"name": "disk", "kind": "local", "path": str(tmp_path / "repo")})
        async with serving(admin.appliance) as port:
            async with connect(url(port, "?topics=backups.*"),
                               additional_headers={"Authorization": f"Bearer {admin.token}"}) as ws:
                await asyncio.sleep(0.2)  # subscribed
                status = await post(port, "/api/v1/backups/targets/disk/run", admin.token, {"parts": ["config"]})
                assert status == 202
                seen: list[dict[str, object]] = []
                while not seen or seen[-1]["topic"] not in ("backups.succeeded", "backups.failed"):
                    seen.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                schemas = (await http.get("/api/v1/events/schemas",
                                          headers={"Authorization": f"Bearer {admin.token}"})).json()
        topics = [m["topic"] for m in seen]
        assert topics[0] == "backups.started" and topics[-1] == "backups.succeeded", topics
        assert seen[-1]["snapshots"] and seen[-1]["target"] == "disk"
        for message in seen:
            Draft202012Validator(schemas["events"][str(message["topic"])]).validate(message)
    finally:
        await service.stop()
