"""What the HAL describes and carries: cards, spans and analog ports, their configuration and status, and
the events a card raises. Frozen dataclasses; the wire form (PROTOCOL.md) is their `to_wire()` / `from_wire()`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

FRAME_MS = 20
FRAME_BYTES = 160  # 20 ms of 8 kHz A-law per bearer channel
E1_TIMESLOTS = 31  # timeslots 1..31; 16 is the D-channel on a PRI span
IDLE_ALAW = 0xD5  # the A-law code of silence (ITU-T G.711, even bits inverted)

Framing = Literal["crc4", "no-crc4", "auto"]  # auto: G.706 Annex B (CRC-4 interworking)
LineCode = Literal["hdb3", "ami"]
ClockSource = Literal["line", "internal"]
Signalling = Literal["pri_user", "pri_network"]
Loopback = Literal["none", "local", "remote", "payload"]
PortKind = Literal["fxo", "fxs"]
UnitKind = Literal["span", "port"]


class Defect(enum.StrEnum):
    """Line defects a card's framer detects (ITU-T G.775 §5, G.706 §4); the driver integrates them into
    alarms (failures) with the persistence times of ETSI EN 300 417-1-1."""

    LOS = "los"  # loss of signal (G.775 §5.1)
    AIS = "ais"  # all ones (G.775 §5.2)
    LOF = "lof"  # loss of frame alignment (G.706 §4.1.1)
    LOMF = "lomf"  # loss of CRC-4 multiframe alignment (G.706 §4.2)
    RAI = "rai"  # the far end reports a defect: A bit of timeslot 0 (G.704 §2.3.2)


class PortSignal(enum.StrEnum):
    """What an analog port reports (FXO: the exchange's line; FXS: the phone on it)."""

    RING_ON = "ring_on"  # FXO: ringing voltage present
    RING_OFF = "ring_off"
    OFF_HOOK = "off_hook"  # FXS: the phone went off hook
    ON_HOOK = "on_hook"
    FLASH = "flash"  # FXS: a hook flash
    POLARITY_REVERSAL = "polarity_reversal"  # FXO: the exchange reversed the loop (answer / clear)
    LINE_CURRENT_ON = "line_current_on"  # FXO: loop current flows
    LINE_CURRENT_OFF = "line_current_off"  # FXO: loop current dropped (far end cleared, or a disconnect)


class PortCommand(enum.StrEnum):
    """What the host asks of an analog port."""

    OFF_HOOK = "off_hook"  # FXO: seize the line / answer
    ON_HOOK = "on_hook"  # FXO: release it
    FLASH = "flash"  # FXO: a hook flash
    RING_START = "ring_start"  # FXS: ring the phone (cadence by the card: `ring_cadence_ms`)
    RING_STOP = "ring_stop"
    POLARITY_REVERSE = "polarity_reverse"  # FXS: reverse battery (answer supervision to the phone)
    POLARITY_NORMAL = "polarity_normal"
    LINE_OPEN = "line_open"  # FXS: drop battery briefly (disconnect supervision)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanInfo:
    span: int  # 1-based on the card
    kind: Literal["e1"] = "e1"
    timeslots: int = E1_TIMESLOTS


@dataclass(frozen=True, slots=True, kw_only=True)
class PortInfo:
    port: int  # 1-based on the card
    kind: PortKind


@dataclass(frozen=True, slots=True, kw_only=True)
class CardInfo:
    card_id: str  # stable: serial number or device path
    backend: str  # "serial", "dahdi", ...
    model: str
    firmware: str
    spans: tuple[SpanInfo, ...] = ()
    ports: tuple[PortInfo, ...] = ()
    path: str = ""  # where it was found

    def to_wire(self) -> dict[str, Any]:
        return {"card_id": self.card_id, "model": self.model, "firmware": self.firmware,
                "spans": [{"span": s.span, "kind": s.kind, "timeslots": s.timeslots} for s in self.spans],
                "ports": [{"port": p.port, "kind": p.kind} for p in self.ports]}

    @classmethod
    def from_wire(cls, data: dict[str, Any], *, backend: str, path: str) -> CardInfo:
        return cls(card_id=str(data["card_id"]), backend=backend, model=str(data["model"]),
                   firmware=str(data["firmware"]), path=path,
                   spans=tuple(SpanInfo(span=int(s["span"]), timeslots=int(s.get("timeslots", E1_TIMESLOTS)))
                               for s in data.get("spans", [])),
                   ports=tuple(PortInfo(port=int(p["port"]), kind=p["kind"]) for p in data.get("ports", [])))


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanConfig:
    """The line side of an E1 span (what the card's framer and LIU are set to)."""

    framing: Framing = "crc4"
    line_code: LineCode = "hdb3"
    clock: ClockSource = "line"
    clock_priority: int = 1  # among spans recovering the line clock: 1 is tried first
    dchannel: int | None = 16  # the timeslot carrying HDLC (None: no D-channel, e.g. CAS)

    def to_wire(self) -> dict[str, Any]:
        return {"framing": self.framing, "line_code": self.line_code, "clock": self.clock,
                "clock_priority": self.clock_priority, "dchannel": self.dchannel}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SpanConfig:
        return cls(framing=data.get("framing", "crc4"), line_code=data.get("line_code", "hdb3"),
                   clock=data.get("clock", "line"), clock_priority=int(data.get("clock_priority", 1)),
                   dchannel=data.get("dchannel", 16))


IMPEDANCES = ("600", "900", "cn")  # ohms, or China's complex 200 + 680 || 100 nF (YD/T 1076)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortConfig:
    """The line side of an analog port: the impedance its codec and hybrid match, and the region whose ring,
    battery and tone thresholds the card applies."""

    impedance: str = "cn"
    region: str = "cn"

    def to_wire(self) -> dict[str, Any]:
        return {"impedance": self.impedance, "region": self.region}


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanCounters:
    """Counters of one span since the card started (they only grow)."""

    crc4_errors: int = 0
    ebits: int = 0  # far-end block errors (E bits, G.704 §2.3.3.4)
    slips: int = 0  # controlled frame slips of the receive elastic store
    bpv: int = 0  # bipolar (code) violations
    fas_errors: int = 0
    hdlc_aborts: int = 0
    hdlc_bad_fcs: int = 0  # (the card passes FCS through; it counts only aborts and overruns)
    bearer_lost: int = 0  # bearer frames the card had to fill (the host was late)

    def to_wire(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SpanCounters:
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanStatus:
    span: int
    configured: bool
    defects: frozenset[Defect] = frozenset()
    sending_rai: bool = False  # our transmitter sets the A bit (we see LOS/LOF/AIS)
    framing_in_use: Literal["crc4", "no-crc4", "none"] = "none"  # after G.706 Annex B, what was found
    loopback: Loopback = "none"
    counters: SpanCounters = field(default_factory=SpanCounters)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SpanStatus:
        return cls(span=int(data["span"]), configured=bool(data["configured"]),
                   defects=frozenset(Defect(d) for d in data.get("defects", [])),
                   sending_rai=bool(data.get("sending_rai", False)),
                   framing_in_use=data.get("framing_in_use", "none"), loopback=data.get("loopback", "none"),
                   counters=SpanCounters.from_wire(data.get("counters", {})))


# ---------------------------------------------------------------- events a card raises (host <- card)

@dataclass(frozen=True, slots=True, kw_only=True)
class DefectsChanged:
    """A span's set of defects changed (raised as the framer sees it; the driver integrates)."""

    span: int
    defects: frozenset[Defect]
    counters: SpanCounters


@dataclass(frozen=True, slots=True, kw_only=True)
class DChannelReceived:
    """One HDLC frame from a span's D-channel, with its two FCS bytes as received (the host checks them)."""

    span: int
    frame: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PortSignalled:
    port: int
    signal: PortSignal


@dataclass(frozen=True, slots=True, kw_only=True)
class CardLost:
    """The card stopped answering or its line closed; every span and port on it is down."""

    reason: str


CardEvent = DefectsChanged | DChannelReceived | PortSignalled | CardLost
