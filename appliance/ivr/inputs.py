"""What call control tells an IVR session: the events the interpreter consumes.

Call control turns SIP, RTP and DTMF happenings into these; the async runner (`runner.py`) turns HTTP answers
and finished speech synthesis into them. Ids (`play_id`, `request_id`, `timer_id`) echo the action that
asked, so a late answer for something already abandoned (a prompt the caller barged into, an HTTP request
that timed out) is recognised and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from appliance.ivr.models import Language


@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived:
    call_id: str
    caller: str
    did: str
    flow: str  # the entry flow chosen by routing
    language: Language = "zh-CN"
    vip: bool = False
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptFinished:
    play_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerExpired:
    timer_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpResult:
    request_id: int
    status: int
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpFailed:
    request_id: int
    reason: str  # "timeout", "connect", ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TtsReady:
    request_id: int
    prompt: str  # a prompt key the prompt store resolves to a file


@dataclass(frozen=True, slots=True, kw_only=True)
class TtsFailed:
    request_id: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerHungUp:
    pass


Input = (
    DigitPressed
    | PromptFinished
    | TimerExpired
    | HttpResult
    | HttpFailed
    | TtsReady
    | TtsFailed
    | CallerHungUp
)
