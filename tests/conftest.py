"""Fixtures shared by every test package."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from appliance.app import create_appliance
from appliance.config import RunConfig
from tests.api_client import Client


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_rtp_port() -> int:
    """A UDP port for a peer's media, with the three above it free too (SIPp binds RTP, RTCP and video
    ports from it), below the kernel's ephemeral range so no socket opened meanwhile takes it."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 29990, 2)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + 4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError("no free RTP port range")


@pytest.fixture
def tcp_port() -> Iterator[int]:
    yield free_port()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory after first start (admin without password, demo tenant), built once per run."""
    import asyncio

    data = tmp_path_factory.mktemp("template") / "data"
    appliance = create_appliance(RunConfig(data_dir=data, http_port=0, https_port=0, seed_demo=True))
    asyncio.run(appliance.prepare())
    appliance.core.close()
    return data


@pytest.fixture
async def fresh(tmp_path: Path, seeded_template: Path) -> AsyncIterator[Client]:
    """A first-started appliance on its own copy of the seeded data directory."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(seeded_template, data)
    appliance = create_appliance(RunConfig(data_dir=data, http_port=0, https_port=0, seed_demo=True))
    await appliance.prepare()
    try:
        yield Client(appliance)
    finally:
        appliance.core.close()


@pytest.fixture
async def admin(fresh: Client) -> Client:
    await fresh.setup_and_login()
    return fresh
