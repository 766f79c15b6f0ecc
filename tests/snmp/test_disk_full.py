"""A real full data disk: the data directory on a small tmpfs filled up raises the disk alarms, snmptrapd
receives them, and freeing the space clears them."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.clock import SystemClock
from appliance.domain.kinds import all_kinds
from appliance.events import EventBus
from appliance.monitoring.service import MonitorService
from appliance.snmp.service import SnmpService
from appliance.snmp.view import Identity
from appliance.store.config_store import ConfigStore
from tests.conftest import free_port
from tests.snmp.conftest import AUTH_KEY, COMMUNITY, PRIV_KEY, ROOT, USER, settings
from tests.snmp.test_traps import ALARM_CLEARED, ALARM_RAISED, ENGINE_ID
from tests.snmp.trapd import TrapD, config, text_of

pytestmark = pytest.mark.interop


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the CI machine runs as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_data_disk_raises_and_clears_its_alarms(tmp_path: Path, small_disk: Path) -> None:
    data = small_disk / "data"
    trapd = TrapD(free_port(2), tmp_path / "trapd")
    await trapd.start(config(COMMUNITY, USER, AUTH_KEY, PRIV_KEY, ENGINE_ID))
    bus, clock = EventBus(), SystemClock()
    store = ConfigStore.open(data, all_kinds(), bus, clock)
    await store.set_settings(snmp=settings(trap_receivers=[
        {"host": "127.0.0.1", "port": trapd.port, "version": "v2c", "community": COMMUNITY}]))
    monitor = MonitorService(data, store, bus, clock, lambda: [], interval=3600.0)
    snmp = SnmpService("127.0.0.1", 0, data, store, bus, clock, monitor, lambda: [], Identity("m", "s", "v"),
                       lambda: [])
    await monitor.start()
    await snmp.start()
    try:
        await monitor.tick()
        assert monitor.sample is not None and monitor.sample.disks[0].mount == str(small_disk)
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler = data / "recordings.bin"
        with open(filler, "wb") as f, contextlib.suppress(OSError):  # to the last block, as a recording would
            f.write(b"\0" * (free - 16 * 1024))
        await monitor.tick()
        raised = await trapd.wait_for(ALARM_RAISED, 2)
        names = {text_of(v) for n in raised for k, v in n.varbinds.items() if k.startswith(f"{ROOT}.1.7.2.1.2.")}
        assert {"disk_high", "data_disk_full"} <= names
        full = monitor.table.get("data_disk_full", str(small_disk))
        assert full is not None and full.active and full.severity.value == "critical"
        filler.unlink()
        await monitor.tick()
        cleared = await trapd.wait_for(ALARM_CLEARED, 2)
        names = {text_of(v) for n in cleared for k, v in n.varbinds.items() if k.startswith(f"{ROOT}.1.7.2.1.2.")}
        assert {"disk_high", "data_disk_full"} <= names
    finally:
        await snmp.stop()
        await monitor.stop()
        store.close()
        await trapd.stop()
