"""Which analog ports the box uses and how: validated once, here, from plain data (JSON-like dicts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from appliance.errors import FieldError, ValidationFailed
from drivers.analog.models import FxoSettings, FxsSettings
from drivers.hal.models import IMPEDANCES

_DISCONNECTS = {"busy_tone", "polarity", "loop_current"}
_CALLER_ID = {"fsk_bell202", "fsk_v23", "dtmf", "none"}


@dataclass(frozen=True, slots=True, kw_only=True)
class FxoPortConfig:
    port: int
    trunk: str  # the FXO trunk (group) this line belongs to; outbound calls hunt over its ports
    access_number: str  # an inbound call enters routing as a call to this number
    settings: FxoSettings = field(default_factory=FxoSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class FxsPortConfig:
    port: int
    extension: str  # the analog phone on this port is this extension
    voicemail_box: str | None = None  # its lamp lights while this box holds unhandled messages
    settings: FxsSettings = field(default_factory=FxsSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalogConfig:
    fxo: tuple[FxoPortConfig, ...] = ()
    fxs: tuple[FxsPortConfig, ...] = ()

    def fxs_for(self, extension: str) -> FxsPortConfig | None:
        return next((p for p in self.fxs if p.extension == extension), None)


def _err(field: str, rule: str, en: str, zh: str) -> FieldError:
    return FieldError(field, rule, en, zh)


def _settings(cls: type[Any], base: Any, data: Mapping[str, Any], where: str,
              errors: list[FieldError]) -> Any:
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            errors.append(_err(f"{where}.{key}", "unknown", f"unknown setting {key!r}", f"未知设置 {key!r}"))
            continue
        current = getattr(base, key)
        if key == "disconnect":
            if not isinstance(value, list) or not set(value) <= _DISCONNECTS:
                errors.append(_err(f"{where}.disconnect", "enum", "a list of busy_tone, polarity, loop_current",
                                   "应为 busy_tone、polarity、loop_current 的列表"))
                continue
            value = frozenset(value)
        elif key == "impedance" and value not in IMPEDANCES:
            errors.append(_err(f"{where}.impedance", "enum", f"one of {', '.join(IMPEDANCES)}",
                               f"应为 {'、'.join(IMPEDANCES)} 之一"))
            continue
        elif key == "caller_id" and value not in _CALLER_ID:
            errors.append(_err(f"{where}.caller_id", "enum", f"one of {', '.join(sorted(_CALLER_ID))}",
                               f"应为 {'、'.join(sorted(_CALLER_ID))} 之一"))
            continue
        elif isinstance(current, bool):
            if not isinstance(value, bool):
                errors.append(_err(f"{where}.{key}", "type", "true or false", "应为 true 或 false"))
                continue
        elif key.endswith("_gain_db"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -24 <= value <= 24:
                errors.append(_err(f"{where}.{key}", "range", "a gain of -24 to 24 dB", "增益应为 -24 到 24 dB"))
                continue
            value = float(value)
        elif isinstance(current, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                errors.append(_err(f"{where}.{key}", "type", "a number of at least 0", "应为不小于 0 的数字"))
                continue
            value = type(current)(value)
        elif isinstance(current, str) and not isinstance(value, str):
            errors.append(_err(f"{where}.{key}", "type", "text", "应为文本"))
            continue
        values[key] = value
    return replace(base, **values)


def parse_config(data: Mapping[str, Any]) -> AnalogConfig:
    """`{"fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000", "settings": {...}}],
    "fxs": [{"port": 2, "extension": "1002", "settings": {...}}]}` -> AnalogConfig, or `ValidationFailed`
    naming every bad field."""
    errors: list[FieldError] = []
    seen: dict[int, str] = {}
    fxo: list[FxoPortConfig] = []
    fxs: list[FxsPortConfig] = []
    for kind in ("fxo", "fxs"):
        items = data.get(kind, [])
        if not isinstance(items, list):
            errors.append(_err(kind, "type", "a list of ports", "应为端口列表"))
            continue
        for i, item in enumerate(items):
            where = f"{kind}[{i}]"
            port = item.get("port") if isinstance(item, Mapping) else None
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 64:
                errors.append(_err(f"{where}.port", "range", "a port number 1-64", "端口号应为 1-64"))
                continue
            if port in seen:
                errors.append(_err(f"{where}.port", "unique", f"port {port} is configured twice",
                                   f"端口 {port} 重复配置"))
                continue
            seen[port] = kind
            assert isinstance(item, Mapping)
            raw = item.get("settings", {})
            if not isinstance(raw, Mapping):
                errors.append(_err(f"{where}.settings", "type", "an object", "应为对象"))
                continue
            if kind == "fxo":
                trunk, number = item.get("trunk"), item.get("access_number")
                if not isinstance(trunk, str) or not trunk:
                    errors.append(_err(f"{where}.trunk", "required", "the FXO trunk's id", "需要 FXO 中继 ID"))
                    continue
                if not isinstance(number, str) or not number.isdigit():
                    errors.append(_err(f"{where}.access_number", "digits", "digits", "应为数字"))
                    continue
                fxo.append(FxoPortConfig(port=port, trunk=trunk, access_number=number,
                                         settings=_settings(FxoSettings, FxoSettings(), raw, where, errors)))
            else:
                ext = item.get("extension")
                if not isinstance(ext, str) or not ext.isdigit():
                    errors.append(_err(f"{where}.extension", "digits", "the extension's number", "应为分机号码"))
                    continue
                if any(p.extension == ext for p in fxs):
                    errors.append(_err(f"{where}.extension", "unique", f"extension {ext} is on two ports",
                                       f"分机 {ext} 配置在两个端口上"))
                    continue
                box = item.get("voicemail_box")
                if box is not None and (not isinstance(box, str) or not box):
                    errors.append(_err(f"{where}.voicemail_box", "type", "a voicemail box's id", "应为语音信箱 ID"))
                    continue
                fxs.append(FxsPortConfig(port=port, extension=ext, voicemail_box=box,
                                         settings=_settings(FxsSettings, FxsSettings(), raw, where, errors)))
    if errors:
        raise ValidationFailed(errors)
    return AnalogConfig(fxo=tuple(fxo), fxs=tuple(fxs))
