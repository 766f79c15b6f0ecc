"""The phone inventory's values: a phone (MAC → extension, vendor, model) and its line keys."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from appliance.errors import FieldError, ValidationFailed

MAC_SEPARATORS = re.compile(r"[:\-.]")
MAC = re.compile(r"^[0-9a-f]{12}$")
MAX_KEYS = 40


class Vendor(enum.StrEnum):
    YEALINK = "yealink"
    GRANDSTREAM = "grandstream"
    POLYCOM = "polycom"
    GENERIC = "generic"


class KeyKind(enum.StrEnum):
    BLF = "blf"  # a colleague's extension: busy lamp and speed dial
    LOGIN = "login"  # agent log-in (*11)
    LOGOUT = "logout"  # *12
    PAUSE = "pause"  # *13
    UNPAUSE = "unpause"  # *14
    SPEED_DIAL = "speed_dial"


# The phone feature codes the box answers (README, "Phone feature codes").
FEATURE_CODES = {KeyKind.LOGIN: "*11", KeyKind.LOGOUT: "*12", KeyKind.PAUSE: "*13", KeyKind.UNPAUSE: "*14"}


@dataclass(frozen=True, slots=True)
class LineKey:
    kind: KeyKind
    value: str = ""  # the extension (blf) or number (speed_dial); the feature code for agent keys
    label: str = ""


@dataclass(frozen=True, slots=True)
class Phone:
    mac: str  # 12 lower-case hex digits, no separators
    extension: str
    vendor: Vendor
    model: str = ""
    label: str = ""
    line_keys: tuple[LineKey, ...] = ()


@dataclass(frozen=True, slots=True)
class PhoneRecord:
    """A phone as kept: with its provisioning token and SIP password (both secrets, never listed)."""

    phone: Phone
    token: str
    sip_password: str
    revoked: bool = False


def normalise_mac(raw: str) -> str | None:
    mac = MAC_SEPARATORS.sub("", raw.strip()).lower()
    return mac if MAC.match(mac) else None


def parse_phone(data: Any, mac: str | None = None) -> Phone:
    """Validate an inventory entry from JSON; each broken rule names its field."""
    errors: list[FieldError] = []

    def bad(field: str, rule: str, en: str, zh: str) -> None:
        errors.append(FieldError(field, rule, f"{field}: {en}", f"{field}: {zh}"))

    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "type", "an object", "应为对象")], "phone")
    mac_value = normalise_mac(str(mac if mac is not None else data.get("mac", "")))
    if mac_value is None:
        bad("mac", "mac", "a MAC address such as 80:5e:c0:12:34:56", "应为 MAC 地址,如 80:5e:c0:12:34:56")
    extension = str(data.get("extension", ""))
    if not re.fullmatch(r"[0-9]{2,10}", extension):
        bad("extension", "digits", "an extension number (2 to 10 digits)", "应为分机号(2 到 10 位数字)")
    try:
        vendor = Vendor(str(data.get("vendor", "")))
    except ValueError:
        bad("vendor", "enum", f"one of {', '.join(v.value for v in Vendor)}", f"应为 {', '.join(v.value for v in Vendor)} 之一")
        vendor = Vendor.GENERIC
    model = str(data.get("model", ""))[:40]
    label = str(data.get("label", ""))[:40]
    keys: list[LineKey] = []
    raw_keys = data.get("line_keys", [])
    if not isinstance(raw_keys, list) or len(raw_keys) > MAX_KEYS:
        bad("line_keys", "type", f"a list of at most {MAX_KEYS} keys", f"应为最多 {MAX_KEYS} 个按键的列表")
        raw_keys = []
    for n, rk in enumerate(raw_keys):
        f = f"line_keys.{n}"
        if not isinstance(rk, dict):
            bad(f, "type", "an object", "应为对象")
            continue
        try:
            kind = KeyKind(str(rk.get("kind", "")))
        except ValueError:
            bad(f"{f}.kind", "enum", f"one of {', '.join(k.value for k in KeyKind)}", "按键类型无效")
            continue
        value = str(rk.get("value", ""))
        if kind in FEATURE_CODES:
            value = FEATURE_CODES[kind]
        elif not re.fullmatch(r"[0-9*#+]{1,32}", value):
            bad(f"{f}.value", "digits", "the number the key dials", "应为按键拨打的号码")
        keys.append(LineKey(kind, value, str(rk.get("label", ""))[:20] or _default_label(kind, value)))
    if errors:
        raise ValidationFailed(errors, "phone")
    assert mac_value is not None
    return Phone(mac_value, extension, vendor, model, label, tuple(keys))


def _default_label(kind: KeyKind, value: str) -> str:
    return {KeyKind.LOGIN: "Log in", KeyKind.LOGOUT: "Log out", KeyKind.PAUSE: "Pause",
            KeyKind.UNPAUSE: "Ready"}.get(kind, value)


def phone_to_dict(phone: Phone) -> dict[str, Any]:
    return {"mac": phone.mac, "extension": phone.extension, "vendor": phone.vendor.value, "model": phone.model,
            "label": phone.label,
            "line_keys": [{"kind": k.kind.value, "value": k.value, "label": k.label} for k in phone.line_keys]}
