"""Decisions a flow takes from data rather than keys: condition nodes, and HTTP self-service requests and
their answers (自助语音服务).

Pure: the session supplies the call's variables and facts; the HTTP exchange itself is the runner's
(`appliance.ivr.runner`), which answers with `HttpResult` / `HttpFailed`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from appliance.ivr.actions import HttpRequest
from appliance.ivr.inputs import HttpResult
from appliance.ivr.models import ConditionNode, ConditionRule, HttpNode
from appliance.ivr.templates import render

# Grace on top of an HTTP node's own timeout before the session gives up on the runner's answer.
HTTP_GRACE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What conditions can test besides variables."""

    caller: str
    did: str
    period: Callable[[str], str]  # schedule name -> the period now ("" when unknown)


def branch(node: ConditionNode, variables: Mapping[str, str], facts: CallFacts) -> tuple[str, str]:
    """(journey detail, target node) of the first rule that matches, else of `otherwise`."""
    for index, rule in enumerate(node.rules):
        if matches(rule, variables, facts):
            return f"rule {index} → {rule.next}", rule.next
    return f"otherwise → {node.otherwise}", node.otherwise


def matches(rule: ConditionRule, variables: Mapping[str, str], facts: CallFacts) -> bool:
    if rule.subject == "variable":
        present = rule.name in variables and variables[rule.name] != ""
        subject = variables.get(rule.name, "")
    elif rule.subject == "caller":
        present, subject = bool(facts.caller), facts.caller
    elif rule.subject == "did":
        present, subject = bool(facts.did), facts.did
    else:
        subject = facts.period(rule.name)
        present = bool(subject)
    value = render(rule.value, variables)
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


def http_request(node: HttpNode, variables: Mapping[str, str], request_id: int) -> HttpRequest:
    url = render(node.url, variables, escape="url")
    body = render(node.body, variables, escape="json") if node.method == "POST" else ""
    # Header values are single-line by construction: a caller's input cannot add a header.
    headers = tuple(
        (h.name, render(h.value, variables).replace("\r", " ").replace("\n", " ")) for h in node.headers
    )
    return HttpRequest(
        request_id=request_id,
        method=node.method,
        url=url,
        body=body,
        timeout=node.timeout_seconds,
        headers=headers,
    )


def read_result(node: HttpNode, result: HttpResult) -> dict[str, str] | str:
    """The variables the node maps from a successful answer, or why the answer is a failure."""
    if not 200 <= result.status < 300:
        return f"status {result.status}"
    try:
        document = json.loads(result.body)
    except ValueError:
        return "bad_json"
    found: dict[str, str] = {}
    for mapping in node.results:
        ok, value = _lookup(document, mapping.path)
        if not ok:
            if mapping.required:
                return f"missing {mapping.path}"
            continue
        found[mapping.variable] = _as_text(value)
    return found


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
