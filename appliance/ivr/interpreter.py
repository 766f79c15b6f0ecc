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

This module is the session's state machine: where the call is in which flow, what it waits for (synthesis,
a prompt, keys, a business system, a timer) and what moves it on. What the nodes mean is decided in pure
modules beside it: `audio` (what is said), `collection` (questions, answers, retries), `selfservice`
(conditions, HTTP requests and answers), `handover` (queue, extension, voicemail, outside number); the
journey is written by `journey_log`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from enum import Enum

from appliance.clock import Clock
from appliance.events import Event
from appliance.ivr.actions import (
    Action,
    CaptureCallback,
    CollectDigits,
    Hangup,
    Play,
    RecordSurvey,
    SetLanguage,
    StartTimer,
    StopPlayback,
    Synthesize,
)
from appliance.ivr.audio import KEY_PROMPTS, AudioItem, audio_items, spoken
from appliance.ivr.collection import (
    Answer,
    Choice,
    Entry,
    InputNode,
    Question,
    after_retries,
    answer_choice,
    answer_entry,
    input_spec,
    retry_notice,
)
from appliance.ivr.handover import handover
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
from appliance.ivr.journey_log import JourneyLog
from appliance.ivr.library import FlowLibrary
from appliance.ivr.models import (
    DIGITS,
    BackToParentNode,
    BackToTopNode,
    ConditionNode,
    Flow,
    GotoFlowNode,
    HangupNode,
    HttpNode,
    Language,
    MenuNode,
    Node,
    PlayNode,
    SetVariableNode,
)
from appliance.ivr.selfservice import HTTP_GRACE_SECONDS, CallFacts, branch, http_request, read_result
from appliance.ivr.templates import render

__all__ = ["HTTP_GRACE_SECONDS", "KEY_PROMPTS", "AudioItem", "FlowError", "IvrSession", "PeriodOf", "State"]

# (schedule name, wall-clock seconds) -> period name ("work_hours", "holiday", ...); routing supplies it.
PeriodOf = Callable[[str, float], str]


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
        self._question: Question | None = None  # the keys given to the current prompt of an input node
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
        self._log = JourneyLog(clock)
        self.journey: list[JourneyStep] = self._log.steps  # the same list, growing as the call goes
        self.summary: JourneySummary | None = None

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
        entry = self._library.get(arrived.flow)
        self._entry = entry
        self._log.begin(arrived, entry)
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
        return self._log.drain_events()

    # ------------------------------------------------------------------ journey

    def _record(self, kind: StepKind, detail: str = "") -> None:
        self._log.step(self._flow, self._node, kind, detail)

    def _finish(self, action: Action | None, reason: ExitReason, destination: str = "") -> list[Action]:
        self._cancel_timer()
        was_playing = self.state is State.PLAYING and self._play_id is not None
        self.state = State.ENDED
        self.summary = self._log.end(self._flow, self._node, reason, destination)
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
        self._log.path.append(f"{flow.name}/{node.id}")
        self._record(StepKind.NODE_ENTERED, node.kind)
        self._cancel_timer()
        self._question = None
        return self._run_node(node)

    def _run_node(self, node: Node) -> list[Action]:
        if isinstance(node, PlayNode):
            items = spoken(node.prompt, node.tts, node.say_digits, self.variables)
            return self._play(items, node.barge_in, lambda: self._goto(node.next))
        if isinstance(node, InputNode):
            if isinstance(node, MenuNode):
                self._push_menu()
            self._retries = 0
            return self._prompt_and_collect([])
        handed_over = handover(node, self.variables, self.vip)
        if handed_over is not None:
            return self._finish(*handed_over)
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
                audio_items(node.prompt, node.tts, self.variables),
                False,
                lambda: self._finish(Hangup(reason=node.outcome), reason),
            )
        if isinstance(node, SetVariableNode):
            value = render(node.value, self.variables)
            self.variables[node.variable] = value
            self._record(StepKind.VARIABLE_SET, f"{node.variable}={value}")
            return self._goto(node.next)
        if isinstance(node, ConditionNode):
            detail, next_node = branch(node, self.variables, CallFacts(self.caller, self.did, self._period))
            self._record(StepKind.BRANCH, detail)
            return self._goto(next_node)
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
        self._log.keys += digit
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

    def _prompt_and_collect(self, before: list[AudioItem]) -> list[Action]:
        node = self._node
        assert isinstance(node, InputNode)
        barge_in = getattr(node, "barge_in", True)
        if self._typeahead and barge_in:
            # The caller already answered while the previous prompt played: do not make them hear this one.
            return self._begin_collect()
        items = before + audio_items(node.prompt, node.tts, self.variables)
        return self._play(items, barge_in, self._begin_collect)

    def _begin_collect(self) -> list[Action]:
        node = self._node
        assert isinstance(node, InputNode)
        self._steps_without_input = 0
        spec = input_spec(node)
        self.state = State.COLLECTING
        self._question = Question(spec)
        out: list[Action] = [
            CollectDigits(
                min_digits=spec.min_digits, max_digits=spec.max_digits, terminator=spec.terminator,
                first_digit_timeout=spec.first_timeout, inter_digit_timeout=spec.inter_timeout,
            )
        ]
        while self._typeahead and self.state is State.COLLECTING and self._node is node:
            # Keys typed ahead answer this question one by one; once it is decided, the rest stays queued
            # for the next question (whose own collection consumes it).
            digit, self._typeahead = self._typeahead[0], self._typeahead[1:]
            out += self._accept_digit(digit)
        if self._node is not node:
            return out
        if self.state is State.COLLECTING and self._deadline is None:
            # The current question, not `spec`'s first one: a retry in the loop above asked afresh.
            assert self._question is not None
            out.append(self._set_timer(self._question.wait()))
        return out

    def _accept_digit(self, digit: str) -> list[Action]:
        assert self._question is not None
        self._cancel_timer()
        verdict = self._question.accept(digit)
        if isinstance(verdict, Choice):
            return self._on_choice(verdict.digit)
        if isinstance(verdict, Entry):
            return self._on_entry(verdict)
        return [self._set_timer(verdict.seconds)]

    def _on_choice(self, digit: str) -> list[Action]:
        assert isinstance(self._node, InputNode)
        return self._answer(answer_choice(self._node, digit), digit)

    def _on_entry(self, entry: Entry) -> list[Action]:
        assert isinstance(self._node, InputNode)
        return self._answer(answer_entry(self._node, entry.text, entry.terminated, self.caller), entry.text)

    def _on_input_timeout(self) -> list[Action]:
        assert self._question is not None
        self._record(StepKind.TIMEOUT, self._question.buffer)
        entry = self._question.timed_out()
        if entry is not None:
            return self._on_entry(entry)
        return self._retry("timeout")

    def _answer(self, answer: Answer | None, given: str) -> list[Action]:
        if answer is None:
            return self._invalid(given)
        self.variables.update(answer.variables)
        action = answer.action
        if isinstance(action, SetLanguage):
            self.language = action.language  # before going on: the next prompts speak it
        elif isinstance(action, RecordSurvey):
            self._log.survey_score = action.score
        elif isinstance(action, CaptureCallback):
            self._log.callback_number = action.number
        self._record(answer.step, answer.detail)
        confirm = audio_items(answer.confirm_prompt, "", self.variables)
        after = self._play(confirm, False, lambda: self._goto(answer.next))
        return [action, *after] if action is not None else after

    def _invalid(self, entry: str) -> list[Action]:
        self._record(StepKind.INVALID, entry)
        return self._retry("invalid")

    def _retry(self, failure: str) -> list[Action]:
        node = self._node
        assert isinstance(node, InputNode)
        self._retries += 1
        if self._retries > node.max_retries:
            target = after_retries(node, failure)
            if target is None:
                return self._finish(Hangup(reason=f"no_{failure}_path"), ExitReason.FAILED)
            return self._goto(target)
        self._cancel_timer()
        return self._prompt_and_collect(audio_items(retry_notice(node, failure), "", self.variables))

    # ------------------------------------------------------------------ data: conditions and HTTP

    def _period(self, schedule: str) -> str:
        return self._period_of(schedule, self._clock.wall()) if self._period_of else ""

    def _run_http(self, node: HttpNode) -> list[Action]:
        self._http_id = next(self._ids)
        self.state = State.WAITING_HTTP
        request = http_request(node, self.variables, self._http_id)
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
        found = read_result(node, result)
        if isinstance(found, str):
            return self._on_http_failed(found)
        self._cancel_timer()
        self._http_id = None
        self.state = State.IDLE
        self.variables.update(found)
        self.variables["http_status"] = str(result.status)
        self._record(StepKind.HTTP_OK, ",".join(f"{k}={v}" for k, v in found.items()))
        items = spoken("", node.say_tts, node.say_digits, self.variables)
        return self._play(items, True, lambda: self._goto(node.next))
