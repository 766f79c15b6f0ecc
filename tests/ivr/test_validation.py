"""Flow validation: the four rejections the issue names, each naming the node, plus the demo content."""

from __future__ import annotations

from appliance.errors import FieldError
from appliance.ivr.demo import (
    DEMO_EXTENSIONS,
    DEMO_QUEUES,
    DEMO_SCHEDULE,
    DEMO_VOICEMAIL_BOXES,
    demo_flows,
    demo_routing,
)
from appliance.ivr.models import (
    CollectNode,
    ConditionNode,
    ConditionRule,
    Flow,
    GotoFlowNode,
    HangupNode,
    HttpNode,
    MenuNode,
    MenuOption,
    PlayNode,
    QueueNode,
    SetVariableNode,
)
from appliance.ivr.validation import validate_flow, validate_flows
from appliance.prompts.catalogue import DEFAULT_PROMPT_NAMES
from appliance.routing.validation import validate_routing


def _menu(**kw: object) -> MenuNode:
    args: dict[str, object] = {
        "id": "main_menu",
        "prompt": "main_menu",
        "options": (MenuOption(digit="1", next="q"),),
        "invalid": "q",
        "timeout": "q",
    }
    args.update(kw)
    return MenuNode(**args)  # type: ignore[arg-type]


def _flow(*nodes: object, start: str = "main_menu") -> Flow:
    return Flow(name="f", start=start, nodes=nodes)  # type: ignore[arg-type]


def _only(errors: list[FieldError], rule: str) -> FieldError:
    matching = [e for e in errors if e.rule == rule]
    assert len(matching) == 1, errors
    return matching[0]


def test_menu_without_invalid_or_timeout_path_is_rejected() -> None:
    errors = validate_flow(_flow(_menu(invalid="", timeout=""), QueueNode(id="q", queue="sales")), ["sales"])
    invalid = _only(errors, "missing_invalid_path")
    timeout = _only(errors, "missing_timeout_path")
    assert invalid.field == "nodes.0.invalid" and timeout.field == "nodes.0.timeout"
    for e in (invalid, timeout):
        assert "'main_menu'" in e.message and "'main_menu'" in e.message_zh
    assert "invalid key" in invalid.message and "无效按键" in invalid.message_zh
    assert "no key" in timeout.message and "超时" in timeout.message_zh


def test_dangling_node_reference_is_rejected() -> None:
    flow = _flow(_menu(options=(MenuOption(digit="1", next="ghost"),)), QueueNode(id="q", queue="sales"))
    e = _only(validate_flow(flow, ["sales"]), "dangling_reference")
    assert e.field == "nodes.0.options.0.next"
    assert "'main_menu'" in e.message and "'ghost'" in e.message
    assert "节点 'main_menu'" in e.message_zh and "不存在" in e.message_zh


def test_dangling_start_is_rejected() -> None:
    e = _only(validate_flow(_flow(HangupNode(id="h"), start="nope")), "dangling_reference")
    assert e.field == "start" and "'nope'" in e.message


def test_cycle_without_input_is_rejected_and_cycle_through_a_menu_is_not() -> None:
    looping = _flow(
        PlayNode(id="hello", prompt="welcome", next="count"),
        SetVariableNode(id="count", variable="n", value="1", next="hello"),
        start="hello",
    )
    e = _only(validate_flow(looping), "cycle_without_input")
    assert "'hello'" in e.message and "hello → count → hello" in e.message
    assert "节点 'hello'" in e.message_zh and "循环" in e.message_zh

    self_loop = _flow(SetVariableNode(id="again", variable="n", value="1", next="again"), start="again")
    assert _only(validate_flow(self_loop), "cycle_without_input").field == "nodes.0"

    fine = _flow(
        _menu(options=(MenuOption(digit="1", next="replay"),), invalid="replay", timeout="replay"),
        PlayNode(id="replay", prompt="welcome", next="main_menu"),
    )
    assert validate_flow(fine) == []


def test_unknown_queue_is_rejected() -> None:
    flow = _flow(_menu(), QueueNode(id="q", queue="billing"))
    e = _only(validate_flow(flow, known_queues=["sales", "support"]), "unknown_queue")
    assert e.field == "nodes.1.queue"
    assert "node 'q'" in e.message and "'billing'" in e.message
    assert "节点 'q'" in e.message_zh and "队列 'billing' 不存在" in e.message_zh


def test_other_references_and_fields() -> None:
    flow = _flow(
        _menu(prompt="no_such_prompt", options=(MenuOption(digit="12", next="q"), MenuOption(digit="1", next="q"))),
        QueueNode(id="q", queue="sales"),
        GotoFlowNode(id="g", flow="elsewhere"),
        CollectNode(id="c", variable="9bad", min_digits=5, max_digits=2, terminator="x", pattern="("),
        HttpNode(id="h", url="ftp://x", timeout_seconds=0),
        ConditionNode(id="k", rules=(ConditionRule(subject="time_period", name="nope", value="lunch", next="q"),)),
        PlayNode(id="p"),
        start="main_menu",
    )
    errors = validate_flow(flow, ["sales"], ["f"], DEFAULT_PROMPT_NAMES, known_schedules=["default"])
    rules = {(e.field, e.rule) for e in errors}
    assert ("nodes.0.prompt", "unknown_prompt") in rules
    assert ("nodes.0.options.0.digit", "invalid_key") in rules
    assert ("nodes.2.flow", "unknown_flow") in rules
    assert ("nodes.3.variable", "invalid_variable") in rules
    assert ("nodes.3.max_digits", "range") in rules
    assert ("nodes.3.terminator", "invalid_key") in rules
    assert ("nodes.3.pattern", "invalid_pattern") in rules
    assert ("nodes.4.url", "invalid_url") in rules
    assert ("nodes.4.timeout_seconds", "range") in rules
    assert ("nodes.4.fallback", "required") in rules
    assert ("nodes.5.otherwise", "required") in rules
    assert ("nodes.5.rules.0.name", "unknown_schedule") in rules
    assert ("nodes.5.rules.0.value", "unknown_period") in rules
    assert ("nodes.6.prompt", "required") in rules
    assert all(e.message_zh and e.message_zh != e.message for e in errors)


def test_duplicate_keys_and_ids() -> None:
    flow = _flow(
        _menu(options=(MenuOption(digit="1", next="q"), MenuOption(digit="1", next="q"))),
        QueueNode(id="q", queue="sales"),
        QueueNode(id="q", queue="sales"),
    )
    rules = {e.rule for e in validate_flow(flow)}
    assert {"duplicate_key", "duplicate_id"} <= rules


def test_demo_flows_and_routing_pass() -> None:
    flows = demo_flows()
    assert validate_flows(
        flows,
        known_queues=DEMO_QUEUES,
        known_prompts=DEFAULT_PROMPT_NAMES,
        known_extensions=DEMO_EXTENSIONS,
        known_voicemail_boxes=DEMO_VOICEMAIL_BOXES,
        known_schedules=[DEMO_SCHEDULE],
    ) == []
    assert validate_routing(
        demo_routing(),
        known_flows=[f.name for f in flows],
        known_queues=DEMO_QUEUES,
        known_extensions=DEMO_EXTENSIONS,
        known_voicemail_boxes=DEMO_VOICEMAIL_BOXES,
        known_prompts=DEFAULT_PROMPT_NAMES,
    ) == []


def test_validate_flows_prefixes_flow_name() -> None:
    broken = Flow(name="sub", start="x", nodes=(GotoFlowNode(id="x", flow="missing"),))
    errors = validate_flows([*demo_flows(), broken], known_queues=DEMO_QUEUES)
    assert [(e.field, e.rule) for e in errors] == [("sub.nodes.0.flow", "unknown_flow")]
    assert errors[0].message.startswith("flow 'sub'")
