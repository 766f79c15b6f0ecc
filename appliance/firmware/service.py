"""The firmware service: the root slots' state, installing an uploaded bundle with RAUC while reporting its
progress, and the reboot and factory reset the appliance may ask the box for.

The appliance runs as its own unprivileged user. RAUC's service (root) does the installing; the appliance only
drives its client and reads its answers. A reboot or a factory reset is asked for by dropping a request file
into `<data>/firmware/`, which a root systemd path unit of the image acts on (rootfs/etc/systemd/system): the
appliance gains no privilege beyond asking for exactly these two things.

Off the box image (no RAUC, no slots) everything reads as "not available" and the actions answer 409.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from appliance import __version__
from appliance.clock import Clock, SystemClock
from appliance.events import EventBus
from appliance.firmware.errors import (
    BundleTooLarge,
    InstallRunning,
    NotOnImage,
    empty_bundle,
    wrong_confirmation,
)
from appliance.firmware.events import (
    FactoryResetRequested,
    FirmwareInstallFinished,
    FirmwareInstallStarted,
    FirmwareRebootRequested,
)
from appliance.firmware.models import FirmwareStatus, InstallState, Progress
from appliance.firmware.rauc import RaucClient, parse_status
from appliance.health import Health, Status
from appliance.records.models import AuditEntry
from appliance.tasks import cancel_and_wait

log = logging.getLogger(__name__)
FIRMWARE_DIR = "firmware"
UPLOAD = "upload.raucb"
REBOOT_REQUEST = "reboot.request"
RESET_REQUEST = "factory-reset.request"
RESET_WORD = "RESET"
SYSTEM_CONF = "/etc/rauc/system.conf"  # the image's RAUC configuration (rootfs/etc/rauc)
LOG_LINES = 40
WRITE_BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FirmwareConfig:
    enabled: bool = False  # RAUC and root slots exist (the box image)
    rauc: str = "rauc"
    release_file: Path = Path("/etc/appliance-release")
    max_bundle_bytes: int = 1024 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FirmwareConfig:
        """The image's unit sets APPLIANCE_IMAGE=1; APPLIANCE_FIRMWARE=rauc turns RAUC on alone (RAUC's service
        reached on the bus DBUS_SYSTEM_BUS_ADDRESS names)."""
        env = os.environ if env is None else env
        enabled = (env.get("APPLIANCE_IMAGE") == "1" or env.get("APPLIANCE_FIRMWARE") == "rauc"
                   or Path(SYSTEM_CONF).exists())  # a root shell on the image sets neither variable
        return cls(enabled=enabled and shutil.which(env.get("APPLIANCE_RAUC", "rauc")) is not None,
                   rauc=env.get("APPLIANCE_RAUC", "rauc"))


def running_version(release_file: Path) -> str:
    """The image's version (VERSION= in /etc/appliance-release), else the package's."""
    try:
        for line in release_file.read_text().splitlines():
            if line.startswith("VERSION="):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return __version__


@dataclass
class FirmwareService:
    data_dir: Path
    config: FirmwareConfig
    bus: EventBus
    clock: Clock = field(default_factory=SystemClock)
    rauc: RaucClient | None = None
    audit: Callable[[AuditEntry], object] | None = None  # the record store's audit log (who installed, reset)
    name: str = "firmware"
    _progress: Progress = field(default_factory=Progress)
    _task: asyncio.Task[None] | None = None
    _counters: dict[str, int] = field(default_factory=lambda: {"installs_ok": 0, "installs_failed": 0,
                                                               "uploads": 0})

    def __post_init__(self) -> None:
        if self.rauc is None and self.config.enabled:
            self.rauc = RaucClient(self.config.rauc)

    @property
    def folder(self) -> Path:
        return self.data_dir / FIRMWARE_DIR

    # ---- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        def prepare() -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / UPLOAD).unlink(missing_ok=True)  # a bundle left by a stop mid-upload

        await asyncio.to_thread(prepare)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        detail = "RAUC" if self.config.enabled else "not the box image"
        if self._progress.state is InstallState.RUNNING:
            detail += f"; installing ({self._progress.percent} %)"
        return Health.of(self.name, Status.OK, detail, counters=dict(self._counters),
                         gauges={"installing": 1.0 if self.installing else 0.0})

    # ---- reading ---------------------------------------------------------------------------------------

    @property
    def installing(self) -> bool:
        return self._task is not None and not self._task.done()

    def progress(self) -> Progress:
        return self._progress

    async def status(self) -> FirmwareStatus:
        version = await asyncio.to_thread(running_version, self.config.release_file)
        if not self.config.enabled or self.rauc is None:
            return FirmwareStatus(False, "not the box image", version, "", "", "", ())
        try:
            return parse_status(await self.rauc.status(), version)
        except (RuntimeError, ValueError, OSError) as exc:
            log.warning("rauc status: %s", exc)
            return FirmwareStatus(False, f"RAUC did not answer: {exc}", version, "", "", "", ())

    # ---- installing ------------------------------------------------------------------------------------

    def _require(self, what: str, what_zh: str) -> RaucClient:
        if not self.config.enabled or self.rauc is None:
            raise NotOnImage(what, what_zh)
        return self.rauc

    async def receive(self, chunks: AsyncIterator[bytes]) -> tuple[int, str]:
        """Store an uploaded bundle (streamed: bundles are hundreds of MiB); returns its size and SHA-256."""
        self._require("installing an update", "安装升级")
        if self.installing:
            raise InstallRunning()
        path = self.folder / UPLOAD
        digest = hashlib.sha256()
        size = 0
        pending: list[bytes] = []
        held = 0
        f: IO[bytes] = await asyncio.to_thread(_open_new, path)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.config.max_bundle_bytes:
                    raise BundleTooLarge(self.config.max_bundle_bytes)
                digest.update(chunk)
                pending.append(chunk)
                held += len(chunk)
                if held >= WRITE_BLOCK:  # disk writes in large blocks, on a thread
                    await asyncio.to_thread(f.write, b"".join(pending))
                    pending, held = [], 0
            await asyncio.to_thread(_finish, f, b"".join(pending))
        except BaseException:
            await asyncio.to_thread(_discard, f, path)
            raise
        if size == 0:
            await asyncio.to_thread(path.unlink, True)
            raise empty_bundle()
        self._counters["uploads"] += 1
        return size, digest.hexdigest()

    def start_install(self, bundle: Path | None = None, source: str = "api", by: str = "",
                      address: str = "") -> Progress:
        """Install the uploaded bundle (or `bundle`) in the background; the progress reads as it goes."""
        self._require("installing an update", "安装升级")
        if self.installing:
            raise InstallRunning()
        path = bundle or self.folder / UPLOAD
        size = path.stat().st_size if path.exists() else 0
        if size == 0:
            raise empty_bundle()
        self._audit(by, address, "install", {"bundle_bytes": size})
        self._progress = Progress(InstallState.RUNNING, 0, "", size, self.clock.wall())
        self.bus.publish(FirmwareInstallStarted(bundle_bytes=size, source=source))
        self._task = asyncio.get_running_loop().create_task(self._install(path, remove=bundle is None))
        return self._progress

    async def install(self, bundle: Path, source: str = "cli") -> Progress:
        """Install and wait for the end (the command line)."""
        self.start_install(bundle, source)
        assert self._task is not None
        await self._task
        return self._progress

    async def _install(self, path: Path, remove: bool) -> None:
        assert self.rauc is not None
        started = self.clock.monotonic()

        def step(percent: int, text: str) -> None:
            p = self._progress
            self._progress = dataclasses.replace(p, percent=percent, step=text,
                                                 log=(*p.log, f"{percent:3d}% {text}")[-LOG_LINES:])

        try:
            result = await self.rauc.install(path, step)
            error = result.error
        except OSError as exc:
            result, error = None, f"rauc could not be run: {exc}"
        finally:
            if remove:
                await asyncio.to_thread(path.unlink, True)
        ok = result is not None and result.ok
        version = slot = ""
        if ok:
            status = await self.status()
            target = next((s for s in status.slots if s.bootname == status.primary), None)
            if target is not None:
                version, slot = target.version, target.bootname
        self._counters["installs_ok" if ok else "installs_failed"] += 1
        self._progress = dataclasses.replace(
            self._progress, state=InstallState.SUCCEEDED if ok else InstallState.FAILED,
            percent=100 if ok else self._progress.percent, finished_at=self.clock.wall(), error=error,
            version=version, slot=slot)
        seconds = round(self.clock.monotonic() - started, 1)
        self.bus.publish(FirmwareInstallFinished(ok=ok, version=version, slot=slot, error=error, seconds=seconds))
        (log.info if ok else log.warning)("firmware install %s in %.1f s%s", "succeeded" if ok else "failed",
                                          seconds, f": {error}" if error else f" (slot {slot}, {version})")

    # ---- asking the box ----------------------------------------------------------------------------------

    async def request_reboot(self, by: str, address: str = "") -> None:
        self._require("rebooting from here", "从此处重启")
        if self.installing:
            raise InstallRunning()
        self._audit(by, address, "reboot", None)
        await asyncio.to_thread(self._drop, REBOOT_REQUEST, by)
        self.bus.publish(FirmwareRebootRequested(by=by))
        log.warning("reboot requested by %s", by)

    async def request_factory_reset(self, confirm: object, by: str, address: str = "") -> None:
        if confirm != RESET_WORD:
            raise wrong_confirmation(RESET_WORD)
        self._require("a factory reset from here", "从此处恢复出厂设置")
        if self.installing:
            raise InstallRunning()
        self._audit(by, address, "factory_reset", None)
        await asyncio.to_thread(self._drop, RESET_REQUEST, by)
        self.bus.publish(FactoryResetRequested(by=by))
        log.warning("factory reset requested by %s", by)

    def _audit(self, by: str, address: str, action: str, after: dict[str, object] | None) -> None:
        if self.audit is not None and by:
            self.audit(AuditEntry(at=self.clock.wall(), actor=by, action=action, kind="firmware", key="box",
                                  after=after, source=address))

    def _drop(self, name: str, by: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{by}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / name)  # the path unit sees the whole file appear at once


def _open_new(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "wb")  # closed by _finish or _discard


def _finish(f: IO[bytes], tail: bytes) -> None:
    with f:
        f.write(tail)
        f.flush()
        os.fsync(f.fileno())


def _discard(f: IO[bytes], path: Path) -> None:
    f.close()
    path.unlink(missing_ok=True)
