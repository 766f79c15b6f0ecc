"""Abuse protection for the SIP front door.

A token bucket per source address (requests per second with a burst) and failure counting for digest
authentication: after `max_failures` failures within `window` seconds from one source, that source is blocked
for `block_seconds` and dropped silently (an attacker learns nothing and costs us nothing). Failures against
one extension are counted too, but only to report an attack: blocking an extension would hand any attacker a
way to take agents' phones out of service. Pure logic: `now` comes from the caller.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    rate_per_source: float = 200.0  # requests per second, sustained
    burst_per_source: float = 400.0
    max_failures: int = 5
    window: float = 60.0
    block_seconds: float = 300.0
    trusted_sources: tuple[str, ...] = ()  # never rate limited (e.g. the benchmark host, a trusted SBC)


class _Failures:
    __slots__ = ("blocked_until", "count", "first")

    def __init__(self, now: float) -> None:
        self.count = 0
        self.first = now
        self.blocked_until = 0.0


class Guard:
    def __init__(self, policy: SecurityPolicy, max_tracked: int = 50_000) -> None:
        self.policy = policy
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self._fail: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._max = max_tracked

    def allow(self, source_ip: str, now: float) -> bool:
        """Token bucket: False when the source exceeded its rate (the request is dropped)."""
        p = self.policy
        if source_ip in p.trusted_sources:
            return True
        b = self._buckets.get(source_ip)
        if b is None:
            b = [p.burst_per_source, now]
            self._buckets[source_ip] = b
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        tokens = min(p.burst_per_source, b[0] + (now - b[1]) * p.rate_per_source)
        b[1] = now
        if tokens < 1.0:
            b[0] = tokens
            return False
        b[0] = tokens - 1.0
        return True

    def is_blocked(self, kind: str, key: str, now: float) -> bool:
        f = self._fail.get((kind, key))
        return f is not None and f.blocked_until > now

    def failure(self, kind: str, key: str, now: float) -> int | None:
        """Count one failure; returns the failure count when this one causes a block, else None."""
        k = (kind, key)
        f = self._fail.get(k)
        if f is None or now - f.first > self.policy.window:
            f = _Failures(now)
            self._fail[k] = f
            if len(self._fail) > self._max:
                self._fail.popitem(last=False)
        f.count += 1
        if f.count >= self.policy.max_failures and f.blocked_until <= now:
            f.blocked_until = now + self.policy.block_seconds
            return f.count
        return None

    def success(self, kind: str, key: str) -> None:
        f = self._fail.get((kind, key))
        if f is not None and f.blocked_until == 0.0:
            del self._fail[(kind, key)]
