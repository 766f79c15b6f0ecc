"""Events the IVR publishes (`ivr.*`): one per journey step and one when the call leaves the IVR.

They carry the fields of `journey.JourneyStep` / `journey.JourneySummary` so the records store can build
IVR detail and IVR statistics reports (IVR进线数, IVR放弃数, IVR时长) from the bus alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event
from appliance.ivr.journey import JourneyStep, JourneySummary


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrStarted(Event):
    topic: ClassVar[str] = "ivr.started"
    call_id: str
    caller: str
    did: str
    flow: str
    flow_version: int
    vip: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrStep(Event):
    topic: ClassVar[str] = "ivr.step"
    call_id: str
    seq: int
    flow: str
    flow_version: int
    node: str
    kind: str
    detail: str = ""

    @classmethod
    def of(cls, step: JourneyStep) -> IvrStep:
        return cls(
            at=step.at,
            call_id=step.call_id,
            seq=step.seq,
            flow=step.flow,
            flow_version=step.flow_version,
            node=step.node,
            kind=step.kind.value,
            detail=step.detail,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrEnded(Event):
    topic: ClassVar[str] = "ivr.ended"
    call_id: str
    caller: str
    did: str
    entry_flow: str
    entry_flow_version: int
    started_at: float
    duration: float
    exit_reason: str
    last_flow: str
    last_node: str
    path: tuple[str, ...]
    keys: str
    destination: str = ""
    survey_score: int | None = None
    callback_number: str = ""

    @classmethod
    def of(cls, s: JourneySummary) -> IvrEnded:
        return cls(
            at=s.ended_at,
            call_id=s.call_id,
            caller=s.caller,
            did=s.did,
            entry_flow=s.entry_flow,
            entry_flow_version=s.entry_flow_version,
            started_at=s.started_at,
            duration=s.duration,
            exit_reason=s.exit_reason.value,
            last_flow=s.last_flow,
            last_node=s.last_node,
            path=s.path,
            keys=s.keys,
            destination=s.destination,
            survey_score=s.survey_score,
            callback_number=s.callback_number,
        )
