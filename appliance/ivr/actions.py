"""What an IVR session asks call control to do: the actions the interpreter emits.

Media actions (`Play`, `StopPlayback`, `CollectDigits`) keep the call in the IVR; transfer actions and
`Hangup` end it (`Action.final`). `Synthesize` and `HttpRequest` are performed by `runner.py` (or call
control) and answered with `TtsReady`/`TtsFailed` and `HttpResult`/`HttpFailed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from appliance.ivr.models import Language


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    final: ClassVar[bool] = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Play(Action):
    """Play prompt keys in order (the prompt store resolves key + language to a file). Digit strings are
    already expanded to `digit_N` keys. Answer with `PromptFinished(play_id)` when the last one ends."""

    play_id: int
    prompts: tuple[str, ...]
    language: Language
    barge_in: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class StopPlayback(Action):
    """The caller barged in: stop `play_id` now; no `PromptFinished` is expected for it any more."""

    play_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Synthesize(Action):
    """Render `text` with TTS; answer `TtsReady(request_id, prompt)` or `TtsFailed`."""

    request_id: int
    text: str
    language: Language


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectDigits(Action):
    """The session now expects keys with these rules (media may flush its DTMF buffer, SIP INFO relays...).
    The session itself applies the rules to the `DigitPressed` events it receives."""

    min_digits: int
    max_digits: int
    terminator: str
    first_digit_timeout: float
    inter_digit_timeout: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTimer(Action):
    """Informational: the session's deadline (monotonic seconds). Drive it with `next_deadline()` /
    `handle_timeout(now)`, or send `TimerExpired(timer_id)` when it passes."""

    timer_id: int
    deadline: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest(Action):
    request_id: int
    method: str
    url: str
    body: str
    timeout: float
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SetLanguage(Action):
    language: Language


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSurvey(Action):
    """A satisfaction score 1-5 for the CDR of the call (and of the agent leg it followed)."""

    score: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureCallback(Action):
    """The caller left a number to be called back on."""

    number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferToQueue(Action):
    final: ClassVar[bool] = True
    queue: str
    skill: str = ""
    priority: int = 0
    vip: bool = False
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferToExtension(Action):
    final: ClassVar[bool] = True
    extension: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferToVoicemail(Action):
    final: ClassVar[bool] = True
    box: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferToExternal(Action):
    final: ClassVar[bool] = True
    number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup(Action):
    final: ClassVar[bool] = True
    reason: str = "normal"
