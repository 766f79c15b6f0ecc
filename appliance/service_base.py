"""What the composition root needs from every long-running service."""

from __future__ import annotations

from typing import Protocol

from appliance.health import Health


class Service(Protocol):
    name: str

    async def start(self) -> None:
        """Open sockets, start tasks. Raise if the service cannot run."""

    async def stop(self) -> None:
        """Release everything `start` took: sockets, files, tasks. Safe to call twice."""

    def listening(self) -> list[str]:
        """Where it listens, for the start-up banner (e.g. "sip udp 127.0.0.1:5060")."""

    def health(self) -> Health:
        """Status, detail, counters and gauges (read by the health endpoint and the monitoring agent)."""
