"""What the network service publishes (internal: not part of the public event contract)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, kw_only=True)
class NetworkApplied(Event):
    topic: ClassVar[str] = "network.applied"
    change_id: str
    confirm_within: float


@dataclass(frozen=True, kw_only=True)
class NetworkConfirmed(Event):
    topic: ClassVar[str] = "network.confirmed"
    change_id: str
    source: str


@dataclass(frozen=True, kw_only=True)
class NetworkReverted(Event):
    topic: ClassVar[str] = "network.reverted"
    change_id: str
    reason: str  # "timeout" | "requested" | "failed" | "boot"
