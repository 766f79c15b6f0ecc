"""Firmware events: an installation started and how it ended (public: the WebSocket stream and the web UI
read them; the result is what a trap reports), and the reboot and factory reset asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmwareInstallStarted(Event):
    topic: ClassVar[str] = "firmware.install_started"
    bundle_bytes: int
    source: str  # api | cli


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmwareInstallFinished(Event):
    topic: ClassVar[str] = "firmware.install_finished"
    ok: bool
    version: str  # the version now in the target slot ("" when the install failed)
    slot: str  # bootname of the slot written ("" when none was)
    error: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmwareRebootRequested(Event):
    topic: ClassVar[str] = "firmware.reboot_requested"
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FactoryResetRequested(Event):
    topic: ClassVar[str] = "firmware.factory_reset_requested"
    by: str


PUBLIC_FIRMWARE_EVENTS: tuple[type[Event], ...] = (FirmwareInstallStarted, FirmwareInstallFinished,
                                                    FirmwareRebootRequested, FactoryResetRequested)
