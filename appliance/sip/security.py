"""Abuse protection for the SIP front door. Pure logic: `now` comes from the caller.

- A token bucket per source address (requests per second with a burst).
- Digest failures are counted per *source*: at `max_failures` within `window` seconds that source is blocked
  and dropped silently (an attacker learns nothing and costs us nothing); each further block of the same
  source lasts twice the last (`block_seconds` … `max_block_seconds`). An extension is never blocked: that
  would hand anyone who reaches the SIP port a way to take every agent's phone out of service.
- Failures against one extension from many sources (`spread_sources` distinct addresses, `spread_failures`
  in all, within `window`) are an attack on that extension, reported once per window. While it lasts, a
  source that has not authenticated as that extension before (`trust_seconds`) is blocked at its first
  failure: the botnet is slowed to one guess per address and block, while the phone's own address keeps
  its usual allowance.
- How much one source may hold at once: server transactions still waiting for their final answer
  (`max_pending_per_source`) and inbound calls alive (`max_dialogs_per_source`); trunks and
  `trusted_sources` are exempt (a carrier sends all its calls from one address).

Every table is bounded (`max_tracked`, oldest forgotten first), so a flood of made-up names costs nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import Any

from appliance.security.attacks import (
    SpreadDetector,
    SpreadRule,
    doubling_block_seconds,
    keep_block,
    pop_expired,
    remember,
)
from appliance.security.thresholds import check_order, parse_thresholds

MAX_NAME = 64  # characters of an extension name kept from a request


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    rate_per_source: float = 200.0  # requests per second, sustained
    burst_per_source: float = 400.0
    max_failures: int = 5
    window: float = 60.0
    block_seconds: float = 300.0
    max_block_seconds: float = 3600.0
    spread_sources: int = 5
    spread_failures: int = 20
    trust_seconds: float = 30 * 86400.0
    max_pending_per_source: int = 100  # server transactions not answered finally yet
    max_dialogs_per_source: int = 200  # inbound calls alive
    trusted_sources: tuple[str, ...] = ()  # never limited (e.g. the benchmark host, a trusted SBC)
    max_tracked: int = 50_000

    def to_dict(self) -> dict[str, Any]:
        """The thresholds an admin may change (not the trusted sources, not the table bound)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in _RANGES}

    @classmethod
    def parse(cls, data: Any, base: SecurityPolicy | None = None) -> SecurityPolicy:
        """`data` (some or all thresholds) over `base`, or every field it breaks, named."""
        base = base or cls()
        values = parse_thresholds(data, base.to_dict(), _RANGES, "SIP security policy")
        policy = cls(**values, trusted_sources=base.trusted_sources, max_tracked=base.max_tracked)
        check_order(policy, (("block_seconds", "max_block_seconds"), ("rate_per_source", "burst_per_source")),
                    "SIP security policy")
        return policy


_RANGES: dict[str, tuple[float, float]] = {
    "rate_per_source": (1, 100_000), "burst_per_source": (1, 100_000), "max_failures": (1, 1000),
    "window": (1, 86400), "block_seconds": (1, 86400), "max_block_seconds": (1, 7 * 86400),
    "spread_sources": (2, 10_000), "spread_failures": (2, 100_000), "trust_seconds": (0, 365 * 86400),
    "max_pending_per_source": (1, 100_000), "max_dialogs_per_source": (1, 100_000),
}


@dataclass(frozen=True, slots=True)
class Block:
    """A source refused until `until`, after `failures` failed authentications."""

    source: str
    until: float
    seconds: float
    failures: int
    reason: str  # "failures": too many of its own; "attack": a failure during an attack on `extension`
    extension: str = ""


@dataclass(frozen=True, slots=True)
class Attack:
    extension: str
    failures: int
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one failure led to: a new block of its source, a newly detected attack on its extension."""

    block: Block | None = None
    attack: Attack | None = None


@dataclass
class _Track:
    first: float
    count: int = 0
    blocks: int = 0  # blocks so far: the next one lasts twice as long


@dataclass
class Guard:
    policy: SecurityPolicy = field(default_factory=SecurityPolicy)
    _buckets: OrderedDict[str, list[float]] = field(default_factory=OrderedDict)
    _sources: OrderedDict[str, _Track] = field(default_factory=OrderedDict)
    _spread: SpreadDetector = field(default_factory=SpreadDetector)
    _trusted: OrderedDict[tuple[str, str], float] = field(default_factory=OrderedDict)
    _active: dict[str, Block] = field(default_factory=dict)

    def allow(self, source_ip: str, now: float) -> bool:
        """Token bucket: False when the source exceeded its rate (the request is dropped)."""
        p = self.policy
        if source_ip in p.trusted_sources:
            return True
        b = self._buckets.get(source_ip)
        if b is None:
            b = [p.burst_per_source, now]
            remember(self._buckets, source_ip, b, p.max_tracked)
        tokens = min(p.burst_per_source, b[0] + (now - b[1]) * p.rate_per_source)
        b[1] = now
        if tokens < 1.0:
            b[0] = tokens
            return False
        b[0] = tokens - 1.0
        return True

    def exempt(self, source_ip: str) -> bool:
        return source_ip in self.policy.trusted_sources

    # ---- questions

    def is_blocked(self, source: str, now: float) -> bool:
        block = self._active.get(source)
        return block is not None and block.until > now

    def under_attack(self, extension: str, now: float) -> bool:
        return self._spread.under_attack(extension[:MAX_NAME], now)

    def trusted(self, source: str, extension: str, now: float) -> bool:
        at = self._trusted.get((extension[:MAX_NAME], source))
        return at is not None and now - at <= self.policy.trust_seconds

    def blocks(self, now: float) -> list[Block]:
        return sorted((b for b in self._active.values() if b.until > now), key=lambda b: b.source)

    # ---- facts

    def failure(self, source: str, extension: str, now: float) -> Outcome:
        p = self.policy
        extension = extension[:MAX_NAME]
        track = self._sources.get(source)
        if track is None or now - track.first > p.window:
            track = _Track(first=now, blocks=track.blocks if track is not None else 0)
            remember(self._sources, source, track, p.max_tracked)
        else:
            self._sources.move_to_end(source)
        track.count += 1
        attack = self._attack(source, extension, now) if extension else None
        block = None
        if not self.is_blocked(source, now):
            if track.count >= p.max_failures:
                block = self._block(track, source, "failures", extension, now)
            elif extension and self.under_attack(extension, now) and not self.trusted(source, extension, now):
                block = self._block(track, source, "attack", extension, now)
        return Outcome(block, attack)

    def success(self, source: str, extension: str, now: float) -> None:
        track = self._sources.get(source)
        if track is not None:
            track.count = 0  # its earlier blocks still count towards the next one's length
        remember(self._trusted, (extension[:MAX_NAME], source), now, self.policy.max_tracked)

    def lift(self, source: str) -> Block | None:
        """Lift the block of `source` now; its failure count starts again from nothing."""
        block = self._active.pop(source, None)
        track = self._sources.get(source)
        if track is not None:
            track.count = 0
        return block

    def expired(self, now: float) -> list[Block]:
        """Blocks whose time ran out since the last call (each reported once, for the audit log)."""
        return pop_expired(self._active, now)

    # ---- inside

    def _block(self, track: _Track, source: str, reason: str, extension: str, now: float) -> Block:
        p = self.policy
        seconds = doubling_block_seconds(p.block_seconds, track.blocks, p.max_block_seconds)
        block = Block(source, now + seconds, seconds, track.count, reason, extension)
        track.blocks += 1
        track.count = 0
        track.first = now
        keep_block(self._active, source, block, now, p.max_tracked)
        return block

    def _attack(self, source: str, extension: str, now: float) -> Attack | None:
        p = self.policy
        rule = SpreadRule(p.window, p.spread_sources, p.spread_failures, p.max_tracked)
        spread = self._spread.record(extension, source, now, rule)
        return None if spread is None else Attack(spread.target, spread.failures, spread.sources)
