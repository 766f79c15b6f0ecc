"""Writing one call's IVR journey as it happens: each step, then the summary, with their `ivr.*` events.

The session (`appliance.ivr.interpreter`) says what happened and where; this keeps the running facts the
summary needs (path, keys, survey score, callback number) and the events not yet drained, so the session's
state machine does not also carry the bookkeeping of its log.
"""

from __future__ import annotations

from appliance.clock import Clock
from appliance.events import Event
from appliance.ivr.events import IvrEnded, IvrStarted, IvrStep
from appliance.ivr.inputs import CallArrived
from appliance.ivr.journey import ExitReason, JourneyStep, JourneySummary, StepKind
from appliance.ivr.models import Flow, Node


class JourneyLog:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._arrived: CallArrived | None = None
        self._entry: Flow | None = None
        self._seq = 0
        self.started_at = 0.0
        self.steps: list[JourneyStep] = []
        self.path: list[str] = []  # "flow/node" for every node entered
        self.keys = ""  # every key pressed
        self.survey_score: int | None = None
        self.callback_number = ""
        self._outbox: list[Event] = []

    def begin(self, arrived: CallArrived, entry: Flow) -> None:
        self._arrived, self._entry = arrived, entry
        self.started_at = self._clock.wall()
        self._outbox.append(
            IvrStarted(
                at=self.started_at,
                call_id=arrived.call_id,
                caller=arrived.caller,
                did=arrived.did,
                flow=entry.name,
                flow_version=entry.version,
                vip=arrived.vip,
            )
        )

    def step(self, flow: Flow | None, node: Node | None, kind: StepKind, detail: str = "") -> None:
        assert self._arrived is not None
        self._seq += 1
        step = JourneyStep(
            call_id=self._arrived.call_id,
            seq=self._seq,
            at=self._clock.wall(),
            flow=flow.name if flow else "",
            flow_version=flow.version if flow else 0,
            node=node.id if node else "",
            kind=kind,
            detail=detail,
        )
        self.steps.append(step)
        self._outbox.append(IvrStep.of(step))

    def end(self, flow: Flow | None, node: Node | None, reason: ExitReason, destination: str) -> JourneySummary:
        """The exit step and the summary of the whole journey."""
        self.step(flow, node, StepKind.EXIT, reason.value if not destination else f"{reason.value}:{destination}")
        assert self._arrived is not None and self._entry is not None
        summary = JourneySummary(
            call_id=self._arrived.call_id,
            caller=self._arrived.caller,
            did=self._arrived.did,
            entry_flow=self._entry.name,
            entry_flow_version=self._entry.version,
            started_at=self.started_at,
            ended_at=self._clock.wall(),
            exit_reason=reason,
            last_flow=flow.name if flow else "",
            last_node=node.id if node else "",
            path=tuple(self.path),
            keys=self.keys,
            destination=destination,
            survey_score=self.survey_score,
            callback_number=self.callback_number,
        )
        self._outbox.append(IvrEnded.of(summary))
        return summary

    def drain_events(self) -> list[Event]:
        out, self._outbox = self._outbox, []
        return out
