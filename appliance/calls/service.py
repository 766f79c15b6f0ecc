"""The telephony side of the box as one service: SIP, media, IVR, ACD, call control and the journal.

Built by the composition root from the stores; `start()` opens the media ports and the SIP sockets and
`stop()` releases them (calls first, then SIP, then media). Configuration edits are applied live: the ACD
gets a new configuration, the router and the IVR's flow versions are rebuilt; calls in progress keep what
they started with.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.acd.engine import AcdEngine
from appliance.calls.acd_config import acd_config
from appliance.calls.agents import AgentDirectory
from appliance.calls.assets import ensure_assets
from appliance.calls.controller import CallController
from appliance.clock import Clock
from appliance.configuration.credentials import StoreCredentials
from appliance.domain import models as m
from appliance.events import Event, EventBus
from appliance.ivr.library import FlowRepository
from appliance.ivr.service import IvrService
from appliance.legs.factory import LegFactory
from appliance.media.models import MediaConfig
from appliance.media.service import MediaEngine
from appliance.prompts.store import PromptStore
from appliance.records.journal import RecordJournal
from appliance.records.sqlite_store import RecordStore
from appliance.routing.models import BlacklistTreatment, RoutingConfig
from appliance.routing.router import Router
from appliance.sip.leg_provider import SipLegProvider
from appliance.sip.models import CallerIdRule, SipConfig, TrunkConfig
from appliance.sip.sdp_media import SdpBuilder
from appliance.sip.service import SipService
from appliance.store.config_store import ConfigStore
from appliance.store.migrations import DEFAULT_REALM
from appliance.voicemail.service import VoicemailService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TelephonyConfig:
    bind: str = "127.0.0.1"
    sip_port: int = 5060  # UDP and TCP; TLS on the next port (0: the OS chooses each)
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    rtp_timeout: float = 30.0


def sip_trunks(store: ConfigStore) -> tuple[TrunkConfig, ...]:
    """The SIP trunks of the configuration as the SIP stack takes them."""
    out = []
    for t in store.list("trunks"):
        if t.kind != m.TrunkKind.SIP or not t.enabled or not t.host:
            continue
        out.append(TrunkConfig(
            name=t.id, host=t.host, port=t.port, transport=t.transport.value.upper(),
            username=t.username or None, password=t.secret or None, register=t.register,
            ip_networks=tuple(ipaddress.ip_network(n, strict=False) for n in t.ip_auth_networks),
            outbound_caller_id=tuple(
                CallerIdRule(match_prefix=r.match_prefix, strip=len(r.match_prefix) if r.replace_with else r.strip,
                             prepend=r.replace_with or r.prepend)
                for r in t.caller_id_rules),
        ))
    return tuple(out)


def routing_config(store: ConfigStore) -> RoutingConfig:
    settings = store.settings
    treatment = settings.get("blacklist_treatment") or {}
    return RoutingConfig(
        schedules=tuple(store.list("schedules")),
        access_numbers=tuple(store.list("dids")),
        blacklist=tuple(store.list("blacklist")),
        blacklist_treatment=BlacklistTreatment(**treatment) if treatment else BlacklistTreatment(),
    )


@dataclass
class CallService:
    config: TelephonyConfig
    data_dir: Path
    store: ConfigStore
    records: RecordStore
    prompts: PromptStore
    voicemail: VoicemailService
    bus: EventBus
    clock: Clock
    name: str = "telephony"
    sip: SipService = field(init=False)
    media: MediaEngine = field(init=False)
    ivr: IvrService = field(init=False)
    acd: AcdEngine = field(init=False)
    legs: LegFactory = field(init=False)
    controller: CallController = field(init=False)
    journal: RecordJournal = field(init=False)
    _router: Router = field(init=False)
    _flows: FlowRepository = field(init=False)
    _subs: list[Any] = field(default_factory=list)
    _started: bool = False

    def __post_init__(self) -> None:
        settings = self.store.settings
        realm = str(settings.get("sip_realm", DEFAULT_REALM))
        port = self.config.sip_port
        sip_config = SipConfig(realm=realm, listen_host=self.config.bind, udp_port=port, tcp_port=port,
                               tls_port=port + 1 if port else 0, trunks=sip_trunks(self.store))
        self.media = MediaEngine(
            MediaConfig(bind_address=self.config.bind, port_low=self.config.rtp_port_min,
                        port_high=self.config.rtp_port_max - 1, tone_plan=str(settings.get("tone_plan", "cn")),
                        rtp_timeout=self.config.rtp_timeout),
            self.bus, self.clock,
        )
        self.sip = SipService(sip_config, StoreCredentials(self.store), self.data_dir / "sip", self.bus, self.clock)
        self._router = Router(routing_config(self.store))
        self._flows = FlowRepository(self.store.list("ivr_flows"))
        self.ivr = IvrService(self._flows, self.prompts, self.bus, self.clock,
                              period_of=lambda schedule, wall: self._router.period_of(schedule, wall))
        self.acd = AcdEngine(self._acd_config(), self.clock, sink=self.bus.publish)
        self.legs = LegFactory()
        self.legs.register(SipLegProvider(self.sip, self.media, SdpBuilder(int(self.clock.wall()))))
        self.controller = CallController(
            legs=self.legs, media=self.media, acd=self.acd, ivr=self.ivr, store=self.store, prompts=self.prompts,
            voicemail=self.voicemail, bus=self.bus, clock=self.clock,
            router=lambda: self._router, agents=AgentDirectory(self.store),
            recordings_dir=self.data_dir / "recordings", assets=ensure_assets(self.data_dir / "media"),
        )
        self.legs.subscribe(self.controller.on_leg_event)
        self.journal = RecordJournal(self.records, self.bus)

    def _acd_config(self) -> Any:
        entities = {k.name: self.store.list(k.name) for k in self.store.kinds}
        return acd_config(entities, self.store.settings)

    def _reconfigure(self, event: Event) -> None:
        self._reload(getattr(event, "kind", None))

    def _reload(self, kind: str | None) -> None:
        """Apply the stored configuration of `kind` (None: everything)."""
        try:
            if kind in (None, "queues", "staff", "vip_list", "pause_reasons"):
                # an agent who can now serve a waiting call is offered it at once
                self.controller.dispatch_acd(self.acd.configure(self._acd_config()))
            if kind in (None, "trunks"):
                # Trunks route calls at once; registrations start, stop (un-REGISTER) or restart with the edit.
                self.sip.set_trunks(sip_trunks(self.store))
            if kind in (None, "schedules", "dids", "blacklist"):
                self._router = Router(routing_config(self.store))
            if kind in (None, "ivr_flows"):
                current = self._flows.snapshot()
                for flow in self.store.list("ivr_flows"):
                    if current.flows.get(flow.name) != flow:
                        self._flows.publish(flow)
        except Exception:
            log.exception("applying a configuration change failed; the previous one stays in force")

    async def start(self) -> None:
        self._reload(None)  # the store may have been seeded or imported since construction
        await self.media.start()
        try:
            await self.ivr.start()
            await self.journal.start()
            await self.controller.start()
            await self.sip.start()
        except BaseException:
            await self.stop()
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
        await self.journal.stop()
        await self.media.stop()
        self._started = False

    def listening(self) -> list[str]:
        ports = self.sip.ports
        lines = [f"sip   {proto.lower()} {self.config.bind}:{port}" for proto, port in sorted(ports.items())]
        lines.append(f"rtp   udp {self.config.bind}:{self.config.rtp_port_min}-{self.config.rtp_port_max}")
        return lines

    def health(self) -> tuple[str, str]:
        if not self._started:
            return ("starting", "")
        path = "compiled" if self.media.compiled_relay else "Python"
        return ("ok", f"{len(self.controller.active_calls)} calls, {self.media.endpoint_count} media endpoints, "
                      f"{path} packet path, {self.media.ticks_late} late media ticks")
