"""Scripted calls through the IVR interpreter, one node kind at a time, on a fake clock."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.clock import ManualClock
from appliance.ivr.actions import (
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
from appliance.ivr.demo import demo_flows, demo_repository, demo_routing, main_flow
from appliance.ivr.inputs import CallerHungUp, HttpFailed, HttpResult, PromptFinished, TtsFailed
from appliance.ivr.journey import ExitReason, StepKind
from appliance.ivr.models import (
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
    LanguageNode,
    MenuNode,
    MenuOption,
    PlayNode,
    QueueNode,
    ResultMapping,
    SetVariableNode,
    SurveyNode,
    VoicemailNode,
)
from appliance.routing.router import Router
from tests.ivr.script import Script


def _menu_ready(s: Script) -> None:
    """Play the demo welcome and menu prompts to the end, so the menu waits for a key."""
    s.start("main")
    assert s.one(Play).prompts == ("welcome",)
    s.finish_prompt()
    assert s.one(Play).prompts == ("main_menu",)
    s.finish_prompt()
    assert s.one(CollectDigits).max_digits == 1
    assert s.one(StartTimer).deadline == s.clock.monotonic() + 5.0


# ---------------------------------------------------------------- menus


def test_menu_choice_goes_to_queue() -> None:
    s = Script(demo_flows())
    _menu_ready(s)
    s.press("1")
    assert s.one(Play).prompts == ("transfer_agent",)
    s.finish_prompt()
    transfer = s.one(TransferToQueue)
    assert (transfer.queue, transfer.skill) == ("sales", "sales")
    assert s.session.ended
    assert s.session.summary is not None
    assert s.session.summary.exit_reason is ExitReason.TRANSFERRED_TO_AGENT
    assert s.session.summary.destination == "sales"
    assert s.session.summary.path == ("main/welcome", "main/menu", "main/to_sales", "main/sales")


def test_menu_invalid_keys_retry_then_take_invalid_path() -> None:
    s = Script(demo_flows())
    _menu_ready(s)
    for _ in range(2):  # max_retries = 2: the menu is replayed twice, prefixed by the "invalid" notice
        s.press("9")
        assert s.one(Play).prompts == ("invalid", "main_menu")
        s.finish_prompt()
        s.one(CollectDigits)
    s.press("9")
    assert s.one(Play).prompts == ("transfer_agent",)
    s.finish_prompt()
    assert s.one(TransferToExtension).extension == "1901"
    kinds = [step.kind for step in s.session.journey]
    assert kinds.count(StepKind.INVALID) == 3


def test_menu_timeouts_retry_then_take_timeout_path() -> None:
    s = Script(demo_flows())
    _menu_ready(s)
    assert s.wait(4.9) == []  # not yet
    s.wait(0.1)
    assert s.one(Play).prompts == ("no_input", "main_menu")
    s.finish_prompt()
    s.wait(5)
    assert s.one(Play).prompts == ("no_input", "main_menu")
    s.finish_prompt()
    s.wait(5)
    assert s.one(Play).prompts == ("goodbye",)
    s.finish_prompt()
    assert s.one(Hangup).reason == "self_served"
    assert [st.kind for st in s.session.journey].count(StepKind.TIMEOUT) == 3


def test_menu_retry_counter_spans_invalid_and_timeout_and_last_failure_decides() -> None:
    s = Script(demo_flows())
    _menu_ready(s)
    s.press("7")
    s.finish_prompt()
    s.wait(5)
    s.finish_prompt()
    s.press("8")  # third failure is an invalid key → invalid path (operator)
    s.finish_prompt()
    assert s.one(TransferToExtension).extension == "1901"


def test_barge_in_during_menu_prompt_stops_it_and_counts_as_choice() -> None:
    s = Script(demo_flows())
    s.start("main")
    s.finish_prompt()
    menu_play = s.one(Play)
    s.press("2")
    assert s.one(StopPlayback).play_id == menu_play.play_id
    assert s.one(Play).prompts == ("transfer_agent",)
    # The media side may still report the stopped prompt; it must not move the call on.
    assert s.send(PromptFinished(play_id=menu_play.play_id)) == []
    s.finish_prompt()
    assert s.one(TransferToQueue).queue == "support"
    kinds = [st.kind for st in s.session.journey]
    assert StepKind.PROMPT_INTERRUPTED in kinds


def test_key_during_welcome_is_type_ahead_for_the_menu() -> None:
    s = Script(demo_flows())
    s.start("main")
    welcome = s.one(Play)
    s.press("1")
    assert s.one(StopPlayback).play_id == welcome.play_id
    # The menu prompt is skipped: the caller already chose.
    assert s.one(Play).prompts == ("transfer_agent",)
    s.finish_prompt()
    assert s.one(TransferToQueue).queue == "sales"


def test_no_barge_in_prompt_ignores_keys() -> None:
    s = Script(demo_flows())
    _menu_ready(s)
    s.press("1")
    s.press("2")  # during "transfer_agent", which is not interruptible
    assert s.last == []
    s.finish_prompt()
    assert s.one(TransferToQueue).queue == "sales"


# ---------------------------------------------------------------- nested flows, back to parent / top


def _nested() -> list[Flow]:
    def menu(node_id: str, options: dict[str, str], fallback: str) -> MenuNode:
        return MenuNode(
            id=node_id,
            prompt=f"p_{node_id}",
            options=tuple(MenuOption(digit=d, next=n) for d, n in options.items()),
            invalid=fallback,
            timeout=fallback,
        )

    top = Flow(
        name="top",
        start="T",
        nodes=(
            menu("T", {"1": "billing", "2": "bye"}, "bye"),
            GotoFlowNode(id="billing", flow="billing"),
            HangupNode(id="bye"),
        ),
    )
    billing = Flow(
        name="billing",
        start="B",
        nodes=(
            menu("B", {"1": "C", "9": "up", "0": "home"}, "up"),
            menu("C", {"1": "q", "9": "up", "0": "home"}, "up"),
            QueueNode(id="q", queue="support"),
            BackToParentNode(id="up"),
            BackToTopNode(id="home"),
        ),
    )
    return [top, billing]


def _choose(s: Script, key: str) -> None:
    s.finish_prompt()
    s.press(key)


def test_nested_flows_back_to_parent_and_back_to_top() -> None:
    s = Script(_nested())
    s.start("top")
    assert s.one(Play).prompts == ("p_T",)
    _choose(s, "1")
    assert s.one(Play).prompts == ("p_B",)
    assert s.session.flow is not None and s.session.flow.name == "billing"
    _choose(s, "1")
    assert s.one(Play).prompts == ("p_C",)
    _choose(s, "9")  # C → back to its parent menu B
    assert s.one(Play).prompts == ("p_B",)
    _choose(s, "9")  # B → back to its parent menu T, in the other flow
    assert s.one(Play).prompts == ("p_T",)
    assert s.session.flow is not None and s.session.flow.name == "top"
    _choose(s, "1")
    _choose(s, "1")
    _choose(s, "0")  # C → back to the top
    assert s.one(Play).prompts == ("p_T",)
    _choose(s, "1")
    _choose(s, "1")
    _choose(s, "1")
    assert s.one(TransferToQueue).queue == "support"
    assert s.session.summary is not None
    assert s.session.summary.path[-3:] == ("billing/B", "billing/C", "billing/q")
    assert s.session.summary.keys == "1199" + "110" + "111"


def test_back_to_parent_at_top_replays_top_menu() -> None:
    flow = Flow(
        name="f",
        start="m",
        nodes=(
            MenuNode(id="m", prompt="p", options=(MenuOption(digit="9", next="up"),), invalid="m", timeout="m"),
            BackToParentNode(id="up"),
        ),
    )
    s = Script([flow])
    s.start("f")
    _choose(s, "9")
    assert s.one(Play).prompts == ("p",)
    assert s.session.node is not None and s.session.node.id == "m"


# ---------------------------------------------------------------- collect digits


def _collect_flow(pattern: str = "") -> Flow:
    return Flow(
        name="c",
        start="acct",
        nodes=(
            CollectNode(
                id="acct",
                prompt="enter_account",
                variable="account",
                min_digits=4,
                max_digits=8,
                terminator="#",
                first_digit_timeout=6,
                inter_digit_timeout=3,
                pattern=pattern,
                max_retries=1,
                next="ok",
                invalid="bad",
                timeout="bad",
            ),
            ExtensionNode(id="ok", extension="ok"),
            ExtensionNode(id="bad", extension="bad"),
        ),
    )


def _collect_ready(pattern: str = "") -> Script:
    s = Script([_collect_flow(pattern)])
    s.start("c")
    s.finish_prompt()
    rules = s.one(CollectDigits)
    assert (rules.min_digits, rules.max_digits, rules.terminator) == (4, 8, "#")
    return s


def test_collect_ends_on_terminator() -> None:
    s = _collect_ready()
    s.press("1234#")
    assert s.one(TransferToExtension).extension == "ok"
    assert s.session.variables["account"] == "1234"


def test_collect_ends_at_max_digits() -> None:
    s = _collect_ready()
    s.press("1234567")
    assert not s.session.ended
    s.press("8")
    assert s.one(TransferToExtension).extension == "ok"
    assert s.session.variables["account"] == "12345678"


def test_collect_ends_on_inter_digit_timeout() -> None:
    s = _collect_ready()
    s.press("12345")
    assert s.wait(2.9) == []
    s.wait(0.1)
    assert s.one(TransferToExtension).extension == "ok"
    assert s.session.variables["account"] == "12345"


def test_collect_too_short_is_invalid_and_retried() -> None:
    s = _collect_ready()
    s.press("12#")
    assert s.one(Play).prompts == ("invalid", "enter_account")
    s.finish_prompt()
    s.press("99#")
    assert s.one(TransferToExtension).extension == "bad"
    assert "account" not in s.session.variables


def test_collect_pattern_validation() -> None:
    s = _collect_ready(pattern=r"[1-8]\d+")
    s.press("9999#")
    assert s.one(Play).prompts == ("invalid", "enter_account")
    s.finish_prompt()
    s.press("8999#")
    assert s.session.variables["account"] == "8999"


def test_collect_first_digit_timeout() -> None:
    s = _collect_ready()
    s.wait(6)
    assert s.one(Play).prompts == ("no_input", "enter_account")
    s.finish_prompt()
    s.wait(6)
    assert s.one(TransferToExtension).extension == "bad"


# ---------------------------------------------------------------- play: TTS text and digits


def test_tts_node_synthesizes_then_plays() -> None:
    flow = Flow(
        name="t",
        start="hello",
        nodes=(
            PlayNode(id="hello", tts="您好，${name}，您的工单号是", say_digits="${ticket}", next="end"),
            HangupNode(id="end"),
        ),
    )
    s = Script([flow])
    s.start("t", variables={"name": "张三", "ticket": "40#7"})
    speak = s.one(Synthesize)
    assert (speak.text, speak.language) == ("您好，张三，您的工单号是", "zh-CN")
    s.none(Play)
    s.synthesize_all()
    play = s.one(Play)
    assert play.prompts == ("tts/您好，张三，您的工单号是", "digit_4", "digit_0", "key_pound", "digit_7")
    s.finish_prompt()
    assert s.one(Hangup)


def test_tts_failure_plays_what_remains() -> None:
    flow = Flow(
        name="t",
        start="hello",
        nodes=(PlayNode(id="hello", prompt="welcome", tts="text", next="end"), HangupNode(id="end")),
    )
    s = Script([flow])
    s.start("t")
    s.send(TtsFailed(request_id=s.one(Synthesize).request_id, reason="engine missing"))
    assert s.one(Play).prompts == ("welcome",)
    assert any(st.kind is StepKind.TTS_FAILED for st in s.session.journey)


# ---------------------------------------------------------------- HTTP self-service (pure part)


def _http_flow() -> Flow:
    return Flow(
        name="h",
        start="lookup",
        nodes=(
            HttpNode(
                id="lookup",
                url="http://crm.example/balance?account=${account}&caller=${caller}",
                timeout_seconds=2.0,
                results=(
                    ResultMapping(path="data.balance", variable="balance"),
                    ResultMapping(path="data.items.0.name", variable="item", required=False),
                ),
                say_tts="您的余额是${balance}元",
                next="done",
                fallback="sorry",
            ),
            HangupNode(id="done", prompt="goodbye"),
            PlayNode(id="sorry", prompt="service_unavailable", next="agent"),
            QueueNode(id="agent", queue="support"),
        ),
    )


def _http_started() -> tuple[Script, HttpRequest]:
    s = Script([_http_flow()])
    s.start("h", caller="+86 138", variables={"account": "12&3"})
    request = s.one(HttpRequest)
    return s, request


def test_http_request_url_is_rendered_and_escaped() -> None:
    _s, request = _http_started()
    assert request.url == "http://crm.example/balance?account=12%263&caller=%2B86%20138"
    assert (request.method, request.timeout) == ("GET", 2.0)


def test_http_success_maps_json_and_speaks_result() -> None:
    s, request = _http_started()
    body = '{"data": {"balance": 12.5, "items": [{"name": "宽带"}]}}'
    s.send(HttpResult(request_id=request.request_id, status=200, body=body))
    assert s.session.variables["balance"] == "12.5"
    assert s.session.variables["item"] == "宽带"
    assert s.one(Synthesize).text == "您的余额是12.5元"
    s.synthesize_all()
    s.finish_prompt()
    assert s.one(Play).prompts == ("goodbye",)
    s.finish_prompt()
    s.one(Hangup)
    assert s.session.summary is not None and s.session.summary.exit_reason is ExitReason.SELF_SERVED


def test_http_bad_json_takes_fallback() -> None:
    s, request = _http_started()
    s.send(HttpResult(request_id=request.request_id, status=200, body="<html>oops</html>"))
    assert s.one(Play).prompts == ("service_unavailable",)
    assert s.session.variables["http_error"] == "bad_json"


def test_http_error_status_and_missing_field_take_fallback() -> None:
    for status, body, reason in ((503, "{}", "status 503"), (200, '{"data": {}}', "missing data.balance")):
        s, request = _http_started()
        s.send(HttpResult(request_id=request.request_id, status=status, body=body))
        assert s.one(Play).prompts == ("service_unavailable",)
        assert s.session.variables["http_error"] == reason


def test_http_no_answer_times_out_to_fallback_and_late_answer_is_ignored() -> None:
    s, request = _http_started()
    assert s.wait(2.9) == []  # the node's 2 s plus the session's grace for the runner's own timeout
    s.wait(0.1)
    assert s.one(Play).prompts == ("service_unavailable",)
    assert s.send(HttpResult(request_id=request.request_id, status=200, body='{"data":{"balance":1}}')) == []


def test_http_failed_report_takes_fallback() -> None:
    s, request = _http_started()
    s.send(HttpFailed(request_id=request.request_id, reason="timeout"))
    assert s.one(Play).prompts == ("service_unavailable",)
    s.finish_prompt()
    assert s.one(TransferToQueue).queue == "support"


# ---------------------------------------------------------------- survey, callback, language


def _survey_flow() -> Flow:
    return Flow(
        name="s",
        start="rate",
        nodes=(SurveyNode(id="rate", next="bye"), HangupNode(id="bye", prompt="goodbye")),
    )


def test_survey_records_score() -> None:
    s = Script([_survey_flow()])
    s.start("s")
    assert s.one(Play).prompts == ("survey",)
    s.finish_prompt()
    s.press("4")
    assert s.one(RecordSurvey).score == 4
    assert s.one(Play).prompts == ("thanks",)
    s.finish_prompt()
    s.finish_prompt()
    s.one(Hangup)
    events = s.session.drain_events()
    ended = [e for e in events if e.topic == "ivr.ended"]
    assert len(ended) == 1 and ended[0].to_dict()["survey_score"] == 4


def test_survey_without_valid_score_records_none() -> None:
    s = Script([_survey_flow()])
    s.start("s")
    s.finish_prompt()
    s.press("7")
    assert s.one(Play).prompts == ("invalid", "survey")
    s.finish_prompt()
    s.wait(6)
    assert s.one(Play).prompts == ("goodbye",)
    assert not [a for a in s.actions if isinstance(a, RecordSurvey)]
    s.finish_prompt()
    assert s.session.summary is not None and s.session.summary.survey_score is None


def _callback_flow() -> Flow:
    return Flow(
        name="cb",
        start="leave",
        nodes=(
            CallbackNode(id="leave", next="bye", invalid="bye", timeout="bye", max_retries=1),
            HangupNode(id="bye"),
        ),
    )


def test_callback_number_entered() -> None:
    s = Script([_callback_flow()])
    s.start("cb")
    s.finish_prompt()
    s.press("13912345678#")
    assert s.one(CaptureCallback).number == "13912345678"
    assert s.one(Play).prompts == ("callback_saved",)
    s.finish_prompt()
    s.one(Hangup)
    assert s.session.summary is not None and s.session.summary.callback_number == "13912345678"


def test_callback_pound_alone_keeps_caller_id_and_short_number_is_retried() -> None:
    s = Script([_callback_flow()])
    s.start("cb", caller="02188887777")
    s.finish_prompt()
    s.press("12#")
    assert s.one(Play).prompts == ("invalid", "callback_enter")
    s.finish_prompt()
    s.press("#")
    assert s.one(CaptureCallback).number == "02188887777"


def test_language_choice_switches_prompts() -> None:
    flow = Flow(
        name="l",
        start="lang",
        nodes=(
            LanguageNode(id="lang", prompt="language_menu", next="hi"),
            PlayNode(id="hi", prompt="welcome", next="bye"),
            HangupNode(id="bye"),
        ),
    )
    s = Script([flow])
    s.start("l")
    assert s.one(Play).language == "zh-CN"
    s.finish_prompt()
    s.press("2")
    assert s.one(SetLanguage).language == "en"
    play = s.one(Play)
    assert (play.prompts, play.language) == (("welcome",), "en")
    assert s.session.variables["language"] == "en"


def test_language_timeout_keeps_language() -> None:
    flow = Flow(
        name="l",
        start="lang",
        nodes=(
            LanguageNode(id="lang", prompt="language_menu", next="hi", max_retries=0),
            PlayNode(id="hi", prompt="welcome"),
        ),
    )
    s = Script([flow])
    s.start("l", language="en")
    s.finish_prompt()
    s.wait(5)
    assert s.one(Play).language == "en"


# ---------------------------------------------------------------- variables, conditions, transfers


def _condition_flow() -> Flow:
    return Flow(
        name="cond",
        start="set",
        nodes=(
            SetVariableNode(id="set", variable="greeting", value="hi ${caller}", next="check"),
            ConditionNode(
                id="check",
                rules=(
                    ConditionRule(subject="variable", name="tier", op="eq", value="gold", next="gold"),
                    ConditionRule(subject="caller", op="prefix", value="139", next="mobile"),
                    ConditionRule(subject="did", op="in", value="8001, 8002", next="other_did"),
                    ConditionRule(subject="variable", name="score", op="gt", value="80", next="high"),
                    ConditionRule(
                        subject="time_period", name="business_hours", op="eq", value="work_hours", next="open"
                    ),
                ),
                otherwise="closed",
            ),
            *(ExtensionNode(id=n, extension=n) for n in ("gold", "mobile", "other_did", "high", "open", "closed")),
        ),
    )


def _shanghai(*args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def _run_condition(caller: str = "010", did: str = "8000", wall: float = 0.0, **variables: str) -> str:
    router = Router(demo_routing())
    clock = ManualClock(epoch_offset=wall or _shanghai(2026, 11, 23, 10, 0))  # a Monday morning
    s = Script([_condition_flow()], clock=clock, period_of=router.period_of)
    s.start("cond", caller=caller, did=did, variables=variables)
    assert s.session.variables["greeting"] == f"hi {caller}"
    return s.one(TransferToExtension).extension


def test_condition_rules_in_order() -> None:
    assert _run_condition(tier="gold", caller="13900000000") == "gold"
    assert _run_condition(caller="13900000000") == "mobile"
    assert _run_condition(did="8002") == "other_did"
    assert _run_condition(score="95") == "high"
    assert _run_condition(score="abc") == "open"  # not a number: the numeric rule does not match
    assert _run_condition() == "open"
    assert _run_condition(wall=_shanghai(2026, 11, 23, 20, 0)) == "closed"
    assert _run_condition(wall=_shanghai(2026, 11, 22, 10, 0)) == "closed"  # Sunday


def test_voicemail_external_and_extension_transfers() -> None:
    flow = Flow(
        name="x",
        start="m",
        nodes=(
            MenuNode(
                id="m",
                prompt="p",
                options=(
                    MenuOption(digit="1", next="vm"),
                    MenuOption(digit="2", next="out"),
                    MenuOption(digit="3", next="ext"),
                ),
                invalid="vm",
                timeout="vm",
            ),
            VoicemailNode(id="vm", box="general"),
            ExternalNode(id="out", number="9${branch}"),
            ExtensionNode(id="ext", extension="1901"),
        ),
    )
    expected = {
        "1": (TransferToVoicemail(box="general"), ExitReason.VOICEMAIL),
        "2": (TransferToExternal(number="902150001234"), ExitReason.TRANSFERRED_EXTERNAL),
        "3": (TransferToExtension(extension="1901"), ExitReason.TRANSFERRED_TO_AGENT),
    }
    for key, (action, reason) in expected.items():
        s = Script([flow])
        s.start("x", variables={"branch": "02150001234"})
        _choose(s, key)
        assert s.last == [action]
        assert s.session.summary is not None and s.session.summary.exit_reason is reason


def test_vip_and_variables_reach_the_queue() -> None:
    s = Script(demo_flows())
    s.start("main", vip=True, variables={"crm_id": "77"})
    s.press("2")
    s.finish_prompt()
    transfer = s.one(TransferToQueue)
    assert transfer.vip is True
    assert transfer.variables["crm_id"] == "77"
    assert transfer.variables["caller"] == "13800138000"


# ---------------------------------------------------------------- journey, abandonment, versions, guards


def test_caller_hangs_up_in_menu_is_abandoned_and_logged() -> None:
    s = Script(demo_flows())
    _menu_ready(s)
    s.clock.advance(3)
    s.send(CallerHungUp())
    summary = s.session.summary
    assert summary is not None
    assert summary.exit_reason is ExitReason.ABANDONED
    assert summary.last_node == "menu"
    assert summary.duration == 3
    events = s.session.drain_events()
    topics = [e.topic for e in events]
    assert topics[0] == "ivr.started" and topics[-1] == "ivr.ended"
    steps = [e.to_dict() for e in events if e.topic == "ivr.step"]
    assert [d["kind"] for d in steps] == [
        "node_entered",
        "prompt_finished",
        "node_entered",
        "prompt_finished",
        "exit",
    ]
    assert [d["seq"] for d in steps] == [1, 2, 3, 4, 5]
    assert s.send(CallerHungUp()) == []  # nothing happens after the end


def test_call_in_progress_keeps_its_flow_version() -> None:
    repo = demo_repository()
    s_old = Script(repo.snapshot())  # the call pins the snapshot current when it arrived
    s_old.start("main")
    s_old.finish_prompt()
    s_old.finish_prompt()

    edited = main_flow()
    menu = edited.node("menu")
    assert isinstance(menu, MenuNode)
    new_menu = dataclasses.replace(menu, options=(MenuOption(digit="1", next="to_support"), *menu.options[1:]))
    stored = repo.publish(dataclasses.replace(edited, nodes=(edited.nodes[0], new_menu, *edited.nodes[2:])))
    assert stored.version == 2

    s_old.press("1")
    s_old.finish_prompt()
    assert s_old.one(TransferToQueue).queue == "sales"  # still version 1
    assert s_old.session.summary is not None and s_old.session.summary.entry_flow_version == 1

    s_new = Script(repo.snapshot())
    s_new.start("main")
    s_new.press("1")
    s_new.finish_prompt()
    assert s_new.one(TransferToQueue).queue == "support"
    assert s_new.session.summary is not None and s_new.session.summary.entry_flow_version == 2
    assert [f.version for f in repo.versions("main")] == [1, 2]


def test_loop_without_input_is_stopped_at_run_time() -> None:
    flow = Flow(
        name="loop",
        start="a",
        nodes=(
            SetVariableNode(id="a", variable="x", value="1", next="b"),
            SetVariableNode(id="b", variable="y", value="2", next="a"),
        ),
    )
    s = Script([flow])
    s.start("loop")
    assert s.one(Hangup).reason == "flow_loop"
    assert s.session.summary is not None and s.session.summary.exit_reason is ExitReason.FAILED


def test_dangling_reference_at_run_time_fails_cleanly() -> None:
    flow = Flow(name="d", start="a", nodes=(PlayNode(id="a", prompt="welcome", next="nowhere"),))
    s = Script([flow])
    s.start("d")
    s.finish_prompt()
    assert s.one(Hangup).reason == "flow_error"


def test_type_ahead_answers_several_questions_in_a_row() -> None:
    flow = Flow(
        name="fast",
        start="hello",
        nodes=(
            PlayNode(id="hello", prompt="welcome", next="m"),
            MenuNode(id="m", prompt="main_menu", options=(MenuOption(digit="3", next="acct"),), invalid="m",
                     timeout="m"),
            CollectNode(id="acct", prompt="enter_account", variable="account", min_digits=2, max_digits=6,
                        next="done"),
            ExtensionNode(id="done", extension="1901"),
        ),
    )
    s = Script([flow])
    s.start("fast")
    s.press("3")  # interrupts the welcome; the menu is answered without its prompt
    s.press("42#")  # arrives while the account prompt plays: barges in and is collected
    assert s.one(TransferToExtension).extension == "1901"
    assert s.session.variables["account"] == "42"
    played = [a.prompts for a in s.actions if isinstance(a, Play)]
    assert played == [("welcome",), ("enter_account",)]



def test_keys_pressed_while_a_business_system_answers_are_typed_ahead() -> None:
    flow = Flow(
        name="busy",
        start="ask",
        nodes=(
            HttpNode(id="ask", url="http://crm.example/x", next="m", fallback="m"),
            MenuNode(id="m", prompt="main_menu", options=(MenuOption(digit="3", next="acct"),), invalid="m",
                     timeout="m"),
            CollectNode(id="acct", prompt="enter_account", variable="account", min_digits=2, max_digits=6,
                        next="done"),
            ExtensionNode(id="done", extension="1901"),
        ),
    )
    s = Script([flow])
    s.start("busy")
    request = s.one(HttpRequest)
    assert s.press("342#") == []
    s.send(HttpResult(request_id=request.request_id, status=200, body="{}"))
    assert s.one(TransferToExtension).extension == "1901"
    assert s.session.variables["account"] == "42"
    assert not [a for a in s.actions if isinstance(a, Play)]  # both questions answered before they were asked


def test_session_must_be_started_first() -> None:
    s = Script(demo_flows())
    with pytest.raises(RuntimeError):
        s.send(CallerHungUp())


def test_a_flow_keeps_the_version_the_store_gave_it() -> None:
    repo = demo_repository()
    stored = repo.publish(dataclasses.replace(main_flow(), version=7))  # the store's own number
    assert stored.version == 7 and repo.snapshot().flows["main"] == stored
    assert repo.publish(main_flow()).version == 8  # never backwards
