"""What the analog driver publishes on the event bus (internal: `docs/EVENTS.md` lists the public ones)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class PortStateChanged(Event):
    """A port went idle, ringing, off hook, into a call, or faulted (and back): faults and their recovery."""

    topic: ClassVar[str] = "analog.port_state"
    card: str = ""  # the card's id (empty when the card never opened)
    port: int
    kind: str  # fxo | fxs
    state: str
    detail: str = ""
