"""The IVR service on the live box: what all IVR sessions share.

It owns the flow repository, the prompt store (for speech), one pooled httpx client for self-service
requests, the clock and the event bus, and keeps one `IvrRunner` per call in the IVR. Call control opens a
session with the routing decision's flow and gets the runner back; it feeds the runner inputs and carries
out the actions `deliver` receives. `start()` / `stop()` are symmetric: `stop()` cancels outstanding requests
and timers of every open session and closes the HTTP client.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from appliance.clock import Clock
from appliance.events import EventBus
from appliance.ivr.actions import Action
from appliance.ivr.inputs import CallArrived
from appliance.ivr.interpreter import IvrSession, PeriodOf
from appliance.ivr.library import FlowRepository
from appliance.ivr.runner import IvrRunner
from appliance.prompts.store import PromptStore


class IvrService:
    def __init__(
        self,
        flows: FlowRepository,
        prompts: PromptStore,
        bus: EventBus,
        clock: Clock,
        *,
        period_of: PeriodOf | None = None,
        max_connections: int = 50,
    ) -> None:
        self.flows = flows
        self.prompts = prompts
        self.bus = bus
        self.clock = clock
        self.period_of = period_of
        self._limits = httpx.Limits(max_connections=max_connections)
        self._http: httpx.AsyncClient | None = None
        self._runners: dict[str, IvrRunner] = {}

    async def start(self) -> None:
        # Business systems are on the customer's LAN; redirects are not followed so a URL in a flow is
        # exactly where caller data goes.
        self._http = httpx.AsyncClient(limits=self._limits, follow_redirects=False)

    async def stop(self) -> None:
        for runner in list(self._runners.values()):
            await runner.stop()
        self._runners.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def active(self) -> int:
        return len(self._runners)

    def runner(self, call_id: str) -> IvrRunner | None:
        return self._runners.get(call_id)

    async def open_session(self, arrived: CallArrived, deliver: Callable[[Action], None]) -> IvrRunner:
        if self._http is None:
            raise RuntimeError("IVR service not started")
        session = IvrSession(self.flows.snapshot(), self.clock, period_of=self.period_of)

        def forward(action: Action) -> None:
            if action.final:
                self._runners.pop(arrived.call_id, None)
            deliver(action)

        runner = IvrRunner(
            session,
            http=self._http,
            deliver=forward,
            speak=self.prompts.speak,
            publish=self.bus.publish,
            monotonic=self.clock.monotonic,
        )
        self._runners[arrived.call_id] = runner
        await runner.start(arrived)
        if session.ended:  # a flow that ends at once (straight to a queue) never stays open
            self._runners.pop(arrived.call_id, None)
        return runner

    async def close_session(self, call_id: str) -> None:
        """The call left (hung up, or call control took it elsewhere): stop its timers and requests."""
        runner = self._runners.pop(call_id, None)
        if runner is not None:
            await runner.stop()
