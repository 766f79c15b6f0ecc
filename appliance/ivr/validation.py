"""Flow validation: the rules a flow must pass before it is published.

Structural checks (types, required fields) are pydantic's job in `serialization.py`; this module checks the
graph and the references to the rest of the configuration: every node reference resolves, every menu has
both an invalid-key and a no-key path, no cycle can spin without waiting for the caller, and queues, flows,
prompts, extensions and voicemail boxes exist. Each error names the node, in English and Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from appliance.errors import FieldError
from appliance.ivr.models import (
    DIGITS,
    INPUT_KINDS,
    CallbackNode,
    CollectNode,
    ConditionNode,
    ExtensionNode,
    Flow,
    GotoFlowNode,
    HttpNode,
    LanguageNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    SetVariableNode,
    SurveyNode,
    VoicemailNode,
    node_targets,
)

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_PERIODS = {"work_hours", "off_hours", "weekend", "holiday", "special_workday"}


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, path: str, rule: str, node: str, en: str, zh: str) -> None:
        where_en = f"node '{node}': " if node else ""
        where_zh = f"节点 '{node}': " if node else ""
        self.items.append(FieldError(path, rule, where_en + en, where_zh + zh))


def validate_flow(
    flow: Flow,
    known_queues: Collection[str] | None = None,
    known_flows: Collection[str] | None = None,
    known_prompts: Collection[str] | None = None,
    known_extensions: Collection[str] | None = None,
    known_voicemail_boxes: Collection[str] | None = None,
    known_schedules: Collection[str] | None = None,
) -> list[FieldError]:
    """All broken rules of `flow`; empty when it may be published. A `known_*` of None skips that check."""
    err = _Errors()
    if not _ID.match(flow.name):
        err.add("name", "invalid_name", "", f"flow name {flow.name!r} is not valid (letters, digits, _ . -)",
                f"流程名称 {flow.name!r} 无效(只能包含字母、数字、_ . -)")
    ids: dict[str, int] = {}
    for i, node in enumerate(flow.nodes):
        if not _ID.match(node.id):
            err.add(f"nodes.{i}.id", "invalid_id", node.id, "the id is not valid (letters, digits, _ . -)",
                    "节点标识无效(只能包含字母、数字、_ . -)")
        if node.id in ids:
            err.add(f"nodes.{i}.id", "duplicate_id", node.id, "another node has the same id", "节点标识重复")
        ids.setdefault(node.id, i)
    if not flow.nodes:
        err.add("nodes", "required", "", "a flow needs at least one node", "流程至少需要一个节点")
    if flow.start not in ids:
        err.add("start", "dangling_reference", flow.start, "the start node does not exist", "起始节点不存在")

    for i, node in enumerate(flow.nodes):
        base = f"nodes.{i}"
        for attr, target in node_targets(node):
            if target not in ids:
                err.add(f"{base}.{attr}", "dangling_reference", node.id,
                        f"{attr} refers to node '{target}', which does not exist",
                        f"{attr} 指向的节点 '{target}' 不存在")
        _check_node(err, base, node, known_queues, known_flows, known_prompts, known_extensions,
                    known_voicemail_boxes, known_schedules)

    for cycle in _cycles_without_input(flow):
        first = cycle[0]
        i = ids[first]
        loop = " → ".join([*cycle, first])
        err.add(f"nodes.{i}", "cycle_without_input", first,
                f"the path {loop} loops without waiting for a key (add a menu or collect node)",
                f"路径 {loop} 形成循环且不等待按键(请加入菜单或收号节点)")
    return err.items


def validate_flows(
    flows: Iterable[Flow],
    known_queues: Collection[str] | None = None,
    known_prompts: Collection[str] | None = None,
    known_extensions: Collection[str] | None = None,
    known_voicemail_boxes: Collection[str] | None = None,
    known_schedules: Collection[str] | None = None,
) -> list[FieldError]:
    """Validate a set of flows that may jump to each other; field paths are prefixed with the flow name."""
    flows = list(flows)
    names = {f.name for f in flows}
    out: list[FieldError] = []
    for flow in flows:
        for e in validate_flow(flow, known_queues, names, known_prompts, known_extensions,
                               known_voicemail_boxes, known_schedules):
            out.append(FieldError(f"{flow.name}.{e.field}", e.rule, f"flow '{flow.name}', {e.message}",
                                  f"流程 '{flow.name}', {e.message_zh}"))
    return out


def _check_node(
    err: _Errors,
    base: str,
    node: Node,
    queues: Collection[str] | None,
    flows: Collection[str] | None,
    prompts: Collection[str] | None,
    extensions: Collection[str] | None,
    boxes: Collection[str] | None,
    schedules: Collection[str] | None,
) -> None:
    nid = node.id
    if prompts is not None:
        for attr in ("prompt", "invalid_prompt", "timeout_prompt", "thanks_prompt", "confirm_prompt"):
            name = getattr(node, attr, "")
            if name and name not in prompts:
                err.add(f"{base}.{attr}", "unknown_prompt", nid, f"prompt '{name}' does not exist",
                        f"语音文件 '{name}' 不存在")
    if isinstance(node, MenuNode):
        if not node.invalid:
            err.add(f"{base}.invalid", "missing_invalid_path", nid,
                    "the menu has no path for an invalid key", "菜单缺少无效按键的去向")
        if not node.timeout:
            err.add(f"{base}.timeout", "missing_timeout_path", nid,
                    "the menu has no path for when no key is pressed", "菜单缺少超时未按键的去向")
        if not node.options:
            err.add(f"{base}.options", "required", nid, "the menu has no options", "菜单没有任何选项")
        if not node.prompt and not node.tts:
            err.add(f"{base}.prompt", "required", nid, "the menu plays nothing (set a prompt or TTS text)",
                    "菜单没有提示音(请设置语音文件或合成文本)")
        _check_keys(err, base, nid, [o.digit for o in node.options])
        _check_retries(err, base, nid, node.max_retries, node.timeout_seconds)
    elif isinstance(node, LanguageNode):
        _check_keys(err, base, nid, [o.digit for o in node.options])
        _check_retries(err, base, nid, node.max_retries, node.timeout_seconds)
    elif isinstance(node, SurveyNode):
        _check_retries(err, base, nid, node.max_retries, node.timeout_seconds)
    elif isinstance(node, CollectNode | CallbackNode):
        if isinstance(node, CollectNode) and not _VARIABLE.match(node.variable):
            err.add(f"{base}.variable", "invalid_variable", nid, f"'{node.variable}' is not a variable name",
                    f"'{node.variable}' 不是有效的变量名")
        if not 1 <= node.min_digits <= node.max_digits <= 64:
            err.add(f"{base}.max_digits", "range", nid,
                    "digit counts must satisfy 1 ≤ min ≤ max ≤ 64", "位数必须满足 1 ≤ 最少 ≤ 最多 ≤ 64")
        if node.terminator and (len(node.terminator) != 1 or node.terminator not in DIGITS):
            err.add(f"{base}.terminator", "invalid_key", nid, "the terminator must be one key (0-9 * #)",
                    "结束键必须是一个按键(0-9 * #)")
        if isinstance(node, CollectNode) and node.pattern:
            try:
                re.compile(node.pattern)
            except re.error:
                err.add(f"{base}.pattern", "invalid_pattern", nid, "the validation pattern is not valid",
                        "校验规则(正则表达式)无效")
        _check_retries(err, base, nid, node.max_retries, node.first_digit_timeout)
        if node.inter_digit_timeout <= 0:
            err.add(f"{base}.inter_digit_timeout", "range", nid, "the inter-digit timeout must be positive",
                    "按键间隔超时必须大于零")
    elif isinstance(node, QueueNode):
        if queues is not None and node.queue not in queues:
            err.add(f"{base}.queue", "unknown_queue", nid, f"queue '{node.queue}' does not exist",
                    f"队列 '{node.queue}' 不存在")
    elif isinstance(node, GotoFlowNode):
        if flows is not None and node.flow not in flows:
            err.add(f"{base}.flow", "unknown_flow", nid, f"flow '{node.flow}' does not exist",
                    f"流程 '{node.flow}' 不存在")
    elif isinstance(node, ExtensionNode):
        if extensions is not None and node.extension not in extensions:
            err.add(f"{base}.extension", "unknown_extension", nid,
                    f"extension '{node.extension}' does not exist", f"分机 '{node.extension}' 不存在")
    elif isinstance(node, VoicemailNode):
        if boxes is not None and node.box not in boxes:
            err.add(f"{base}.box", "unknown_voicemail_box", nid, f"voicemail box '{node.box}' does not exist",
                    f"语音信箱 '{node.box}' 不存在")
    elif isinstance(node, SetVariableNode):
        if not _VARIABLE.match(node.variable):
            err.add(f"{base}.variable", "invalid_variable", nid, f"'{node.variable}' is not a variable name",
                    f"'{node.variable}' 不是有效的变量名")
    elif isinstance(node, ConditionNode):
        if not node.otherwise:
            err.add(f"{base}.otherwise", "required", nid, "the condition has no 'otherwise' path",
                    "条件节点缺少“否则”去向")
        for r, rule in enumerate(node.rules):
            if rule.subject == "time_period":
                if schedules is not None and rule.name not in schedules:
                    err.add(f"{base}.rules.{r}.name", "unknown_schedule", nid,
                            f"schedule '{rule.name}' does not exist", f"时间表 '{rule.name}' 不存在")
                if rule.op in ("eq", "ne") and rule.value not in _PERIODS:
                    err.add(f"{base}.rules.{r}.value", "unknown_period", nid,
                            f"'{rule.value}' is not a time period", f"'{rule.value}' 不是有效的时间段")
            if rule.op == "regex":
                try:
                    re.compile(rule.value)
                except re.error:
                    err.add(f"{base}.rules.{r}.value", "invalid_pattern", nid,
                            "the pattern is not valid", "正则表达式无效")
    elif isinstance(node, HttpNode):
        if not node.url.startswith(("http://", "https://")):
            err.add(f"{base}.url", "invalid_url", nid, "the URL must start with http:// or https://",
                    "接口地址必须以 http:// 或 https:// 开头")
        if not 0 < node.timeout_seconds <= 30:
            err.add(f"{base}.timeout_seconds", "range", nid, "the timeout must be between 0 and 30 seconds",
                    "超时时间必须在 0 到 30 秒之间")
        if not node.fallback:
            err.add(f"{base}.fallback", "required", nid, "the request has no fallback path for errors",
                    "接口请求缺少出错时的去向")
        for h, header in enumerate(node.headers):
            if not _HEADER.match(header.name):
                err.add(f"{base}.headers.{h}.name", "invalid_header", nid,
                        f"'{header.name}' is not a header name", f"'{header.name}' 不是有效的请求头名称")
        for m, mapping in enumerate(node.results):
            if not _VARIABLE.match(mapping.variable):
                err.add(f"{base}.results.{m}.variable", "invalid_variable", nid,
                        f"'{mapping.variable}' is not a variable name", f"'{mapping.variable}' 不是有效的变量名")
    elif isinstance(node, PlayNode) and not (node.prompt or node.tts or node.say_digits):
        err.add(f"{base}.prompt", "required", nid, "the node plays nothing", "放音节点没有任何内容")


def _check_keys(err: _Errors, base: str, nid: str, keys: list[str]) -> None:
    seen: set[str] = set()
    for k, key in enumerate(keys):
        if len(key) != 1 or key not in DIGITS:
            err.add(f"{base}.options.{k}.digit", "invalid_key", nid, f"'{key}' is not a key (0-9 * #)",
                    f"'{key}' 不是有效按键(0-9 * #)")
        elif key in seen:
            err.add(f"{base}.options.{k}.digit", "duplicate_key", nid, f"key '{key}' is used twice",
                    f"按键 '{key}' 重复")
        seen.add(key)


def _check_retries(err: _Errors, base: str, nid: str, retries: int, timeout: float) -> None:
    if not 0 <= retries <= 9:
        err.add(f"{base}.max_retries", "range", nid, "retries must be between 0 and 9", "重试次数必须在 0 到 9 之间")
    if not 0 < timeout <= 120:
        err.add(f"{base}.timeout_seconds", "range", nid, "the timeout must be between 0 and 120 seconds",
                "超时时间必须在 0 到 120 秒之间")


def _cycles_without_input(flow: Flow) -> list[list[str]]:
    """Strongly connected components (Tarjan) of the node graph that contain no node waiting for keys."""
    nodes = {n.id: n for n in flow.nodes}
    edges = {n.id: [t for _, t in node_targets(n) if t in nodes] for n in flow.nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # recursion depth is bounded by the node count of one flow
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            is_cycle = len(component) > 1 or v in edges[v]
            if is_cycle and not any(nodes[c].kind in INPUT_KINDS for c in component):
                order = [n.id for n in flow.nodes if n.id in component]
                found.append(order)

    for n in flow.nodes:
        if n.id not in index:
            visit(n.id)
    return found
