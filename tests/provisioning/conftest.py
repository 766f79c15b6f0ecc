"""Fixtures of the provisioning tests: a box and a LAN namespace joined by a veth pair, and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.provisioning.netns import Namespace, can_make_namespaces, veth

BOX_ADDR = "10.77.0.2/24"
LAN_ADDR = "10.77.0.1/24"
ADMIN_PASSWORD = "an admin password"


@dataclass
class Lan:
    box: Namespace
    lan: Namespace


@pytest.fixture
def lan() -> Iterator[Lan]:
    if not can_make_namespaces():
        pytest.skip("network namespaces need root and iproute2")
    box = Namespace.create("pbox")
    peer = Namespace.create("plan")
    try:
        veth(box, "eth0", peer, "eth0")
        box.ip("addr", "add", BOX_ADDR, "dev", "eth0")
        peer.ip("addr", "add", LAN_ADDR, "dev", "eth0")
        yield Lan(box, peer)
    finally:
        box.delete()
        peer.delete()


@dataclass
class ApiServer:
    server: Any
    port: int
    token: str
    core: Any


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Any]:
    """The stores and auth of a fresh data directory with the admin password set through the setup token."""
    from appliance.app import Core

    c = Core.open(tmp_path / "data")
    await c.auth.ensure_admin()
    token = c.auth.issue_setup_token()
    assert token
    await c.auth.complete_setup(token, ADMIN_PASSWORD, "test")
    try:
        yield c
    finally:
        c.close()
