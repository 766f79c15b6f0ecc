"""Typed health and runtime figures that every service exposes.

A monitoring agent (the health endpoint, SNMP, Prometheus) reads `Health` objects from the composition
root and never reaches into a service's internals. `counters` only ever grow (packets, calls, failures);
`gauges` go up and down (calls now, endpoints in use, backlog). Names are snake_case and stable: they are
part of the public monitoring contract (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Status(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # running, but something needs attention (disk full, backlog, peer down)
    DOWN = "down"  # not doing its job
    STARTING = "starting"  # not started yet, or stopped


def _frozen(values: Mapping[str, float] | None) -> Mapping[str, float]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True, slots=True)
class Health:
    name: str
    status: Status
    detail: str = ""
    counters: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    gauges: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, name: str, status: Status, detail: str = "", *, counters: Mapping[str, int] | None = None,
           gauges: Mapping[str, float] | None = None) -> Health:
        return cls(name, status, detail, MappingProxyType(dict(counters or {})), _frozen(gauges))

    def to_dict(self) -> dict[str, object]:
        return {"status": self.status.value, "detail": self.detail, "counters": dict(self.counters),
                "gauges": dict(self.gauges)}
