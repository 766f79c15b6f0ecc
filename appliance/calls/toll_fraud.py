"""Toll-fraud guards for calls out to the network, on top of the dial class (`dialplan.may_dial`).

A stolen extension password is used to place as many expensive calls as fast as possible, often at night.
So, per the `toll_fraud` setting (each limit 0 = none):
- at most `max_concurrent_per_extension` outbound calls at once from one extension, and
  `max_concurrent_per_trunk` at once on one trunk;
- at most `max_per_minute_per_extension` outbound attempts a minute from one extension, and
  `max_per_minute` from the whole box;
- `hours`: a dial class may be allowed only between two local hours (e.g. international 8-20);
- `burst_international` international or premium attempts (allowed or not) within `burst_window` seconds,
  from the whole box, raise `calls.toll_fraud_suspected` once per window: the NOC hears of it while it happens.
Pure logic: counts of live calls and `now` come in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from appliance.domain.models import DialClass
from appliance.errors import FieldError, ValidationFailed

SETTING = "toll_fraud"
EXPENSIVE = frozenset({"international", "premium"})  # dialplan.NumberClass values


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    max_concurrent_per_extension: int = 4
    max_concurrent_per_trunk: int = 0
    max_per_minute_per_extension: int = 10
    max_per_minute: int = 0
    burst_international: int = 10
    burst_window: int = 300
    hours: dict[str, tuple[int, int]] = field(default_factory=dict)  # dial class -> [from, to) local hours

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["hours"] = {k: list(v) for k, v in self.hours.items()}
        return data

    @classmethod
    def parse(cls, data: Any) -> OutboundPolicy:
        """The `toll_fraud` setting, or every field it breaks, named."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValidationFailed([FieldError(SETTING, "type", f"{SETTING}: an object", f"{SETTING}: 应为对象")])
        problems: list[FieldError] = []
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "hours":
                values["hours"] = _hours(value, problems)
            elif name in _LIMITS:
                if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100_000:
                    values[name] = value
                else:
                    problems.append(FieldError(f"{SETTING}.{name}", "range", f"{name}: an integer from 0 to 100000",
                                               f"{name}: 应为 0 到 100000 之间的整数"))
            else:
                problems.append(FieldError(f"{SETTING}.{name}", "unknown", f"{name}: no such limit",
                                           f"{name}: 没有此限制"))
        if problems:
            raise ValidationFailed(problems, SETTING)
        return cls(**values)


_LIMITS = {f.name for f in fields(OutboundPolicy)} - {"hours"}


def policy_of(settings: Mapping[str, Any]) -> OutboundPolicy:
    """The box's policy; a bad stored value falls back to the defaults (never to no guard at all)."""
    try:
        return OutboundPolicy.parse(settings.get(SETTING))
    except ValidationFailed:
        return OutboundPolicy()


def _hours(value: Any, problems: list[FieldError]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    if not isinstance(value, dict):
        problems.append(FieldError(f"{SETTING}.hours", "type", "hours: an object of dial class → [from, to]",
                                   "hours: 应为 拨号权限 → [开始, 结束] 的对象"))
        return out
    for name, span in value.items():
        where = f"{SETTING}.hours.{name}"
        if name not in {c.value for c in DialClass}:
            problems.append(FieldError(where, "choice", f"{name}: not a dial class", f"{name}: 不是拨号权限"))
        elif (not isinstance(span, list | tuple) or len(span) != 2
              or not all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 24 for h in span)
              or span[0] == span[1]):
            problems.append(FieldError(where, "hours", f"{name}: [from, to], two different hours from 0 to 24",
                                       f"{name}: [开始, 结束], 0 到 24 之间两个不同的整点"))
        else:
            out[name] = (int(span[0]), int(span[1]))
    return out


def within(span: tuple[int, int], hour: int) -> bool:
    start, end = span
    return start <= hour < end if start < end else hour >= start or hour < end  # 20-8 wraps past midnight


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str  # the reason noted on the call and in its CDR
    detail: str


@dataclass
class OutboundGuard:
    """Attempt history (per extension and for the box) and the burst alarm's state."""

    _attempts: dict[str, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=deque)
    _expensive: deque[float] = field(default_factory=deque)
    _alarmed_until: float = 0.0

    def attempt(self, policy: OutboundPolicy, extension: str, number_class: str, now: float) -> int | None:
        """Count one attempt to dial out; returns the number of expensive attempts when they become a burst."""
        mine = self._attempts.setdefault(extension, deque())
        for q, span in ((mine, 60.0), (self._all, 60.0)):
            q.append(now)
            while q and now - q[0] > span:
                q.popleft()
        if len(self._attempts) > 10_000:  # extensions that stopped calling
            for key in [k for k, q in self._attempts.items() if not q or now - q[-1] > 60.0]:
                del self._attempts[key]
        if number_class not in EXPENSIVE or not policy.burst_international:
            return None
        self._expensive.append(now)
        while self._expensive and now - self._expensive[0] > policy.burst_window:
            self._expensive.popleft()
        if len(self._expensive) >= policy.burst_international and now >= self._alarmed_until:
            self._alarmed_until = now + policy.burst_window
            return len(self._expensive)
        return None

    def check(self, policy: OutboundPolicy, extension: str, required: DialClass, local_hour: int,
              active: int) -> Refusal | None:
        """Whether this attempt (already counted) may go out: `active` outbound calls of the extension now."""
        span = policy.hours.get(required.value)
        if span is not None and not within(span, local_hour):
            return Refusal("outside_hours", f"{required.value} calls only from {span[0]}:00 to {span[1]}:00")
        if policy.max_concurrent_per_extension and active >= policy.max_concurrent_per_extension:
            return Refusal("too_many_calls", f"{active} outbound calls already up from {extension}")
        mine = len(self._attempts.get(extension, ()))
        if policy.max_per_minute_per_extension and mine > policy.max_per_minute_per_extension:
            return Refusal("rate_limited", f"{mine} attempts in a minute from {extension}")
        if policy.max_per_minute and len(self._all) > policy.max_per_minute:
            return Refusal("rate_limited", f"{len(self._all)} outbound attempts in a minute from the box")
        return None
