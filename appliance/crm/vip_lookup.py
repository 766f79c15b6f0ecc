"""CRM VIP look-up over HTTP (第三方VIP: 通过http方式获取第三方CRM数据来判断VIP客户).

The engine never waits for this: it emits a `LookupVip` action, keeps routing the call at normal priority,
and accepts a `VipLookupResult` only until its own deadline. This adapter carries the action out with
httpx: `GET <url>?caller=<number>&queue=<queue id>` answered by JSON `{"vip": true|false, "priority": n}`
("priority" optional). Anything else — timeout, connection error, HTTP error status, a body that is not
that JSON — is answered as "not VIP", i.e. normal priority, so a CRM outage degrades to plain queueing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx

from appliance.acd.actions import LookupVip
from appliance.acd.commands import VipLookupResult
from appliance.crm.http_json import LookupFailed, get_object

log = logging.getLogger(__name__)


class CrmVipLookup:
    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self._url = url
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures = 0  # look-ups answered "not VIP" because the CRM failed (for health figures)

    async def lookup(self, action: LookupVip) -> VipLookupResult:
        try:
            body = await get_object(self._client, self._url, {"caller": action.caller, "queue": action.queue_id},
                                    action.timeout)
            if body is None or not isinstance(body.get("vip"), bool):
                raise LookupFailed("CRM answer lacks a boolean 'vip'")
            priority = body.get("priority")
            if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
                raise LookupFailed("CRM 'priority' is not an integer")
            return VipLookupResult(action.call_id, body["vip"], priority)
        except LookupFailed as exc:
            self.failures += 1
            log.warning("CRM VIP look-up for call %s failed: %s", action.call_id, exc)
            return VipLookupResult(action.call_id, False)

    def spawn(self, action: LookupVip, deliver: Callable[[VipLookupResult], None]) -> None:
        """Run the look-up in the background and hand the result to `deliver` (which feeds the engine)."""

        async def run() -> None:
            deliver(await self.lookup(action))

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own_client:
            await self._client.aclose()
