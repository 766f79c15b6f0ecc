"""A real full data disk: the data directory on a small tmpfs filled up raises the disk alarms, snmptrapd
receives them, and freeing the space clears them."""

from __future__ import annotations

import asyncio
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
from tests.snmp.conftest import AUTH_KEY, COMMUNITY, PRIV_KEY, USER, settings
from tests.snmp.test_traps import ALARM_CLEARED, ALARM_RAISED, ENGINE_ID
from tests.snmp.trapd import TrapD, config

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
        assert {"disk_high", "data_disk_full"} <= await trapd.wait_for_alarms(ALARM_RAISED,
                                                                              {"disk_high", "data_disk_full"})
        full = monitor.table.get("data_disk_full", str(small_disk))
        assert full is not None and full.active and full.severity.value == "critical"
        filler.unlink()
        await monitor.tick()
        assert {"disk_high", "data_disk_full"} <= await trapd.wait_for_alarms(ALARM_CLEARED,
                                                                              {"disk_high", "data_disk_full"})
    finally:
        await snmp.stop()
        await monitor.stop()
        store.close()
        await trapd.stop()


@pytest.mark.slow
async def test_a_recording_that_fills_the_disk_raises_recording_stopped(tmp_path: Path, small_disk: Path) -> None:
    """A call between two lines recorded onto the full tmpfs: the recorder stops with ENOSPC, the call goes on,
    the monitor raises `recording_stopped` and snmptrapd gets the trap."""
    from appliance.clock import ManualClock
    from appliance.media import MediaConfig, MediaEngine
    from tests.media.conftest import free_port_range

    trapd = TrapD(free_port(2), tmp_path / "trapd")
    await trapd.start(config(COMMUNITY, USER, AUTH_KEY, PRIV_KEY, ENGINE_ID))
    bus, wall = EventBus(), SystemClock()
    store = ConfigStore.open(tmp_path / "config", all_kinds(), bus, wall)
    await store.set_settings(snmp=settings(trap_receivers=[
        {"host": "127.0.0.1", "port": trapd.port, "version": "v2c", "community": COMMUNITY}]))
    data = small_disk / "data"
    monitor = MonitorService(data, store, bus, wall, lambda: [], interval=3600.0)
    snmp = SnmpService("127.0.0.1", 0, tmp_path / "config", store, bus, wall, monitor, lambda: [],
                       Identity("m", "s", "v"), lambda: [])
    clock = ManualClock()
    low, high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=high), bus, clock=clock)
    await monitor.start()
    await snmp.start()
    try:
        line_a, line_b = engine.open_frame_port("alaw"), engine.open_frame_port("alaw")
        engine.bridge(line_a.endpoint_id, line_b.endpoint_id)
        (data / "recordings").mkdir(parents=True, exist_ok=True)
        engine.start_recording(line_a.endpoint_id, line_b.endpoint_id, data / "recordings" / "call.wav")
        speech = bytes(range(0x20, 0xC0))[:160]
        for k in range(1, 50 * 200):  # up to 200 s of call; 4 MB fill in about two minutes of stereo audio
            clock.now = 0.02 * k
            line_a.push(speech)
            line_b.push(speech)
            engine.run_tick()
            line_a.pull()
            line_b.pull()
            if k % 50 == 0:
                await asyncio.sleep(0)  # the recorder's writer and the bus's consumers get their turn
                if monitor.table.get("recording_stopped", "recordings") is not None:
                    break
        alarm = monitor.table.get("recording_stopped", "recordings")
        assert alarm is not None and alarm.active and "No space left" in alarm.text
        assert "recording_stopped" in await trapd.wait_for_alarms(ALARM_RAISED, {"recording_stopped"})
    finally:
        await engine.stop()
        await snmp.stop()
        await monitor.stop()
        store.close()
        await trapd.stop()
