"""What a dialled string means: an extension, a feature code, or a PSTN number of some class — and whether
the caller may dial it.

Numbers follow the Chinese numbering plan by default (YD/T 1008 conventions as carriers apply them):
`110`, `119`, `120`, `122` (and `112`) are emergency numbers and are always allowed; `00…` or `+…` other
than `+86` is international; `0` + area code is national long distance; `1[3-9]` + 9 digits is a mobile
number (national); `400`/`800` + 7 digits and `95xxx`/`96xxx` are national service numbers; 7-8 digits
that start with 2-9 are local. Premium-rate prefixes (`160`, `168`, `1259x`) count as international:
they are where toll fraud goes. Anything else is unknown and needs the international class.
Outbound permission is a class per person/extension (`DialClass`), narrowest by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from appliance.domain.models import DialClass

EMERGENCY = frozenset({"110", "119", "120", "122", "112"})
_ORDER = {DialClass.INTERNAL: 0, DialClass.LOCAL: 1, DialClass.NATIONAL: 2, DialClass.INTERNATIONAL: 3}


class NumberClass(StrEnum):
    EXTENSION = "extension"
    FEATURE = "feature"
    EMERGENCY = "emergency"
    LOCAL = "local"
    NATIONAL = "national"
    MOBILE = "mobile"
    SERVICE = "service"
    INTERNATIONAL = "international"
    PREMIUM = "premium"
    UNKNOWN = "unknown"


# The permission each class of number needs.
REQUIRED: dict[NumberClass, DialClass] = {
    NumberClass.EXTENSION: DialClass.INTERNAL,
    NumberClass.FEATURE: DialClass.INTERNAL,
    NumberClass.EMERGENCY: DialClass.INTERNAL,
    NumberClass.LOCAL: DialClass.LOCAL,
    NumberClass.NATIONAL: DialClass.NATIONAL,
    NumberClass.MOBILE: DialClass.NATIONAL,
    NumberClass.SERVICE: DialClass.NATIONAL,
    NumberClass.INTERNATIONAL: DialClass.INTERNATIONAL,
    NumberClass.PREMIUM: DialClass.INTERNATIONAL,
    NumberClass.UNKNOWN: DialClass.INTERNATIONAL,
}


def normalise(number: str) -> str:
    """Strip what phones add around a number: spaces, dashes, brackets; `+86` becomes the national `0`."""
    digits = re.sub(r"[\s\-()]", "", number)
    if digits.startswith("+86"):
        rest = digits[3:]
        return rest if re.fullmatch(r"1[3-9]\d{9}", rest) else "0" + rest
    if digits.startswith("0086"):
        rest = digits[4:]
        return rest if re.fullmatch(r"1[3-9]\d{9}", rest) else "0" + rest
    return digits


def classify(number: str, extensions: frozenset[str] | set[str] = frozenset()) -> NumberClass:
    n = normalise(number)
    if n.startswith("*"):
        return NumberClass.FEATURE
    if n in extensions:
        return NumberClass.EXTENSION
    if n in EMERGENCY:
        return NumberClass.EMERGENCY
    if n.startswith("+") or n.startswith("00"):
        return NumberClass.INTERNATIONAL
    if re.fullmatch(r"(160|168|1259\d)\d*", n):
        return NumberClass.PREMIUM
    if re.fullmatch(r"1[3-9]\d{9}", n):
        return NumberClass.MOBILE
    if re.fullmatch(r"0[1-9]\d{8,10}", n):
        return NumberClass.NATIONAL
    if re.fullmatch(r"(400|800)\d{7}|9[56]\d{3,6}", n):
        return NumberClass.SERVICE
    if re.fullmatch(r"[2-9]\d{6,7}", n):
        return NumberClass.LOCAL
    return NumberClass.UNKNOWN


@dataclass(frozen=True, slots=True)
class DialDecision:
    number: str
    number_class: NumberClass
    required: DialClass
    allowed: bool


def may_dial(caller_class: DialClass, number: str, extensions: frozenset[str] | set[str] = frozenset()) -> DialDecision:
    cls = classify(number, extensions)
    required = REQUIRED[cls]
    return DialDecision(normalise(number), cls, required, _ORDER[caller_class] >= _ORDER[required])
