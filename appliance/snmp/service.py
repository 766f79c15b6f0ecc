"""The SNMP service: the agent on `--snmp-port`, interface counters gathered on a worker thread, and
notifications (traps, or informs retried until acknowledged) for alarms and the box's events, to every
configured receiver. Every notification is logged; alarms are also in the alarm table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pysnmp.entity.rfc3413 import ntforg
from pysnmp.hlapi.v3arch.asyncio import CommunityData, Udp6TransportTarget, UdpTransportTarget, UsmUserData
from pysnmp.hlapi.v3arch.asyncio.lcd import NotificationOriginatorLcdConfigurator
from pysnmp.proto import rfc1902

from appliance.clock import Clock
from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.monitoring.service import MonitorService
from appliance.snmp.agent import AUTH, PRIV, Agent, engine_id_of, load_engine_local
from appliance.snmp.mib import SEVERITY, Oid, Tree
from appliance.snmp.models import SnmpSettings, TrapReceiver, parse_settings
from appliance.snmp.view import Identity, Interface, RowIndex, Sources, build_rows, read_interfaces

log = logging.getLogger(__name__)

SETTINGS_KEY = "snmp"
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
ENGINE_FILE = Path("snmp") / "engine-id"
# (kind, key, when) -> who changed that entity then, from the audit log (a quick indexed read on the loop's
# thread, where the record store's connection lives), or None while its entry is not written yet
ActorOf = Callable[[str, str, float], "str | None"]
VERSION_FILE = Path("snmp") / "firmware-version"
EVENT_TOPICS = {"monitoring.alarm_raised", "monitoring.alarm_cleared", "config.changed", "config.replaced",
                "backups.failed", "backups.succeeded", "sip.auth_blocked", "auth.login_blocked"}


def _swap_version(path: Path, version: str) -> str | None:
    """The firmware version the box ran last time (None on first start); records this one."""
    try:
        previous: str | None = path.read_text().strip()
    except FileNotFoundError:
        previous = None
    if previous != version:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(version + "\n")
    return previous


class SnmpService:
    name = "snmp"

    def __init__(self, bind: str, port: int, data_dir: Path, store: Any, bus: EventBus, clock: Clock,
                 monitor: MonitorService, health: Callable[[], Iterable[Health]], identity: Identity,
                 trunks: Callable[[], list[tuple[str, bool]]], *, max_age: float = 1.0,
                 interface_interval: float = 5.0, actor_of: ActorOf | None = None) -> None:
        self.bind, self.port, self.data_dir, self.store, self.bus, self.clock = bind, port, data_dir, store, bus, clock
        self.monitor, self._health, self.identity, self._trunks = monitor, health, identity, trunks
        self.max_age, self.interface_interval, self._actor_of = max_age, interface_interval, actor_of
        self.settings = SnmpSettings()
        self.tree = Tree()
        self.agent: Agent | None = None
        self.bound_port = 0
        self.failure = ""  # why the agent is not listening
        self._started_at = 0.0
        self._interfaces: list[Interface] = []
        self._index: RowIndex | None = None
        self._built_at = -1e9
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._sub: Any = None
        self._lcd = NotificationOriginatorLcdConfigurator()  # what it configures is kept in the engine
        self.counters = {"traps_sent": 0, "informs_acknowledged": 0, "informs_failed": 0, "send_errors": 0,
                         "rebuilds": 0}

    # ---- lifecycle

    async def start(self) -> None:
        await self._open(announce=True)

    async def _open(self, *, announce: bool) -> None:
        self.settings = parse_settings(self.store.settings.get(SETTINGS_KEY))
        self.tree = Tree(self.settings.enterprise_number)
        local = await asyncio.to_thread(load_engine_local, self.data_dir / ENGINE_FILE)
        self._interfaces = await asyncio.to_thread(read_interfaces)
        self._started_at = self.clock.monotonic()
        agent = Agent(self.settings, engine_id_of(self.settings.enterprise_number, local), self.snapshot)
        try:
            self.bound_port = agent.open(self.bind, self.port)
        except OSError as exc:  # monitoring must not keep the box from taking calls: report it instead
            agent.close()
            self.failure = f"cannot listen on udp {self.bind}:{self.port}: {exc.strerror or exc}"
            log.error("snmp: %s", self.failure)
            return
        self.failure = ""
        self.agent = agent
        self._loops = [asyncio.create_task(self._refresh_interfaces(), name="snmp-interfaces")]
        if self.settings.heartbeat_interval > 0:
            self._loops.append(asyncio.create_task(self._heartbeat(), name="snmp-heartbeat"))
        self._sub = self.bus.subscribe(self._on_event, EVENT_TOPICS)
        if not announce:
            return
        previous = await asyncio.to_thread(_swap_version, self.data_dir / VERSION_FILE, self.identity.firmware)
        if previous is not None and previous != self.identity.firmware:
            self.notify("ccaFirmwareUpdated", [((*self.tree.identity, 3, 0), self.identity.firmware),
                                               (self._n(1), f"firmware {previous} -> {self.identity.firmware}")])
        self.notify("ccaServiceRestarted", [(self._n(3), "appliance"),
                                            ((*self.tree.identity, 3, 0), self.identity.firmware),
                                            (self._n(1), "services started")])

    async def stop(self) -> None:
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
            self._sub = None
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops, self._tasks = [], set()
        if self.agent is not None:
            self.agent.close()
            self.agent = None

    @property
    def engine_id(self) -> str:
        """This agent's SNMP engine ID in hex (trap receivers need it for v3 traps: `createUser -e 0x…`)."""
        return bytes(self.agent.engine.snmpEngineID).hex() if self.agent is not None else ""

    async def restart(self) -> None:
        """Apply changed settings: the agent is rebuilt on the same port (or tries its port again)."""
        if self.agent is None and not self.failure:
            return  # not started: the settings apply when it starts
        port, self.port = self.port, self.bound_port or self.port
        await self.stop()
        try:
            await self._open(announce=False)
        finally:
            self.port = port

    def listening(self) -> list[str]:
        if self.agent is None:
            return []
        versions = (["v2c"] if self.settings.communities else []) + (["v3"] if self.settings.users else [])
        return [f"snmp  udp {self.bind}:{self.bound_port} ({', '.join(versions) or 'no communities or users yet'})"]

    def health(self) -> Health:
        if self.agent is None:
            return Health.of(self.name, Status.DOWN if self.failure else Status.STARTING, self.failure)
        handled, busy_max, busy_total = self.agent.load()
        return Health.of(self.name, Status.OK, f"udp {self.bound_port}, {len(self.settings.trap_receivers)} receivers",
                         counters={**self.counters, "requests": self.agent.instrum.requests,
                                   "dropped_sources": self.agent.dropped, "datagrams": handled},
                         gauges={"objects": float(len(self._index.rows) if self._index else 0),
                                 "datagram_ms_max": round(busy_max * 1000, 3),
                                 "datagram_ms_mean": round(busy_total * 1000 / handled, 3) if handled else 0.0})

    # ---- the rows

    def sources(self) -> Sources:
        identity = replace(self.identity, contact=self.settings.contact, location=self.settings.location)
        return Sources(self.tree, identity, lambda: self.clock.monotonic() - self._started_at,
                       socket.gethostname(), self.monitor, self._health, self._trunks, lambda: self._interfaces)

    def snapshot(self) -> RowIndex:
        now = self.clock.monotonic()
        if self._index is None or now - self._built_at >= self.max_age:
            self._index = RowIndex(build_rows(self.sources()))
            self._built_at = now
            self.counters["rebuilds"] += 1
        return self._index

    async def _refresh_interfaces(self) -> None:
        while True:
            await asyncio.sleep(self.interface_interval)
            with contextlib.suppress(OSError):
                self._interfaces = await asyncio.to_thread(read_interfaces)

    # ---- notifications

    def _n(self, sub: int) -> Oid:
        return (*self.tree.notify, sub, 0)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            rows = self.snapshot()
            active = rows.get((*self.tree.alarms, 1, 0))
            calls = rows.get((*self.tree.calls, 1, 0))
            self.notify("ccaHeartbeat", [((*self.tree.identity, 4, 0), self._uptime_ticks()),
                                         ((*self.tree.alarms, 1, 0), rfc1902.Gauge32(active[2] if active else 0)),
                                         ((*self.tree.calls, 1, 0), rfc1902.Gauge32(calls[2] if calls else 0))])

    def _uptime_ticks(self) -> rfc1902.TimeTicks:
        return rfc1902.TimeTicks(int((self.clock.monotonic() - self._started_at) * 100) % 2**32)

    def _on_event(self, event: Event) -> None:
        d, t = event.to_dict(), event.topic
        if t in ("monitoring.alarm_raised", "monitoring.alarm_cleared"):
            e, i = self.tree.alarm_entry, d["alarm_id"]
            self.notify("ccaAlarmRaised" if t.endswith("raised") else "ccaAlarmCleared", [
                ((*e, 2, i), d["name"]), ((*e, 3, i), d["source"]), ((*e, 4, i), rfc1902.Integer32(SEVERITY[d["severity"]])),
                ((*e, 8, i), rfc1902.Counter32(d["count"])), ((*e, 9, i), d["text"])])
        elif t == "config.changed":
            self._spawn(self._config_changed(d), "snmp-config-changed")
        elif t == "config.replaced":
            self.notify("ccaConfigChanged", [(self._n(3), "configuration"), (self._n(2), ""),
                                             (self._n(1), f"configuration replaced: {d.get('what', '')}")])
        elif t == "backups.failed":
            self.notify("ccaBackupFailed", [(self._n(3), d["target"]), (self._n(1), d["reason"])])
        elif t == "backups.succeeded":
            self.notify("ccaBackupSucceeded", [(self._n(3), d["target"]),
                                               (self._n(1), f"{d['kind']} backup of {', '.join(d['parts'])}")])
        elif t == "sip.auth_blocked":
            self.notify("ccaBruteForceBlocked", [(self._n(3), d["key"]),
                                                 (self._n(1), f"sip: {d['failures']} failed logins, blocked "
                                                              f"{d['seconds']:g} s")])
        elif t == "auth.login_blocked":
            self.notify("ccaBruteForceBlocked", [(self._n(3), d["source"]),
                                                 (self._n(1), f"web: {d['failures']} failed sign-ins"
                                                              + (f" to {d['account']}" if d.get("account") else "")
                                                              + f", blocked {d['seconds']:g} s")])

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _config_changed(self, d: dict[str, Any]) -> None:
        """ccaConfigChanged with who did it: the store's event does not know, the audit entry the
        configuration service writes just after it does (a few tries while that entry is on its way)."""
        who = ""
        for _ in range(10 if self._actor_of is not None else 0):
            assert self._actor_of is not None
            who = self._actor_of(d["kind"], d["key"], float(d["at"])) or ""
            if who:
                break
            await asyncio.sleep(0.05)
        self.notify("ccaConfigChanged", [(self._n(3), f"{d['kind']}/{d['key']}"), (self._n(2), who),
                                         (self._n(1), f"{d['action']} {d['kind']} {d['key']}"
                                                      + (f" by {who}" if who else ""))])

    def notify(self, name: str, objects: list[tuple[Oid, Any]]) -> None:
        """Send notification `name` with `objects` to every receiver (fire and forget; informs retried)."""
        if self.agent is None:
            return
        log.info("snmp notification %s %s", name, [v if isinstance(v, str) else str(v) for _, v in objects])
        var_binds = [(SYS_UPTIME, self._uptime_ticks()),
                     (SNMP_TRAP_OID, rfc1902.ObjectIdentifier(self.tree.notification(name)))]
        var_binds += [(oid, rfc1902.OctetString(v.encode()) if isinstance(v, str) else v) for oid, v in objects]
        for receiver in self.settings.trap_receivers:
            task = asyncio.create_task(self._send(receiver, var_binds), name=f"snmp-{name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _originate(self, auth: Any, target: Any, kind: str, var_binds: list[tuple[Oid, Any]]) -> Any:
        """pysnmp's notification originator with our varbinds as they are: the high-level call would resolve
        each one through the MIB machinery (and, with pysmi installed, could look for MIB files), for OIDs
        it does not know anyway."""
        assert self.agent is not None
        engine = self.agent.engine
        name = self._lcd.configure(engine, auth, target, kind, b"")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def answered(_engine: Any, _handle: Any, error_indication: Any, *_rest: Any) -> None:
            if not done.done():
                done.set_result(error_indication)

        ntforg.NotificationOriginator().send_varbinds(engine, name, None, b"", var_binds, answered)
        if kind == "trap":
            return None  # nothing comes back for a trap
        return await done

    async def _send(self, r: TrapReceiver, var_binds: list[tuple[Oid, Any]]) -> None:
        assert self.agent is not None
        auth: Any
        if r.version == "v3":
            u = self.settings.user(r.user)
            assert u is not None  # checked when the settings were parsed
            auth = UsmUserData(u.name, u.auth_key, u.priv_key, authProtocol=AUTH[u.auth_protocol],
                               privProtocol=PRIV[u.priv_protocol])
        else:
            # One community entry per receiver and kind: pysnmp keys its configuration by community index,
            # and a trap receiver sharing an inform receiver's entry left the inform's answers unmatched.
            kind = "inform" if r.inform else "trap"
            auth = CommunityData(f"{kind}-{r.host}-{r.port}", r.community, mpModel=1)
        target_cls = Udp6TransportTarget if ":" in r.host else UdpTransportTarget
        try:
            target = await target_cls.create((r.host, r.port), timeout=r.timeout, retries=r.retries)
            error_indication = await self._originate(auth, target, "inform" if r.inform else "trap", var_binds)
        except Exception as exc:  # an unreachable receiver must not take the agent down
            log.warning("snmp notification to %s:%d failed: %s", r.host, r.port, exc)
            self.counters["send_errors"] += 1
            return
        if r.inform:
            if error_indication:
                self.counters["informs_failed"] += 1
                log.warning("snmp inform to %s:%d not acknowledged: %s", r.host, r.port, error_indication)
            else:
                self.counters["informs_acknowledged"] += 1
        else:
            self.counters["traps_sent"] += 1
