"""Sign-in failure policy: per (source, account) pair, never per account alone. Pure logic: `now` comes in.

- A pair's first failures are answered at once; then each is answered after a delay that doubles
  (`base_delay` … `max_delay`); at `max_failures` within `window` the pair is blocked, and each further block
  of the same pair lasts twice the last (`block_seconds` … `max_block_seconds`). The account's owner, signing in
  from another address, is not affected: locking the account would hand any attacker a way to lock every
  agent out.
- One source failing against many accounts (password spraying) is blocked as a whole source at
  `source_max_failures`, except for the accounts that signed in from it before.
- Failures against one account from many sources (`spread_sources` distinct addresses, `spread_failures` in
  all, within `window`) are an attack on that account: it is reported once per window, and while it lasts every
  failure from a source that has not signed in to the account before is delayed (at least `spread_delay`), so
  a botnet is slowed while the owner's own address keeps its usual treatment.
- A source that signed in successfully to an account is trusted for it for `trust_seconds`.

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

MAX_NAME = 64  # characters of an account name kept: a made-up kilobyte-long name is not stored whole


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    free_failures: int = 5  # a typing owner gets a few quick answers
    base_delay: float = 0.25
    max_delay: float = 2.0
    max_failures: int = 10
    block_seconds: float = 300.0
    max_block_seconds: float = 3600.0
    source_max_failures: int = 50
    window: float = 900.0
    spread_sources: int = 5
    spread_failures: int = 20
    spread_delay: float = 2.0
    trust_seconds: float = 30 * 86400.0
    max_tracked: int = 50_000

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "max_tracked"}

    @classmethod
    def parse(cls, data: Any, base: LockoutPolicy | None = None) -> LockoutPolicy:
        """`data` (some or all thresholds) over `base`, or every field it breaks, named."""
        base = base or cls()
        values = parse_thresholds(data, base.to_dict(), _RANGES, "login policy")
        policy = cls(**values, max_tracked=base.max_tracked)
        check_order(policy, (("base_delay", "max_delay"), ("block_seconds", "max_block_seconds"),
                             ("max_failures", "source_max_failures")), "login policy")
        return policy


_RANGES: dict[str, tuple[float, float]] = {
    "free_failures": (0, 100), "base_delay": (0, 60), "max_delay": (0, 60), "max_failures": (1, 1000),
    "block_seconds": (1, 86400), "max_block_seconds": (1, 7 * 86400), "source_max_failures": (1, 100_000),
    "window": (1, 86400), "spread_sources": (2, 10_000), "spread_failures": (2, 100_000), "spread_delay": (0, 60),
    "trust_seconds": (0, 365 * 86400),
}


@dataclass(frozen=True, slots=True)
class Block:
    """A refusal in force: a pair (`account` set) or a whole source (`account` empty)."""

    source: str
    account: str
    until: float
    seconds: float
    failures: int

    def to_dict(self, now: float) -> dict[str, Any]:
        return {"source": self.source, "account": self.account, "scope": "pair" if self.account else "source",
                "until": self.until, "seconds_left": max(0, round(self.until - now)), "failures": self.failures}


@dataclass(frozen=True, slots=True)
class Attack:
    account: str
    failures: int
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one failure leads to: how long to hold the answer, a new block, a newly detected attack."""

    delay: float = 0.0
    block: Block | None = None
    attack: Attack | None = None


@dataclass
class _Track:
    first: float
    count: int = 0
    blocks: int = 0  # blocks so far: the next one lasts twice as long
    until: float = 0.0


@dataclass
class Lockout:
    policy: LockoutPolicy = field(default_factory=LockoutPolicy)
    _pairs: OrderedDict[tuple[str, str], _Track] = field(default_factory=OrderedDict)
    _sources: OrderedDict[str, _Track] = field(default_factory=OrderedDict)
    _spread: SpreadDetector = field(default_factory=SpreadDetector)
    _trusted: OrderedDict[tuple[str, str], float] = field(default_factory=OrderedDict)
    _active: dict[tuple[str, str], Block] = field(default_factory=dict)

    # ---- questions

    def blocked(self, source: str, account: str, now: float) -> Block | None:
        account = account[:MAX_NAME]
        pair = self._active.get((source, account))
        if pair is not None and pair.until > now:
            return pair
        # A whole-source block spares an account that signed in from there before: behind one NAT address,
        # a colleague spraying guesses must not lock out the owner at their own desk.
        whole = self._active.get((source, ""))
        if whole is not None and whole.until > now and not self.trusted(source, account, now):
            return whole
        return None

    def under_attack(self, account: str, now: float) -> bool:
        return self._spread.under_attack(account[:MAX_NAME], now)

    def trusted(self, source: str, account: str, now: float) -> bool:
        at = self._trusted.get((account[:MAX_NAME], source))
        return at is not None and now - at <= self.policy.trust_seconds

    def blocks(self, now: float) -> list[Block]:
        return sorted((b for b in self._active.values() if b.until > now), key=lambda b: (b.source, b.account))

    # ---- facts

    def failure(self, source: str, account: str, now: float) -> Outcome:
        p = self.policy
        account = account[:MAX_NAME]
        pair = self._track(self._pairs, (source, account), now)
        pair.count += 1
        delay = 0.0 if pair.count <= p.free_failures else min(
            p.base_delay * 2 ** (pair.count - p.free_failures - 1), p.max_delay)
        block = None
        if pair.count >= p.max_failures:
            block = self._block(pair, source, account, now)
        spray = self._track(self._sources, source, now)
        spray.count += 1
        if spray.count >= p.source_max_failures and block is None:
            block = self._block(spray, source, "", now)
        attack = self._attack(source, account, now)
        if self.under_attack(account, now) and not self.trusted(source, account, now):
            delay = max(delay, p.spread_delay)
        return Outcome(delay, block, attack)

    def success(self, source: str, account: str, now: float) -> None:
        account = account[:MAX_NAME]
        self._pairs.pop((source, account), None)
        remember(self._trusted, (account, source), now, self.policy.max_tracked)

    def lift(self, source: str, account: str | None) -> list[Block]:
        """Lift the blocks of `source` (all of them, or only the one against `account`)."""
        keys = [k for k in self._active if k[0] == source and (account is None or k[1] == account[:MAX_NAME])]
        lifted = [self._active.pop(k) for k in keys]
        for src, acct in keys:
            track = self._pairs.get((src, acct)) if acct else self._sources.get(src)
            if track is not None:
                track.count, track.until = 0, 0.0
        return lifted

    def expired(self, now: float) -> list[Block]:
        """Blocks whose time ran out since the last call (each reported once, for the audit log)."""
        return pop_expired(self._active, now)

    # ---- inside

    def _track(self, table: OrderedDict[Any, _Track], key: Any, now: float) -> _Track:
        track = table.get(key)
        if track is None or (now - track.first > self.policy.window and track.until <= now):
            blocks = track.blocks if track is not None else 0
            track = _Track(first=now, blocks=blocks)
            remember(table, key, track, self.policy.max_tracked)
        else:
            table.move_to_end(key)
        return track

    def _block(self, track: _Track, source: str, account: str, now: float) -> Block:
        p = self.policy
        seconds = doubling_block_seconds(p.block_seconds, track.blocks, p.max_block_seconds)
        block = Block(source, account, now + seconds, seconds, track.count)
        track.blocks += 1
        track.count = 0
        track.first = now
        track.until = block.until
        keep_block(self._active, (source, account), block, now, p.max_tracked)
        return block

    def _attack(self, source: str, account: str, now: float) -> Attack | None:
        p = self.policy
        rule = SpreadRule(p.window, p.spread_sources, p.spread_failures, p.max_tracked)
        spread = self._spread.record(account, source, now, rule)
        return None if spread is None else Attack(spread.target, spread.failures, spread.sources)

