"""The figures the agent serves, as a sorted list of (OID, type, value) rows: MIB-II `system` and `ifTable`
basics (RFC 3418, RFC 2863) and CALLCENTER-APPLIANCE-MIB.

Rows are plain Python values built from data already in memory (the monitor's last sample, the services'
typed health, call control's queue views, the alarm table), so a rebuild costs about a millisecond per
thousand rows on the event loop; pysnmp objects are made only for the rows a request returns. Anything that
reads the kernel (interface counters) is gathered on a worker thread beforehand (`read_interfaces`).
"""

from __future__ import annotations

import bisect
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psutil

from appliance.health import Health
from appliance.monitoring.models import Alarm
from appliance.monitoring.service import MonitorService
from appliance.snmp.mib import (
    CHANNEL_STATE,
    PORT_KIND,
    PORT_STATE,
    SERVICE_STATUS,
    SEVERITY,
    SPAN_ALARM_COLOUR,
    SPAN_ALARM_STATE,
    TRUTH,
    Oid,
    Tree,
)

# row value kinds, turned into pysnmp types by the agent
STR, INT, GAUGE, COUNTER, COUNTER64, TICKS, UNSIGNED, OID, OCTETS = (
    "str", "int", "gauge", "counter", "counter64", "ticks", "unsigned", "oid", "octets")
Row = tuple[Oid, str, Any]

SYSTEM: Oid = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER: Oid = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1)
U32 = 2**32


@dataclass(frozen=True, slots=True)
class Identity:
    model: str
    serial: str
    firmware: str
    contact: str = ""
    location: str = ""


@dataclass(frozen=True, slots=True)
class Interface:
    index: int
    name: str
    mtu: int
    speed_mbps: int
    mac: bytes
    up: bool
    in_octets: int
    in_packets: int
    in_errors: int
    in_drops: int
    out_octets: int
    out_packets: int
    out_errors: int
    out_drops: int


def read_interfaces() -> list[Interface]:
    """Network interfaces and their counters (blocking: reads /proc and /sys; call on a worker thread)."""
    stats, io, addrs = psutil.net_if_stats(), psutil.net_io_counters(pernic=True), psutil.net_if_addrs()
    out = []
    for name, st in sorted(stats.items()):
        try:
            index = socket.if_nametoindex(name)
        except OSError:
            continue
        mac = next((a.address for a in addrs.get(name, []) if a.family == psutil.AF_LINK), "") or ""
        raw_mac = bytes.fromhex(mac.replace(":", "")) if mac and mac != "00:00:00:00:00:00" else b""
        c = io.get(name)
        out.append(Interface(index, name, st.mtu, st.speed, raw_mac, st.isup,
                             c.bytes_recv if c else 0, c.packets_recv if c else 0, c.errin if c else 0,
                             c.dropin if c else 0, c.bytes_sent if c else 0, c.packets_sent if c else 0,
                             c.errout if c else 0, c.dropout if c else 0))
    return out


def date_and_time(wall: float | None) -> bytes:
    """SNMPv2-TC DateAndTime in UTC (11 octets, direction '+', offset 0)."""
    if wall is None:
        return b""
    t = time.gmtime(wall)
    decis = int((wall - int(wall)) * 10)
    return struct.pack(">HBBBBBBcBB", t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, decis,
                       b"+", 0, 0)


def _g(v: float) -> int:
    return max(0, min(U32 - 1, round(v)))


def _text(s: str) -> str:
    return s[:255]  # DisplayString (SIZE (0..255))


@dataclass
class Sources:
    """Where the figures come from (everything in memory; nothing here blocks)."""

    tree: Tree
    identity: Identity
    uptime: Callable[[], float]  # seconds since the services started
    host_name: str
    monitor: MonitorService
    health: Callable[[], Iterable[Health]]
    trunks: Callable[[], list[tuple[str, bool]]]  # (key, registers) of each SIP trunk
    interfaces: Callable[[], list[Interface]]


def build_rows(src: Sources) -> list[Row]:
    t, rows = src.tree, []
    up = int(src.uptime() * 100) % U32
    ident = src.identity
    rows += [((*SYSTEM, 1, 0), STR, f"{ident.model} {ident.firmware}"), ((*SYSTEM, 2, 0), OID, t.root),
             ((*SYSTEM, 3, 0), TICKS, up), ((*SYSTEM, 4, 0), STR, ident.contact),
             ((*SYSTEM, 5, 0), STR, src.host_name), ((*SYSTEM, 6, 0), STR, ident.location),
             ((*SYSTEM, 7, 0), INT, 72)]
    ifaces = src.interfaces()
    rows.append((IF_NUMBER, INT, len(ifaces)))
    for i in ifaces:
        loop = i.name == "lo"
        for col, kind, value in (
                (1, INT, i.index), (2, STR, i.name), (3, INT, 24 if loop else 6), (4, INT, i.mtu),
                (5, GAUGE, min(U32 - 1, i.speed_mbps * 1_000_000)), (6, OCTETS, i.mac), (7, INT, 1),
                (8, INT, 1 if i.up else 2), (9, TICKS, 0), (10, COUNTER, i.in_octets % U32),
                (11, COUNTER, i.in_packets % U32), (13, COUNTER, i.in_drops % U32), (14, COUNTER, i.in_errors % U32),
                (16, COUNTER, i.out_octets % U32), (17, COUNTER, i.out_packets % U32),
                (19, COUNTER, i.out_drops % U32), (20, COUNTER, i.out_errors % U32)):
            rows.append(((*IF_ENTRY, col, i.index), kind, value))

    rows += [((*t.identity, 1, 0), STR, _text(ident.model)), ((*t.identity, 2, 0), STR, _text(ident.serial)),
             ((*t.identity, 3, 0), STR, _text(ident.firmware)), ((*t.identity, 4, 0), TICKS, up)]

    mon = src.monitor
    s = mon.sample
    services = list(src.health())
    by_name = {h.name: h for h in services}
    media = by_name.get("media")
    if s is not None:
        temp = s.temperature_max
        rows += [((*t.health, 1, 0), GAUGE, _g(s.cpu_percent)), ((*t.health, 2, 0), GAUGE, _g(s.load1 * 100)),
                 ((*t.health, 3, 0), GAUGE, _g(s.memory_percent)), ((*t.health, 4, 0), GAUGE, _g(s.swap_percent)),
                 ((*t.health, 5, 0), GAUGE, s.open_files),
                 ((*t.health, 6, 0), INT, {True: 1, False: 2, None: 3}[s.ntp_synced]),
                 ((*t.health, 7, 0), COUNTER, int(media.counters.get("ticks_late", 0)) % U32 if media else 0),
                 ((*t.health, 8, 0), INT, round(temp) if temp is not None else 0),
                 ((*t.health, 9, 0), GAUGE, len(s.temperatures))]
        for n, d in enumerate(s.disks, start=1):
            rows += [((*t.disk_entry, 2, n), STR, _text(d.mount)), ((*t.disk_entry, 3, n), GAUGE, _g(d.total_mib)),
                     ((*t.disk_entry, 4, n), GAUGE, _g(d.used_mib)), ((*t.disk_entry, 5, n), GAUGE, _g(d.percent)),
                     ((*t.disk_entry, 6, n), INT, TRUTH[d.is_data])]

    for n, h in enumerate(services, start=1):
        rows += [((*t.service_entry, 2, n), STR, _text(h.name)),
                 ((*t.service_entry, 3, n), INT, SERVICE_STATUS[h.status.value]),
                 ((*t.service_entry, 4, n), STR, _text(h.detail))]

    calls = by_name.get("telephony")
    g = calls.gauges if calls else {}
    today = mon.today
    rows += [((*t.calls, 1, 0), GAUGE, _g(g.get("calls_active", 0))), ((*t.calls, 2, 0), GAUGE, today.calls_ended),
             ((*t.calls, 3, 0), GAUGE, today.answered), ((*t.calls, 4, 0), GAUGE, today.abandoned)]

    for n, q in enumerate(mon.queue_figures(), start=1):
        rows += [((*t.queue_entry, 2, n), STR, _text(str(q["queue"]))),
                 ((*t.queue_entry, 3, n), GAUGE, _g(q["waiting"])),
                 ((*t.queue_entry, 4, n), GAUGE, _g(q["longest_wait"])),
                 ((*t.queue_entry, 5, n), GAUGE, _g(q["logged_in"])), ((*t.queue_entry, 6, n), GAUGE, _g(q["idle"])),
                 ((*t.queue_entry, 7, n), GAUGE, _g(q["service_level"])),
                 ((*t.queue_entry, 8, n), GAUGE, _g(q["abandon_rate"]))]

    busy = sum(g.get(f"acd_agents_{s}", 0) for s in ("ringing", "on_call", "wrap_up"))
    rows += [((*t.agents, 1, 0), GAUGE, _g(g.get("acd_agents_logged_in", 0))),
             ((*t.agents, 2, 0), GAUGE, _g(g.get("acd_agents_idle", 0))), ((*t.agents, 3, 0), GAUGE, _g(busy)),
             ((*t.agents, 4, 0), GAUGE, _g(g.get("acd_agents_paused", 0)))]

    alarms = mon.table.rows()
    rows.append(((*t.alarms, 1, 0), GAUGE, sum(a.active for a in alarms)))
    for a in alarms:
        rows += alarm_rows(t, a)

    active_by_trunk = mon.trunk_calls_active()
    for n, (name, registers) in enumerate(src.trunks(), start=1):
        state = mon.trunks.get(name)
        reg = 3 if not registers else (1 if state else 2)
        rows += [((*t.trunk_entry, 2, n), STR, _text(name)), ((*t.trunk_entry, 3, n), INT, reg),
                 ((*t.trunk_entry, 4, n), GAUGE, active_by_trunk.get(name, 0)),
                 ((*t.trunk_entry, 5, n), GAUGE, today.trunks.get(name, 0))]
    if mon.hardware is not None:
        rows += hardware_rows(t, mon.hardware())
    rows.sort(key=lambda r: r[0])
    return rows


def span_colour(alarms: Iterable[str]) -> str | None:
    """The worst of a span's alarms: red, yellow, minor, or None."""
    found = {SPAN_ALARM_COLOUR.get(a, "minor") for a in alarms}
    return next((c for c in ("red", "yellow", "minor") if c in found), None)


def hardware_rows(t: Tree, status: Any) -> list[Row]:
    """ccaSpanTable, ccaChannelTable and ccaPortTable from the cards' status (`HardwareStatus`)."""
    rows: list[Row] = []
    s, c = t.span_entry, t.channel_entry
    for span in status.spans:
        n, k = span.span, span.counters
        in_use = sum(1 for ch in span.channels if ch.state == "in_use")
        blocked = sum(1 for ch in span.channels if ch.state == "blocked")
        rows += [((*s, 2, n), STR, _text(span.card_id)), ((*s, 3, n), STR, _text(span.trunk)),
                 ((*s, 4, n), INT, 1 if span.d_channel == "up" else 2),
                 ((*s, 5, n), INT, SPAN_ALARM_STATE[span_colour(span.alarms)]),
                 ((*s, 6, n), STR, _text(",".join(span.alarms))), ((*s, 7, n), GAUGE, in_use),
                 ((*s, 8, n), GAUGE, blocked)]
        for col, key in ((9, "crc4_errors"), (10, "ebits"), (11, "slips"), (12, "bpv"), (13, "fas_errors")):
            rows.append(((*s, col, n), COUNTER, int(k.get(key, 0)) % U32))
        for ch in span.channels:
            rows.append(((*c, 2, n, ch.channel), INT, CHANNEL_STATE.get(ch.state, 3)))
    p = t.port_entry
    for port in status.ports:
        n = port.port
        assignment = (port.trunk if port.kind == "fxo" else port.extension) or ""
        rows += [((*p, 2, n), INT, PORT_KIND[port.kind]), ((*p, 3, n), INT, PORT_STATE.get(port.state, 5)),
                 ((*p, 4, n), STR, _text(assignment)), ((*p, 5, n), COUNTER, int(port.frames_lost) % U32)]
    return rows


def alarm_rows(t: Tree, a: Alarm) -> list[Row]:
    e, i = t.alarm_entry, a.id
    return [((*e, 2, i), STR, _text(a.name)), ((*e, 3, i), STR, _text(a.source)),
            ((*e, 4, i), INT, SEVERITY[a.severity.value]), ((*e, 5, i), INT, TRUTH[a.active]),
            ((*e, 6, i), OCTETS, date_and_time(a.raised_at)),
            ((*e, 7, i), OCTETS, date_and_time(a.cleared_at if a.cleared_at is not None else a.raised_at)),
            ((*e, 8, i), COUNTER, a.count % U32), ((*e, 9, i), STR, _text(a.text))]


class RowIndex:
    """Sorted rows with exact and next look-ups (bisect)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.oids = [r[0] for r in rows]

    def get(self, oid: Oid) -> Row | None:
        i = bisect.bisect_left(self.oids, oid)
        return self.rows[i] if i < len(self.oids) and self.oids[i] == oid else None

    def next(self, oid: Oid) -> Row | None:
        i = bisect.bisect_right(self.oids, oid)
        return self.rows[i] if i < len(self.oids) else None
