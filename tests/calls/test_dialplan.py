"""Dialling permissions (toll fraud) and feature codes."""

from __future__ import annotations

import pytest

from appliance.calls.dialplan import NumberClass, classify, may_dial, normalise
from appliance.calls.feature_codes import Feature, parse
from appliance.domain.models import DialClass

EXTENSIONS = frozenset({"1001", "1002", "1901"})


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("1001", NumberClass.EXTENSION),
        ("*11*1001*4321", NumberClass.FEATURE),
        ("110", NumberClass.EMERGENCY),
        ("120", NumberClass.EMERGENCY),
        ("88886666", NumberClass.LOCAL),
        ("6688123", NumberClass.LOCAL),
        ("01088886666", NumberClass.NATIONAL),
        ("075512345678", NumberClass.NATIONAL),
        ("+861088886666", NumberClass.NATIONAL),
        ("13800138000", NumberClass.MOBILE),
        ("+8613800138000", NumberClass.MOBILE),
        ("4008001234", NumberClass.SERVICE),
        ("95588", NumberClass.SERVICE),
        ("0012125551234", NumberClass.INTERNATIONAL),
        ("+12125551234", NumberClass.INTERNATIONAL),
        ("16812345678", NumberClass.PREMIUM),
        ("125901234", NumberClass.PREMIUM),
        ("12", NumberClass.UNKNOWN),
    ],
)
def test_chinese_numbering_plan_classes(number: str, expected: NumberClass) -> None:
    assert classify(number, EXTENSIONS) == expected


def test_normalise_strips_formatting_and_the_country_code() -> None:
    assert normalise("+86 10 8888-6666") == "01088886666"
    assert normalise("(0755) 1234 5678") == "075512345678"
    assert normalise("0086 138 0013 8000") == "13800138000"


def test_internal_class_may_only_dial_extensions_and_emergency() -> None:
    assert may_dial(DialClass.INTERNAL, "1002", EXTENSIONS).allowed
    assert may_dial(DialClass.INTERNAL, "110", EXTENSIONS).allowed
    assert not may_dial(DialClass.INTERNAL, "88886666", EXTENSIONS).allowed


def test_no_international_or_premium_unless_allowed() -> None:
    for number in ("0012125551234", "+442071234567", "16812345678", "12"):
        assert not may_dial(DialClass.NATIONAL, number).allowed, number
        assert may_dial(DialClass.INTERNATIONAL, number).allowed, number
    decision = may_dial(DialClass.NATIONAL, "13800138000")
    assert decision.allowed and decision.required == DialClass.NATIONAL


def test_local_class_cannot_dial_long_distance() -> None:
    assert may_dial(DialClass.LOCAL, "88886666").allowed
    assert not may_dial(DialClass.LOCAL, "01088886666").allowed
    assert not may_dial(DialClass.LOCAL, "13800138000").allowed


@pytest.mark.parametrize(
    ("dialled", "feature", "args", "missing"),
    [
        ("*11*1001*4321", Feature.AGENT_LOGIN, ("1001", "4321"), 0),
        ("*11", Feature.AGENT_LOGIN, (), 2),
        ("*11*1001#", Feature.AGENT_LOGIN, ("1001",), 1),
        ("*12", Feature.AGENT_LOGOUT, (), 0),
        ("*13*2", Feature.PAUSE, ("2",), 0),
        ("*14", Feature.UNPAUSE, (), 0),
        ("*15", Feature.ECHO_TEST, (), 0),
        ("*31*1001", Feature.LISTEN, ("1001",), 0),
        ("*32*1001", Feature.WHISPER, ("1001",), 0),
        ("*33*1001", Feature.BARGE, ("1001",), 0),
        ("*34*1001", Feature.TAKE_OVER, ("1001",), 0),
        ("*35*1001", Feature.FORCE_IDLE, ("1001",), 0),
        ("*36*1001", Feature.FORCE_BUSY, ("1001",), 0),
        ("*37*1001", Feature.FORCE_LOGOUT, ("1001",), 0),
    ],
)
def test_feature_codes(dialled: str, feature: Feature, args: tuple[str, ...], missing: int) -> None:
    request = parse(dialled)
    assert request is not None
    assert (request.feature, request.args, request.missing) == (feature, args, missing)


@pytest.mark.parametrize("dialled", ["1001", "*99", "*12*1", "*13*a", "*11*1*2*3", ""])
def test_what_is_not_a_feature_code(dialled: str) -> None:
    assert parse(dialled) is None
