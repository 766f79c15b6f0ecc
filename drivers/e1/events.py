"""What the E1 driver publishes on the bus (internal topics `e1.*`; SNMP, logs and the web UI consume them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanStateChanged(Event):
    """A span's D-channel came up or went down, or it went into or out of red alarm."""

    topic: ClassVar[str] = "e1.span_state"
    card: str
    span: int
    state: str  # up | down | alarm
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChanged(Event):
    topic: ClassVar[str] = "e1.channel_state"
    card: str
    span: int
    channel: int
    state: str  # idle | in_use | blocked
    leg_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanAlarmChanged(Event):
    """An alarm on a span was raised or cleared (`alarm`: los, ais, lof, lomf, rai), with the span's counters."""

    topic: ClassVar[str] = "e1.alarm"
    card: str
    span: int
    alarm: str
    raised: bool
    counters: dict[str, int]
