"""Time periods in the schedule's own time zone: holiday lists, special working days, week boundaries."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.routing.models import Holiday, Schedule, SpecialWorkday, TimeRange
from appliance.routing.schedule import CompiledSchedule, TimePeriod, classify, parse_minutes

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The 2026 Spring Festival as the State Council's calendar shapes it: a week off, and a Saturday
# and a Sunday around it worked instead (dates chosen for the test, the shape is what matters).
CALENDAR = Schedule(
    name="cn",
    work_hours=(TimeRange(start="09:00", end="12:00"), TimeRange(start="13:30", end="18:00")),
    special_workday_hours=(TimeRange(start="09:00", end="17:00"),),
    holidays=(
        Holiday(date="2026-02-15", end_date="2026-02-23", name="春节"),
        Holiday(date="2026-04-05", name="清明节"),
    ),
    special_workdays=(SpecialWorkday(date="2026-02-14", name="春节调休"), SpecialWorkday(date="2026-02-28")),
)


def at(*args: int, zone: ZoneInfo = SHANGHAI) -> float:
    return datetime(*args, tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("moment", "period"),
    [
        ((2026, 2, 13, 10, 0), TimePeriod.WORK_HOURS),  # Friday before the holiday
        ((2026, 2, 13, 12, 30), TimePeriod.OFF_HOURS),  # lunch break between the two ranges
        ((2026, 2, 13, 18, 0), TimePeriod.OFF_HOURS),  # the end is exclusive
        ((2026, 2, 14, 10, 0), TimePeriod.SPECIAL_WORKDAY),  # Saturday worked instead
        ((2026, 2, 14, 17, 30), TimePeriod.OFF_HOURS),  # after the special working day's shorter hours
        ((2026, 2, 15, 10, 0), TimePeriod.HOLIDAY),  # first day of the range (a Sunday)
        ((2026, 2, 18, 10, 0), TimePeriod.HOLIDAY),  # a Wednesday in the middle, during work hours
        ((2026, 2, 23, 23, 59), TimePeriod.HOLIDAY),  # last minute of the range's last day
        ((2026, 2, 24, 9, 0), TimePeriod.WORK_HOURS),  # back to work
        ((2026, 2, 28, 9, 30), TimePeriod.SPECIAL_WORKDAY),
        ((2026, 3, 1, 9, 30), TimePeriod.WEEKEND),  # an ordinary Sunday
        ((2026, 4, 5, 10, 0), TimePeriod.HOLIDAY),  # a one-day holiday
    ],
)
def test_chinese_calendar(moment: tuple[int, ...], period: TimePeriod) -> None:
    assert classify(CALENDAR, at(*moment)) is period


def test_week_boundary_is_local_not_utc() -> None:
    schedule = CompiledSchedule.of(Schedule(name="d"))
    # Sunday 23:59 and Monday 00:00 in Shanghai are both Sunday afternoon in UTC.
    sunday_late = at(2026, 11, 29, 23, 59)
    monday_start = at(2026, 11, 30, 0, 0)
    assert datetime.fromtimestamp(monday_start, ZoneInfo("UTC")).weekday() == 6
    assert schedule.classify(sunday_late) is TimePeriod.WEEKEND
    assert schedule.classify(monday_start) is TimePeriod.OFF_HOURS
    # Monday 09:00 Shanghai is Monday 01:00 UTC: open; Friday 17:59 Shanghai open, 18:00 closed.
    assert schedule.classify(at(2026, 11, 30, 9, 0)) is TimePeriod.WORK_HOURS
    assert schedule.classify(at(2026, 12, 4, 17, 59)) is TimePeriod.WORK_HOURS
    assert schedule.classify(at(2026, 12, 4, 18, 0)) is TimePeriod.OFF_HOURS
    # Friday 23:59 → Saturday 00:00 turns off hours into weekend.
    assert schedule.classify(at(2026, 12, 4, 23, 59)) is TimePeriod.OFF_HOURS
    assert schedule.classify(at(2026, 12, 5, 0, 0)) is TimePeriod.WEEKEND


def test_same_instant_differs_by_configured_time_zone() -> None:
    instant = at(2026, 11, 30, 9, 30)  # Monday 09:30 in Shanghai = Monday 02:30 in Paris
    assert classify(Schedule(name="cn"), instant) is TimePeriod.WORK_HOURS
    assert classify(Schedule(name="fr", timezone="Europe/Paris"), instant) is TimePeriod.OFF_HOURS
    # A holiday is a local date: 1 October starts at 00:00 in Shanghai, which is 30 September in UTC.
    national_day = Schedule(name="cn", holidays=(Holiday(date="2026-10-01"),))
    assert classify(national_day, at(2026, 10, 1, 0, 30)) is TimePeriod.HOLIDAY
    assert classify(national_day, at(2026, 9, 30, 23, 59)) is TimePeriod.OFF_HOURS


def test_custom_work_days_and_midnight_end() -> None:
    six_days = Schedule(name="shop", work_days=(1, 2, 3, 4, 5, 6),
                        work_hours=(TimeRange(start="08:00", end="24:00"),))
    assert classify(six_days, at(2026, 11, 28, 23, 59)) is TimePeriod.WORK_HOURS  # Saturday late
    assert classify(six_days, at(2026, 11, 29, 12, 0)) is TimePeriod.WEEKEND


def test_time_parsing() -> None:
    assert parse_minutes("00:00") == 0
    assert parse_minutes("24:00") == 1440
    for bad in ("9", "25:00", "12:60", "ab:cd", "12:5"):
        with pytest.raises(ValueError):
            parse_minutes(bad)
