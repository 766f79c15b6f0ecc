"""Builds the health monitor, the SNMP agent and the file log for the composition root, with their routes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanic import Blueprint

from appliance import __version__
from appliance.health import Health
from appliance.http_api import Api
from appliance.monitoring.http import make_blueprint as monitoring_blueprint
from appliance.monitoring.logs import LogService
from appliance.monitoring.service import MonitorService
from appliance.service_base import Service
from appliance.snmp.http import make_blueprint as snmp_blueprint
from appliance.snmp.service import SnmpService
from appliance.snmp.view import Identity

DEFAULT_MODEL = "CC-Appliance"


def _serial(settings: dict[str, Any]) -> str:
    if settings.get("serial_number"):
        return str(settings["serial_number"])
    try:  # the machine's identity until manufacturing sets a serial number
        return Path("/etc/machine-id").read_text().strip()[:16]
    except OSError:
        return ""


@dataclass
class Monitoring:
    monitor: MonitorService
    snmp: SnmpService
    logs: LogService
    health: Callable[[], Iterable[Health]]

    @property
    def services(self) -> list[Service]:
        return [self.logs, self.monitor, self.snmp]

    def blueprints(self, api: Api) -> list[Blueprint]:
        return [monitoring_blueprint(api, self.monitor, self.health, self.logs), snmp_blueprint(api, self.snmp)]


def build_monitoring(core: Any, bind: str, snmp_port: int, health: Callable[[], Iterable[Health]],
                     queues: Callable[[], list[dict[str, Any]]] | None,
                     hardware: Callable[[], Any] | None = None) -> Monitoring:
    """`core` is the composition root's `Core` (data directory, store, bus, clock); `hardware` gives the cards'
    status (spans, channels, ports) for the MIB's tables and the metrics."""
    settings = core.store.settings
    monitor = MonitorService(core.data_dir, core.store, core.bus, core.clock, health, queues=queues,
                             hardware=hardware)
    identity = Identity(str(settings.get("model", DEFAULT_MODEL)), _serial(settings), __version__)

    def trunks() -> list[tuple[str, bool]]:
        return [(t.id, bool(t.register)) for t in core.store.list("trunks") if str(t.kind.value) == "sip"]

    def actor_of(kind: str, key: str, at: float) -> str | None:
        entry = next(iter(core.records.audit(kind=kind, key=key, limit=1).items), None)
        return str(entry.actor) if entry is not None and entry.at >= at - 1.0 else None

    snmp = SnmpService(bind, snmp_port, core.data_dir, core.store, core.bus, core.clock, monitor, health,
                       identity, trunks, actor_of=actor_of)
    return Monitoring(monitor, snmp, LogService(core.data_dir), health)
