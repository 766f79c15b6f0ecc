"""Routing configuration: schedules, access numbers (DIDs), destinations, blacklist.

Frozen dataclasses with plain typed fields, validated from JSON with a pydantic `TypeAdapter` at the edge
(`validation.py` adds the cross-reference rules). Weekdays are ISO numbers (1 = Monday ... 7 = Sunday),
dates ISO `YYYY-MM-DD`, times `HH:MM` local to the schedule's time zone (end exclusive, `24:00` allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, with_config

from appliance.ivr.models import Language

PeriodName = Literal["work_hours", "off_hours", "weekend", "holiday", "special_workday"]
DEFAULT_TIMEZONE = "Asia/Shanghai"


# Unknown fields in uploaded JSON are an error, not silently dropped.
FORBID_EXTRA = ConfigDict(extra="forbid")


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class TimeRange:
    start: str  # "09:00"
    end: str  # "18:00"


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class Holiday:
    """A public holiday (特殊节假日): one day, or `date`..`end_date` inclusive (e.g. the Spring Festival)."""

    date: str
    end_date: str = ""
    name: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class SpecialWorkday:
    """A weekend day that is a working day (特殊非节假日 / 调休上班), as Chinese calendars need."""

    date: str
    name: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    name: str
    timezone: str = DEFAULT_TIMEZONE
    work_days: tuple[int, ...] = (1, 2, 3, 4, 5)
    work_hours: tuple[TimeRange, ...] = (TimeRange(start="09:00", end="18:00"),)
    # Hours of a special working day; empty means the ordinary work hours.
    special_workday_hours: tuple[TimeRange, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    special_workdays: tuple[SpecialWorkday, ...] = ()


DestinationKind = Literal["flow", "queue", "extension", "voicemail", "external", "prompt", "hangup"]


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """Where a call goes. `target` is the flow, queue, extension, voicemail box, external number or prompt
    (`prompt`: answer, play it, hang up); `hangup` needs none."""

    kind: DestinationKind
    target: str = ""
    skill: str = ""  # queue only
    priority: int = 0  # queue only


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodRoute:
    period: PeriodName
    destination: Destination


BlacklistAction = Literal["reject", "hangup", "prompt", "flow"]


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class BlacklistTreatment:
    """`reject`: refuse before answering (SIP `sip_status`); `hangup`: answer and hang up at once;
    `prompt`: answer, play `prompt`, hang up; `flow`: send the call to IVR flow `flow`."""

    action: BlacklistAction = "reject"
    sip_status: int = 603
    prompt: str = ""
    flow: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class BlacklistEntry:
    number: str
    match: Literal["exact", "prefix"] = "exact"
    note: str = ""


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class AccessNumber:
    """One DID (接入号). `routes` say where calls go in each period; a period without a route falls back
    (special working day → work hours; weekend, holiday → off hours) and finally to `default`."""

    number: str
    name: str = ""
    vip: bool = False  # calls on a VIP access number queue with priority
    schedule: str = "default"
    language: Language = "zh-CN"
    routes: tuple[PeriodRoute, ...] = ()
    default: Destination
    blacklist_treatment: BlacklistTreatment | None = None  # None: the global treatment


@with_config(FORBID_EXTRA)
@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingConfig:
    schedules: tuple[Schedule, ...] = (Schedule(name="default"),)
    access_numbers: tuple[AccessNumber, ...] = ()
    blacklist: tuple[BlacklistEntry, ...] = ()
    blacklist_treatment: BlacklistTreatment = BlacklistTreatment()
    unknown_did: Destination = Destination(kind="hangup")
