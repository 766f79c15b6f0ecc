"""Fixtures shared by every test package."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tcp_port() -> Iterator[int]:
    yield free_port()
