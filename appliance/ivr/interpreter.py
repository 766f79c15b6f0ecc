"""The IVR interpreter: one `IvrSession` walks one call through a flow (sans-IO).

Inputs (`inputs.py`) in, actions (`actions.py`) out, timers as one deadline (`next_deadline()` /
`handle_timeout(now)`), time from an injected `Clock`; no sockets, files or subprocesses here. The session
pins the `FlowLibrary` snapshot it was started with, so flow edits never reach a call in progress.

Call control uses it like this:

    session = IvrSession(repo.snapshot(), clock, period_of=router.period_of)
    actions = session.start(CallArrived(call_id=..., caller=..., did=..., flow=decision.destination.target))
    ... actions = session.handle(DigitPressed(digit="1"))      # and PromptFinished, HttpResult, TtsReady ...
    ... actions = session.handle_timeout(clock.monotonic())    # when next_deadline() has passed
    for event in session.drain_events(): bus.publish(event)     # ivr.started / ivr.step / ivr.ended

Barge-in: a key during an interruptible prompt stops it (`StopPlayback`); on an input node the key counts
as input, on a plain play node it is kept (type-ahead) for the next input node.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from appliance.clock import Clock
from appliance.events import Event
from appliance.ivr.actions import (
    Action,
    CaptureCallback,
    CollectDigits,
    Hangup,
    HttpRequest,
    Play,
    RecordSurvey,
    SetLanguage,
    StartTimer,
    StopPlayback,
    Synthesize,
    TransferToExtension,
    TransferToExternal,
    TransferToQueue,
    TransferToVoicemail,
)
from appliance.ivr.events import IvrEnded, IvrStarted, IvrStep
from appliance.ivr.inputs import (
    CallArrived,
    CallerHungUp,
    DigitPressed,
    HttpFailed,
    HttpResult,
    Input,
    PromptFinished,
    TimerExpired,
    TtsFailed,
    TtsReady,
)
from appliance.ivr.journey import ExitReason, JourneyStep, JourneySummary, StepKind
from appliance.ivr.library import FlowLibrary
from appliance.ivr.models import (
    DIGITS,
    BackToParentNode,
    BackToTopNode,
    CallbackNode,
    CollectNode,
    ConditionNode,
    ConditionRule,
    ExtensionNode,
    ExternalNode,
    Flow,
    GotoFlowNode,
    HangupNode,
    HttpNode,
    Language,
    LanguageNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    SetVariableNode,
    SurveyNode,
    VoicemailNode,
)
from appliance.ivr.templates import render

# (schedule name, wall-clock seconds) -> period name ("work_hours", "holiday", ...); routing supplies it.
PeriodOf = Callable[[str, float], str]

# Keys of the shipped prompts used to speak single keys.
KEY_PROMPTS = {**{d: f"digit_{d}" for d in "0123456789"}, "*": "key_star", "#": "key_pound"}

# Grace on top of an HTTP node's own timeout before the session gives up on the runner's answer.
HTTP_GRACE_SECONDS = 1.0

# An audio item: ("prompt", key) | ("tts", text)
AudioItem = tuple[str, str]


class State(Enum):
    NEW = "new"  # not started
    IDLE = "idle"  # between nodes (only for the length of one step)
    SYNTHESIZING = "synthesizing"
    PLAYING = "playing"
    COLLECTING = "collecting"
    WAITING_HTTP = "waiting_http"
    ENDED = "ended"


class FlowError(Exception):
    """The flow cannot continue (a dangling reference that validation should have caught)."""


class IvrSession:
    def __init__(
        self,
        library: FlowLibrary,
        clock: Clock,
        *,
        period_of: PeriodOf | None = None,
        max_steps_without_input: int = 100,
    ) -> None:
        self._library = library
        self._clock = clock
        self._period_of = period_of
        self._max_steps = max_steps_without_input
        self._ids = itertools.count(1)
        self.state = State.NEW
        self.variables: dict[str, str] = {}
        self.language: Language = "zh-CN"
        self.call_id = ""
        self.caller = ""
        self.did = ""
        self.vip = False
        self._entry: Flow | None = None
        self._flow: Flow | None = None
        self._node: Node | None = None
        self._menu_stack: list[tuple[str, str]] = []
        self._steps_without_input = 0
        # input collection
        self._buffer = ""
        self._typeahead = ""
        self._retries = 0
        # playback / synthesis
        self._play_id: int | None = None
        self._play_barge_in = True
        self._after_play: Callable[[], list[Action]] | None = None
        self._tts_pending: dict[int, int] = {}
        self._tts_items: list[str | None] = []
        # timer and HTTP
        self._deadline: float | None = None
        self._timer_id = 0
        self._http_id: int | None = None
        # journey
        self._seq = 0
        self._started_at = 0.0
        self._path: list[str] = []
        self._keys = ""
        self._survey: int | None = None
        self._callback = ""
        self.journey: list[JourneyStep] = []
        self.summary: JourneySummary | None = None
        self._outbox: list[Event] = []

    # ------------------------------------------------------------------ public API

    @property
    def ended(self) -> bool:
        return self.state is State.ENDED

    @property
    def flow(self) -> Flow | None:
        return self._flow

    @property
    def node(self) -> Node | None:
        return self._node

    def start(self, arrived: CallArrived) -> list[Action]:
        """Enter `arrived.flow` (raises `NotFound` when the snapshot has no such flow)."""
        if self.state is not State.NEW:
            raise RuntimeError("session already started")
        self.call_id, self.caller, self.did, self.vip = arrived.call_id, arrived.caller, arrived.did, arrived.vip
        self.language = arrived.language
        self.variables = dict(arrived.variables)
        self.variables.update(
            caller=arrived.caller, did=arrived.did, call_id=arrived.call_id, language=arrived.language
        )
        self._started_at = self._clock.wall()
        entry = self._library.get(arrived.flow)
        self._entry = entry
        self._outbox.append(
            IvrStarted(
                at=self._started_at,
                call_id=self.call_id,
                caller=self.caller,
                did=self.did,
                flow=entry.name,
                flow_version=entry.version,
                vip=self.vip,
            )
        )
        return self._enter(entry, entry.start)

    def handle(self, event: Input) -> list[Action]:
        if self.state is State.NEW:
            raise RuntimeError("session not started")
        if self.state is State.ENDED:
            return []
        if isinstance(event, DigitPressed):
            return self._on_digit(event.digit)
        if isinstance(event, PromptFinished):
            return self._on_prompt_finished(event.play_id)
        if isinstance(event, TimerExpired):
            return self._fire_timer() if event.timer_id == self._timer_id and self._deadline is not None else []
        if isinstance(event, HttpResult):
            return self._on_http_result(event) if event.request_id == self._http_id else []
        if isinstance(event, HttpFailed):
            return self._on_http_failed(event.reason) if event.request_id == self._http_id else []
        if isinstance(event, TtsReady):
            return self._on_tts(event.request_id, event.prompt, None)
        if isinstance(event, TtsFailed):
            return self._on_tts(event.request_id, None, event.reason)
        if isinstance(event, CallerHungUp):
            return self._finish(None, ExitReason.ABANDONED)
        raise TypeError(f"not an IVR input: {event!r}")

    def next_deadline(self) -> float | None:
        return self._deadline

    def handle_timeout(self, now: float) -> list[Action]:
        if self.state is State.ENDED or self._deadline is None or now < self._deadline:
            return []
        return self._fire_timer()

    def drain_events(self) -> list[Event]:
        out, self._outbox = self._outbox, []
        return out

    # ------------------------------------------------------------------ journey

    def _record(self, kind: StepKind, detail: str = "") -> None:
        self._seq += 1
        step = JourneyStep(
            call_id=self.call_id,
            seq=self._seq,
            at=self._clock.wall(),
            flow=self._flow.name if self._flow else "",
            flow_version=self._flow.version if self._flow else 0,
            node=self._node.id if self._node else "",
            kind=kind,
            detail=detail,
        )
        self.journey.append(step)
        self._outbox.append(IvrStep.of(step))

    def _finish(self, action: Action | None, reason: ExitReason, destination: str = "") -> list[Action]:
        self._cancel_timer()
        was_playing = self.state is State.PLAYING and self._play_id is not None
        self.state = State.ENDED
        self._record(StepKind.EXIT, reason.value if not destination else f"{reason.value}:{destination}")
        assert self._entry is not None
        summary = JourneySummary(
            call_id=self.call_id,
            caller=self.caller,
            did=self.did,
            entry_flow=self._entry.name,
            entry_flow_version=self._entry.version,
            started_at=self._started_at,
            ended_at=self._clock.wall(),
            exit_reason=reason,
            last_flow=self._flow.name if self._flow else "",
            last_node=self._node.id if self._node else "",
            path=tuple(self._path),
            keys=self._keys,
            destination=destination,
            survey_score=self._survey,
            callback_number=self._callback,
        )
        self.summary = summary
        self._outbox.append(IvrEnded.of(summary))
        out: list[Action] = []
        if was_playing and self._play_id is not None and reason is not ExitReason.ABANDONED:
            out.append(StopPlayback(play_id=self._play_id))
        if action is not None:
            out.append(action)
        return out

    # ------------------------------------------------------------------ timers

    def _set_timer(self, seconds: float) -> StartTimer:
        self._timer_id = next(self._ids)
        self._deadline = self._clock.monotonic() + seconds
        return StartTimer(timer_id=self._timer_id, deadline=self._deadline)

    def _cancel_timer(self) -> None:
        self._deadline = None

    def _fire_timer(self) -> list[Action]:
        self._cancel_timer()
        if self.state is State.WAITING_HTTP:
            return self._on_http_failed("timeout")
        if self.state is State.COLLECTING:
            return self._on_input_timeout()
        return []

    # ------------------------------------------------------------------ navigation

    def _goto(self, target: str) -> list[Action]:
        assert self._flow is not None
        if not target:
            # A branch that simply ends: the caller got what the flow had to say.
            return self._finish(Hangup(reason="end_of_flow"), ExitReason.SELF_SERVED)
        return self._enter(self._flow, target)

    def _enter(self, flow: Flow, node_id: str) -> list[Action]:
        node = flow.node(node_id)
        self._flow = flow
        if node is None:
            self._record(StepKind.NODE_ENTERED, f"missing node {node_id!r}")
            return self._finish(Hangup(reason="flow_error"), ExitReason.FAILED)
        self._node = node
        self._steps_without_input += 1
        if self._steps_without_input > self._max_steps:
            # Validation rejects cycles without input; this guards flows that bypassed it.
            self._record(StepKind.NODE_ENTERED, "loop without input")
            return self._finish(Hangup(reason="flow_loop"), ExitReason.FAILED)
        self._path.append(f"{flow.name}/{node.id}")
        self._record(StepKind.NODE_ENTERED, node.kind)
        self._cancel_timer()
        self._buffer = ""
        return self._run_node(node)

    def _run_node(self, node: Node) -> list[Action]:
        if isinstance(node, PlayNode):
            items = self._audio(node.prompt, node.tts)
            if node.say_digits:
                items += self._digit_items(render(node.say_digits, self.variables))
            return self._play(items, node.barge_in, lambda: self._goto(node.next))
        if isinstance(node, MenuNode | CollectNode | LanguageNode | SurveyNode | CallbackNode):
            if isinstance(node, MenuNode):
                self._push_menu()
            self._retries = 0
            return self._prompt_and_collect([])
        if isinstance(node, QueueNode):
            action = TransferToQueue(
                queue=node.queue,
                skill=node.skill,
                priority=node.priority,
                vip=self.vip,
                variables=dict(self.variables),
            )
            return self._finish(action, ExitReason.TRANSFERRED_TO_AGENT, node.queue)
        if isinstance(node, ExtensionNode):
            return self._finish(
                TransferToExtension(extension=node.extension), ExitReason.TRANSFERRED_TO_AGENT, node.extension
            )
        if isinstance(node, VoicemailNode):
            return self._finish(TransferToVoicemail(box=node.box), ExitReason.VOICEMAIL, node.box)
        if isinstance(node, ExternalNode):
            number = render(node.number, self.variables)
            return self._finish(TransferToExternal(number=number), ExitReason.TRANSFERRED_EXTERNAL, number)
        if isinstance(node, GotoFlowNode):
            target = self._library.flows.get(node.flow)
            if target is None:
                self._record(StepKind.BRANCH, f"unknown flow {node.flow!r}")
                return self._finish(Hangup(reason="flow_error"), ExitReason.FAILED)
            return self._enter(target, target.start)
        if isinstance(node, BackToParentNode):
            return self._back_to_parent()
        if isinstance(node, BackToTopNode):
            return self._back_to_top()
        if isinstance(node, HangupNode):
            reason = ExitReason.SELF_SERVED if node.outcome == "self_served" else ExitReason.FAILED
            return self._play(
                self._audio(node.prompt, node.tts),
                False,
                lambda: self._finish(Hangup(reason=node.outcome), reason),
            )
        if isinstance(node, SetVariableNode):
            value = render(node.value, self.variables)
            self.variables[node.variable] = value
            self._record(StepKind.VARIABLE_SET, f"{node.variable}={value}")
            return self._goto(node.next)
        if isinstance(node, ConditionNode):
            return self._run_condition(node)
        if isinstance(node, HttpNode):
            return self._run_http(node)
        raise FlowError(f"unhandled node kind {node.kind}")

    def _push_menu(self) -> None:
        assert self._flow is not None and self._node is not None
        key = (self._flow.name, self._node.id)
        if key in self._menu_stack:
            # Coming back to a menu already on the path: everything below it is left behind.
            del self._menu_stack[self._menu_stack.index(key) + 1 :]
        else:
            self._menu_stack.append(key)

    def _back_to_parent(self) -> list[Action]:
        if len(self._menu_stack) >= 2:
            self._menu_stack.pop()
            flow_name, node_id = self._menu_stack[-1]
            return self._enter(self._library.get(flow_name), node_id)
        if self._menu_stack:
            flow_name, node_id = self._menu_stack[-1]
            return self._enter(self._library.get(flow_name), node_id)
        return self._back_to_top()

    def _back_to_top(self) -> list[Action]:
        assert self._entry is not None
        self._menu_stack.clear()
        return self._enter(self._entry, self._entry.start)

    # ------------------------------------------------------------------ audio

    def _audio(self, prompt: str, tts: str) -> list[AudioItem]:
        items: list[AudioItem] = []
        if prompt:
            items.append(("prompt", prompt))
        if tts:
            text = render(tts, self.variables)
            if text.strip():
                items.append(("tts", text))
        return items

    @staticmethod
    def _digit_items(text: str) -> list[AudioItem]:
        return [("prompt", KEY_PROMPTS[ch]) for ch in text if ch in KEY_PROMPTS]

    def _play(self, items: list[AudioItem], barge_in: bool, then: Callable[[], list[Action]]) -> list[Action]:
        if not items:
            return then()
        self._play_barge_in = barge_in
        self._after_play = then
        self._tts_items = [value if kind == "prompt" else None for kind, value in items]
        self._tts_pending = {}
        out: list[Action] = []
        for index, (kind, value) in enumerate(items):
            if kind == "tts":
                request_id = next(self._ids)
                self._tts_pending[request_id] = index
                out.append(Synthesize(request_id=request_id, text=value, language=self.language))
        if self._tts_pending:
            self.state = State.SYNTHESIZING
            return out
        return self._start_playback()

    def _start_playback(self) -> list[Action]:
        prompts = tuple(p for p in self._tts_items if p)
        if not prompts:
            return self._playback_done()
        self._play_id = next(self._ids)
        self.state = State.PLAYING
        return [Play(play_id=self._play_id, prompts=prompts, language=self.language, barge_in=self._play_barge_in)]

    def _playback_done(self) -> list[Action]:
        then, self._after_play = self._after_play, None
        self._play_id = None
        self.state = State.IDLE
        return then() if then else []

    def _on_tts(self, request_id: int, prompt: str | None, error: str | None) -> list[Action]:
        if self.state is not State.SYNTHESIZING or request_id not in self._tts_pending:
            return []
        index = self._tts_pending.pop(request_id)
        if error is not None:
            # Say what we can: a failed synthesis drops that item rather than the call.
            self._record(StepKind.TTS_FAILED, error)
        self._tts_items[index] = prompt
        if self._tts_pending:
            return []
        return self._start_playback()

    def _on_prompt_finished(self, play_id: int) -> list[Action]:
        if self.state is not State.PLAYING or play_id != self._play_id:
            return []  # a prompt we already stopped (barge-in) or one from an earlier node
        self._record(StepKind.PROMPT_FINISHED)
        return self._playback_done()

    # ------------------------------------------------------------------ keys

    def _on_digit(self, digit: str) -> list[Action]:
        if len(digit) != 1 or digit not in DIGITS:
            return []
        self._keys += digit
        self._record(StepKind.KEY, digit)
        if self.state in (State.PLAYING, State.SYNTHESIZING):
            if not self._play_barge_in:
                return []
            out: list[Action] = []
            if self.state is State.PLAYING and self._play_id is not None:
                out.append(StopPlayback(play_id=self._play_id))
            self._record(StepKind.PROMPT_INTERRUPTED, digit)
            self._tts_pending = {}
            self._typeahead += digit
            return out + self._playback_done()
        if self.state is State.COLLECTING:
            return self._accept_digit(digit)
        # Keys while waiting for a business system are kept for the next question.
        self._typeahead += digit
        return []

    def _input_spec(self) -> tuple[bool, int, int, str, float, float]:
        """(single_key, min, max, terminator, first-key timeout, inter-key timeout) of the current node."""
        node = self._node
        if isinstance(node, CollectNode | CallbackNode):
            return (
                False,
                node.min_digits,
                node.max_digits,
                node.terminator,
                node.first_digit_timeout,
                node.inter_digit_timeout,
            )
        if isinstance(node, MenuNode | LanguageNode | SurveyNode):
            return (True, 1, 1, "", node.timeout_seconds, node.timeout_seconds)
        raise FlowError("not an input node")

    def _prompt_and_collect(self, before: list[AudioItem]) -> list[Action]:
        node = self._node
        assert isinstance(node, MenuNode | CollectNode | LanguageNode | SurveyNode | CallbackNode)
        barge_in = getattr(node, "barge_in", True)
        if self._typeahead and barge_in:
            # The caller already answered while the previous prompt played: do not make them hear this one.
            return self._begin_collect()
        items = before + self._audio(node.prompt, node.tts)
        return self._play(items, barge_in, self._begin_collect)

    def _begin_collect(self) -> list[Action]:
        self._steps_without_input = 0
        _single, lo, hi, term, first, inter = self._input_spec()
        self.state = State.COLLECTING
        self._buffer = ""
        out: list[Action] = [
            CollectDigits(
                min_digits=lo, max_digits=hi, terminator=term, first_digit_timeout=first, inter_digit_timeout=inter
            )
        ]
        node_before = self._node
        while self._typeahead and self.state is State.COLLECTING and self._node is node_before:
            # Keys typed ahead answer this question one by one; once it is decided, the rest stays queued
            # for the next question (whose own collection consumes it).
            digit, self._typeahead = self._typeahead[0], self._typeahead[1:]
            out += self._accept_digit(digit)
        if self._node is not node_before:
            return out
        if self.state is State.COLLECTING and self._deadline is None:
            out.append(self._set_timer(inter if self._buffer else first))
        return out

    def _accept_digit(self, digit: str) -> list[Action]:
        single, _lo, hi, term, _first, inter = self._input_spec()
        self._cancel_timer()
        if single:
            return self._on_choice(digit)
        if term and digit == term:
            return self._on_entry(self._buffer, terminated=True)
        self._buffer += digit
        if len(self._buffer) >= hi:
            return self._on_entry(self._buffer, terminated=False)
        return [self._set_timer(inter)]

    def _on_input_timeout(self) -> list[Action]:
        self._record(StepKind.TIMEOUT, self._buffer)
        single, *_ = self._input_spec()
        if not single and self._buffer:
            # The inter-digit timeout ends an entry just as the terminator would.
            return self._on_entry(self._buffer, terminated=False)
        return self._retry("timeout")

    def _on_choice(self, digit: str) -> list[Action]:
        node = self._node
        if isinstance(node, MenuNode):
            for option in node.options:
                if option.digit == digit:
                    self._record(StepKind.INPUT_ACCEPTED, digit)
                    return self._goto(option.next)
            return self._invalid(digit)
        if isinstance(node, LanguageNode):
            for choice in node.options:
                if choice.digit == digit:
                    self._record(StepKind.LANGUAGE, choice.language)
                    self.language = choice.language
                    self.variables["language"] = choice.language
                    return [SetLanguage(language=choice.language), *self._goto(node.next)]
            return self._invalid(digit)
        if isinstance(node, SurveyNode):
            if digit in "12345":
                score = int(digit)
                self._survey = score
                self.variables["survey_score"] = digit
                self._record(StepKind.SURVEY, digit)
                after = self._play(self._audio(node.thanks_prompt, ""), False, lambda: self._goto(node.next))
                return [RecordSurvey(score=score), *after]
            return self._invalid(digit)
        raise FlowError("not a single-key node")

    def _on_entry(self, entry: str, *, terminated: bool) -> list[Action]:
        node = self._node
        if isinstance(node, CollectNode):
            ok = node.min_digits <= len(entry) <= node.max_digits
            if ok and node.pattern:
                ok = re.fullmatch(node.pattern, entry) is not None
            if not ok:
                return self._invalid(entry)
            self.variables[node.variable] = entry
            self._record(StepKind.INPUT_ACCEPTED, entry)
            return self._goto(node.next)
        if isinstance(node, CallbackNode):
            number = entry
            if not entry and terminated and node.allow_caller_id and self.caller:
                number = self.caller
            if not (number.isdigit() and node.min_digits <= len(number) <= node.max_digits):
                return self._invalid(entry)
            self._callback = number
            self.variables["callback_number"] = number
            self._record(StepKind.CALLBACK, number)
            after = self._play(self._audio(node.confirm_prompt, ""), False, lambda: self._goto(node.next))
            return [CaptureCallback(number=number), *after]
        raise FlowError("not a multi-key node")

    def _invalid(self, entry: str) -> list[Action]:
        self._record(StepKind.INVALID, entry)
        return self._retry("invalid")

    def _retry(self, failure: str) -> list[Action]:
        node = self._node
        assert node is not None
        self._retries += 1
        max_retries = getattr(node, "max_retries", 0)
        if self._retries > max_retries:
            target = getattr(node, failure, None)
            if isinstance(node, LanguageNode | SurveyNode):
                # No choice is an answer too: keep the language / record no score, and carry on.
                return self._goto(node.next)
            if not target:
                return self._finish(Hangup(reason=f"no_{failure}_path"), ExitReason.FAILED)
            return self._goto(str(target))
        self._cancel_timer()
        notice = getattr(node, f"{failure}_prompt", "invalid" if failure == "invalid" else "no_input")
        return self._prompt_and_collect(self._audio(str(notice), ""))

    # ------------------------------------------------------------------ conditions

    def _run_condition(self, node: ConditionNode) -> list[Action]:
        for index, rule in enumerate(node.rules):
            if self._matches(rule):
                self._record(StepKind.BRANCH, f"rule {index} → {rule.next}")
                return self._goto(rule.next)
        self._record(StepKind.BRANCH, f"otherwise → {node.otherwise}")
        return self._goto(node.otherwise)

    def _matches(self, rule: ConditionRule) -> bool:
        if rule.subject == "variable":
            present = rule.name in self.variables and self.variables[rule.name] != ""
            subject = self.variables.get(rule.name, "")
        elif rule.subject == "caller":
            present, subject = bool(self.caller), self.caller
        elif rule.subject == "did":
            present, subject = bool(self.did), self.did
        else:
            subject = self._period_of(rule.name, self._clock.wall()) if self._period_of else ""
            present = bool(subject)
        value = render(rule.value, self.variables)
        op = rule.op
        if op == "exists":
            return present
        if op == "eq":
            return subject == value
        if op == "ne":
            return subject != value
        if op == "prefix":
            return subject.startswith(value)
        if op == "in":
            return subject in [v.strip() for v in value.split(",")]
        if op == "regex":
            return re.fullmatch(value, subject) is not None
        try:
            left, right = float(subject), float(value)
        except ValueError:
            return False
        return left < right if op == "lt" else left > right

    # ------------------------------------------------------------------ HTTP self-service

    def _run_http(self, node: HttpNode) -> list[Action]:
        url = render(node.url, self.variables, escape="url")
        body = render(node.body, self.variables, escape="json") if node.method == "POST" else ""
        self._http_id = next(self._ids)
        self.state = State.WAITING_HTTP
        # Header values are single-line by construction: a caller's input cannot add a header.
        headers = tuple(
            (h.name, render(h.value, self.variables).replace("\r", " ").replace("\n", " ")) for h in node.headers
        )
        request = HttpRequest(
            request_id=self._http_id,
            method=node.method,
            url=url,
            body=body,
            timeout=node.timeout_seconds,
            headers=headers,
        )
        return [request, self._set_timer(node.timeout_seconds + HTTP_GRACE_SECONDS)]

    def _on_http_failed(self, reason: str) -> list[Action]:
        node = self._node
        assert isinstance(node, HttpNode)
        self._cancel_timer()
        self._http_id = None
        self.state = State.IDLE
        self._record(StepKind.HTTP_FAILED, reason)
        self.variables["http_error"] = reason
        if not node.fallback:
            return self._finish(Hangup(reason="self_service_failed"), ExitReason.FAILED)
        return self._goto(node.fallback)

    def _on_http_result(self, result: HttpResult) -> list[Action]:
        node = self._node
        assert isinstance(node, HttpNode)
        if not 200 <= result.status < 300:
            return self._on_http_failed(f"status {result.status}")
        try:
            document = json.loads(result.body)
        except ValueError:
            return self._on_http_failed("bad_json")
        found: dict[str, str] = {}
        for mapping in node.results:
            ok, value = _lookup(document, mapping.path)
            if not ok:
                if mapping.required:
                    return self._on_http_failed(f"missing {mapping.path}")
                continue
            found[mapping.variable] = _as_text(value)
        self._cancel_timer()
        self._http_id = None
        self.state = State.IDLE
        self.variables.update(found)
        self.variables["http_status"] = str(result.status)
        self._record(StepKind.HTTP_OK, ",".join(f"{k}={v}" for k, v in found.items()))
        items = self._audio("", node.say_tts)
        if node.say_digits:
            items += self._digit_items(render(node.say_digits, self.variables))
        return self._play(items, True, lambda: self._goto(node.next))


def _lookup(document: Any, path: str) -> tuple[bool, Any]:
    current = document
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
