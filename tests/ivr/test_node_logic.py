"""The pure pieces the session delegates to, checked on their own: questions, answers, conditions, HTTP."""

from __future__ import annotations

from appliance.ivr.actions import CaptureCallback, SetLanguage, TransferToVoicemail
from appliance.ivr.audio import spoken
from appliance.ivr.collection import (
    Choice,
    Entry,
    More,
    Question,
    after_retries,
    answer_choice,
    answer_entry,
    input_spec,
)
from appliance.ivr.handover import handover
from appliance.ivr.inputs import HttpResult
from appliance.ivr.journey import ExitReason, StepKind
from appliance.ivr.models import (
    CallbackNode,
    CollectNode,
    ConditionNode,
    ConditionRule,
    HttpNode,
    LanguageNode,
    MenuNode,
    PlayNode,
    ResultMapping,
    SurveyNode,
    VoicemailNode,
)
from appliance.ivr.selfservice import CallFacts, branch, read_result


def test_a_digit_string_ends_on_the_terminator_the_maximum_or_the_timeout() -> None:
    q = Question(input_spec(CollectNode(id="n", variable="acct", max_digits=3)))
    assert q.timed_out() is None  # no keys: no answer
    assert q.accept("1") == More(q.spec.inter_timeout)
    assert q.timed_out() == Entry("1", terminated=False)
    assert q.accept("#") == Entry("1", terminated=True)
    assert q.accept("2") == More(q.spec.inter_timeout) and q.accept("3") == Entry("123", terminated=False)


def test_a_single_key_question_takes_the_first_key() -> None:
    q = Question(input_spec(MenuNode(id="m")))
    assert q.accept("5") == Choice("5")
    assert q.wait() == q.spec.first_timeout


def test_answers_say_what_they_set_and_where_they_go() -> None:
    lang = answer_choice(LanguageNode(id="l", next="n"), "2")
    assert lang is not None and lang.action == SetLanguage(language="en") and lang.next == "n"
    assert answer_choice(SurveyNode(id="s"), "7") is None
    collect = CollectNode(id="c", variable="pin", min_digits=4, max_digits=4, pattern=r"\d+", next="ok")
    accepted = answer_entry(collect, "1234", False, "")
    assert accepted is not None and accepted.variables == (("pin", "1234"),)
    assert answer_entry(collect, "12", False, "") is None
    callback = answer_entry(CallbackNode(id="cb"), "", True, "13800138000")  # only the terminator
    assert callback is not None and callback.action == CaptureCallback(number="13800138000")
    assert callback.step is StepKind.CALLBACK


def test_used_up_retries_go_to_the_failure_branch_or_on() -> None:
    assert after_retries(MenuNode(id="m", invalid="op"), "invalid") == "op"
    assert after_retries(MenuNode(id="m"), "timeout") is None
    assert after_retries(SurveyNode(id="s", next="bye"), "timeout") == "bye"


def test_conditions_and_http_answers() -> None:
    node = ConditionNode(
        id="c",
        rules=(ConditionRule(subject="variable", name="n", op="gt", value="5", next="big"),),
        otherwise="small",
    )
    facts = CallFacts("138", "8000", lambda _schedule: "")
    assert branch(node, {"n": "7"}, facts) == ("rule 0 → big", "big")
    assert branch(node, {"n": "x"}, facts)[1] == "small"
    http = HttpNode(id="h", url="http://crm", results=(ResultMapping(path="data.0.v", variable="v"),))
    assert read_result(http, HttpResult(request_id=1, status=200, body='{"data": [{"v": 2.0}]}')) == {"v": "2"}
    assert read_result(http, HttpResult(request_id=1, status=200, body="{}")) == "missing data.0.v"
    assert read_result(http, HttpResult(request_id=1, status=503, body="")) == "status 503"


def test_audio_and_hand_over() -> None:
    play = PlayNode(id="p", prompt="hello", tts=" ", say_digits="${n}#")
    assert spoken(play.prompt, play.tts, play.say_digits, {"n": "12"}) == [
        ("prompt", "hello"), ("prompt", "digit_1"), ("prompt", "digit_2"), ("prompt", "key_pound"),
    ]
    assert handover(play, {}, False) is None
    assert handover(VoicemailNode(id="v", box="general"), {}, False) == (
        TransferToVoicemail(box="general"), ExitReason.VOICEMAIL, "general",
    )
