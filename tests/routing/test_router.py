"""Inbound routing decisions: per-period destinations with fallbacks, VIP access numbers, blacklist
treatments, unknown DIDs, and configuration validation."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.errors import ValidationFailed
from appliance.routing.events import CallRouted
from appliance.routing.models import (
    AccessNumber,
    BlacklistEntry,
    BlacklistTreatment,
    Destination,
    Holiday,
    PeriodRoute,
    RoutingConfig,
    Schedule,
    SpecialWorkday,
    TimeRange,
)
from appliance.routing.router import Router, normalise_number
from appliance.routing.schedule import TimePeriod
from appliance.routing.validation import routing_from_data, validate_routing


def at(*args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


MAIN = Destination(kind="flow", target="main")
CLOSED = Destination(kind="flow", target="off_hours")
HOLIDAY = Destination(kind="voicemail", target="general")
SATURDAY = Destination(kind="queue", target="support", skill="weekend", priority=2)

SCHEDULE = Schedule(
    name="biz",
    holidays=(Holiday(date="2026-10-01", end_date="2026-10-07"),),
    special_workdays=(SpecialWorkday(date="2026-10-10"),),  # a Saturday
)


def _config(**kw: object) -> RoutingConfig:
    args: dict[str, object] = {
        "schedules": (SCHEDULE,),
        "access_numbers": (
            AccessNumber(
                number="8000",
                schedule="biz",
                routes=(
                    PeriodRoute(period="work_hours", destination=MAIN),
                    PeriodRoute(period="off_hours", destination=CLOSED),
                    PeriodRoute(period="holiday", destination=HOLIDAY),
                ),
                default=CLOSED,
            ),
            AccessNumber(
                number="+86 21 8000 9999",
                vip=True,
                language="en",
                schedule="biz",
                routes=(
                    PeriodRoute(period="work_hours", destination=Destination(kind="queue", target="vip")),
                    PeriodRoute(period="weekend", destination=SATURDAY),
                    PeriodRoute(period="special_workday", destination=Destination(kind="extension", target="1901")),
                ),
                default=Destination(kind="external", target="13900000000"),
            ),
        ),
        "blacklist": (
            BlacklistEntry(number="13800000001"),
            BlacklistEntry(number="+86 170", match="prefix", note="virtual operators"),
        ),
        "blacklist_treatment": BlacklistTreatment(action="reject", sip_status=603),
    }
    args.update(kw)
    return RoutingConfig(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wall", "period", "destination"),
    [
        (at(2026, 9, 30, 10, 0), TimePeriod.WORK_HOURS, MAIN),
        (at(2026, 9, 30, 19, 0), TimePeriod.OFF_HOURS, CLOSED),
        (at(2026, 10, 2, 10, 0), TimePeriod.HOLIDAY, HOLIDAY),  # a Friday, but National Day
        (at(2026, 10, 3, 10, 0), TimePeriod.HOLIDAY, HOLIDAY),  # Saturday inside the holiday
        (at(2026, 10, 10, 10, 0), TimePeriod.SPECIAL_WORKDAY, MAIN),  # falls back to the work-hours route
        (at(2026, 10, 10, 20, 0), TimePeriod.OFF_HOURS, CLOSED),
        (at(2026, 10, 11, 10, 0), TimePeriod.WEEKEND, CLOSED),  # no weekend route → off hours route
    ],
)
def test_period_routes_with_fallbacks(wall: float, period: TimePeriod, destination: Destination) -> None:
    decision = Router(_config()).route(did="8000", caller="13912345678", wall=wall)
    assert decision.known_did and not decision.blacklisted and not decision.vip
    assert (decision.period, decision.destination) == (period, destination)


def test_vip_access_number_with_own_routes_and_formatting_of_numbers() -> None:
    router = Router(_config())
    work = router.route(did="+862180009999", caller="13912345678", wall=at(2026, 9, 30, 10, 0))
    assert work.vip and work.language == "en"
    assert work.destination == Destination(kind="queue", target="vip")
    assert router.route(did="2180009999", caller="1", wall=at(2026, 10, 11, 10, 0)).destination == SATURDAY
    assert router.route(did="+86-21-8000-9999", caller="1", wall=at(2026, 10, 11, 10, 0)).destination == SATURDAY
    assert router.route(did="+862180009999", caller="1", wall=at(2026, 10, 10, 10, 0)).destination.target == "1901"
    # No route for off hours and none to fall back to: the default.
    late = router.route(did="+862180009999", caller="1", wall=at(2026, 9, 30, 22, 0))
    assert late.destination == Destination(kind="external", target="13900000000")


def test_blacklist_reject_exact_and_prefix_with_country_code() -> None:
    router = Router(_config())
    wall = at(2026, 9, 30, 10, 0)
    for caller in ("13800000001", "+86 138 0000 0001", "008613800000001", "17012345678", "+8617099999999"):
        decision = router.route(did="8000", caller=caller, wall=wall)
        assert decision.blacklisted and decision.reject and decision.sip_status == 603, caller
    for caller in ("13800000002", "1380000000", "", "anonymous"):
        assert not router.route(did="8000", caller=caller, wall=wall).blacklisted, caller


def test_blacklist_treatments_prompt_flow_hangup_and_per_did_override() -> None:
    wall = at(2026, 9, 30, 10, 0)
    prompt = Router(_config(blacklist_treatment=BlacklistTreatment(action="prompt", prompt="blacklisted")))
    d = prompt.route(did="8000", caller="13800000001", wall=wall)
    assert not d.reject and d.destination == Destination(kind="prompt", target="blacklisted")
    flow = Router(_config(blacklist_treatment=BlacklistTreatment(action="flow", flow="screening")))
    assert flow.route(did="8000", caller="13800000001", wall=wall).destination == Destination(
        kind="flow", target="screening"
    )
    hangup = Router(_config(blacklist_treatment=BlacklistTreatment(action="hangup")))
    d = hangup.route(did="8000", caller="13800000001", wall=wall)
    assert d.destination.kind == "hangup" and not d.reject

    base = _config()
    overridden = (
        AccessNumber(number="8000", schedule="biz", default=MAIN,
                     blacklist_treatment=BlacklistTreatment(action="prompt", prompt="blacklisted")),
    )
    d = Router(_config(access_numbers=overridden)).route(did="8000", caller="13800000001", wall=wall)
    assert d.destination.kind == "prompt" and base.blacklist_treatment.action == "reject"


def test_unknown_did_and_period_of() -> None:
    router = Router(_config(unknown_did=Destination(kind="prompt", target="invalid")))
    d = router.route(did="1234", caller="139", wall=0)
    assert not d.known_did and d.period is None and d.destination.target == "invalid"
    assert router.period_of("biz", at(2026, 10, 1, 10, 0)) == "holiday"
    assert router.period_of("nope", 0) == ""


def test_call_routed_event() -> None:
    decision = Router(_config()).route(did="8000", caller="139", wall=at(2026, 9, 30, 10, 0))
    event = CallRouted.of("c9", decision, at=1.0).to_dict()
    assert event["topic"] == "routing.call_routed"
    assert (event["period"], event["destination_kind"], event["destination"]) == ("work_hours", "flow", "main")


def test_normalise_number() -> None:
    assert normalise_number(" tel:+86 (21) 8000-9999 ") == "+862180009999"
    assert normalise_number("8000") == "8000"


def test_validation_names_the_broken_items() -> None:
    broken = _config(
        schedules=(
            Schedule(
                name="biz",
                timezone="Mars/Olympus",
                work_days=(0, 1),
                work_hours=(TimeRange(start="18:00", end="09:00"), TimeRange(start="9", end="10:00")),
                holidays=(Holiday(date="2026-13-01"), Holiday(date="2026-10-07", end_date="2026-10-01"),
                          Holiday(date="2026-05-01")),
                special_workdays=(SpecialWorkday(date="2026-05-01"),),
            ),
        ),
        access_numbers=(
            AccessNumber(number="8000", schedule="nope", default=Destination(kind="queue", target="billing")),
            AccessNumber(number="8000", schedule="biz", default=Destination(kind="flow")),
        ),
    )
    errors = validate_routing(broken, known_flows=["main"], known_queues=["sales"])
    rules = {(e.field, e.rule) for e in errors}
    expected = {
        ("schedules.0.timezone", "unknown_timezone"),
        ("schedules.0.work_days.0", "range"),
        ("schedules.0.work_hours.0", "range"),
        ("schedules.0.work_hours.1", "invalid_time"),
        ("schedules.0.holidays.0", "invalid_date"),
        ("schedules.0.holidays.1.end_date", "range"),
        ("schedules.0.special_workdays.0", "conflict"),
        ("access_numbers.0.schedule", "unknown_schedule"),
        ("access_numbers.0.default.target", "unknown_queue"),
        ("access_numbers.1.number", "duplicate"),
        ("access_numbers.1.default.target", "required"),
    }
    assert expected <= rules, rules - expected
    queue = next(e for e in errors if e.rule == "unknown_queue")
    assert "'8000'" in queue.message and "'billing'" in queue.message
    assert "接入号 '8000'" in queue.message_zh and "队列 'billing' 不存在" in queue.message_zh


def test_routing_from_json_data() -> None:
    config = routing_from_data(
        {
            "schedules": [{"name": "biz", "holidays": [{"date": "2026-10-01"}]}],
            "access_numbers": [{"number": "8000", "schedule": "biz", "vip": True,
                                "routes": [{"period": "holiday", "destination": {"kind": "voicemail",
                                                                                  "target": "general"}}],
                                "default": {"kind": "flow", "target": "main"}}],
        }
    )
    decision = Router(config).route(did="8000", caller="1", wall=at(2026, 10, 1, 9, 0))
    assert decision.vip and decision.destination == HOLIDAY
    with pytest.raises(ValidationFailed) as info:
        routing_from_data({"access_numbers": [{"number": "1", "default": {"kind": "teleport"}}]})
    assert info.value.errors[0].field.startswith("access_numbers.0.default.kind")
