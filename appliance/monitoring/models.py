"""Thresholds, samples of the box and alarm records: frozen values, validated once at the edge."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from typing import Any

from appliance.errors import FieldError, ValidationFailed


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Threshold:
    """An alarm is raised when the measure reaches `set_level` and cleared only when it falls to
    `clear_level` (below it): the gap is the hysteresis that keeps a measure hovering at the limit quiet."""

    name: str
    set_level: float
    clear_level: float
    severity: Severity = Severity.MAJOR
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "set_level": self.set_level, "clear_level": self.clear_level,
                "severity": self.severity.value, "enabled": self.enabled}


# measure name -> threshold; every measure is "higher is worse"
DEFAULT_THRESHOLDS: dict[str, Threshold] = {t.name: t for t in (
    Threshold("cpu_high", 90.0, 75.0, Severity.MAJOR),
    Threshold("load_high", 8.0, 6.0, Severity.MINOR),
    Threshold("memory_high", 90.0, 80.0, Severity.MAJOR),
    Threshold("swap_high", 50.0, 30.0, Severity.MINOR),
    Threshold("disk_high", 90.0, 85.0, Severity.MAJOR),
    Threshold("data_disk_full", 98.0, 95.0, Severity.CRITICAL),
    Threshold("temperature_high", 80.0, 70.0, Severity.MAJOR),
    Threshold("open_files_high", 50000.0, 40000.0, Severity.MINOR),
    Threshold("media_ticks_late_rate", 50.0, 5.0, Severity.MINOR),  # late ticks per sampling interval
    Threshold("queue_waiting_high", 10.0, 5.0, Severity.MINOR),  # callers waiting in one queue
    Threshold("queue_wait_long", 120.0, 60.0, Severity.MINOR),  # seconds the longest caller has waited
    # how far today's service level is below 100 %: set at 20 (below 80 %), clear at 10 (back above 90 %)
    Threshold("queue_service_level_low", 20.0, 10.0, Severity.MINOR),
)}


def parse_thresholds(raw: Any, current: dict[str, Threshold]) -> dict[str, Threshold]:
    """A PATCH body `{name: {set_level?, clear_level?, severity?, enabled?}}` applied to `current`."""
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError("body", "type", "an object of threshold name: changes",
                                           "应为 阈值名: 修改 的对象")])
    out = dict(current)
    problems: list[FieldError] = []
    for name, change in raw.items():
        if name not in current:
            problems.append(FieldError(name, "unknown", f"{name}: no such threshold", f"{name}: 无此阈值"))
            continue
        if not isinstance(change, dict):
            problems.append(FieldError(name, "type", f"{name}: an object", f"{name}: 应为对象"))
            continue
        t = current[name]
        values: dict[str, Any] = {}
        for key in ("set_level", "clear_level"):
            if key in change:
                v = change[key]
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                    problems.append(FieldError(f"{name}.{key}", "number", f"{name}.{key}: a number >= 0",
                                               f"{name}.{key}: 应为 >= 0 的数"))
                else:
                    values[key] = float(v)
        if "severity" in change:
            try:
                values["severity"] = Severity(change["severity"])
            except ValueError:
                problems.append(FieldError(f"{name}.severity", "enum",
                                           f"{name}.severity: critical, major, minor or warning",
                                           f"{name}.severity: 应为 critical、major、minor 或 warning"))
        if "enabled" in change:
            if not isinstance(change["enabled"], bool):
                problems.append(FieldError(f"{name}.enabled", "type", f"{name}.enabled: true or false",
                                           f"{name}.enabled: 应为 true 或 false"))
            else:
                values["enabled"] = change["enabled"]
        unknown = set(change) - {"set_level", "clear_level", "severity", "enabled", "name"}
        for key in sorted(unknown):
            problems.append(FieldError(f"{name}.{key}", "unknown", f"{name}.{key}: unknown field",
                                       f"{name}.{key}: 未知字段"))
        new = replace(t, **values)
        if new.clear_level > new.set_level:
            problems.append(FieldError(f"{name}.clear_level", "range",
                                       f"{name}.clear_level: must not be above set_level ({new.set_level:g})",
                                       f"{name}.clear_level: 不能高于 set_level ({new.set_level:g})"))
        out[name] = new
    if problems:
        raise ValidationFailed(problems, "thresholds")
    return out


@dataclass(frozen=True, slots=True)
class DiskSample:
    mount: str
    total_mib: int
    used_mib: int
    percent: float
    is_data: bool


@dataclass(frozen=True, slots=True)
class SystemSample:
    at: float  # wall clock
    cpu_percent: float
    load1: float
    memory_percent: float
    swap_percent: float
    disks: tuple[DiskSample, ...]  # the data partition first
    temperatures: dict[str, float] = field(default_factory=dict)  # sensor label -> degrees Celsius
    open_files: int = 0
    ntp_synced: bool | None = None  # None: no NTP daemon answered

    @property
    def temperature_max(self) -> float | None:
        return max(self.temperatures.values()) if self.temperatures else None

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "cpu_percent": self.cpu_percent, "load1": self.load1,
                "memory_percent": self.memory_percent, "swap_percent": self.swap_percent,
                "disks": [{"mount": d.mount, "total_mib": d.total_mib, "used_mib": d.used_mib,
                           "percent": d.percent, "is_data": d.is_data} for d in self.disks],
                "temperatures": dict(self.temperatures), "open_files": self.open_files,
                "ntp_synced": self.ntp_synced}


@dataclass(frozen=True, slots=True)
class Alarm:
    """One row of the alarm table: a condition (name + source), its last raise and clear, how often."""

    id: int
    name: str
    source: str
    severity: Severity
    active: bool
    raised_at: float
    cleared_at: float | None
    count: int
    text: str
    value: float | None = None
    flapping: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.source)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "source": self.source, "severity": self.severity.value,
                "active": self.active, "raised_at": self.raised_at, "cleared_at": self.cleared_at,
                "count": self.count, "text": self.text, "value": self.value, "flapping": self.flapping}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Alarm:
        return cls(id=int(d["id"]), name=str(d["name"]), source=str(d["source"]), severity=Severity(d["severity"]),
                   active=bool(d["active"]), raised_at=float(d["raised_at"]),
                   cleared_at=None if d.get("cleared_at") is None else float(d["cleared_at"]),
                   count=int(d["count"]), text=str(d.get("text", "")),
                   value=None if d.get("value") is None else float(d["value"]), flapping=bool(d.get("flapping")))
