"""The real Sanic application with only the blueprints a test needs, on a socket the test made."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint

from appliance.http_api import Api
from tests.provisioning.conftest import ADMIN_PASSWORD
from web_ui.server import build_http_app


@dataclass
class RunningApi:
    server: Any
    port: int
    token: str

    async def stop(self) -> None:
        await self.server.before_stop()
        self.server.close()
        await self.server.wait_closed()
        await self.server.after_stop()


async def start_api(core: Any, blueprints: Callable[[Api], list[Blueprint]], sock: socket.socket,
                    log_in: bool = True) -> RunningApi:
    api = Api(core.auth)
    app = build_http_app(api, blueprints(api), lambda: [], started_at=lambda: 0.0, now=core.clock.monotonic)
    sock.listen(64)
    server: Any = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    token = (await core.auth.login("admin", ADMIN_PASSWORD, "test"))[0] if log_in else ""
    return RunningApi(server, int(sock.getsockname()[1]), token)
