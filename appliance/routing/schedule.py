"""Which time period a moment falls in, for one schedule, in the schedule's own time zone (zoneinfo).

Order of precedence: a holiday is a holiday all day (even on a weekday); a special working day uses the
special (or ordinary) work hours even on a weekend; otherwise a non-work weekday is weekend all day, and a
work day is split into work hours and off hours. Configuration strings are parsed once in
`CompiledSchedule`; `classify` is then a few comparisons per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from appliance.routing.models import Schedule, TimeRange

MAX_HOLIDAY_SPAN_DAYS = 366


class TimePeriod(StrEnum):
    WORK_HOURS = "work_hours"
    OFF_HOURS = "off_hours"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    SPECIAL_WORKDAY = "special_workday"


def parse_minutes(text: str) -> int:
    """"HH:MM" → minutes after midnight; "24:00" is the end of the day."""
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"not a time of day: {text!r}")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise ValueError(f"not a time of day: {text!r}")
    return value


def _ranges(ranges: tuple[TimeRange, ...]) -> tuple[tuple[int, int], ...]:
    return tuple((parse_minutes(r.start), parse_minutes(r.end)) for r in ranges)


@dataclass(frozen=True)
class CompiledSchedule:
    name: str
    zone: ZoneInfo
    work_days: frozenset[int]
    work_hours: tuple[tuple[int, int], ...]
    special_hours: tuple[tuple[int, int], ...]
    holidays: frozenset[date]
    special_workdays: frozenset[date]

    @classmethod
    def of(cls, schedule: Schedule) -> CompiledSchedule:
        holidays: set[date] = set()
        for h in schedule.holidays:
            first = date.fromisoformat(h.date)
            last = date.fromisoformat(h.end_date) if h.end_date else first
            if not 0 <= (last - first).days <= MAX_HOLIDAY_SPAN_DAYS:
                raise ValueError(f"holiday {h.date}..{h.end_date} is not a forward range of at most a year")
            holidays.update(first + timedelta(days=n) for n in range((last - first).days + 1))
        work_hours = _ranges(schedule.work_hours)
        return cls(
            name=schedule.name,
            zone=ZoneInfo(schedule.timezone),
            work_days=frozenset(schedule.work_days),
            work_hours=work_hours,
            special_hours=_ranges(schedule.special_workday_hours) or work_hours,
            holidays=frozenset(holidays),
            special_workdays=frozenset(date.fromisoformat(s.date) for s in schedule.special_workdays),
        )

    def local(self, wall: float) -> datetime:
        return datetime.fromtimestamp(wall, self.zone)

    def classify(self, wall: float) -> TimePeriod:
        now = self.local(wall)
        today = now.date()
        minute = now.hour * 60 + now.minute
        if today in self.holidays:
            return TimePeriod.HOLIDAY
        if today in self.special_workdays:
            inside = any(a <= minute < b for a, b in self.special_hours)
            return TimePeriod.SPECIAL_WORKDAY if inside else TimePeriod.OFF_HOURS
        if now.isoweekday() not in self.work_days:
            return TimePeriod.WEEKEND
        inside = any(a <= minute < b for a, b in self.work_hours)
        return TimePeriod.WORK_HOURS if inside else TimePeriod.OFF_HOURS


def classify(schedule: Schedule, wall: float) -> TimePeriod:
    """One-off classification (tests, the UI's "what period is it now" preview)."""
    return CompiledSchedule.of(schedule).classify(wall)
