"""sd_notify: the datagrams systemd expects, on a real AF_UNIX socket, from the helper and from `appliance run`."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.sd_notify import SdNotifier


def _socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    return sock


def test_outside_systemd_every_call_is_a_no_op() -> None:
    n = SdNotifier({})
    assert not n.enabled and n.watchdog_interval is None
    assert n.ready("x") is False and n.stopping() is False


def test_ready_status_and_stopping_reach_the_socket(tmp_path: Path) -> None:
    with _socket(tmp_path / "notify") as sock:
        n = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        assert n.ready("appliance 1.0 running")
        assert sock.recv(4096) == b"READY=1\nSTATUS=appliance 1.0 running"
        assert n.stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_socket_name(tmp_path: Path) -> None:
    name = f"sd-notify-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert SdNotifier({"NOTIFY_SOCKET": "@" + name}).notify("READY=1")
        assert sock.recv(100) == b"READY=1"


def test_watchdog_for_another_pid_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SdNotifier(env).watchdog_interval is None


async def test_watchdog_pings_at_half_the_interval_from_the_loop(tmp_path: Path) -> None:
    with _socket(tmp_path / "notify") as sock:
        sock.setblocking(False)
        n = SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000",
                        "WATCHDOG_PID": str(os.getpid())})
        assert n.watchdog_interval == pytest.approx(0.1)
        n.start_watchdog()
        await asyncio.sleep(0.35)
        await n.stop_watchdog()
        pings = []
        while True:
            try:
                pings.append(sock.recv(100))
            except BlockingIOError:
                break
        assert pings and set(pings) == {b"WATCHDOG=1"} and 3 <= len(pings) <= 5, pings


def test_a_missing_socket_does_not_raise(tmp_path: Path) -> None:
    assert SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready() is False


@pytest.mark.slow
def test_appliance_run_notifies_ready_and_pings_the_watchdog(tmp_path: Path) -> None:
    """`appliance run` as systemd starts it: READY=1 once it listens, WATCHDOG=1 meanwhile, STOPPING=1 on TERM."""
    path = tmp_path / "notify"
    with _socket(path) as sock:
        sock.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}
        proc = subprocess.Popen([sys.executable, "-m", "appliance", "run", "--data-dir", str(tmp_path / "data"),
                                 "--http-port", "0", "--https-port", "0", "--sip-port", "0", "--snmp-port", "0", "--no-demo"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        got: list[bytes] = []
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(m.startswith(b"READY=1") for m in got):
                got.append(sock.recv(4096))
            assert any(m.startswith(b"READY=1\nSTATUS=appliance ") for m in got), got
            sock.settimeout(5)
            assert sock.recv(4096) == b"WATCHDOG=1"
            proc.terminate()
            while (m := sock.recv(4096)) == b"WATCHDOG=1":
                pass
            assert m == b"STOPPING=1"
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
