"""The HAL's one protocol: what the E1/PRI and analog stacks call on a card, and what a card calls back.

A backend (serial now, DAHDI later) implements `CardBackend`; the stacks never see its transport. Control
operations are coroutines (a request to the card, answered or timed out); the D-channel and bearer paths
are fire-and-forget calls on the event loop (HDLC frames are datagrams: LAPD recovers loss; bearer frames
are clocked by the card: one in, one out, per 20 ms tick).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from appliance.health import Health
from drivers.hal.models import (
    CardEvent,
    CardInfo,
    Loopback,
    PortCommand,
    PortConfig,
    SpanConfig,
    SpanStatus,
    UnitKind,
)


@dataclass(frozen=True, slots=True)
class BearerFrames:
    """One 20 ms tick of bearer audio for one unit (an E1 span, or an analog port): `frames` maps the
    channel (timeslot 1..31 of a span; 1 for a port) to 160 bytes of A-law. From the card, `tick` is the
    card's frame counter for the unit (it counts on the card's clock, so a gap is a lost frame); to the card
    it echoes the tick the frames answer."""

    kind: UnitKind
    unit: int
    tick: int
    frames: Mapping[int, bytes]


class CardListener(Protocol):
    """Where a card delivers what it sees; both methods run on the event loop and must be quick."""

    def card_event(self, event: CardEvent) -> None: ...

    def bearer(self, frames: BearerFrames) -> None:
        """One tick of received audio; answer it with `CardBackend.send_bearer` for the same unit."""


class CardBackend(Protocol):
    @property
    def info(self) -> CardInfo:
        """What `open` found (raises before it)."""

    async def open(self, listener: CardListener) -> CardInfo:
        """Connect to the card, identify it and start its event and bearer streams."""

    async def close(self) -> None: ...

    async def configure_span(self, span: int, config: SpanConfig) -> None: ...

    async def span_status(self, span: int) -> SpanStatus: ...

    async def loopback(self, span: int, mode: Loopback) -> None: ...

    async def port_command(self, port: int, command: PortCommand) -> None: ...

    async def configure_port(self, port: int, config: PortConfig) -> None:
        """An analog port's line settings (impedance, region); a card refuses ones it cannot do."""

    def send_dchannel(self, span: int, frame: bytes) -> None:
        """One HDLC frame for the span's D-channel, with its two FCS bytes (`crc.add_fcs`)."""

    def send_bearer(self, frames: BearerFrames) -> None: ...

    def health(self) -> Health: ...
