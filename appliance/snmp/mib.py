"""Where the enterprise MIB lives and the object identifiers the agent serves (CALLCENTER-APPLIANCE-MIB).

The enterprise number is a build setting: the file in the repository carries RFC 5612's documentation
number 32473, and `render_mib(pen)` gives the same module under a deployment's registered IANA Private
Enterprise Number. The agent serves under whichever number the `snmp.enterprise_number` setting names.
"""

from __future__ import annotations

import re
from pathlib import Path

MIB_DIR = Path(__file__).parent / "mibs"
MIB_NAME = "CALLCENTER-APPLIANCE-MIB"
PLACEHOLDER_PEN = 32473  # RFC 5612: reserved for use in documentation
ENTERPRISES = (1, 3, 6, 1, 4, 1)

Oid = tuple[int, ...]


def render_mib(pen: int) -> str:
    """The MIB text with `pen` as the module's enterprise number."""
    if not 1 <= pen <= 4294967295:
        raise ValueError("an enterprise number is 1 to 4294967295")
    text = (MIB_DIR / f"{MIB_NAME}.txt").read_text()
    return re.sub(r"::= \{ enterprises \d+ \}", f"::= {{ enterprises {pen} }}", text, count=1)


class Tree:
    """Object identifiers of the module under one enterprise number (columns without the table index)."""

    def __init__(self, pen: int = PLACEHOLDER_PEN) -> None:
        self.root: Oid = (*ENTERPRISES, pen)
        r = self.root
        self.notifications: Oid = (*r, 0)
        objects = (*r, 1)
        self.identity: Oid = (*objects, 1)
        self.health: Oid = (*objects, 2)
        self.disk_entry: Oid = (*objects, 2, 10, 1)
        self.service_entry: Oid = (*objects, 3, 1)
        self.calls: Oid = (*objects, 4)
        self.queue_entry: Oid = (*objects, 5, 1)
        self.agents: Oid = (*objects, 6)
        self.alarms: Oid = (*objects, 7)
        self.alarm_entry: Oid = (*objects, 7, 2, 1)
        self.trunk_entry: Oid = (*objects, 8, 1)
        self.notify: Oid = (*objects, 9)
        self.span_entry: Oid = (*objects, 10, 1)
        self.channel_entry: Oid = (*objects, 11, 1)
        self.port_entry: Oid = (*objects, 12, 1)

    def notification(self, name: str) -> Oid:
        return (*self.notifications, NOTIFICATIONS[name])


# NOTIFICATION-TYPE sub-identifiers under ccaNotifications
NOTIFICATIONS: dict[str, int] = {
    "ccaAlarmRaised": 1, "ccaAlarmCleared": 2, "ccaHeartbeat": 3, "ccaConfigChanged": 4, "ccaBackupFailed": 5,
    "ccaBackupSucceeded": 6, "ccaServiceRestarted": 7, "ccaBruteForceBlocked": 8, "ccaFirmwareUpdated": 9,
}
SEVERITY = {"critical": 1, "major": 2, "minor": 3, "warning": 4}
SERVICE_STATUS = {"ok": 1, "degraded": 2, "down": 3, "starting": 4}
TRUTH = {True: 1, False: 2}
SPAN_ALARM_STATE = {None: 1, "minor": 2, "yellow": 3, "red": 4}
CHANNEL_STATE = {"idle": 1, "in_use": 2, "blocked": 3}
PORT_KIND = {"fxo": 1, "fxs": 2}
PORT_STATE = {"idle": 1, "ringing": 2, "off_hook": 3, "in_call": 4, "faulted": 5}
# G.732 / G.775: LOS, AIS and LOF take a span out of service (red); RAI is the far end's report (yellow).
SPAN_ALARM_COLOUR = {"los": "red", "ais": "red", "lof": "red", "rai": "yellow", "lomf": "minor"}
