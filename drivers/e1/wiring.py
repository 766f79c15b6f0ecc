"""How the composition root puts the E1/PRI driver in: from the `e1` setting to the driver (a leg provider
and a service) and its routes. The setting, validated here once:

    {"card": "/dev/ttyUSB0",
     "spans": [{"span": 1, "role": "user", "name": "pri1", "framing": "auto", "line_code": "hdb3", "clock": "line",
                "clock_priority": 1, "channels": "1-15,17-31", "hunting": "descending",
                "strip_digits": 0, "prefix": "", "restrict_caller": false,
                "caller_id_rules": [{"match_prefix": "021", "strip": 3, "prepend": ""}]}],
     "groups": [{"name": "pstn", "spans": [1, 2], "hunting": "round_robin"}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint

from appliance.errors import FieldError, ValidationFailed
from appliance.events import EventBus
from appliance.http_api import Api
from appliance.media.frame_media import FrameMedia
from drivers.e1.models import CallerIdRule, E1Settings, SpanSettings, TrunkGroup
from drivers.e1.q931 import B_CHANNELS
from drivers.e1.service import E1Driver
from drivers.hal.models import SpanConfig
from drivers.hal.serial_backend import SerialCard


def _bad(field: str, rule: str, en: str, zh: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, rule, f"{field}: {en}", f"{field}: {zh}")], "e1 configuration")


def _choice(raw: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise _bad(f"{where}.{key}", "enum", f"one of {', '.join(choices)}", f"应为 {'、'.join(choices)} 之一")
    return str(value)


def _channels(raw: Any, where: str) -> tuple[int, ...]:
    if raw is None:
        return B_CHANNELS
    out: list[int] = []
    try:
        for part in str(raw).split(","):
            lo, _, hi = part.strip().partition("-")
            out += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        raise _bad(f"{where}.channels", "format", "ranges of B-channels such as 1-15,17-31",
                   "应为 B 通道范围,如 1-15,17-31") from None
    if not out or any(c not in B_CHANNELS for c in out):
        raise _bad(f"{where}.channels", "range", "B-channels 1-15 and 17-31", "B 通道为 1-15 和 17-31")
    return tuple(dict.fromkeys(out))


def _rules(raw: Any, where: str) -> tuple[CallerIdRule, ...]:
    if not isinstance(raw, list):
        raise _bad(f"{where}.caller_id_rules", "type", "a list of rules", "应为规则列表")
    out = []
    for i, r in enumerate(raw):
        ok = isinstance(r, dict) and all(str(r.get(k, "")).lstrip("+").isdigit() or not r.get(k)
                                         for k in ("match_prefix", "prepend"))
        if not ok or not isinstance(r.get("strip", 0), int) or not 0 <= r.get("strip", 0) <= 20:
            raise _bad(f"{where}.caller_id_rules.{i}", "format", "match_prefix and prepend of digits, strip 0-20",
                       "match_prefix 和 prepend 应为数字,strip 为 0-20")
        out.append(CallerIdRule(match_prefix=str(r.get("match_prefix", "")), strip=int(r.get("strip", 0)),
                                prepend=str(r.get("prepend", ""))))
    return tuple(out)


def parse_settings(raw: Mapping[str, Any]) -> E1Settings:
    card = raw.get("card")
    if not isinstance(card, str) or not card:
        raise _bad("e1.card", "required", "the card's device path", "需要板卡设备路径")
    spans_raw = raw.get("spans")
    if not isinstance(spans_raw, list) or not spans_raw:
        raise _bad("e1.spans", "required", "a list of spans", "需要中继列表")
    spans: list[SpanSettings] = []
    for i, s in enumerate(spans_raw):
        where = f"e1.spans.{i}"
        if not isinstance(s, dict) or not isinstance(s.get("span"), int) or not 1 <= s["span"] <= 64:
            raise _bad(f"{where}.span", "range", "a span number 1-64", "中继号应为 1-64")
        line = SpanConfig(framing=_choice(s, "framing", where, ("crc4", "no-crc4", "auto"), "auto"),  # type: ignore[arg-type]
                          line_code=_choice(s, "line_code", where, ("hdb3", "ami"), "hdb3"),  # type: ignore[arg-type]
                          clock=_choice(s, "clock", where, ("line", "internal"), "line"),  # type: ignore[arg-type]
                          clock_priority=int(s.get("clock_priority", 1)))
        spans.append(SpanSettings(
            span=s["span"], role=_choice(s, "role", where, ("user", "network"), "user"),  # type: ignore[arg-type]
            name=str(s.get("name", "")), line=line, channels=_channels(s.get("channels"), where),
            hunting=_choice(s, "hunting", where, ("ascending", "descending"), "descending"),  # type: ignore[arg-type]
            strip_digits=int(s.get("strip_digits", 0)), prefix=str(s.get("prefix", "")),
            caller_id_rules=_rules(s.get("caller_id_rules", []), where),
            restrict_caller=bool(s.get("restrict_caller", False))))
    numbers = {s.span for s in spans}
    groups: list[TrunkGroup] = []
    for i, g in enumerate(raw.get("groups", []) or []):
        where = f"e1.groups.{i}"
        if not isinstance(g, dict) or not g.get("name"):
            raise _bad(f"{where}.name", "required", "the trunk's id", "需要中继组名称")
        members = g.get("spans")
        if not isinstance(members, list) or not members or any(m not in numbers for m in members):
            raise _bad(f"{where}.spans", "range", "spans configured above", "应为上面配置的中继")
        groups.append(TrunkGroup(name=str(g["name"]), spans=tuple(members),
                                 hunting=_choice(g, "hunting", where, ("ascending", "descending", "round_robin"),
                                                 "ascending")))  # type: ignore[arg-type]
    return E1Settings(device=card, spans=tuple(spans), groups=tuple(groups))


@dataclass(eq=False)
class E1Wiring:
    settings: E1Settings
    service: E1Driver | None = None

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any] | None) -> E1Wiring | None:
        """None when no E1 card is configured; `ValidationFailed` naming the field when it is wrong."""
        return cls(parse_settings(raw)) if raw else None

    def provider(self, media: FrameMedia, bus: EventBus) -> E1Driver:
        self.service = E1Driver(self.settings, SerialCard(self.settings.device), media, bus)
        return self.service

    def blueprints(self, api: Api) -> list[Blueprint]:
        from drivers.e1.http import make_blueprint

        return [make_blueprint(api, self)] if self.service is not None else []
