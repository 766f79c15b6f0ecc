"""Configuration of the E1/PRI driver: spans (line, role, channels, inbound number rules) and trunk groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from drivers.e1.q931 import B_CHANNELS
from drivers.e1.q931_model import Timers
from drivers.hal.models import SpanConfig

Hunting = Literal["ascending", "descending", "round_robin"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerIdRule:
    """Our caller ID on an outbound call: when it starts with `match_prefix`, drop `strip` digits and put
    `prepend` in front (the first matching rule wins), as the trunk's caller-ID rules say."""

    match_prefix: str = ""
    strip: int = 0
    prepend: str = ""


def apply_caller_rules(rules: tuple[CallerIdRule, ...], number: str) -> str:
    for rule in rules:
        if number.startswith(rule.match_prefix):
            return rule.prepend + number[rule.strip:]
    return number


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanSettings:
    span: int
    role: Literal["user", "network"] = "user"  # PRI user side (CPE, facing the carrier) or network side
    name: str = ""  # the trunk this span is (CDRs name it); default "span-N"
    line: SpanConfig = field(default_factory=SpanConfig)
    channels: tuple[int, ...] = B_CHANNELS
    hunting: Literal["ascending", "descending"] = "descending"  # channel choice on our outbound calls
    strip_digits: int = 0  # inbound: the access number is `prefix` + the called number without its first digits
    prefix: str = ""
    overlap_digits: int = 0  # overlap receiving: the called number is complete at this many digits
    caller_id_rules: tuple[CallerIdRule, ...] = ()  # outbound: how our number is presented
    restrict_caller: bool = False  # outbound: presentation restricted (Q.931 §4.5.10, octet 3a)

    @property
    def trunk(self) -> str:
        return self.name or f"span-{self.span}"

    def access_number(self, called: str) -> str:
        return self.prefix + called[self.strip_digits:]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkGroup:
    """Outbound calls through trunk `name` hunt over `spans` in this order."""

    name: str
    spans: tuple[int, ...]
    hunting: Hunting = "ascending"


@dataclass(frozen=True, slots=True, kw_only=True)
class E1Settings:
    device: str  # the card's serial line (or the emulator's pty)
    spans: tuple[SpanSettings, ...]
    groups: tuple[TrunkGroup, ...] = ()
    t200: float = 1.0
    t203: float = 10.0
    timers: Timers = field(default_factory=Timers)
    alarm_set_s: float = 2.5
    alarm_clear_s: float = 10.0
    pcap_dir: Path | None = None  # when set, every D-channel frame of span N goes to span-N.pcap
