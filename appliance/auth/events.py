"""What authentication publishes on the bus: sign-in blocks and their end (the monitor keeps blocks in the
alarm table; the SNMP agent sends them as brute-force notifications), and an account attacked from many
sources at once (a public event: the NOC is told even though no single source crossed its limit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginBlocked(Event):
    """`failures` failed web sign-ins from `source` (an address): it is refused for `seconds`, for `account`
    only, or for every account when `account` is empty (one source guessing many accounts)."""

    topic: ClassVar[str] = "auth.login_blocked"
    source: str
    seconds: float
    failures: int
    account: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginUnblocked(Event):
    """A block ended: `reason` is "expired" or "lifted" (by an admin)."""

    topic: ClassVar[str] = "auth.login_unblocked"
    source: str
    account: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginUnderAttack(Event):
    """Failed sign-ins to `account` from many `sources` within the policy's window (once per window)."""

    topic: ClassVar[str] = "auth.login_under_attack"
    account: str
    failures: int
    sources: list[str]
