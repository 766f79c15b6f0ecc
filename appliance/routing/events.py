"""Events of inbound routing (`routing.*`): the decision for each call, for the CDR and the live view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event
from appliance.routing.router import RouteDecision


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRouted(Event):
    topic: ClassVar[str] = "routing.call_routed"
    call_id: str
    did: str
    caller: str
    period: str
    destination_kind: str
    destination: str
    vip: bool = False
    blacklisted: bool = False
    rejected: bool = False

    @classmethod
    def of(cls, call_id: str, decision: RouteDecision, at: float) -> CallRouted:
        return cls(
            at=at,
            call_id=call_id,
            did=decision.did,
            caller=decision.caller,
            period=decision.period.value if decision.period else "",
            destination_kind=decision.destination.kind,
            destination=decision.destination.target,
            vip=decision.vip,
            blacklisted=decision.blacklisted,
            rejected=decision.reject,
        )
