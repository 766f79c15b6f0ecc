"""An appliance built on a temporary data directory, driven in-process through Sanic's ASGI test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance.app import Appliance, create_appliance
from appliance.config import RunConfig

ADMIN_PASSWORD = "correct horse battery"


@dataclass
class Client:
    appliance: Appliance
    token: str | None = None

    async def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                   token: str | None = None) -> tuple[int, Any]:
        headers = {}
        use = token if token is not None else self.token
        if use:
            headers["Authorization"] = f"Bearer {use}"
        kwargs: dict[str, Any] = {"headers": headers}
        if method in ("GET", "DELETE"):
            pass  # httpx sends no body with these
        elif raw is not None:
            kwargs["content"] = raw
        elif body is not None:
            kwargs["content"] = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        client = self.appliance.http_app.asgi_client
        _, response = await getattr(client, method.lower())(path, **kwargs)
        try:
            data = response.json
        except Exception:
            data = response.body
        return response.status, data

    async def setup_and_login(self) -> None:
        token = self.appliance.setup_token
        status, _ = await self.call("POST", "/api/v1/setup", {"token": token, "password": ADMIN_PASSWORD})
        assert status == 200
        status, data = await self.call("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
        assert status == 200
        self.token = data["token"]


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[Client]:
    appliance = create_appliance(RunConfig(data_dir=tmp_path / "data", http_port=0, seed_demo=True))
    await appliance.prepare()
    try:
        yield Client(appliance)
    finally:
        appliance.core.close()


@pytest.fixture
async def admin(fresh: Client) -> Client:
    await fresh.setup_and_login()
    return fresh
