"""The composition root: builds every service with its dependencies and runs them in one asyncio process.

Nothing else constructs services. Order matters only here: stores first, then the services that read
them, then the listeners; `stop()` releases in the reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sanic import Sanic

from appliance import __version__
from appliance.acd.engine import AcdEngine
from appliance.acd.restore import SETTING as AFTER_RESTART
from appliance.acd.restore import AfterRestart
from appliance.auth.http import make_blueprint as auth_blueprint
from appliance.auth.service import AuthService
from appliance.backups.http import make_blueprint as backups_blueprint
from appliance.backups.service import BackupService
from appliance.calls.agents import AgentDirectory
from appliance.calls.assets import ensure_assets
from appliance.calls.call_notes import CallNotes
from appliance.calls.controller import CallController
from appliance.calls.http import make_blueprint as calls_blueprint
from appliance.calls.http_answer import make_blueprint as answer_blueprint
from appliance.calls.http_call_notes import make_blueprint as call_notes_blueprint
from appliance.calls.http_stream import make_stream_blueprint as stream_blueprint
from appliance.calls.http_supervisor import make_blueprint as supervisor_blueprint
from appliance.calls.http_toll_fraud import make_blueprint as toll_fraud_blueprint
from appliance.calls.http_wallboard import make_blueprint as wallboard_blueprint
from appliance.calls.service import CallService, TelephonyConfig, acd_config_of, routing_config
from appliance.clock import Clock, SystemClock
from appliance.config import RunConfig
from appliance.configuration.credentials import StoreCredentials
from appliance.configuration.http import make_blueprint as configuration_blueprint
from appliance.configuration.service import ConfigService
from appliance.customers.http import make_blueprint as customers_blueprint
from appliance.customers.service import CustomerService
from appliance.domain.kinds import all_kinds
from appliance.errors import ApplianceError
from appliance.events import EventBus
from appliance.firmware.builder import build_firmware
from appliance.health import Health, Status
from appliance.http_api import Api
from appliance.ivr.library import FlowRepository
from appliance.ivr.service import IvrService
from appliance.legs.factory import LegFactory
from appliance.media.models import MediaConfig
from appliance.media.recorder import repair_recent
from appliance.media.service import MediaEngine
from appliance.process_memory import settle_heap, unsettle_heap
from appliance.prompts.http import make_blueprint as prompts_blueprint
from appliance.prompts.store import PromptStore
from appliance.prompts.tts import EspeakTts
from appliance.records.http import make_blueprint as records_blueprint
from appliance.records.journal import RecordJournal
from appliance.records.recovery import AgentStateRestore, CrashRecovery
from appliance.records.search import CallRecords
from appliance.records.sqlite_store import RecordStore
from appliance.reports.http import make_blueprint as reports_blueprint
from appliance.reports.jobs import ExportJobs
from appliance.reports.schedules import ReportSchedules
from appliance.reports.service import ReportService
from appliance.routing.router import RoutingTable
from appliance.security.certificates import box_certificate, server_context
from appliance.security.passwords import PasswordHasher
from appliance.service_base import Service
from appliance.sip.http import make_blueprint as sip_security_blueprint
from appliance.sip.leg_provider import SipLegProvider
from appliance.sip.models import SipConfig
from appliance.sip.sdp_media import SdpBuilder
from appliance.sip.security_service import SipSecurityService
from appliance.sip.service import SipService
from appliance.sip.trunk_config import sip_trunks, srtp_policies
from appliance.snmp.builder import build_monitoring
from appliance.store.config_store import ConfigStore
from appliance.store.migrations import DEFAULT_REALM
from appliance.voicemail.http import make_blueprint as voicemail_blueprint
from appliance.voicemail.service import VoicemailService
from drivers.analog.http import make_blueprint as analog_blueprint
from drivers.analog.wiring import AnalogWiring
from drivers.e1.wiring import E1Wiring
from drivers.hardware.http import make_blueprint as hardware_blueprint
from drivers.hardware.wiring import build_hardware
from provisioning.builder import ProvisioningConfig, build_provisioning
from provisioning.phones.pnp import PNP_PORT
from web_ui.assets import AssetManifest
from web_ui.i18n import Languages
from web_ui.pages.context import WebUi
from web_ui.pages.wiring import add_https_redirect, add_pages, page_error
from web_ui.server import build_http_app

log = logging.getLogger(__name__)

RECORDS_FILE = "records.sqlite3"
LOCK_FILE = ".appliance.lock"


class DataDirBusy(ApplianceError):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"another appliance process is using {data_dir}; stop it first (or use the API)",
            f"另一个进程正在使用 {data_dir},请先停止它(或使用 API)",
            error_id="data_dir_busy",
        )


@dataclass
class DataDirLock:
    """One process owns a data directory: two writers would overwrite each other's configuration."""

    data_dir: Path
    _fd: int | None = None

    def acquire(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusy(self.data_dir) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class Core:
    """The stores and configuration services, without any listener: what the CLI needs too."""

    data_dir: Path
    clock: Clock
    bus: EventBus
    lock: DataDirLock
    store: ConfigStore
    records: RecordStore
    config: ConfigService
    auth: AuthService
    voicemail: VoicemailService
    prompts: PromptStore
    hasher: PasswordHasher

    @classmethod
    def open(cls, data_dir: Path, clock: Clock | None = None, bus: EventBus | None = None) -> Core:
        clock = clock or SystemClock()
        bus = bus or EventBus()
        data_dir = Path(data_dir)
        lock = DataDirLock(data_dir)
        lock.acquire()
        try:
            store = ConfigStore.open(data_dir, all_kinds(), bus, clock)
        except BaseException:
            lock.release()
            raise
        records = RecordStore.open(data_dir / RECORDS_FILE)
        config = ConfigService(store, records, clock)
        voicemail = VoicemailService(data_dir, records, bus, clock)
        prompts = PromptStore(data_dir / "prompts", tts=EspeakTts())
        hasher = PasswordHasher()  # one small pool for web logins and phone PINs alike
        return cls(data_dir, clock, bus, lock, store, records, config, AuthService(config, clock, hasher, bus=bus),
                   voicemail, prompts, hasher)

    def close(self) -> None:
        self.hasher.close()
        self.records.close()
        self.store.close()
        self.lock.release()


@dataclass
class Appliance:
    run: RunConfig
    core: Core
    http_app: Sanic[Any, Any]
    services: list[Service] = field(default_factory=list)
    probes: list[Callable[[], Health]] = field(default_factory=list)  # parts a service runs that report alone
    telephony: CallService | None = None  # also among `services`; None when built without telephony
    started_at: float = 0.0
    setup_token: str | None = None
    _http_server: Any = None
    _https_server: Any = None
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def http_port(self) -> int:
        return _bound_port(self._http_server, self.run.http_port)

    @property
    def https_port(self) -> int:
        return _bound_port(self._https_server, self.run.https_port)

    async def prepare(self) -> None:
        """First-start work before anything listens: the admin account, the demo tenant, the setup token."""
        self.started_at = self.core.clock.monotonic()
        await self.core.auth.ensure_admin()
        if self.run.seed_demo:
            from appliance.demo import seed_if_empty

            await seed_if_empty(self.core)
        self.setup_token = self.core.auth.issue_setup_token()

    async def start(self) -> None:
        await self.prepare()
        started: list[Service] = []
        try:
            for service in self.services:
                await service.start()
                started.append(service)
            # Sanic takes port 0 for "not given" and would listen on 8000: the OS's choice needs our own socket.
            sock = socket.create_server((self.run.bind, 0)) if self.run.http_port == 0 else None
            server: Any = await self.http_app.create_server(
                host=None if sock else self.run.bind, port=None if sock else self.run.http_port, sock=sock,
                return_asyncio_server=True, access_log=False
            )
            if server is None:
                raise RuntimeError("the HTTP server did not start")
            await server.startup()
            await server.before_start()
            await server.after_start()
            self._http_server = server
            # The same app on a second, TLS listener: its routes and listeners are already set up by the
            # first, so this one only serves.
            cert, key = box_certificate(self.core.data_dir, self.run.bind)
            tls_sock = socket.create_server((self.run.bind, self.run.https_port))
            secure: Any = await self.http_app.create_server(
                sock=tls_sock, ssl=server_context(cert, key), return_asyncio_server=True, access_log=False)
            if secure is None:
                raise RuntimeError("the HTTPS server did not start")
            await secure.start_serving()
            self._https_server = secure
            settle_heap()  # start-up objects out of the collector's full passes (media jitter)
        except BaseException:
            for service in reversed(started):
                await service.stop()
            raise

    def listening(self) -> list[str]:
        lines = [f"http  http://{self.run.bind}:{self.http_port}/  (API: /api/v1, health: /api/v1/health)",
                 f"https https://{self.run.bind}:{self.https_port}/  (the web UI with the box's certificate)"]
        for service in self.services:
            lines += service.listening()
        return lines

    def health(self) -> Iterable[Health]:
        counts = self.core.store.count()
        yield Health.of("config_store", Status.OK, f"{sum(counts.values())} entities",
                        gauges={f"{kind}": float(n) for kind, n in counts.items()})
        yield Health.of("records", Status.OK, self.core.records.journal_mode())
        if self._http_server is not None:  # the web UI and API's listeners, among the parts the NOC sees
            yield Health.of("web", Status.OK, f"http {self.http_port}, https {self.https_port}")
        for service in self.services:
            yield service.health()
        for probe in self.probes:
            yield probe()

    async def stop(self) -> None:
        if self._https_server is not None:
            secure, self._https_server = self._https_server, None
            secure.close()
            await secure.wait_closed()
        if self._http_server is not None:
            server, self._http_server = self._http_server, None
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                await service.stop()
        unsettle_heap()
        self.core.close()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


def _bound_port(server: Any, configured: int) -> int:
    if server is None:
        return configured
    sockets = server.server.sockets
    return int(sockets[0].getsockname()[1]) if sockets else configured


def build_telephony(run: RunConfig, core: Core, analog: AnalogWiring | None = None,
                    e1: E1Wiring | None = None, *, sip_pnp_on_port: bool = False,
                    customers: CustomerService | None = None) -> CallService:
    """SIP, media, IVR, ACD, the leg providers and call control, each given what it needs (`sip_pnp_on_port`:
    the phones' plug-and-play listener shares the SIP UDP port)."""
    settings = core.store.settings
    port = run.sip_port
    config = TelephonyConfig(bind=run.bind, sip_port=port, rtp_port_min=run.rtp_port_min,
                             rtp_port_max=run.rtp_port_max, rtp_timeout=run.rtp_timeout)
    media = MediaEngine(
        MediaConfig(bind_address=run.bind, port_low=run.rtp_port_min, port_high=run.rtp_port_max - 1,
                    tone_plan=str(settings.get("tone_plan", "cn")), rtp_timeout=run.rtp_timeout),
        core.bus, core.clock)
    cert, key = box_certificate(core.data_dir, run.bind)
    sip = SipService(
        SipConfig(realm=str(settings.get("sip_realm", DEFAULT_REALM)), listen_host=run.bind, udp_port=port,
                  udp_shared_with_pnp=sip_pnp_on_port,
                  tcp_port=port, tls_port=port + 1 if port else 0, trunks=sip_trunks(core.store.list("trunks")),
                  tls_cert=str(cert), tls_key=str(key)),
        StoreCredentials(core.store), core.data_dir / "sip", core.bus, core.clock)
    legs = LegFactory()
    sip_legs = SipLegProvider(sip, media, SdpBuilder(int(core.clock.wall())),
                              srtp_policy=srtp_policies(core.store))  # SRTP off/offered/required per line
    legs.register(sip_legs)
    if analog is not None:
        for provider in analog.providers(media, core.bus):
            legs.register(provider)  # FXO lines, FXS ports
        legs.claim_extensions(analog.claims)  # extensions bound to FXS ports ring there, not over SIP
    if e1 is not None:
        legs.register(e1.provider(media, core.bus))  # E1/PRI spans: the leg kind of e1_pri trunks
    routing = RoutingTable(routing_config(core.store))
    flows = FlowRepository(core.store.list("ivr_flows"))
    ivr = IvrService(flows, core.prompts, core.bus, core.clock,
                     period_of=lambda schedule, wall: routing.router.period_of(schedule, wall))
    acd = AcdEngine(acd_config_of(core.store), core.clock, sink=core.bus.publish)
    controller = CallController(
        legs=legs, media=media, acd=acd, ivr=ivr, store=core.store, prompts=core.prompts,
        voicemail=core.voicemail, bus=core.bus, clock=core.clock, router=lambda: routing.router,
        agents=AgentDirectory(core.store, core.hasher), recordings_dir=core.data_dir / "recordings",
        assets=ensure_assets(core.data_dir / "media"),
        **({"customer_of": customers.lookup_now} if customers is not None else {}))  # area, account manager
    legs.subscribe(controller.on_leg_event)
    return CallService(config, core.store, core.bus, sip, media, ivr, acd, legs, routing, flows, controller)


def create_appliance(run: RunConfig, clock: Clock | None = None, *, telephony: bool = True) -> Appliance:
    """Build everything (opening the stores) but start nothing. `telephony=False` leaves out SIP and media
    (the API alone, for tests of the configuration side)."""
    core = Core.open(run.data_dir, clock)
    api = Api(core.auth)
    analog = AnalogWiring.from_settings(core.store.settings.get("analog")) if telephony else None
    e1 = E1Wiring.from_settings(core.store.settings.get("e1")) if telephony else None
    prov_config = ProvisioningConfig.from_env()
    # customers and service records (客户, 服务记录) in the record store's file; the ACD reads account managers
    customers = CustomerService(
        core.records.path, core.bus, core.clock, lambda no: core.store.find("staff", no) is not None,
        settings=lambda: core.store.settings, legacy=lambda: [dict(d) for d in core.store.db.table("customers").all()],
        audit=core.records.append_audit)
    calls = build_telephony(run, core, analog, e1, sip_pnp_on_port=prov_config.pnp and run.sip_port == PNP_PORT,
                            customers=customers) if telephony else None
    hardware = build_hardware(e1, analog, core.data_dir)  # cards, spans, channels, ports: one read-only view
    # first boot (network, host name, time, SIP domain, cards) and phone provisioning
    prov = build_provisioning(core, bind=run.bind, sip_port=run.sip_port, config=prov_config,
                              setup_token=lambda: holder[0].setup_token if holder else None)
    firmware, firmware_routes = build_firmware(core.data_dir, core.bus, core.clock,  # RAUC slots, updates, reset
                                               audit=core.records.append_audit)
    backups = BackupService(core.data_dir, core.store, core.bus, core.clock)  # restic at low priority
    monitoring = build_monitoring(core, run.bind, run.snmp_port, lambda: holder[0].health() if holder else [],
                                  calls.controller.queue_views if calls else None,
                                  hardware=hardware.status)  # alarms, SNMP agent (cards' tables too), /metrics
    reports = ReportService(core.records.path, lambda: core.store.settings)  # roll-ups kept by the journal
    exports = ExportJobs(core.data_dir / "exports")  # long exports on a thread of their own, with progress
    schedules = ReportSchedules(reports, core.data_dir / "reports", core.config)  # daily/weekly/monthly files
    blueprints = [
        auth_blueprint(api, core.auth),
        configuration_blueprint(api, core.config),
        voicemail_blueprint(api, core.voicemail),
        prompts_blueprint(api, core.prompts),
        calls_blueprint(api, calls, core.records, core.data_dir / "recordings"),
        records_blueprint(api, core.records, core.data_dir / "recordings"),  # recordings as one zip
        stream_blueprint(api, core.bus, lambda: core.config.store.list("staff")),  # supervisors: their scope
        supervisor_blueprint(api, calls),  # the console's monitor modes and queue moves
        call_notes_blueprint(api, calls, CallNotes(core.clock)),  # the desk's notes follow a transfer
        answer_blueprint(api, calls),  # the desk answers a ringing phone that supports it
        toll_fraud_blueprint(api, core.config),
        reports_blueprint(api, reports, core.config, exports, schedules),
        customers_blueprint(api, customers, core.config),
        wallboard_blueprint(api, calls, core.config, reports),  # the live board's snapshot
        # SIP source blocks (list, lift) and their thresholds, audited
        sip_security_blueprint(api, SipSecurityService(calls.sip, core.config, core.bus, core.clock) if calls else None),
        backups_blueprint(api, backups),
        firmware_routes(api),
        *prov.blueprints(api),
        analog_blueprint(api, analog),
        *(e1.blueprints(api) if e1 is not None else []),
        hardware_blueprint(api, hardware),
        *monitoring.blueprints(api),
    ]
    holder: list[Appliance] = []

    def health() -> Iterable[Health]:
        return holder[0].health() if holder else []

    web = WebUi(api, core.auth, core.config, Languages.load(), AssetManifest.load(), health, __version__,
                monitoring=monitoring, backups=backups, firmware=firmware, provisioning=prov, hardware=hardware,
                reports=reports, call_records=CallRecords(core.records.path), voicemail=core.voicemail,
                customers=customers)
    http_app = build_http_app(
        api, blueprints, health, started_at=lambda: holder[0].started_at, now=core.clock.monotonic,
        html_error=lambda request, exc: page_error(web, request, exc),
    )
    add_pages(http_app, web)
    if run.http_redirect:
        add_https_redirect(http_app, lambda: holder[0].https_port)
    appliance = Appliance(run, core, http_app)
    # Started in this order, stopped in the reverse: what a crash left is put right before the journal writes
    # anything new; the journal outlives the calls whose records it writes.
    recovery = CrashRecovery(core.records, core.data_dir, core.clock, repair_recent, reports.open_writer())
    appliance.services.append(recovery)
    appliance.services.append(RecordJournal(core.records, core.bus, clock=core.clock, open_writer=reports.open_writer()))
    appliance.services.append(exports)
    appliance.services.append(schedules)
    appliance.services.append(customers)  # before call control, which reads account managers
    if calls is not None:
        appliance.telephony = calls
        appliance.services.append(calls)
        acd, ctl = calls.acd, calls.controller
        appliance.services.append(AgentStateRestore(  # agents back logged out, or as they were, per setting
            recovery, lambda: AfterRestart.of(core.store.settings.get(AFTER_RESTART)),
            acd.agent_ids, acd.pause_codes, ctl.acd_command))
        appliance.probes += [calls.sip.health, calls.media.health]
        if analog is not None and analog.service is not None:
            appliance.services.append(analog.service)  # after call control, stopped before it
        if e1 is not None and e1.service is not None:
            appliance.services.append(e1.service)  # after call control, stopped before it
    appliance.services.append(hardware)  # after the drivers it reads, stopped before them
    appliance.services += prov.services
    appliance.services += monitoring.services
    appliance.services.append(firmware)
    appliance.services.append(backups)  # started last (its missed runs wait for the rest), stopped first
    holder.append(appliance)
    return appliance
