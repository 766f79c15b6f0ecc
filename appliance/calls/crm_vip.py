"""第三方VIP: the ACD asks whether a queued caller is a VIP in the customer's CRM. The look-up runs beside the
call — its actor must not wait on a web server — and the answer comes back through the call's inbox; the
call keeps queueing at normal priority meanwhile, and the ACD ignores an answer after its own deadline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.calls.acd_config import crm_vip_url
from appliance.calls.context import CallContext
from appliance.calls.live import LiveCall
from appliance.calls.messages import VipResult
from appliance.crm.vip_lookup import CrmVipLookup


@dataclass
class CrmVipLookups:
    ctx: CallContext
    _crm: CrmVipLookup | None = None  # the client for `_crm_url`, made at the first look-up
    _crm_url: str = ""
    _closing: set[asyncio.Task[None]] = field(default_factory=set)  # clients of a URL that was replaced

    def lookup(self, action: A.LookupVip) -> None:
        url = crm_vip_url(self.ctx.store.settings)
        if not url:  # the CRM was unset since the queue configuration asked for it
            self.ctx.acd_command(C.VipLookupResult(call_id=action.call_id, vip=False))
            return
        if self._crm is None or self._crm_url != url:
            if self._crm is not None:
                # a new URL: its look-ups under way end, and the ACD's deadline covers them
                task = asyncio.get_running_loop().create_task(self._crm.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            self._crm, self._crm_url = CrmVipLookup(url), url

        def deliver(result: C.VipLookupResult) -> None:
            self.ctx.post(action.call_id, VipResult(result))  # a call that ended meanwhile needs no answer

        self._crm.spawn(action, deliver)

    def result(self, live: LiveCall, result: C.VipLookupResult) -> None:
        call = live.call
        call.note(self.ctx.clock.wall(), "crm_vip", "vip" if result.vip else "not vip")
        if result.vip:
            call.vip = True
        if live.in_acd:  # the engine ignores an answer after its own deadline (normal priority stands)
            self.ctx.acd_command(result)

    async def close(self) -> None:
        if self._crm is not None:
            await self._crm.aclose()
            self._crm, self._crm_url = None, ""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
