"""Thresholds an admin changes through the API (the SIP guard's and the sign-in lockout's policies): a partial
update checked against each threshold's range and kind, and pairs that must stay in order. Every field the
update breaks is named at once, in both languages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from appliance.errors import FieldError, ValidationFailed


def parse_thresholds(data: Any, current: Mapping[str, Any], ranges: Mapping[str, tuple[float, float]],
                     what: str) -> dict[str, Any]:
    """`current` with `data` (some or all of its thresholds) laid over it. A threshold keeps its kind: an int
    one takes only whole numbers."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("(body)", "type", "the body must be a JSON object",
                                           "请求体应为 JSON 对象")], what)
    problems: list[FieldError] = []
    values = dict(current)
    for name, value in data.items():
        if name not in values:
            problems.append(FieldError(name, "unknown", f"{name}: no such threshold", f"{name}: 没有此阈值"))
            continue
        kind = int if isinstance(values[name], int) else float
        ok = isinstance(value, int | float) and not isinstance(value, bool) and (
            kind is float or float(value).is_integer())
        low, high = ranges[name]
        if not ok or not low <= value <= high:
            problems.append(FieldError(name, "range", f"{name}: a number from {low:g} to {high:g}",
                                       f"{name}: 应为 {low:g} 到 {high:g} 之间的数"))
            continue
        values[name] = kind(value)
    if problems:
        raise ValidationFailed(problems, what)
    return values


def check_order(policy: object, pairs: Sequence[tuple[str, str]], what: str) -> None:
    """Each (low, high) pair of `policy`'s thresholds in order, or the first that is not, named."""
    for low_name, high_name in pairs:
        if getattr(policy, low_name) > getattr(policy, high_name):
            raise ValidationFailed([FieldError(low_name, "order", f"{low_name}: at most {high_name}",
                                               f"{low_name}: 不能大于 {high_name}")], what)
