"""One asyncio task per call reads the call's inbox and handles one message at a time, so no two handlers of
the same call ever interleave around an `await`. A handler's failure is logged and the call goes on; a
failure outside the handlers ends the call; a call is always ended, whatever stops its task."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from appliance.calls.ending import CallEnding
from appliance.calls.live import LiveCall
from appliance.calls.messages import CallMessage, Shutdown
from appliance.calls.models import CallPhase
from appliance.calls.registry import CallRegistry
from appliance.errors import ApplianceError

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 5.0  # calls end on their own within this at stop(); the rest are cancelled

MessageHandler = Callable[[LiveCall, CallMessage], Awaitable[None]]


@dataclass
class CallActors:
    registry: CallRegistry
    ending: CallEnding
    handle: MessageHandler

    def spawn(self, live: LiveCall, begin: Callable[[], Awaitable[None]]) -> None:
        """Start the call's actor: `begin` runs first (routing, ringing the first phone), then the inbox."""
        live.task = asyncio.create_task(self.run(live, begin), name=f"call-{live.call.id}")

    async def run(self, live: LiveCall, begin: Callable[[], Awaitable[None]]) -> None:
        call = live.call
        try:
            await begin()
            while call.phase != CallPhase.ENDED:
                message = await live.inbox.get()
                try:
                    await self.handle(live, message)
                except ApplianceError as exc:
                    log.warning("call %s: %s", call.id, exc.message)
                except Exception:
                    log.exception("call %s: handling %s failed", call.id, type(message).__name__)
        except Exception:
            log.exception("call %s failed", call.id)
            await self.ending.end(live, "system", "internal_error")
        finally:
            if call.phase != CallPhase.ENDED:
                await self.ending.end(live, "system", "shutdown")

    async def stop(self) -> None:
        """End every call: ask each to shut down, give them a moment, then cancel what is left."""
        for call_id in list(self.registry.calls):
            self.registry.post(call_id, Shutdown())
        tasks = [live.task for live in self.registry.calls.values() if live.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        for task in tasks:
            task.cancel()
