"""What every part of the media engine shares: configuration, the bus, the injected clock, the endpoints, the
compiled packet path, and the flag that says the tick's plan is out of date.

The engine is one façade (`service.MediaEngine`) over parts with one job each — `ports` (sockets, latching),
`packets` (the per-packet path), `bridges` (relay or mix), `playback` (prompts, tones, DTMF), `recordings`,
`rtcp_reports`, `frames` (frame ports) and `tick` (the 20 ms clock). They hold a `Core` rather than each other
where they only need these tables, so the wiring stays one-way where it can.

Time is read only through `now` (the injected clock's `monotonic`, bound once) and `clock.wall()`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.clock import Clock
from appliance.events import EventBus
from appliance.media.endpoint import Endpoint
from appliance.media.errors import unknown_endpoint
from appliance.media.fast_relay import FastRelay
from appliance.media.jitter import JitterBuffer
from appliance.media.models import MediaConfig


@dataclass(eq=False, slots=True)
class Core:
    config: MediaConfig
    bus: EventBus
    clock: Clock
    fast: FastRelay | None  # the compiled packet path, when it is built and matches (fast_relay.load)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    # which legs the tick decodes, mixes and sends is planned once per change, not per tick; anything that
    # changes a leg's part in the tick (bridge, player, codec, jitter buffer, frame port) sets this
    plan_dirty: bool = True
    now: Callable[[], float] = field(init=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.now = self.clock.monotonic

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def endpoint(self, endpoint_id: str) -> Endpoint:
        ep = self.endpoints.get(endpoint_id)
        if ep is None:
            raise unknown_endpoint(endpoint_id)
        return ep

    def new_jitter(self, ep: Endpoint) -> JitterBuffer:
        return JitterBuffer(ep.law, self.config.jitter_min_delay, self.config.jitter_max_delay)

    # A handed-over leg's per-packet state lives in the compiled path's table: `own` takes it back before
    # anything else touches it, `sync` copies it out for reading (RTCP, time-outs, statistics) while C goes on.

    def own(self, ep: Endpoint) -> None:
        if self.fast is not None:
            self.fast.own(ep)

    def sync(self, ep: Endpoint) -> None:
        if self.fast is not None:
            self.fast.sync(ep)
