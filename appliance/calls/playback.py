"""What call control itself plays to a caller (not the IVR's prompts): announcements followed by a next step,
synthesized sentences, and the queue's music while the caller waits or is held."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.calls.context import CallContext
from appliance.calls.live import LiveCall
from appliance.errors import ApplianceError


@dataclass
class Playback:
    ctx: CallContext

    async def play_then(self, live: LiveCall, files: list[Path], then: Callable[[], Awaitable[None]]) -> None:
        """Play files in order on the caller, then run `then` (the media events bring each file's end)."""
        endpoint = live.caller_endpoint
        if endpoint is None:
            return
        remaining = list(files)

        async def step() -> None:
            if remaining:
                self.ctx.media.play(endpoint, prompt=remaining.pop(0))
            else:
                live.after_play = None
                await then()

        live.after_play = step
        await step()

    async def finished(self, live: LiveCall) -> None:
        """A controller prompt played to its end (an interrupted one leaves the next step waiting)."""
        if live.after_play is not None:
            await live.after_play()

    def stop_playing(self, live: LiveCall) -> None:
        endpoint = live.caller_endpoint
        if endpoint is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.ctx.media.stop_playing(endpoint)

    async def speak(self, text: str, language: str) -> Path:
        key = await self.ctx.prompts.speak(text, language)  # type: ignore[arg-type]
        return self.ctx.prompts.resolve(key, language)  # type: ignore[arg-type]

    def play_music(self, endpoint: str, queue_id: str) -> None:
        """The queue's music, looped: while the caller waits, is held, or the agent consults someone."""
        self.ctx.media.play(endpoint, prompt=self._queue_music(queue_id), loop=True)

    def _queue_music(self, queue_id: str) -> Path:
        queue = self.ctx.store.find("queues", queue_id)
        if queue is not None and queue.music not in ("", "default"):
            with contextlib.suppress(ApplianceError):
                return self.ctx.prompts.resolve(queue.music, "zh-CN")
        return self.ctx.assets.hold_music
