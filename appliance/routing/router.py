"""Inbound routing decision for one call: DID + caller + wall-clock time → where the call goes.

Pure: built from a `RoutingConfig` snapshot (rebuild the `Router` when configuration changes; calls already
routed are unaffected). Call control uses it as:

    decision = router.route(did="8000", caller="13800000000", wall=clock.wall())
    if decision.reject: refuse with decision.reject_cause (Q.850; SIP answers its RFC 3398 status)
    elif decision.destination.kind == "flow": start an IvrSession on decision.destination.target,
         with language=decision.language and vip=decision.vip
    else: queue / extension / voicemail / external / prompt / hangup as named

`period_of(schedule, wall)` answers IVR "time period" conditions from the same schedules.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.ivr.models import Language
from appliance.legs.causes import Cause
from appliance.routing.models import (
    AccessNumber,
    BlacklistTreatment,
    Destination,
    RoutingConfig,
)
from appliance.routing.schedule import CompiledSchedule, TimePeriod
from appliance.sip.causes import cause_from_status

# Where a period without its own route looks next, before the access number's default.
FALLBACK: dict[TimePeriod, tuple[TimePeriod, ...]] = {
    TimePeriod.SPECIAL_WORKDAY: (TimePeriod.WORK_HOURS,),
    TimePeriod.HOLIDAY: (TimePeriod.OFF_HOURS,),
    TimePeriod.WEEKEND: (TimePeriod.OFF_HOURS,),
    TimePeriod.WORK_HOURS: (),
    TimePeriod.OFF_HOURS: (),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDecision:
    did: str
    caller: str
    known_did: bool
    period: TimePeriod | None  # None when the DID is unknown
    destination: Destination
    vip: bool = False
    language: Language = "zh-CN"
    blacklisted: bool = False
    reject: bool = False  # refuse without answering
    sip_status: int = 0  # with reject: the configured SIP status

    @property
    def reject_cause(self) -> Cause:
        return cause_from_status(self.sip_status or 603)


def normalise_number(number: str) -> str:
    """Digits only, keeping a leading '+': caller IDs arrive as "+86 138-0000-0000", "tel:...", etc."""
    number = number.strip()
    if number.startswith("tel:"):
        number = number[4:]
    plus = number.startswith("+")
    digits = "".join(ch for ch in number if ch.isdigit())
    return ("+" if plus else "") + digits


def national_number(number: str) -> str:
    """The form DIDs and blacklist entries are compared in: normalised, +86 / 0086 dropped."""
    return _national(normalise_number(number))


def _national(number: str) -> str:
    """The national form used for blacklist matching: +86 / 0086 country codes dropped."""
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            return number[len(prefix) :]
    return number.lstrip("+")


class Router:
    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self._schedules = {s.name: CompiledSchedule.of(s) for s in config.schedules}
        # Trunks present the same DID with or without the country code; match on the national form.
        self._dids = {_national(normalise_number(a.number)): a for a in config.access_numbers}
        self._exact = {_national(normalise_number(e.number)) for e in config.blacklist if e.match == "exact"}
        self._prefixes = tuple(
            _national(normalise_number(e.number)) for e in config.blacklist if e.match == "prefix"
        )

    def period_of(self, schedule: str, wall: float) -> str:
        compiled = self._schedules.get(schedule)
        return compiled.classify(wall).value if compiled else ""

    def is_blacklisted(self, caller: str) -> bool:
        number = _national(normalise_number(caller))
        if not number:
            return False
        return number in self._exact or any(number.startswith(p) for p in self._prefixes if p)

    def access_number(self, did: str) -> AccessNumber | None:
        return self._dids.get(_national(normalise_number(did)))

    def route(self, *, did: str, caller: str, wall: float) -> RouteDecision:
        access = self.access_number(did)
        if access is None:
            return RouteDecision(
                did=did, caller=caller, known_did=False, period=None, destination=self.config.unknown_did
            )
        period = self._period(access, wall)
        if self.is_blacklisted(caller):
            treatment = access.blacklist_treatment or self.config.blacklist_treatment
            return self._blacklisted(access, caller, period, treatment)
        return RouteDecision(
            did=access.number,
            caller=caller,
            known_did=True,
            period=period,
            destination=self._destination(access, period),
            vip=access.vip,
            language=access.language,
        )

    def _period(self, access: AccessNumber, wall: float) -> TimePeriod:
        compiled = self._schedules.get(access.schedule)
        # Validation rejects unknown schedules; an access number without one is treated as always open.
        return compiled.classify(wall) if compiled else TimePeriod.WORK_HOURS

    @staticmethod
    def _destination(access: AccessNumber, period: TimePeriod) -> Destination:
        routes = {r.period: r.destination for r in access.routes}
        for candidate in (period, *FALLBACK[period]):
            if candidate.value in routes:
                return routes[candidate.value]
        return access.default

    @staticmethod
    def _blacklisted(
        access: AccessNumber, caller: str, period: TimePeriod, treatment: BlacklistTreatment
    ) -> RouteDecision:
        reject = treatment.action == "reject"
        if treatment.action == "prompt":
            destination = Destination(kind="prompt", target=treatment.prompt)
        elif treatment.action == "flow":
            destination = Destination(kind="flow", target=treatment.flow)
        else:
            destination = Destination(kind="hangup")
        return RouteDecision(
            did=access.number,
            caller=caller,
            known_did=True,
            period=period,
            destination=destination,
            language=access.language,
            blacklisted=True,
            reject=reject,
            sip_status=treatment.sip_status if reject else 0,
        )


class RoutingTable:
    """The router in force: configuration edits replace it whole, and each call routes with the one it finds."""

    def __init__(self, config: RoutingConfig) -> None:
        self._router = Router(config)

    @property
    def router(self) -> Router:
        return self._router

    def replace(self, config: RoutingConfig) -> None:
        self._router = Router(config)
