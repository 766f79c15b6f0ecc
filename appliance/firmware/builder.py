"""How the composition root builds the firmware service and its routes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sanic import Blueprint

from appliance.clock import Clock
from appliance.events import EventBus
from appliance.firmware.http import make_blueprint
from appliance.firmware.service import FirmwareConfig, FirmwareService
from appliance.http_api import Api
from appliance.records.models import AuditEntry


def build_firmware(data_dir: Path, bus: EventBus, clock: Clock, config: FirmwareConfig | None = None, *,
                   audit: Callable[[AuditEntry], object] | None = None
                   ) -> tuple[FirmwareService, Callable[[Api], Blueprint]]:
    service = FirmwareService(data_dir, config or FirmwareConfig.from_env(), bus, clock, audit=audit)
    return service, lambda api: make_blueprint(api, service)
