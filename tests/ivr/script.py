"""A scripted caller for IVR sessions: a fake clock, the session, and helpers that play the caller's part."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from appliance.clock import ManualClock
from appliance.ivr.actions import Action, Play, Synthesize
from appliance.ivr.inputs import CallArrived, DigitPressed, Input, PromptFinished, TtsReady
from appliance.ivr.interpreter import IvrSession, PeriodOf
from appliance.ivr.library import FlowLibrary, FlowRepository
from appliance.ivr.models import Flow

A = TypeVar("A", bound=Action)


class Script:
    def __init__(
        self,
        flows: Iterable[Flow] | FlowLibrary,
        *,
        clock: ManualClock | None = None,
        period_of: PeriodOf | None = None,
    ) -> None:
        self.clock = clock or ManualClock()
        library = flows if isinstance(flows, FlowLibrary) else FlowRepository(flows).snapshot()
        self.session = IvrSession(library, self.clock, period_of=period_of)
        self.actions: list[Action] = []  # everything emitted so far
        self.last: list[Action] = []  # what the last step emitted

    def _take(self, actions: list[Action]) -> list[Action]:
        self.last = actions
        self.actions += actions
        return actions

    def start(self, flow: str, caller: str = "13800138000", did: str = "8000", **kw: Any) -> list[Action]:
        return self._take(
            self.session.start(CallArrived(call_id="c1", caller=caller, did=did, flow=flow, **kw))
        )

    def send(self, event: Input) -> list[Action]:
        return self._take(self.session.handle(event))

    def press(self, keys: str) -> list[Action]:
        out: list[Action] = []
        for key in keys:
            out += self.send(DigitPressed(digit=key))
        self.last = out
        return out

    def playing(self) -> Play:
        """The Play action the session is waiting on (the last one emitted)."""
        plays = [a for a in self.actions if isinstance(a, Play)]
        assert plays, "nothing was played"
        return plays[-1]

    def finish_prompt(self) -> list[Action]:
        return self.send(PromptFinished(play_id=self.playing().play_id))

    def synthesize_all(self) -> list[Action]:
        """Answer every outstanding Synthesize of the last step with a deterministic key."""
        out: list[Action] = []
        for a in [a for a in self.last if isinstance(a, Synthesize)]:
            out += self.send(TtsReady(request_id=a.request_id, prompt=f"tts/{a.text}"))
        self.last = out
        return out

    def wait(self, seconds: float) -> list[Action]:
        self.clock.advance(seconds)
        return self._take(self.session.handle_timeout(self.clock.monotonic()))

    def one(self, kind: type[A], actions: list[Action] | None = None) -> A:
        found = [a for a in (self.last if actions is None else actions) if isinstance(a, kind)]
        assert len(found) == 1, f"expected one {kind.__name__} in {self.last if actions is None else actions}"
        return found[0]

    def none(self, kind: type[Action]) -> None:
        assert not [a for a in self.last if isinstance(a, kind)], f"unexpected {kind.__name__} in {self.last}"
