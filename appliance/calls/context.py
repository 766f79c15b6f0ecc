"""What every part of call control shares: the engines it drives, the registry of live calls, and the few moves
every part makes — post to a call's inbox, publish a public `calls.*` event, command the ACD, set a timer.

The composition root passes the engines to `CallController`, which builds one `CallContext` and hands it to
each part explicitly; no part reaches another through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.engine import AcdEngine
from appliance.calls.agents import AgentDirectory
from appliance.calls.assets import MediaAssets
from appliance.calls.live import LiveCall
from appliance.calls.messages import AcdActionArrived, CallMessage, TimerFired
from appliance.calls.registry import CallRegistry
from appliance.clock import Clock
from appliance.customers.models import Customer
from appliance.events import Event, EventBus
from appliance.ivr.service import IvrService
from appliance.legs.factory import LegFactory
from appliance.media.service import MediaEngine
from appliance.prompts.store import PromptStore
from appliance.routing.router import Router
from appliance.store.config_store import ConfigStore
from appliance.voicemail.service import VoicemailService

log = logging.getLogger(__name__)


@dataclass
class CallEngines:
    """What call control is built from (the composition root passes each)."""

    legs: LegFactory
    media: MediaEngine
    acd: AcdEngine
    ivr: IvrService
    store: ConfigStore
    prompts: PromptStore
    voicemail: VoicemailService
    bus: EventBus
    clock: Clock
    router: Callable[[], Router]
    agents: AgentDirectory
    recordings_dir: Path
    assets: MediaAssets
    # The caller's customer record (area, account manager) by number: `CustomerService.lookup_now`.
    customer_of: Callable[[str], Customer | None] = field(default=lambda number: None)


@dataclass
class CallContext(CallEngines):
    registry: CallRegistry = field(default_factory=CallRegistry)
    _acd_wake: asyncio.Event = field(default_factory=asyncio.Event)  # the ACD's next deadline may have moved

    @classmethod
    def around(cls, engines: CallEngines) -> CallContext:
        return cls(**{f.name: getattr(engines, f.name) for f in dataclasses.fields(CallEngines)})

    def post(self, call_id: str, message: CallMessage) -> bool:
        return self.registry.post(call_id, message)

    def publish(self, event: Event) -> None:
        """A public `calls.*` event, stamped with the wall clock (the journal writes `calls.ended` as the
        CDR)."""
        self.bus.publish(dataclasses.replace(event, at=self.clock.wall()))

    def later(self, live: LiveCall, seconds: float, fire: Callable[[], Awaitable[None]]) -> None:
        """Run `fire` in the call's actor after `seconds` (cancelled when the call ends)."""
        loop = asyncio.get_running_loop()
        live.timers.append(loop.call_later(seconds, self.post, live.call.id, TimerFired(fire)))

    # ---------------------------------------------------------------- the ACD

    def acd_command(self, command: C.Command) -> list[A.Action]:
        actions = self.acd.handle(command, self.clock.monotonic())
        self.dispatch_acd(actions)
        self._acd_wake.set()
        return actions

    def dispatch_acd(self, actions: list[A.Action]) -> None:
        """The ACD's decisions go to the inbox of the call each one names."""
        for action in actions:
            call_id = getattr(action, "call_id", None)
            if call_id is not None:
                if not self.post(call_id, AcdActionArrived(action)):
                    log.warning("ACD action for a call that is gone: %s", action)
            else:
                log.debug("ACD action without a call: %s", action)

    async def run_acd_timers(self) -> None:
        """The ACD is pure: this task wakes it at its next deadline (ring time-outs, overflow, announcements)."""
        while True:
            deadline = self.acd.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock.monotonic())
            # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancel that arrives as the event is set
            # (a call ending during stop() sets it), and stop() would then wait for this task for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._acd_wake.wait()
            self._acd_wake.clear()
            if deadline is not None and self.clock.monotonic() >= deadline:
                try:
                    self.dispatch_acd(self.acd.handle_timeout(self.clock.monotonic()))
                except Exception:
                    log.exception("ACD timer handling failed")
