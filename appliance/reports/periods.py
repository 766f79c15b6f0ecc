"""Local periods over UTC half-hours: which hour, day, ISO week or month of the box's time zone a roll-up's
half-hour belongs to, daylight saving included (a day may have 46 or 50 half-hours, an hour repeats).

A period is named by the epoch second of its local start, so the repeated 01:00 of a night when the clocks go
back is two hours, not one of two hours' length."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.reports.models import Period
from appliance.reports.rollups import SLOT


def period_start(slot: int, period: Period, zone: ZoneInfo) -> int:
    if period is Period.HALF_HOUR:
        return slot
    local = datetime.fromtimestamp(slot, zone)
    if period is Period.HOUR:  # `replace` keeps `fold`: the second 01:00 stays the second
        return int(local.replace(minute=0, second=0, microsecond=0).timestamp())
    day = local.date()
    if period is Period.WEEK:
        day -= timedelta(days=day.weekday())
    elif period is Period.MONTH:
        day = day.replace(day=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def slot_periods(start: int, end: int, period: Period, zone: ZoneInfo) -> list[tuple[int, int]]:
    """(half-hour, its period's start) for every half-hour in [start, end)."""
    return [(slot, period_start(slot, period, zone)) for slot in range(start - start % SLOT, end, SLOT)]


def label(at: float, zone: ZoneInfo) -> str:
    """The local time with its UTC offset (which tells the two 01:00 of a night when the clocks go back)."""
    return datetime.fromtimestamp(at, zone).isoformat()
