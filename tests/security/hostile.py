"""A browser-less HTTP client for attack tests: raw control of headers and body, and the source address
(any 127.0.0.0/8 address is ours on loopback, so one test can be many attackers)."""

from __future__ import annotations

import http.client
import json
import socket
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


def send_raw(port: int, head: str, parts: list[bytes], *, timeout: float = 30) -> tuple[int, Any]:
    """A request written by hand (`head` without its blank line, then `parts`), the answer read as soon as the
    server gives it: a server that refuses a body early may close before the client has sent it all."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n")
            for part in parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused already: the answer is waiting
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < _length(raw):
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    status_line, _, rest = raw.partition(b"\r\n")
    body = rest.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in rest else b""
    return int(status_line.split()[1]), json.loads(body) if body else None


def _length(raw: bytes) -> int:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


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
