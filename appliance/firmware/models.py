"""What the firmware context shows: the root slots as RAUC reports them, and an installation's progress."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class InstallState(enum.StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Slot:
    """One root slot (`rauc status --detailed`): which one is booted, which GRUB tries first, and whether its
    last boot was marked good."""

    name: str  # RAUC's slot name, e.g. rootfs.1
    bootname: str  # GRUB's name, A or B
    device: str
    state: str  # booted | active | inactive
    boot_status: str  # good | bad | "" (unknown)
    primary: bool  # the slot GRUB boots next
    version: str  # the version of the bundle installed into it ("" when never installed by RAUC)
    installed_at: str  # ISO 8601, or ""
    install_count: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "bootname": self.bootname, "device": self.device, "state": self.state,
                "boot_status": self.boot_status, "primary": self.primary, "version": self.version,
                "installed_at": self.installed_at, "install_count": self.install_count}


@dataclass(frozen=True, slots=True)
class FirmwareStatus:
    available: bool  # False off the box image: nothing to install into
    reason: str  # why not available, or why the slots could not be read
    version: str  # the running version (/etc/appliance-release on the image)
    compatible: str
    booted: str  # bootname of the booted slot
    primary: str  # bootname GRUB tries first
    slots: tuple[Slot, ...]

    def to_json(self) -> dict[str, Any]:
        return {"available": self.available, "reason": self.reason, "version": self.version,
                "compatible": self.compatible, "booted": self.booted, "primary": self.primary,
                "slots": [s.to_json() for s in self.slots]}


@dataclass(frozen=True, slots=True)
class Progress:
    """The last (or running) installation: RAUC's own percentage and step text."""

    state: InstallState = InstallState.IDLE
    percent: int = 0
    step: str = ""
    bundle_bytes: int = 0
    started_at: float | None = None  # wall clock
    finished_at: float | None = None
    error: str = ""
    version: str = ""  # what the target slot holds afterwards
    slot: str = ""  # bootname of the slot written
    log: tuple[str, ...] = ()  # RAUC's step lines, oldest first (bounded)

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.value, "percent": self.percent, "step": self.step,
                "bundle_bytes": self.bundle_bytes, "started_at": self.started_at, "finished_at": self.finished_at,
                "error": self.error, "version": self.version, "slot": self.slot, "log": list(self.log)}
