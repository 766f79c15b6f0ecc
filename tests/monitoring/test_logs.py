"""The file log: written off the event loop, rotated by size, secrets redacted, and downloaded from the API
filtered by time and level."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from appliance.errors import ValidationFailed
from appliance.monitoring.logs import LOG_FILE, LogService, parse_query
from tests.api_client import Client


async def test_records_are_written_rotated_and_read_back_filtered(tmp_path: Path) -> None:
    logs = LogService(tmp_path, max_bytes=4096, backups=3)
    await logs.start()
    log = logging.getLogger("appliance.test_logs")
    log.setLevel(logging.DEBUG)
    try:
        t0 = time.time()
        for i in range(200):
            log.info("call %d routed, password=hunter2", i)
        log.warning("disk nearly full")
    finally:
        await logs.stop()  # flushes the queue
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == [LOG_FILE, f"{LOG_FILE}.1", f"{LOG_FILE}.2", f"{LOG_FILE}.3"]  # rotated, three kept
    assert all(p.stat().st_size <= 4096 for p in (tmp_path / "logs").iterdir())
    everything = logs.read(None, None, "info", 100000)
    mine = [r for r in everything if r["logger"] == "appliance.test_logs"]
    assert mine[-1]["msg"] == "disk nearly full" and mine[-1]["level"] == "warning"
    numbers = [int(r["msg"].split()[1]) for r in mine[:-1]]
    assert numbers == sorted(numbers) and numbers[-1] == 199  # oldest first, the newest kept
    assert all("hunter2" not in r["msg"] for r in mine)
    warnings = [r for r in logs.read(None, None, "warning", 100) if r["logger"] == "appliance.test_logs"]
    assert [r["msg"] for r in warnings] == ["disk nearly full"]
    assert logs.read(t0 + 3600, None, "debug", 100) == []
    assert len(logs.read(None, None, "info", 5)) == 5


def test_the_query_names_its_bad_fields() -> None:
    with pytest.raises(ValidationFailed) as bad:
        parse_query({"since": "yesterday", "level": "loud", "limit": "0"})
    assert {f["field"] for f in bad.value.details["fields"]} == {"since", "level", "limit"}
    assert parse_query({"since": "2026-12-06T10:00:00", "level": "error"})[0] == 1796551200.0


async def test_logs_download_from_the_api(admin: Client) -> None:
    logs = next(s for s in admin.appliance.services if isinstance(s, LogService))
    await logs.start()
    try:
        logging.getLogger("appliance.test_logs").warning("from the API test")
    finally:
        await logs.stop()
    response = await admin.fetch("/api/v1/logs?level=warning")
    assert response.status == 200 and response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.body.decode().splitlines()]
    assert any(r["msg"] == "from the API test" for r in lines) and all(r["level"] != "info" for r in lines)
    status, _ = await admin.call("GET", "/api/v1/logs?level=loud")
    assert status in (400, 422)
