"""The reports' setting (`reports`: short-abandon threshold, service-level target and basis per queue), report
kinds and period sizes, and a report's answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from appliance.errors import FieldError, ValidationFailed

SETTING = "reports"
MAX_SECONDS = 86_400


class Period(StrEnum):
    HALF_HOUR = "half_hour"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"  # ISO weeks: Monday 00:00 local time
    MONTH = "month"


class Kind(StrEnum):
    QUEUES = "queues"  # 队列统计
    AGENT_CALLS = "agent-calls"  # 座席通话统计
    AGENT_STATES = "agent-states"  # 座席状态统计
    GROUPS = "groups"  # 座席组通话统计 (agents summed by work group)
    IVR = "ivr"  # IVR统计
    # detail lists (one row per call, state or journey; see definitions.DETAIL_KINDS)
    QUEUE_CALLS = "queue-calls"  # 队列等待明细
    AGENT_STATE_LOG = "agent-state-log"  # 座席状态明细
    IVR_JOURNEYS = "ivr-journeys"  # IVR明细


class Basis(StrEnum):
    """What the calls answered within the target are divided by."""

    OFFERED = "offered"
    ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    target_s: float = 20.0
    basis: Basis = Basis.OFFERED

    def to_dict(self) -> dict[str, Any]:
        return {"target_s": self.target_s, "basis": self.basis.value}


def _seconds(where: str, value: Any, problems: list[FieldError]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_SECONDS:
        problems.append(FieldError(where, "range", f"{where}: seconds from 0 to {MAX_SECONDS}",
                                   f"{where}: 应为 0 到 {MAX_SECONDS} 之间的秒数"))
        return 0.0
    return float(value)


def _level(where: str, raw: Any, base: ServiceLevel, problems: list[FieldError]) -> ServiceLevel:
    if not isinstance(raw, Mapping):
        problems.append(FieldError(where, "type", f"{where}: an object", f"{where}: 应为对象"))
        return base
    target, basis = base.target_s, base.basis
    for name, value in raw.items():
        if name == "target_s":
            target = _seconds(f"{where}.target_s", value, problems)
        elif name == "basis":
            if value not in tuple(Basis):
                problems.append(FieldError(f"{where}.basis", "choice", f"{where}.basis: offered or answered",
                                           f"{where}.basis: 应为 offered 或 answered"))
            else:
                basis = Basis(value)
        else:
            problems.append(FieldError(f"{where}.{name}", "unknown", f"{name}: no such field", f"{name}: 没有此字段"))
    return ServiceLevel(target, basis)


@dataclass(frozen=True, slots=True)
class ReportPolicy:
    """How calls are counted when their rows are rolled up. A change applies to rows written after it:
    roll-ups already written keep the thresholds of their time."""

    short_abandon_s: float = 5.0  # callers who hang up sooner are counted apart, not as abandoned
    service_level: ServiceLevel = ServiceLevel()  # every queue without its own
    queues: Mapping[str, ServiceLevel] = field(default_factory=dict)

    def level(self, queue: str) -> ServiceLevel:
        return self.queues.get(queue, self.service_level)

    def to_dict(self) -> dict[str, Any]:
        return {"short_abandon_s": self.short_abandon_s, "service_level": self.service_level.to_dict(),
                "queues": {q: lvl.to_dict() for q, lvl in sorted(self.queues.items())}}

    @classmethod
    def parse(cls, raw: Any) -> ReportPolicy:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ValidationFailed([FieldError(SETTING, "type", f"{SETTING}: an object", f"{SETTING}: 应为对象")])
        problems: list[FieldError] = []
        short = ReportPolicy().short_abandon_s
        default = ServiceLevel()
        queues: dict[str, ServiceLevel] = {}
        for name, value in raw.items():
            if name == "short_abandon_s":
                short = _seconds(f"{SETTING}.short_abandon_s", value, problems)
            elif name == "service_level":
                default = _level(f"{SETTING}.service_level", value, default, problems)
            elif name == "queues" and isinstance(value, Mapping):
                for queue, level in value.items():
                    queues[str(queue)] = _level(f"{SETTING}.queues.{queue}", level, ServiceLevel(), problems)
            else:
                problems.append(FieldError(f"{SETTING}.{name}", "unknown" if name != "queues" else "type",
                                           f"{name}: no such field (or not an object)", f"{name}: 没有此字段或应为对象"))
        if problems:
            raise ValidationFailed(problems, SETTING)
        return cls(short, default, queues)


def policy_of(settings: Mapping[str, Any]) -> ReportPolicy:
    """The stored policy; a stored value that no longer parses counts as the defaults (never stops a box)."""
    try:
        return ReportPolicy.parse(settings.get(SETTING))
    except ValidationFailed:
        return ReportPolicy()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportQuery:
    kind: Kind
    period: Period
    start: float  # epoch seconds, a half-hour boundary
    end: float  # exclusive, a half-hour boundary
    queues: tuple[str, ...] | None = None  # None: every queue
    agents: tuple[str, ...] | None = None  # None: every agent (the viewer's scope is applied before)
    groups: tuple[str, ...] | None = None
    flows: tuple[str, ...] | None = None  # IVR flows


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    kind: Kind
    period: Period
    start: float
    end: float
    time_zone: str
    header: dict[str, Any]
    rows: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "period": self.period.value, "from": self.start, "to": self.end,
                "time_zone": self.time_zone, "header": self.header, "rows": list(self.rows)}
