"""An appliance (API only) with the customer service started, signed in as the admin and as agent 1001."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api_client import Client


@pytest.fixture
async def api(admin: Client) -> AsyncIterator[Client]:
    service = next(s for s in admin.appliance.services if s.name == "customers")
    await service.start()
    try:
        yield admin
    finally:
        await service.stop()


@pytest.fixture
async def agent_token(api: Client) -> str:
    status, data = await api.call("POST", "/api/v1/users", {"name": "agent1", "role": "agent", "staff": "1001",
                                                             "password": "agent-password-1"})
    assert status == 201, data
    status, data = await api.call("POST", "/api/v1/login", {"name": "agent1", "password": "agent-password-1"})
    assert status == 200, data
    return str(data["token"])
