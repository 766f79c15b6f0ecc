"""Network settings applied live with a confirm-or-revert timer, persisted as systemd-networkd files.

A change is applied at once; the installer then has `confirm_seconds` to confirm it from the new address
(or from the box's own console, on loopback). Unconfirmed, the settings captured before the change come back,
live and on disk. The files are written when the change is applied, with a marker holding the previous
settings: a reboot during the window finds the marker and restores them, so an unconfirmed change never
survives a power cycle either.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.clock import Clock, SystemClock
from appliance.events import EventBus
from appliance.health import Health, Status
from provisioning.errors import ChangePending, ConfirmFromNewAddress, NetworkNotManaged, NoPendingChange
from provisioning.network import networkd
from provisioning.network.events import NetworkApplied, NetworkConfirmed, NetworkReverted
from provisioning.network.models import Interface, NetworkSettings, parse_settings
from provisioning.network.netlink import Netlink

log = logging.getLogger(__name__)
PENDING_MARKER = ".appliance-pending.json"
DEFAULT_CONFIRM_SECONDS = 90.0


@dataclass
class _Pending:
    change_id: str
    previous_live: NetworkSettings
    previous_files: NetworkSettings | None
    new: NetworkSettings
    deadline: float
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None


@dataclass
class NetworkService:
    networkd_dir: Path
    netlink: Netlink = field(default_factory=Netlink)
    managed: bool = False  # False on a developer's machine: read-only, the host's network is not ours
    confirm_seconds: float = DEFAULT_CONFIRM_SECONDS
    bus: EventBus | None = None
    clock: Clock = field(default_factory=SystemClock)
    # networkctl on the image: systemd-networkd re-reads our files after each change, so what netlink set is
    # also what networkd manages (DHCP starts or stops, DNS reaches the resolver) without waiting for a reboot
    networkctl: str | None = None
    name: str = "network"
    _pending: _Pending | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _counters: dict[str, int] = field(default_factory=lambda: {"applied": 0, "confirmed": 0, "reverted": 0,
                                                               "failed": 0})

    # ---- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """At boot: an unconfirmed change left by a reboot is undone, then the persisted settings applied."""
        if not self.managed:
            return
        marker = self.networkd_dir / PENDING_MARKER
        if marker.exists():
            previous = json.loads(marker.read_text())
            restored = parse_settings(previous["files"]) if previous.get("files") else None
            await asyncio.to_thread(self._restore_files, restored)
            self._publish(NetworkReverted(change_id=str(previous.get("change_id", "")), reason="boot"))
        settings = await asyncio.to_thread(networkd.load, self.networkd_dir)
        if settings is not None:
            await asyncio.to_thread(self.netlink.apply, settings)
        await self._reload_networkd()

    async def stop(self) -> None:
        # A change still waiting is reverted rather than kept: stopping is not confirming.
        if self._pending is not None:
            await self._revert(self._pending.change_id, "stopped")

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        detail = "managed" if self.managed else "read-only (not the box image)"
        if self._pending is not None:
            detail += f"; change {self._pending.change_id} waiting for confirmation"
        return Health.of(self.name, Status.OK, detail, counters=dict(self._counters),
                         gauges={"pending": 1.0 if self._pending else 0.0})

    # ---- reading ---------------------------------------------------------------------------------------

    async def state(self) -> dict[str, Any]:
        live = await asyncio.to_thread(self.netlink.live)
        saved = await asyncio.to_thread(networkd.load, self.networkd_dir)
        return {"managed": self.managed, "live": live, "saved": saved.to_dict() if saved else None,
                "pending": self.pending()}

    def pending(self) -> dict[str, Any] | None:
        p = self._pending
        if p is None:
            return None
        return {"change_id": p.change_id, "seconds_left": round(max(0.0, p.deadline - self.clock.monotonic()), 1),
                "settings": p.new.to_dict(), "previous": p.previous_live.to_dict()}

    # ---- changing --------------------------------------------------------------------------------------

    async def apply(self, settings: NetworkSettings, confirm_seconds: float | None = None,
                    delay: float = 0.0) -> dict[str, Any]:
        """Apply `settings`, reverting after the window unless confirmed. With `delay`, the kernel is changed
        that much later, so the answer to a request that arrived on an address about to go can still leave."""
        if not self.managed:
            raise NetworkNotManaged()
        window = self.confirm_seconds if confirm_seconds is None else confirm_seconds
        async with self._lock:
            if self._pending is not None:
                raise ChangePending(self._pending.deadline - self.clock.monotonic())
            names = [i.name for i in settings.interfaces]
            previous_live = await asyncio.to_thread(self.netlink.capture, names)
            previous_files = await asyncio.to_thread(networkd.load, self.networkd_dir)
            change_id = secrets.token_hex(6)
            await asyncio.to_thread(self._write_with_marker, change_id, settings, previous_files)
            if delay <= 0:
                await self._apply_or_undo(settings, previous_live, previous_files)
                await self._reload_networkd()
            loop = asyncio.get_running_loop()
            pending = _Pending(change_id, previous_live, previous_files, settings,
                               self.clock.monotonic() + delay + window)
            pending.timer = loop.call_later(delay + window,
                                            lambda: loop.create_task(self._revert(change_id, "timeout")))
            self._pending = pending
            if delay > 0:
                pending.task = loop.create_task(self._apply_later(change_id, delay))
            self._counters["applied"] += 1
        self._publish(NetworkApplied(change_id=change_id, confirm_within=window))
        log.info("network change %s applied; reverts in %.0f s unless confirmed", change_id, delay + window)
        return self.pending() or {}

    async def _apply_or_undo(self, settings: NetworkSettings, previous_live: NetworkSettings,
                             previous_files: NetworkSettings | None) -> None:
        try:
            await asyncio.to_thread(self.netlink.apply, settings)
        except BaseException:
            self._counters["failed"] += 1
            await asyncio.to_thread(self.netlink.apply, previous_live)
            await asyncio.to_thread(self._restore_files, previous_files)
            raise

    async def _apply_later(self, change_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        p = self._pending
        if p is None or p.change_id != change_id:
            return
        try:
            await asyncio.to_thread(self.netlink.apply, p.new)
        except Exception:
            log.exception("network change %s could not be applied; the previous settings come back", change_id)
            self._counters["failed"] += 1
            await self._revert(change_id, "failed")
            return
        await self._reload_networkd()

    async def confirm(self, change_id: str, reached: str) -> None:
        """Keep the change. `reached` is the box's own address the confirming request arrived at."""
        p = self._pending
        if p is not None and p.change_id == change_id and p.task is not None:
            # a change applied with a delay is in the kernel before it can be kept
            with contextlib.suppress(Exception):
                await asyncio.shield(p.task)
        async with self._lock:
            p = self._pending
            if p is None or p.change_id != change_id:
                raise NoPendingChange()
            if not _loopback(reached):
                new_addresses = await asyncio.to_thread(self.netlink.addresses_on, p.new.names())
                if _bare(reached) not in new_addresses:
                    raise ConfirmFromNewAddress(reached, new_addresses)
            if p.timer is not None:
                p.timer.cancel()
            (self.networkd_dir / PENDING_MARKER).unlink(missing_ok=True)
            self._pending = None
            self._counters["confirmed"] += 1
        self._publish(NetworkConfirmed(change_id=change_id, source=reached))
        log.info("network change %s confirmed from %s", change_id, reached)

    async def revert(self, change_id: str) -> None:
        if self._pending is None or self._pending.change_id != change_id:
            raise NoPendingChange()
        await self._revert(change_id, "requested")

    async def reset(self, interfaces: list[str]) -> None:
        """Network reset from the console: DHCP on the given interfaces, kept at once (the installer is at the
        box); any change waiting is dropped first."""
        if not self.managed:
            raise NetworkNotManaged()
        if self._pending is not None:
            await self._revert(self._pending.change_id, "requested")
        settings = NetworkSettings(tuple(Interface(n, dhcp=True) for n in interfaces))
        async with self._lock:
            await asyncio.to_thread(networkd.write, self.networkd_dir, settings)
            await asyncio.to_thread(self.netlink.apply, settings)
            await self._reload_networkd()

    async def _revert(self, change_id: str, reason: str) -> None:
        async with self._lock:
            p = self._pending
            if p is None or p.change_id != change_id:
                return  # confirmed (or reverted) meanwhile
            if p.timer is not None:
                p.timer.cancel()
            if p.task is not None and p.task is not asyncio.current_task():
                p.task.cancel()
            try:
                await asyncio.to_thread(self.netlink.apply, p.previous_live)
            except Exception:
                log.exception("network change %s: putting the previous settings back failed", change_id)
            await asyncio.to_thread(self._restore_files, p.previous_files)
            await self._reload_networkd()
            self._pending = None
            self._counters["reverted"] += 1
        self._publish(NetworkReverted(change_id=change_id, reason=reason))
        log.warning("network change %s reverted (%s)", change_id, reason)

    # ---- files (worker thread) -------------------------------------------------------------------------

    def _write_with_marker(self, change_id: str, settings: NetworkSettings, previous: NetworkSettings | None) -> None:
        self.networkd_dir.mkdir(parents=True, exist_ok=True)
        marker = self.networkd_dir / PENDING_MARKER
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"change_id": change_id, "files": previous.to_dict() if previous else None}))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, marker)
        networkd.write(self.networkd_dir, settings)

    def _restore_files(self, previous: NetworkSettings | None) -> None:
        networkd.write(self.networkd_dir, previous or NetworkSettings())
        (self.networkd_dir / PENDING_MARKER).unlink(missing_ok=True)

    async def _reload_networkd(self) -> None:
        if not self.networkctl:
            return
        proc = await asyncio.create_subprocess_exec(self.networkctl, "reload", stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.warning("networkctl reload did not answer within 15 s")
            return
        if proc.returncode != 0:
            log.warning("networkctl reload failed (%s): %s", proc.returncode, err.decode(errors="replace")[-300:])

    def _publish(self, event: Any) -> None:
        if self.bus is not None:
            self.bus.publish(event)


def _bare(address: str) -> str:
    return address.strip("[]").split("%")[0]


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(_bare(address)).is_loopback
    except ValueError:
        return False
