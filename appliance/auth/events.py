"""What authentication publishes on the bus: a source was blocked after repeated failed sign-ins (the
monitor keeps it in the alarm table; the SNMP agent sends it as a brute-force notification)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginBlocked(Event):
    """`failures` failed web sign-ins from `source` (an address): it is refused for `seconds`."""

    topic: ClassVar[str] = "auth.login_blocked"
    source: str
    seconds: float
    failures: int
