"""The first-boot console menu driven through a pty with pexpect, as an installer on a serial line would:
set the admin password with the setup token, set a static address (reverted when not kept, kept when
confirmed), set the time zone, and see the cards list."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
import pytest

from appliance.app import Core
from appliance.auth.http import make_blueprint as auth_blueprint
from appliance.configuration.http import make_blueprint as configuration_blueprint
from provisioning.firstboot.http import make_blueprint as firstboot_blueprint
from provisioning.firstboot.system import SystemService
from provisioning.network.http import make_blueprint as network_blueprint
from provisioning.network.netlink import Netlink
from provisioning.network.service import NetworkService
from tests.provisioning.api import RunningApi, start_api
from tests.provisioning.conftest import BOX_ADDR, Lan

PASSWORD = "Console-set 2026"
ROOT = Path(__file__).resolve().parents[2]


def hal_cards_with(tty: str) -> Any:
    def cards() -> list[dict[str, Any]]:
        from drivers.hal.discovery import discover  # the real HAL's discovery, given the card's serial line

        return [{"backend": c.backend, "path": c.path, "description": c.description}
                for c in discover(extra_serial=(tty,), dahdi_root=Path("/nonexistent"))]
    return cards


@dataclass
class Box:
    core: Core
    api: RunningApi
    network: NetworkService
    system: SystemService
    tty: str


@pytest.fixture
async def box(lan: Lan, tmp_path: Path) -> AsyncIterator[Box]:
    core = Core.open(tmp_path / "data")
    await core.auth.ensure_admin()
    token = core.auth.issue_setup_token()
    network = NetworkService(tmp_path / "networkd", Netlink(lan.box.name), managed=True)
    master, slave = os.openpty()  # the serial line a card would be on
    system = SystemService(core.data_dir, core.config, None, cards=hal_cards_with(os.ttyname(slave)),
                           setup_token=lambda: token, setup_required=lambda: core.auth.setup_required)
    await system.start()
    sock = socket.create_server(("127.0.0.1", 0))
    api = await start_api(core, lambda a: [auth_blueprint(a, core.auth), configuration_blueprint(a, core.config),
                                          network_blueprint(a, network), firstboot_blueprint(a, system, core.auth)],
                          sock, log_in=False)
    try:
        yield Box(core, api, network, system, os.ttyname(slave))
    finally:
        await api.stop()
        await network.stop()
        os.close(master)
        os.close(slave)
        core.close()


def spawn(box: Box) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable, ["-m", "provisioning.firstboot.console", "--api", f"http://127.0.0.1:{box.api.port}",
                         "--data-dir", str(box.core.data_dir), "--confirm-seconds", "3"],
        cwd=str(ROOT), env={**os.environ, "TERM": "vt100"}, dimensions=(24, 80), encoding="utf-8", timeout=20)


def choose(child: pexpect.spawn, key: str) -> None:
    child.expect("Choice")
    child.sendline(key)


@pytest.mark.slow
async def test_console_sets_password_network_time_and_lists_cards(box: Box, lan: Lan) -> None:
    def drive() -> str:
        child = spawn(box)
        log: list[str] = []
        try:
            child.expect("not set yet")
            child.expect("New admin password")
            child.sendline(PASSWORD)
            child.expect("Again")
            child.sendline(PASSWORD)
            child.expect("Admin password set")
            # every menu line fits the terminal
            child.expect("Choice")
            menu = child.before
            assert all(len(line) <= 80 for line in menu.splitlines()), menu
            assert "Admin password" in menu and "set" in menu
            child.sendline("2")
            child.expect("Interface")
            child.sendline("eth0")
            child.expect("static")
            child.sendline("s")
            child.expect("Address")
            child.sendline("10.77.0.8/24")
            child.expect("Gateway")
            child.sendline("")
            child.expect("DNS")
            child.sendline("")
            child.expect("Keep it")
            log.append("applied:" + ",".join(lan.box.addresses("eth0")))
            child.expect("Reverted", timeout=10)  # nobody answered within the window
            log.append("reverted:" + ",".join(lan.box.addresses("eth0")))
            choose(child, "2")
            for answer in ("eth0", "s", "10.77.0.8/24", "10.77.0.1", "10.77.0.53"):
                child.expect(":")
                child.sendline(answer)
            child.expect("Keep it")
            child.sendline("y")
            child.expect("Kept")
            log.append("kept:" + ",".join(lan.box.addresses("eth0")))
            choose(child, "4")
            child.expect("Time zone")
            child.sendline("Asia/Tokyo")
            child.expect("NTP servers")
            child.sendline("ntp1.example.cn ntp2.example.cn")
            child.expect("Saved")
            choose(child, "6")
            child.expect("Choice")
            log.append("cards:" + child.before)
            child.sendline("q")
            child.expect(pexpect.EOF)
        finally:
            child.close()
        return "\n".join(log)

    log = await asyncio.to_thread(drive)
    assert "applied:10.77.0.8/24" in log, log
    assert f"reverted:{BOX_ADDR}" in log, log
    assert "kept:10.77.0.8/24" in log, log
    assert not box.core.auth.setup_required
    assert box.core.config.settings().time_zone == "Asia/Tokyo"
    assert box.system.ntp_servers == ("ntp1.example.cn", "ntp2.example.cn")
    assert not (box.core.data_dir / "setup-token").exists() or box.system.setup_required() is False
    try:
        import drivers.hal.discovery  # noqa: F401
    except ImportError:
        assert "No card driver" in log
    else:
        assert f"path={box.tty}" in log, log


@pytest.mark.slow
async def test_console_asks_for_the_password_then_opens_a_support_shell(box: Box) -> None:
    token = box.system.setup_token()
    assert token is not None
    await box.core.auth.complete_setup(token, PASSWORD, "test")

    def drive() -> str:
        child = spawn(box)
        try:
            child.expect("Admin password")
            child.sendline("wrong password 1")
            child.expect("wrong user name or password")
            child.expect("Admin password")
            child.sendline(PASSWORD)
            choose(child, "7")
            child.expect("no token")
            choose(child, "0")
            child.expect("Admin password")
            child.sendline(PASSWORD)
            child.expect("type exit")
            child.sendline("echo shell-$((6*7))")
            child.expect("shell-42")
            child.sendline("exit")
            choose(child, "q")
            child.expect(pexpect.EOF)
            return "ok"
        finally:
            child.close()

    assert await asyncio.to_thread(drive) == "ok"
