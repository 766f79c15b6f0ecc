"""What the hardware status shows: cards, E1 spans with their alarms, counters and B-channels, and analog
ports. Frozen views built by `HardwareService.status()` from the drivers; `to_json()` is the API's form (and
the snapshot `appliance hw status` reads), `from_json()` reads it back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

CardState = Literal["up", "down", "detected"]
AlarmSeverity = Literal["red", "yellow", "minor"]

# LOS, AIS and LOF take a span out of service (red); RAI is the far end's report of one (yellow); losing the
# CRC-4 multiframe leaves the span working without error monitoring (minor) (G.732 §4.2, G.706 §4.2).
SEVERITY: dict[str, AlarmSeverity] = {"los": "red", "ais": "red", "lof": "red", "rai": "yellow", "lomf": "minor"}
LOOPBACKS = ("none", "local", "remote", "payload")


@dataclass(frozen=True, slots=True, kw_only=True)
class CardView:
    card_id: str  # what the card calls itself (empty for a candidate nobody opened)
    driver: str  # "e1" | "analog" | "" (found, not configured)
    backend: str  # "serial" | "dahdi"
    path: str
    model: str = ""
    firmware: str = ""
    state: CardState = "down"
    spans: int = 0
    ports: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelView:
    channel: int
    state: str  # idle | in_use | blocked
    leg: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanView:
    card_id: str
    span: int
    trunk: str
    role: str  # user | network
    framing: str  # as configured: crc4 | no-crc4 | auto
    framing_in_use: str  # what the framer found (G.706 Annex B): crc4 | no-crc4 | none
    line_code: str = "hdb3"  # hdb3 | ami
    clock: str
    clock_priority: int
    d_channel: str  # up | down
    lapd_state: str
    alarms: tuple[str, ...]  # declared alarms: los, ais, lof, lomf, rai
    sending_rai: bool
    loopback: str
    counters: dict[str, int]
    channels: tuple[ChannelView, ...]
    detail: str = ""  # why the span is not in service when the card refused its configuration

    @property
    def in_use(self) -> int:
        return sum(1 for c in self.channels if c.state == "in_use")

    @property
    def blocked(self) -> int:
        return sum(1 for c in self.channels if c.state == "blocked")

    @property
    def severity(self) -> AlarmSeverity | None:
        """The worst of the span's alarms (None: none)."""
        found = {SEVERITY.get(a, "minor") for a in self.alarms}
        return next((s for s in ("red", "yellow", "minor") if s in found), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortView:
    card_id: str
    port: int
    kind: str  # fxo | fxs
    state: str  # idle | ringing | off_hook | in_call | faulted
    trunk: str | None = None
    access_number: str | None = None
    extension: str | None = None
    leg: str | None = None
    counters: dict[str, int]
    frames_lost: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmView:
    card_id: str
    span: int
    alarm: str
    severity: AlarmSeverity


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareStatus:
    at: float  # wall-clock seconds the view was taken
    running: bool  # taken from the running box (else: probed by the command line, no signalling state)
    cards: tuple[CardView, ...] = ()
    spans: tuple[SpanView, ...] = ()
    ports: tuple[PortView, ...] = ()

    @property
    def alarms(self) -> tuple[AlarmView, ...]:
        return tuple(AlarmView(card_id=s.card_id, span=s.span, alarm=a, severity=SEVERITY.get(a, "minor"))
                     for s in self.spans for a in s.alarms)

    def span(self, number: int) -> SpanView | None:
        return next((s for s in self.spans if s.span == number), None)

    def to_json(self) -> dict[str, Any]:
        spans = [{**asdict(s), "alarms": list(s.alarms), "in_use": s.in_use, "blocked": s.blocked,
                  "severity": s.severity, "channels": [asdict(c) for c in s.channels]} for s in self.spans]
        return {"at": self.at, "running": self.running, "cards": [asdict(c) for c in self.cards], "spans": spans,
                "ports": [asdict(p) for p in self.ports], "alarms": [asdict(a) for a in self.alarms]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HardwareStatus:
        span_fields = set(SpanView.__dataclass_fields__)
        return cls(
            at=float(data["at"]), running=bool(data["running"]),
            cards=tuple(CardView(**c) for c in data.get("cards", [])),
            spans=tuple(SpanView(**{**{k: v for k, v in s.items() if k in span_fields},
                                    "alarms": tuple(s["alarms"]),
                                    "channels": tuple(ChannelView(**c) for c in s["channels"])})
                        for s in data.get("spans", [])),
            ports=tuple(PortView(**p) for p in data.get("ports", [])))
