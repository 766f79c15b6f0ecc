"""systemd's service notification protocol (sd_notify(3)): READY=1, STOPPING=1, STATUS= and the watchdog.

The datagrams go to the socket systemd names in $NOTIFY_SOCKET (a path, or "@name" for the abstract
namespace). Outside systemd the variable is unset and every call does nothing. The watchdog ping is sent from a
task on the event loop, so it proves the loop that relays RTP still runs: a stuck loop misses its pings and
systemd restarts the service (`WatchdogSec=`)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

from appliance.tasks import cancel_and_wait


class SdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watched = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_interval: float | None = int(usec) / 2e6 if watched else None
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, *fields: str) -> bool:
        """Send KEY=VALUE lines in one datagram; False when not under systemd or the socket is gone."""
        if not self._address:
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto("\n".join(fields).encode(), self._address)
            except OSError:
                return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def start_watchdog(self) -> None:
        """Ping WATCHDOG=1 at half the interval systemd asked for, from the running loop."""
        if self.watchdog_interval is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._ping(self.watchdog_interval))

    async def stop_watchdog(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _ping(self, interval: float) -> None:
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(interval)
