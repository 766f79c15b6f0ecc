"""A small driver for engine tests: a manual clock, collected events, and time that passes timer by timer."""

from __future__ import annotations

from collections.abc import Iterable
from random import Random
from typing import TypeVar

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.engine import AcdEngine
from appliance.acd.models import AcdConfig, AcdSettings, AgentProfile, AgentState, QueueConfig, SkillLevel
from appliance.clock import ManualClock
from appliance.events import Event

T = TypeVar("T")


def agent(agent_id: str, queues: Iterable[str] = ("q",), **kw: object) -> AgentProfile:
    skills = kw.pop("skills", ())
    if isinstance(skills, dict):
        skills = tuple(SkillLevel(s, lvl) for s, lvl in skills.items())
    return AgentProfile(agent_id, queues=tuple(queues), skills=skills, **kw)  # type: ignore[arg-type]


class Harness:
    def __init__(
        self,
        queues: Iterable[QueueConfig],
        agents: Iterable[AgentProfile],
        settings: AcdSettings | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = ManualClock()
        self.events: list[Event] = []
        self.actions: list[A.Action] = []
        self.engine = AcdEngine(
            AcdConfig(settings or AcdSettings(), tuple(queues), tuple(agents)),
            self.clock,
            Random(seed),
            self.events.append,
        )

    def do(self, command: C.Command) -> list[A.Action]:
        out = self.engine.handle(command)
        self.actions.extend(out)
        return out

    def advance(self, seconds: float) -> list[A.Action]:
        """Let time pass, firing each timer at its own deadline."""
        target = self.clock.now + seconds
        out: list[A.Action] = []
        while (d := self.engine.next_deadline()) is not None and d <= target:
            self.clock.now = max(self.clock.now, d)
            out.extend(self.engine.handle_timeout())
        self.clock.now = target
        self.actions.extend(out)
        return out

    def login(self, *agent_ids: str) -> list[A.Action]:
        out: list[A.Action] = []
        for a in agent_ids:
            out.extend(self.do(C.AgentLoggedIn(a)))
        return out

    def arrive(self, call_id: str, queue_id: str = "q", **kw: object) -> list[A.Action]:
        return self.do(C.CallArrived(call_id, queue_id, **kw))  # type: ignore[arg-type]

    def answer(self, call_id: str, agent_id: str) -> list[A.Action]:
        return self.do(C.OfferAnswered(call_id, agent_id))

    def state(self, agent_id: str) -> AgentState:
        return self.engine.agent_view(agent_id).state

    def of(self, kind: type[T], items: Iterable[object] | None = None) -> list[T]:
        source: Iterable[object] = self.events if items is None and issubclass(kind, Event) else (
            items if items is not None else self.actions
        )
        return [x for x in source if isinstance(x, kind)]


def offered_to(actions: Iterable[A.Action]) -> list[tuple[str, str]]:
    """(call, agent) pairs of the single-agent offers among `actions`."""
    return [(a.call_id, a.agent_id) for a in actions if isinstance(a, A.OfferCall)]
