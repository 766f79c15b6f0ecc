"""Events the monitor publishes: an alarm was raised or cleared (after damping). The SNMP agent turns them
into notifications; they are public (`docs/EVENTS.md`), so the event stream and the web UI follow them too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmRaised(Event):
    topic: ClassVar[str] = "monitoring.alarm_raised"
    alarm_id: int
    name: str
    source: str
    severity: str
    count: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmCleared(Event):
    topic: ClassVar[str] = "monitoring.alarm_cleared"
    alarm_id: int
    name: str
    source: str
    severity: str
    count: int
    text: str
