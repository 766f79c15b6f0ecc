"""The live calls, and which call each leg and media endpoint belongs to.

Leg and media events name a leg or an endpoint, never a call; these maps are how they find their call's
inbox. A leg or endpoint is mapped while its call holds it and forgotten when it ends or moves to another call
(an attended transfer hands a leg over).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from appliance.calls.live import LiveCall
from appliance.calls.messages import CallMessage
from appliance.calls.models import LegState
from appliance.legs.models import CallLeg


@dataclass
class CallRegistry:
    calls: dict[str, LiveCall] = field(default_factory=dict)
    by_leg: dict[str, str] = field(default_factory=dict)
    by_endpoint: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, wall: float) -> str:
        return f"c{int(wall)}-{next(self._ids)}"

    def add(self, live: LiveCall) -> None:
        self.calls[live.call.id] = live

    def remove(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    def post(self, call_id: str, message: CallMessage) -> bool:
        """Put `message` in the call's inbox; False when the call is gone."""
        live = self.calls.get(call_id)
        if live is None:
            return False
        live.inbox.put_nowait(message)
        return True

    def call_of_leg(self, leg_id: str) -> str | None:
        return self.by_leg.get(leg_id)

    def call_of_endpoint(self, endpoint_id: str) -> str | None:
        return self.by_endpoint.get(endpoint_id)

    def map_leg(self, leg_id: str, call_id: str) -> None:
        self.by_leg[leg_id] = call_id

    def map_endpoint(self, endpoint_id: str, call_id: str) -> None:
        self.by_endpoint[endpoint_id] = call_id

    def forget_leg(self, leg_id: str) -> None:
        self.by_leg.pop(leg_id, None)

    def adopt_leg(self, live: LiveCall, leg: CallLeg, state: LegState) -> None:
        """A new leg of this call (its media opened by its provider): its events and media come here."""
        state.endpoint_id = leg.endpoint_id
        live.call.legs[leg.leg_id] = state
        self.map_leg(leg.leg_id, live.call.id)
        if leg.endpoint_id is not None:
            self.map_endpoint(leg.endpoint_id, live.call.id)

    def release_endpoint(self, state: LegState) -> None:
        """The leg's media is gone (its provider released it as the leg ended): forget it, and keep the quality
        the provider measured (`CallLeg.mos`, the one source of a leg's MOS; None where it measures none)."""
        endpoint_id = state.endpoint_id
        if endpoint_id is None:
            return
        state.endpoint_id = None
        state.mos = state.leg.mos
        self.by_endpoint.pop(endpoint_id, None)
