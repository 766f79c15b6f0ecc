"""Toll-fraud guards on calls out to the network: the policy alone, then real call control (the call-control
harness: the real controller, ACD, router and stores around fake legs, in virtual time)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.calls import events as E
from appliance.calls.toll_fraud import SETTING, OutboundGuard, OutboundPolicy, within
from appliance.domain import models as m
from appliance.errors import ValidationFailed
from appliance.legs.causes import Cause
from tests.api_client import Client
from tests.calls.harness import Harness, Phone, control_test

ABROAD = "00442071234567"  # international
PREMIUM = "16812345678"
INTL = m.DialClass.INTERNATIONAL


def test_the_policy_names_every_bad_field() -> None:
    assert OutboundPolicy.parse(None) == OutboundPolicy()
    policy = OutboundPolicy.parse({"max_per_minute": 30, "hours": {"international": [8, 20]}})
    assert policy.max_per_minute == 30 and policy.hours == {"international": (8, 20)}
    with pytest.raises(ValidationFailed) as exc:
        OutboundPolicy.parse({"max_per_minute": -1, "colour": 1, "max_concurrent_per_trunk": True,
                              "hours": {"galactic": [1, 2], "national": [9, 9], "local": "day"}})
    assert sorted((e.field, e.rule) for e in exc.value.errors) == [
        ("toll_fraud.colour", "unknown"), ("toll_fraud.hours.galactic", "choice"),
        ("toll_fraud.hours.local", "hours"), ("toll_fraud.hours.national", "hours"),
        ("toll_fraud.max_concurrent_per_trunk", "range"), ("toll_fraud.max_per_minute", "range")]


def test_hours_may_wrap_past_midnight() -> None:
    assert [h for h in range(24) if within((8, 20), h)] == list(range(8, 20))
    assert [h for h in range(24) if within((20, 8), h)] == [*range(0, 8), *range(20, 24)]


def test_rate_concurrency_and_burst() -> None:
    policy = OutboundPolicy(max_per_minute_per_extension=3, max_per_minute=5, max_concurrent_per_extension=2,
                            burst_international=3, burst_window=60)
    guard = OutboundGuard()
    refusals = []
    for i in range(4):
        guard.attempt(policy, "1001", "local", float(i))
        refusals.append(guard.check(policy, "1001", m.DialClass.LOCAL, 12, active=0))
    assert [r.rule if r else None for r in refusals] == [None, None, None, "rate_limited"]
    assert guard.check(policy, "1002", m.DialClass.LOCAL, 12, active=2).rule == "too_many_calls"  # type: ignore[union-attr]
    guard.attempt(policy, "1002", "local", 5.0)
    guard.attempt(policy, "1003", "local", 5.0)
    assert guard.check(policy, "1003", m.DialClass.LOCAL, 12, active=0).rule == "rate_limited"  # type: ignore[union-attr]
    assert guard.check(policy, "1003", m.DialClass.LOCAL, 12, active=0) is not None
    # a minute later everything is forgotten
    guard.attempt(policy, "1003", "local", 100.0)
    assert guard.check(policy, "1003", m.DialClass.LOCAL, 12, active=0) is None
    # expensive attempts: one alarm per window, whoever makes them
    bursts = [guard.attempt(policy, f"10{i % 3}", "international", 200.0 + i) for i in range(8)]
    assert bursts == [None, None, 3, None, None, None, None, None]
    assert guard.attempt(policy, "1001", "premium", 263.0) == 6  # the next window: 203-263


# ---- real call control


async def guarded(h: Harness, extension: str = "1001", **limits: Any) -> None:
    await h.store.set_settings(**{SETTING: limits})
    await h.change("extensions", extension, dial_class=INTL)


def went_out(h: Harness, number: str) -> int:
    return len(h.legs_to(number))


def barred(caller: Phone, rule: str, h: Harness) -> None:
    assert ("reject", Cause.OUTGOING_CALL_BARRED) in caller.leg.commands
    assert h.cdrs()[-1]["hangup_cause"] == rule


@control_test
async def test_an_extension_calling_abroad_too_fast_is_barred(h: Harness) -> None:
    await guarded(h, max_per_minute_per_extension=2)
    for _ in range(2):
        await h.dial("1001", ABROAD)
        h.phone(ABROAD).hang_up()
        await h.settle()
    assert went_out(h, ABROAD) == 2
    caller = await h.dial("1001", ABROAD)
    assert went_out(h, ABROAD) == 2
    barred(caller, "rate_limited", h)
    await h.advance(61)
    await h.dial("1001", ABROAD)
    assert went_out(h, ABROAD) == 3
    await h.hang_up_all()


@control_test
async def test_an_extension_may_hold_only_so_many_calls_out_at_once(h: Harness) -> None:
    await guarded(h, max_concurrent_per_extension=1)
    first = await h.dial("1001", ABROAD)
    assert went_out(h, ABROAD) == 1 and not first.leg.ended
    second = await h.dial("1001", "00861088886666")
    barred(second, "too_many_calls", h)
    await h.hang_up_all()


@control_test
async def test_a_trunk_carries_only_so_many_calls_out(h: Harness) -> None:
    await guarded(h, max_concurrent_per_trunk=1)
    await h.change("extensions", "1002", dial_class=INTL)
    await h.dial("1001", ABROAD)
    await h.dial("1002", "00861088886666")
    assert went_out(h, ABROAD) == 1 and went_out(h, "00861088886666") == 0
    assert h.cdrs()[-1]["hangup_cause"] == "trunk_busy"
    await h.hang_up_all()


@control_test
async def test_international_calls_only_in_their_hours(h: Harness) -> None:
    zone = ZoneInfo(str(h.store.settings["time_zone"]))
    hour = datetime.fromtimestamp(h.clock.wall(), zone).hour
    await guarded(h, hours={"international": [(hour + 1) % 24, (hour + 3) % 24]})
    caller = await h.dial("1001", ABROAD)
    barred(caller, "outside_hours", h)
    assert went_out(h, ABROAD) == 0
    await h.store.set_settings(**{SETTING: {"hours": {"international": [hour, (hour + 1) % 24]}}})
    await h.dial("1001", ABROAD)
    assert went_out(h, ABROAD) == 1
    await h.hang_up_all()


@control_test
async def test_a_burst_of_expensive_attempts_raises_the_alarm_once(h: Harness) -> None:
    await guarded(h, burst_international=3, burst_window=300, max_per_minute_per_extension=0)
    await h.change("extensions", "1002", dial_class=m.DialClass.LOCAL)  # barred by its class: still counted
    for extension, number in (("1002", ABROAD), ("1001", PREMIUM), ("1001", ABROAD), ("1001", ABROAD)):
        await h.dial(extension, number)
        await h.hang_up_all()
    [alarm] = h.published(E.TollFraudSuspected)
    assert (alarm.attempts, alarm.window_s, alarm.extension, alarm.number_class) == (3, 300, "1001", "international")


async def test_the_limits_are_read_and_changed_through_the_api_and_audited(admin: Client) -> None:
    status, policy = await admin.call("GET", "/api/v1/security/toll-fraud")
    assert status == 200 and policy == OutboundPolicy().to_dict()
    status, body = await admin.call("PATCH", "/api/v1/security/toll-fraud",
                                    {"max_per_minute": -3, "hours": {"international": [9, 9]}})
    assert status == 422
    assert sorted(f["field"] for f in body["details"]["fields"]) == ["toll_fraud.hours.international",
                                                                     "toll_fraud.max_per_minute"]
    status, policy = await admin.call("PATCH", "/api/v1/security/toll-fraud",
                                      {"max_per_minute": 30, "hours": {"international": [8, 20]}})
    assert status == 200 and policy["max_per_minute"] == 30 and policy["hours"] == {"international": [8, 20]}
    assert policy["max_concurrent_per_extension"] == OutboundPolicy().max_concurrent_per_extension  # kept
    # what call control reads for the next call
    assert admin.appliance.core.store.settings[SETTING]["max_per_minute"] == 30
    _, audit = await admin.call("GET", f"/api/v1/audit?kind=settings&key={SETTING}")
    assert any(e["key"] == SETTING and e["after"]["max_per_minute"] == 30 for e in audit["items"])
