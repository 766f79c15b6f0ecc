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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sanic import Sanic

from appliance.auth.http import make_blueprint as auth_blueprint
from appliance.auth.service import AuthService
from appliance.calls.http import make_blueprint as calls_blueprint
from appliance.clock import Clock, SystemClock
from appliance.config import RunConfig
from appliance.configuration.http import make_blueprint as configuration_blueprint
from appliance.configuration.service import ConfigService
from appliance.domain.kinds import all_kinds
from appliance.errors import ApplianceError
from appliance.events import EventBus
from appliance.http_api import Api
from appliance.process_memory import settle_heap, unsettle_heap
from appliance.prompts.http import make_blueprint as prompts_blueprint
from appliance.prompts.store import PromptStore
from appliance.prompts.tts import EspeakTts
from appliance.records.sqlite_store import RecordStore
from appliance.service_base import Service
from appliance.store.config_store import ConfigStore
from appliance.voicemail.http import make_blueprint as voicemail_blueprint
from appliance.voicemail.service import VoicemailService
from web_ui.server import ServiceHealth, build_http_app

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
        return cls(data_dir, clock, bus, lock, store, records, config, AuthService(config, clock), voicemail,
                   prompts)

    def close(self) -> None:
        self.records.close()
        self.store.close()
        self.lock.release()


@dataclass
class Appliance:
    run: RunConfig
    core: Core
    http_app: Sanic[Any, Any]
    services: list[Service] = field(default_factory=list)
    started_at: float = 0.0
    setup_token: str | None = None
    _http_server: Any = None
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def http_port(self) -> int:
        if self._http_server is None:
            return self.run.http_port
        sockets = self._http_server.server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else self.run.http_port

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
            server: Any = await self.http_app.create_server(
                host=self.run.bind, port=self.run.http_port, return_asyncio_server=True, access_log=False
            )
            if server is None:
                raise RuntimeError("the HTTP server did not start")
            await server.startup()
            await server.before_start()
            await server.after_start()
            self._http_server = server
            settle_heap()  # start-up objects out of the collector's full passes (media jitter)
        except BaseException:
            for service in reversed(started):
                await service.stop()
            raise

    def listening(self) -> list[str]:
        lines = [f"http  http://{self.run.bind}:{self.http_port}/  (API: /api/v1, health: /api/v1/health)"]
        for service in self.services:
            lines += service.listening()
        return lines

    def health(self) -> Iterable[ServiceHealth]:
        yield ServiceHealth("config_store", "ok", f"{sum(self.core.store.count().values())} entities")
        yield ServiceHealth("records", "ok", self.core.records.journal_mode())
        for service in self.services:
            status, detail = service.health()
            yield ServiceHealth(service.name, status, detail)

    async def stop(self) -> None:
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


def create_appliance(run: RunConfig, clock: Clock | None = None, *, telephony: bool = True) -> Appliance:
    """Build everything (opening the stores) but start nothing. `telephony=False` leaves out SIP and media
    (the API alone, for tests of the configuration side)."""
    core = Core.open(run.data_dir, clock)
    api = Api(core.auth)
    calls = None
    if telephony:
        from appliance.calls.service import CallService, TelephonyConfig

        calls = CallService(
            TelephonyConfig(bind=run.bind, sip_port=run.sip_port, rtp_port_min=run.rtp_port_min,
                            rtp_port_max=run.rtp_port_max, rtp_timeout=run.rtp_timeout),
            core.data_dir, core.store, core.records, core.prompts, core.voicemail, core.bus, core.clock,
        )
    blueprints = [
        auth_blueprint(api, core.auth),
        configuration_blueprint(api, core.config),
        voicemail_blueprint(api, core.voicemail),
        prompts_blueprint(api, core.prompts),
        calls_blueprint(api, calls, core.records, core.bus, core.data_dir / "recordings"),
    ]
    holder: list[Appliance] = []

    def health() -> Iterable[ServiceHealth]:
        return holder[0].health() if holder else []

    http_app = build_http_app(
        api, blueprints, health, started_at=lambda: holder[0].started_at, now=core.clock.monotonic
    )
    appliance = Appliance(run, core, http_app)
    if calls is not None:
        appliance.services.append(calls)
    holder.append(appliance)
    return appliance
