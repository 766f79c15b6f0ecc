"""The IVR journey log of one call (seed 002/003: keys pressed, prompts played, branch decisions, timeouts,
and how the caller left — self-served, transferred to an agent, or abandoned in the IVR).

Records are plain frozen dataclasses the records store can write as rows; `events.py` carries the same
facts on the event bus under `ivr.*`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StepKind(StrEnum):
    NODE_ENTERED = "node_entered"
    KEY = "key"
    PROMPT_FINISHED = "prompt_finished"
    PROMPT_INTERRUPTED = "prompt_interrupted"
    TIMEOUT = "timeout"
    INVALID = "invalid"
    INPUT_ACCEPTED = "input_accepted"
    BRANCH = "branch"  # a condition chose a path (系统分支判断信息)
    HTTP_OK = "http_ok"
    HTTP_FAILED = "http_failed"
    TTS_FAILED = "tts_failed"
    VARIABLE_SET = "variable_set"
    LANGUAGE = "language"
    SURVEY = "survey"
    CALLBACK = "callback"
    EXIT = "exit"


class ExitReason(StrEnum):
    SELF_SERVED = "self_served"
    TRANSFERRED_TO_AGENT = "transferred_to_agent"  # a queue or an extension
    TRANSFERRED_EXTERNAL = "transferred_external"
    VOICEMAIL = "voicemail"
    ABANDONED = "abandoned"  # the caller hung up while in the IVR
    FAILED = "failed"  # a broken flow or an error branch


@dataclass(frozen=True, slots=True, kw_only=True)
class JourneyStep:
    call_id: str
    seq: int
    at: float  # wall-clock seconds
    flow: str
    flow_version: int
    node: str
    kind: StepKind
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class JourneySummary:
    call_id: str
    caller: str
    did: str
    entry_flow: str
    entry_flow_version: int
    started_at: float
    ended_at: float
    exit_reason: ExitReason
    last_flow: str
    last_node: str
    path: tuple[str, ...]  # "flow/node" for every node entered, in order
    keys: str  # every key pressed, in order
    destination: str = ""  # queue / extension / box / number when transferred
    survey_score: int | None = None
    callback_number: str = ""

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at
