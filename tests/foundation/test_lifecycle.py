"""Symmetric lifecycle of the whole box: what `start()` opens, `stop()` closes — the HTTP listener (on a port
the OS chose), the SIP sockets and timers, the media engine, the journal's writer thread and the password
hasher's threads — and the health endpoint shows every service's typed health meanwhile."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any

from appliance.app import create_appliance
from appliance.config import RunConfig
from tests.conftest import free_rtp_port


def _get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def _threads() -> set[str]:
    """Threads of the process, less the event loop's default executor (the loop owns and ends those)."""
    return {t.name for t in threading.enumerate() if not t.name.startswith("asyncio_")}


async def test_start_opens_and_stop_closes_everything(tmp_path: Path) -> None:
    before = _threads()
    rtp = free_rtp_port()
    box = create_appliance(RunConfig(data_dir=tmp_path / "data", http_port=0, https_port=0, sip_port=0, snmp_port=0,
                                     rtp_port_min=rtp, rtp_port_max=rtp + 20))
    await box.start()
    try:
        port = box.http_port
        assert port not in (0, 8000, 8080)  # the OS chose it
        health = await asyncio.to_thread(_get, port, "/api/v1/health")
        services = health["services"]
        assert {"config_store", "records", "records_journal", "telephony", "sip", "media"} <= set(services)
        for name, body in services.items():
            assert body["status"] in ("ok", "degraded"), (name, body)
            assert isinstance(body["counters"], dict) and isinstance(body["gauges"], dict), name
        assert "records-writer" in _threads()
        telephony = box.telephony
        assert telephony is not None and telephony.sip.open_handles() > 0
    finally:
        await box.stop()
    assert telephony.sip.open_handles() == 0
    assert telephony.media.endpoint_count == 0 and telephony.media.ports_in_use == 0
    assert not telephony.controller.active_calls
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens any more
    for _ in range(50):  # threads end just after stop() lets them go
        if _threads() <= before:
            break
        await asyncio.sleep(0.05)
    assert _threads() <= before, _threads() - before
