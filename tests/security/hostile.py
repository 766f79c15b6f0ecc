"""A browser-less HTTP client for attack tests: raw control of headers and body, and the source address
(any 127.0.0.0/8 address is ours on loopback, so one test can be many attackers)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import RunningAppliance, start_appliance


def send(port: int, method: str, path: str, body: bytes | None = None, *, headers: dict[str, str] | None = None,
         source: str = "127.0.0.1", timeout: float = 30) -> tuple[int, Any]:
    """One request on a new connection from `source`; the answer's status and decoded JSON (or raw bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw) if raw else None
    except ValueError:
        return response.status, raw


def send_json(port: int, method: str, path: str, data: Any, *, token: str = "", source: str = "127.0.0.1",
              timeout: float = 30) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return send(port, method, path, json.dumps(data).encode(), headers=headers, source=source, timeout=timeout)


def start_box(tmp_path_factory: pytest.TempPathFactory, *, set_up: bool = True) -> RunningAppliance:
    """`appliance run` on free ports, tried again if another test took a port between choice and bind."""
    for attempt in range(3):
        try:
            return start_appliance(tmp_path_factory.mktemp("box"), "--https-port", "0", "--snmp-port", "0",
                                   set_up=set_up)
        except AssertionError as exc:
            if "address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def running(tmp_path_factory: pytest.TempPathFactory, *, set_up: bool = True) -> Iterator[RunningAppliance]:
    """A box for a module's tests; at the end it must stop cleanly with no traceback in its log."""
    app = start_box(tmp_path_factory, set_up=set_up)
    try:
        yield app
    finally:
        code = app.stop()
        log = app.log.read_text()
        assert "Traceback" not in log, log[-4000:]
        assert code == 0, log[-3000:]
