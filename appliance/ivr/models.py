"""IVR flow model: a flow is a named, versioned graph of nodes.

Every type here is a frozen dataclass with plain typed fields so that a pydantic `TypeAdapter` can check
untrusted JSON against the annotations themselves (see `serialization.py`); nothing in this module does I/O.
Nodes refer to each other by `id` within one flow; `GotoFlowNode` refers to another flow by name.
Text fields named `tts`, `value`, `url`, `body`, `say_tts` and `say_digits` are templates: `${name}` is
replaced by a call variable (`caller`, `did`, `call_id`, `language` and whatever the flow set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, with_config

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")
DIGITS = "0123456789*#"


# Unknown fields in uploaded JSON are an error, not silently dropped.
FORBID_EXTRA = ConfigDict(extra="forbid")


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class PlayNode:
    """Play a stored prompt, TTS text, or a digit string; then go to `next`."""

    id: str
    kind: Literal["play"] = "play"
    prompt: str = ""
    tts: str = ""
    say_digits: str = ""  # a template rendered to digits and spoken one by one
    barge_in: bool = True
    next: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class MenuOption:
    digit: str
    next: str


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class MenuNode:
    """Play a menu, wait for one key. Invalid key / no key retry the menu; after `max_retries` retries the
    call goes to `invalid` or `timeout` (whichever failed last)."""

    id: str
    kind: Literal["menu"] = "menu"
    prompt: str = ""
    tts: str = ""
    options: tuple[MenuOption, ...] = ()
    invalid: str = ""
    timeout: str = ""
    invalid_prompt: str = "invalid"
    timeout_prompt: str = "no_input"
    timeout_seconds: float = 5.0
    max_retries: int = 2
    barge_in: bool = True


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class CollectNode:
    """Collect a digit string into `variable` (account numbers, PINs)."""

    id: str
    kind: Literal["collect"] = "collect"
    prompt: str = ""
    tts: str = ""
    variable: str
    min_digits: int = 1
    max_digits: int = 20
    terminator: str = "#"
    first_digit_timeout: float = 8.0
    inter_digit_timeout: float = 4.0
    pattern: str = ""  # a regular expression the whole input must match; empty: any digits
    max_retries: int = 2
    invalid_prompt: str = "invalid"
    timeout_prompt: str = "no_input"
    next: str = ""
    invalid: str = ""
    timeout: str = ""
    barge_in: bool = True


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class QueueNode:
    """Hand the call to an ACD queue; the IVR ends here."""

    id: str
    kind: Literal["queue"] = "queue"
    queue: str
    skill: str = ""
    priority: int = 0


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionNode:
    id: str
    kind: Literal["extension"] = "extension"
    extension: str


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailNode:
    id: str
    kind: Literal["voicemail"] = "voicemail"
    box: str


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalNode:
    id: str
    kind: Literal["external"] = "external"
    number: str  # a template, so a business system can choose it


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class GotoFlowNode:
    """Continue in another flow (a sub-menu kept as its own flow); back-to-parent can return from it."""

    id: str
    kind: Literal["goto_flow"] = "goto_flow"
    flow: str


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class BackToParentNode:
    """Return to the menu the caller came from (返回上级); at the top, replay the top menu."""

    id: str
    kind: Literal["back_to_parent"] = "back_to_parent"


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class BackToTopNode:
    """Return to the start of the flow the call entered the IVR with (返回顶级)."""

    id: str
    kind: Literal["back_to_top"] = "back_to_top"


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class HangupNode:
    id: str
    kind: Literal["hangup"] = "hangup"
    prompt: str = ""
    tts: str = ""
    # A hang-up after a self-service branch counts as self-served; an error branch says "failed".
    outcome: Literal["self_served", "failed"] = "self_served"


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class SetVariableNode:
    id: str
    kind: Literal["set_variable"] = "set_variable"
    variable: str
    value: str = ""
    next: str = ""


ConditionSubject = Literal["variable", "caller", "did", "time_period"]
ConditionOp = Literal["eq", "ne", "prefix", "in", "regex", "exists", "lt", "gt"]


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionRule:
    """`subject` `op` `value` → `next`. For `variable`, `name` is the variable; for `time_period`, `name` is
    the schedule and `value` a period (`work_hours`, `off_hours`, `weekend`, `holiday`, `special_workday`)."""

    subject: ConditionSubject
    name: str = ""
    op: ConditionOp = "eq"
    value: str = ""
    next: str


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionNode:
    id: str
    kind: Literal["condition"] = "condition"
    rules: tuple[ConditionRule, ...] = ()
    otherwise: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class ResultMapping:
    """Copy the JSON value at dotted `path` ("data.balance", "items.0.id") into `variable`."""

    path: str
    variable: str
    required: bool = True


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class HttpHeader:
    """A request header; `value` is a template (an API token, or `${caller}` for a CRM look-up)."""

    name: str
    value: str


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class HttpNode:
    """Ask a business system (自助语音服务): on success map the JSON answer to variables, optionally speak
    them, go to `next`; on any error (status, timeout, unreadable JSON, missing field) go to `fallback`."""

    id: str
    kind: Literal["http"] = "http"
    method: Literal["GET", "POST"] = "GET"
    url: str
    body: str = ""  # POST body template (sent as JSON text)
    headers: tuple[HttpHeader, ...] = ()
    timeout_seconds: float = 3.0
    results: tuple[ResultMapping, ...] = ()
    say_tts: str = ""
    say_digits: str = ""
    next: str = ""
    fallback: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageOption:
    digit: str
    language: Language


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageNode:
    """Let the caller choose zh-CN or en; without a valid choice the call keeps its current language."""

    id: str
    kind: Literal["language"] = "language"
    prompt: str = ""
    tts: str = ""
    options: tuple[LanguageOption, ...] = (
        LanguageOption(digit="1", language="zh-CN"),
        LanguageOption(digit="2", language="en"),
    )
    timeout_seconds: float = 5.0
    max_retries: int = 1
    next: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyNode:
    """Satisfaction survey (满意度调查): press 1-5; the score goes to the CDR."""

    id: str
    kind: Literal["survey"] = "survey"
    prompt: str = "survey"
    tts: str = ""
    thanks_prompt: str = "thanks"
    timeout_seconds: float = 6.0
    max_retries: int = 1
    next: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackNode:
    """Leave a callback number (留言回拨). With `allow_caller_id`, pressing only the terminator keeps the
    number the call came from."""

    id: str
    kind: Literal["callback"] = "callback"
    prompt: str = "callback_enter"
    tts: str = ""
    min_digits: int = 5
    max_digits: int = 15
    terminator: str = "#"
    allow_caller_id: bool = True
    first_digit_timeout: float = 10.0
    inter_digit_timeout: float = 4.0
    max_retries: int = 2
    confirm_prompt: str = "callback_saved"
    next: str = ""
    invalid: str = ""
    timeout: str = ""


Node = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | QueueNode
    | ExtensionNode
    | VoicemailNode
    | ExternalNode
    | GotoFlowNode
    | BackToParentNode
    | BackToTopNode
    | HangupNode
    | SetVariableNode
    | ConditionNode
    | HttpNode
    | LanguageNode
    | SurveyNode
    | CallbackNode,
    Field(discriminator="kind"),
]

# Nodes that wait for the caller to press keys: a cycle must contain one of these, or it would spin forever.
INPUT_KINDS = frozenset({"menu", "collect", "language", "survey", "callback"})
# Nodes that end the IVR part of the call.
TERMINAL_KINDS = frozenset({"queue", "extension", "voicemail", "external", "hangup"})


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """One version of one flow. `version` is set by `FlowRepository.publish`; calls pin the version they
    started with."""

    name: str
    start: str
    nodes: tuple[Node, ...]
    version: int = 1
    title: str = ""

    def node(self, node_id: str) -> Node | None:
        for n in self.nodes:
            if n.id == node_id:
                return n
        return None


def node_targets(node: Node) -> list[tuple[str, str]]:
    """(field path inside the node, target node id) for every reference to another node of the same flow."""
    out: list[tuple[str, str]] = []
    for attr in ("next", "invalid", "timeout", "fallback", "otherwise"):
        target = getattr(node, attr, None)
        if isinstance(target, str) and target:
            out.append((attr, target))
    if isinstance(node, MenuNode):
        out += [(f"options.{i}.next", o.next) for i, o in enumerate(node.options)]
    if isinstance(node, ConditionNode):
        out += [(f"rules.{i}.next", r.next) for i, r in enumerate(node.rules)]
    return out
