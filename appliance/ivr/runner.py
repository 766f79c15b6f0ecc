"""The async shell around one `IvrSession` on the live box.

It performs the two kinds of I/O the interpreter asks for — HTTP requests to business systems (httpx, with
a total deadline and a cap on the answer size) and speech synthesis (through the prompt store's TTS
cache) — feeds the answers back as inputs, arms the session's deadline on the event loop, publishes the
session's `ivr.*` events, and hands every other action (play, stop, transfer, hang up, survey score ...) to
call control through `deliver`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from appliance.events import Event
from appliance.ivr.actions import Action, HttpRequest, Synthesize
from appliance.ivr.inputs import CallArrived, HttpFailed, HttpResult, Input, TtsFailed, TtsReady
from appliance.ivr.interpreter import IvrSession
from appliance.ivr.models import Language

MAX_BODY_BYTES = 64 * 1024  # a self-service answer is a few fields; more is a misconfigured URL

Speak = Callable[[str, Language], Awaitable[str]]


async def perform_http(client: httpx.AsyncClient, request: HttpRequest) -> HttpResult | HttpFailed:
    """Run one `HttpRequest`; every failure becomes `HttpFailed` so the flow takes its fallback branch."""
    headers = {"Accept": "application/json", **dict(request.headers)}
    if request.body:
        headers["Content-Type"] = "application/json"

    async def fetch() -> HttpResult | HttpFailed:
        async with client.stream(
            request.method, request.url, content=request.body or None, headers=headers, timeout=request.timeout
        ) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return HttpFailed(request_id=request.request_id, reason="too_large")
            text = body.decode(response.encoding or "utf-8", errors="replace")
            return HttpResult(request_id=request.request_id, status=response.status_code, body=text)

    try:
        # httpx's timeout is per phase (connect, each read); a server that drips bytes could outlast it,
        # so the whole exchange gets the node's timeout as well.
        return await asyncio.wait_for(fetch(), request.timeout)
    except (TimeoutError, httpx.TimeoutException):
        return HttpFailed(request_id=request.request_id, reason="timeout")
    except httpx.HTTPError as exc:
        return HttpFailed(request_id=request.request_id, reason=type(exc).__name__)


class IvrRunner:
    def __init__(
        self,
        session: IvrSession,
        *,
        http: httpx.AsyncClient,
        deliver: Callable[[Action], None],
        speak: Speak | None = None,
        publish: Callable[[Event], None] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.session = session
        self._http = http
        self._deliver = deliver
        self._speak = speak
        self._publish = publish
        self._monotonic = monotonic
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def timer_armed(self) -> bool:
        return self._timer is not None

    async def start(self, arrived: CallArrived) -> None:
        self._dispatch(self.session.start(arrived))

    def feed(self, event: Input) -> None:
        """An input from call control (digit, prompt finished, caller hung up)."""
        self._dispatch(self.session.handle(event))

    async def idle(self) -> None:
        """Wait until no HTTP request or synthesis is outstanding (tests, and an orderly stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._tasks.clear()

    def _dispatch(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, HttpRequest):
                self._spawn(self._http_task(action))
            elif isinstance(action, Synthesize):
                self._spawn(self._speech_task(action))
            else:
                self._deliver(action)
        if self._publish is not None:
            for event in self.session.drain_events():
                self._publish(event)
        self._arm_timer()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _http_task(self, request: HttpRequest) -> None:
        result = await perform_http(self._http, request)
        self.feed(result)

    async def _speech_task(self, request: Synthesize) -> None:
        if self._speak is None:
            self.feed(TtsFailed(request_id=request.request_id, reason="no speech engine"))
            return
        try:
            key = await self._speak(request.text, request.language)
        except Exception as exc:  # any engine failure: the session drops that item and carries on
            self.feed(TtsFailed(request_id=request.request_id, reason=str(exc)[:200]))
            return
        self.feed(TtsReady(request_id=request.request_id, prompt=key))

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.session.next_deadline()
        if deadline is None or self.session.ended:
            return
        loop = asyncio.get_running_loop()
        now = self._monotonic() if self._monotonic else loop.time()
        self._timer = loop.call_later(max(0.0, deadline - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._monotonic() if self._monotonic else asyncio.get_running_loop().time()
        self._dispatch(self.session.handle_timeout(now))
