"""The telephony side of the box as one service: the lifecycle and live configuration of SIP, media, IVR,
the ACD, the leg providers and call control — all built by the composition root (`appliance.app`) and
passed in here.

`start()` opens the media ports, then IVR, call control and the SIP sockets; `stop()` releases them in the
reverse order (calls first, then SIP, then media). Configuration edits are applied live: the ACD gets a new
configuration, the router and the IVR's flow versions are rebuilt, the SIP trunks follow; calls in
progress keep what they started with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.acd.engine import AcdEngine
from appliance.calls.acd_config import acd_config
from appliance.calls.controller import CallController
from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.ivr.library import FlowRepository
from appliance.ivr.service import IvrService
from appliance.legs.factory import LegFactory
from appliance.media.service import MediaEngine
from appliance.routing.models import BlacklistTreatment, RoutingConfig
from appliance.routing.router import RoutingTable
from appliance.sip.service import SipService
from appliance.sip.trunk_config import sip_trunks
from appliance.store.config_store import ConfigStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TelephonyConfig:
    bind: str = "127.0.0.1"
    sip_port: int = 5060  # UDP and TCP; TLS on the next port (0: the OS chooses each)
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    rtp_timeout: float = 30.0


def routing_config(store: ConfigStore) -> RoutingConfig:
    settings = store.settings
    treatment = settings.get("blacklist_treatment") or {}
    return RoutingConfig(
        schedules=tuple(store.list("schedules")),
        access_numbers=tuple(store.list("dids")),
        blacklist=tuple(store.list("blacklist")),
        blacklist_treatment=BlacklistTreatment(**treatment) if treatment else BlacklistTreatment(),
    )


def acd_config_of(store: ConfigStore) -> Any:
    entities = {k.name: store.list(k.name) for k in store.kinds}
    return acd_config(entities, store.settings)


@dataclass
class CallService:
    config: TelephonyConfig
    store: ConfigStore
    bus: EventBus
    sip: SipService
    media: MediaEngine
    ivr: IvrService
    acd: AcdEngine
    legs: LegFactory
    routing: RoutingTable
    flows: FlowRepository
    controller: CallController
    name: str = "telephony"
    _subs: list[Any] = field(default_factory=list)
    _started: bool = False

    def _reconfigure(self, event: Event) -> None:
        self._reload(getattr(event, "kind", None))

    def _reload(self, kind: str | None) -> None:
        """Apply the stored configuration of `kind` (None: everything)."""
        try:
            if kind in (None, "queues", "staff", "vip_list", "pause_reasons"):
                # an agent who can now serve a waiting call is offered it at once
                self.controller.dispatch_acd(self.acd.configure(acd_config_of(self.store)))
            if kind in (None, "trunks"):
                # Trunks route calls at once; registrations start, stop (un-REGISTER) or restart with the edit.
                self.sip.set_trunks(sip_trunks(self.store.list("trunks")))
                self._warn_driverless_trunks()
            if kind in (None, "schedules", "dids", "blacklist"):
                self.routing.replace(routing_config(self.store))
            if kind in (None, "ivr_flows"):
                current = self.flows.snapshot()
                for flow in self.store.list("ivr_flows"):
                    if current.flows.get(flow.name) != flow:
                        self.flows.publish(flow)
        except Exception:
            log.exception("applying a configuration change failed; the previous one stays in force")

    def driverless_trunks(self) -> list[str]:
        """Enabled trunks whose kind has no leg provider installed (a PRI span with no card driver)."""
        return [f"{t.id} ({t.kind.value})" for t in self.store.list("trunks")
                if t.enabled and not self.legs.provides(t.kind.value)]

    def _warn_driverless_trunks(self) -> None:
        for trunk in self.driverless_trunks():
            log.warning("trunk %s carries no calls: its driver is not installed", trunk)

    async def start(self) -> None:
        self._reload(None)  # the store may have been seeded or imported since construction
        steps: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
            (self.media.start, self.media.stop), (self.ivr.start, self.ivr.stop),
            (self.controller.start, self.controller.stop), (self.sip.start, self.sip.stop)]
        done: list[Callable[[], Any]] = []
        try:
            for start, stop in steps:
                await start()
                done.append(stop)
        except BaseException:
            for stop in reversed(done):
                await stop()
            raise
        self._subs = [self.bus.subscribe(self._reconfigure, {"config.changed", "config.replaced"})]
        self._started = True

    async def stop(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []
        await self.controller.stop()
        await self.sip.stop()
        await self.ivr.stop()
        await self.media.stop()
        self._started = False

    def listening(self) -> list[str]:
        ports = self.sip.ports
        lines = [f"sip   {proto.lower()} {self.config.bind}:{port}" for proto, port in sorted(ports.items())]
        lines.append(f"rtp   udp {self.config.bind}:{self.config.rtp_port_min}-{self.config.rtp_port_max}")
        return lines

    def health(self) -> Health:
        if not self._started:
            return Health.of(self.name, Status.STARTING)
        driverless = self.driverless_trunks()
        status = Status.DEGRADED if driverless else Status.OK
        detail = f"{len(self.controller.active_calls)} calls"
        if driverless:
            detail += "; trunks without a driver: " + ", ".join(driverless)
        acd = self.acd.figures()
        return Health.of(
            self.name, status, detail,
            counters={"calls_completed": self.controller.completed,
                      **{f"acd_{k}": int(v) for k, v in acd["counters"].items()}},
            gauges={"calls_active": float(len(self.controller.active_calls)),
                    "trunks_without_driver": float(len(driverless)),
                    **{f"acd_{k}": float(v) for k, v in acd["gauges"].items()}})
