"""An SNMP agent on its own data directory, monitor and configuration store, and net-snmp tools run as
asyncio subprocesses (the agent answers on the same event loop as the test)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance.clock import SystemClock
from appliance.domain.kinds import all_kinds
from appliance.events import EventBus
from appliance.health import Health, Status
from appliance.monitoring.service import MonitorService
from appliance.snmp.service import SnmpService
from appliance.snmp.view import Identity
from appliance.store.config_store import ConfigStore
from drivers.hardware.models import ChannelView, HardwareStatus, PortView, SpanView

COMMUNITY = "noc-read-7f3a"
USER, AUTH_KEY, PRIV_KEY = "noc", "auth-pass-1234", "priv-pass-5678"
ROOT = "1.3.6.1.4.1.32473"


# One E1 span in red alarm with a call on channel 1, and two analog ports (the card emulator's tests drive
# the real drivers: tests/snmp/test_cards.py).
CARDS = HardwareStatus(
    at=0.0, running=True,
    spans=(SpanView(card_id="E1-0001", span=1, trunk="pri1", role="user", framing="crc4", framing_in_use="crc4",
                    clock="line", clock_priority=1, d_channel="down", lapd_state="tei_assigned", alarms=("los",),
                    sending_rai=True, loopback="none",
                    counters={"crc4_errors": 12, "ebits": 3, "slips": 1, "bpv": 40, "fas_errors": 7},
                    channels=tuple(ChannelView(channel=c, state="in_use" if c == 1 else "idle")
                                   for c in (*range(1, 16), *range(17, 32)))),),
    ports=(PortView(card_id="FXO-4", port=1, kind="fxo", state="faulted", trunk="pstn", counters={}),
           PortView(card_id="FXO-4", port=2, kind="fxs", state="in_call", extension="1009", counters={},
                    frames_lost=5)))


@dataclass
class Box:
    store: ConfigStore
    bus: EventBus
    monitor: MonitorService
    snmp: SnmpService
    data: Path

    @property
    def port(self) -> int:
        return self.snmp.bound_port


async def run(*argv: str, timeout: float = 30.0) -> tuple[int, str, str]:
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} (Debian snmp) is not installed")
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def v2c(port: int, community: str = COMMUNITY) -> list[str]:
    return ["-v2c", "-c", community, "-m", "", "-On", "-t", "1", "-r", "0", f"udp:127.0.0.1:{port}"]


def v3(port: int, auth: str = AUTH_KEY, priv: str = PRIV_KEY) -> list[str]:
    return ["-v3", "-l", "authPriv", "-u", USER, "-a", "SHA-256", "-A", auth, "-x", "AES", "-X", priv,
            "-m", "", "-On", "-t", "1", "-r", "0", f"udp:127.0.0.1:{port}"]


def parse_walk(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if " = " in line and "No more variables left" not in line:  # the end of the agent's tree
            oid, value = line.split(" = ", 1)
            out[oid.strip().lstrip(".")] = value.strip()
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConfigStore]:
    s = ConfigStore.open(tmp_path / "data", all_kinds(), EventBus())
    yield s
    s.close()


def settings(**extra: Any) -> dict[str, Any]:
    return {"communities": [COMMUNITY],
            "users": [{"name": USER, "auth_key": AUTH_KEY, "priv_key": PRIV_KEY, "auth_protocol": "sha256",
                       "priv_protocol": "aes128"}],
            "allowed_networks": ["127.0.0.0/8"], "heartbeat_interval": 0, **extra}


@pytest.fixture
def snmp_extra() -> dict[str, Any]:
    """Override with `@pytest.mark.parametrize("snmp_extra", [{...}])` for other SNMP settings."""
    return {}


@pytest.fixture
async def box(tmp_path: Path, store: ConfigStore, snmp_extra: dict[str, Any]) -> AsyncIterator[Box]:
    await store.set_settings(snmp=settings(**snmp_extra))
    bus, clock = EventBus(), SystemClock()
    holder: list[SnmpService] = []

    def health() -> list[Health]:
        return [Health.of("telephony", Status.OK, "2 calls", gauges={
                    "calls_active": 2.0, "acd_agents_logged_in": 5.0, "acd_agents_idle": 3.0,
                    "acd_agents_on_call": 2.0, "acd_agents_paused": 0.0}),
                Health.of("media", Status.OK, "compiled", counters={"ticks_late": 7}),
                monitor.health(), *(h.health() for h in holder)]

    queues = [{"queue": f"q{i:03d}", "name": f"Queue {i}", "waiting": i % 4, "logged_in": 2, "idle": 1,
               "longest_wait": 12.5} for i in range(1, 4)]
    monitor = MonitorService(tmp_path / "data", store, bus, clock, health, queues=lambda: queues, interval=3600.0,
                             hardware=lambda: CARDS)
    snmp = SnmpService("127.0.0.1", 0, tmp_path / "data", store, bus, clock, monitor, health,
                       Identity("CC-1000", "SN-0042", "1.2.3"), lambda: [("carrier", True), ("pbx", False)])
    holder.append(snmp)
    await monitor.start()  # its loop samples once at once, then not for an hour: the figures hold still
    for _ in range(200):
        if monitor.samples_taken:
            break
        await asyncio.sleep(0.025)
    await snmp.start()
    try:
        yield Box(store, bus, monitor, snmp, tmp_path / "data")
    finally:
        await snmp.stop()
        await monitor.stop()
