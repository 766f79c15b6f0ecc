"""An appliance driven in-process through Sanic's ASGI test client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from appliance.app import Appliance

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



    async def fetch(self, path: str, headers: dict[str, str] | None = None) -> Any:
        """GET returning the whole response (status, headers, raw body) — for downloads."""
        all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        all_headers.update(headers or {})
        _, response = await self.appliance.http_app.asgi_client.get(path, headers=all_headers)
        return response
