"""Asking the caller: what an input node accepts, how its keys add up to an answer, what an answer means
for each kind of input node, and what happens when the caller gives none.

Pure: the session (`appliance.ivr.interpreter`) feeds keys and timeouts to one `Question` per prompt, turns
complete answers into an `Answer` here, and carries it out (variables, journey, actions, next node).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.ivr.actions import Action, CaptureCallback, RecordSurvey, SetLanguage
from appliance.ivr.journey import StepKind
from appliance.ivr.models import CallbackNode, CollectNode, LanguageNode, MenuNode, SurveyNode

InputNode = MenuNode | CollectNode | LanguageNode | SurveyNode | CallbackNode


@dataclass(frozen=True, slots=True)
class InputSpec:
    single_key: bool  # menus, languages, surveys: the first key is the answer
    min_digits: int
    max_digits: int
    terminator: str
    first_timeout: float  # seconds for the first key
    inter_timeout: float  # seconds between keys


def input_spec(node: InputNode) -> InputSpec:
    if isinstance(node, CollectNode | CallbackNode):
        return InputSpec(
            False, node.min_digits, node.max_digits, node.terminator, node.first_digit_timeout,
            node.inter_digit_timeout,
        )
    return InputSpec(True, 1, 1, "", node.timeout_seconds, node.timeout_seconds)


@dataclass(frozen=True, slots=True)
class Choice:
    """A single-key question was answered with `digit`."""

    digit: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A digit string is complete (terminator, maximum length, or the inter-digit timeout)."""

    text: str
    terminated: bool


@dataclass(frozen=True, slots=True)
class More:
    """Not complete yet: wait `seconds` for the next key."""

    seconds: float


class Question:
    """The keys given to one prompt of an input node."""

    __slots__ = ("buffer", "spec")

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.buffer = ""

    def wait(self) -> float:
        """Seconds to wait for the next key from now."""
        return self.spec.inter_timeout if self.buffer else self.spec.first_timeout

    def accept(self, digit: str) -> Choice | Entry | More:
        spec = self.spec
        if spec.single_key:
            return Choice(digit)
        if spec.terminator and digit == spec.terminator:
            return Entry(self.buffer, terminated=True)
        self.buffer += digit
        if len(self.buffer) >= spec.max_digits:
            return Entry(self.buffer, terminated=False)
        return More(spec.inter_timeout)

    def timed_out(self) -> Entry | None:
        """The inter-digit timeout ends an entry just as the terminator would; with no keys it is no answer."""
        if not self.spec.single_key and self.buffer:
            return Entry(self.buffer, terminated=False)
        return None


@dataclass(frozen=True, slots=True)
class Answer:
    """An accepted answer: its journey step, the variables it sets, what call control must hear of it, the
    prompt confirming it (played without barge-in), and the node the flow goes on to."""

    step: StepKind
    detail: str
    next: str
    variables: tuple[tuple[str, str], ...] = ()
    action: Action | None = None
    confirm_prompt: str = ""


def answer_choice(node: InputNode, digit: str) -> Answer | None:
    """The answer a single key gives, or None when that key is not one of the choices."""
    if isinstance(node, MenuNode):
        for option in node.options:
            if option.digit == digit:
                return Answer(StepKind.INPUT_ACCEPTED, digit, option.next)
    elif isinstance(node, LanguageNode):
        for choice in node.options:
            if choice.digit == digit:
                return Answer(
                    StepKind.LANGUAGE, choice.language, node.next, (("language", choice.language),),
                    SetLanguage(language=choice.language),
                )
    elif isinstance(node, SurveyNode) and digit in "12345":
        return Answer(
            StepKind.SURVEY, digit, node.next, (("survey_score", digit),), RecordSurvey(score=int(digit)),
            node.thanks_prompt,
        )
    return None


def answer_entry(node: InputNode, entry: str, terminated: bool, caller: str) -> Answer | None:
    """The answer a digit string gives, or None when it is not valid for the node."""
    if isinstance(node, CollectNode):
        ok = node.min_digits <= len(entry) <= node.max_digits
        if ok and node.pattern:
            ok = re.fullmatch(node.pattern, entry) is not None
        return Answer(StepKind.INPUT_ACCEPTED, entry, node.next, ((node.variable, entry),)) if ok else None
    if isinstance(node, CallbackNode):
        number = entry
        if not entry and terminated and node.allow_caller_id and caller:
            number = caller  # only the terminator: call back the number the call came from
        if not (number.isdigit() and node.min_digits <= len(number) <= node.max_digits):
            return None
        return Answer(
            StepKind.CALLBACK, number, node.next, (("callback_number", number),), CaptureCallback(number=number),
            node.confirm_prompt,
        )
    return None


def retry_notice(node: InputNode, failure: str) -> str:
    """The prompt played before asking again after an invalid answer or none ("invalid" / "timeout")."""
    return str(getattr(node, f"{failure}_prompt", "invalid" if failure == "invalid" else "no_input"))


def after_retries(node: InputNode, failure: str) -> str | None:
    """Where the call goes once the retries are used up: a node id ("" ends the flow), None: nowhere."""
    if isinstance(node, LanguageNode | SurveyNode):
        # No choice is an answer too: keep the language / record no score, and carry on.
        return node.next
    target = getattr(node, failure, "")
    return str(target) if target else None
