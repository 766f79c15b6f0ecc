"""The health monitor: samples the box every few seconds (psutil on a worker thread), reads every service's
typed health, follows the bus for conditions (trunk registration, recordings, record writes, backups) and
keeps the alarm table (times are wall clock: they are shown and kept across restarts), written atomically to the data directory whenever it changes."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.clock import Clock
from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.monitoring import sampler
from appliance.monitoring.alarms import AlarmNotice, AlarmTable
from appliance.monitoring.events import AlarmCleared, AlarmRaised
from appliance.monitoring.models import (
    DEFAULT_THRESHOLDS,
    Severity,
    SystemSample,
    Threshold,
    parse_thresholds,
)
from appliance.tasks import cancel_and_wait

log = logging.getLogger(__name__)

SETTINGS_KEY = "monitoring"
ALARMS_FILE = Path("monitoring") / "alarms.json"
QueueViews = Callable[[], list[dict[str, Any]]]
# The cards' status (`drivers.hardware.models.HardwareStatus`: `.spans`, `.ports`), read in memory.
HardwareView = Callable[[], Any]
# E1 alarms (G.775 / G.732): losing the signal or the frame takes the span out of service; RAI is the far
# end's report of a fault; losing the CRC-4 multiframe only stops error monitoring.
UNDER_ATTACK_HOLD = 900.0  # the sign-in lockout's window: an attack reported once per window still lasts


def _web_block(d: dict[str, Any]) -> str:
    """The alarm source of a web sign-in block: the address, and the account when only that pair is blocked."""
    return f"web {d['source']}" + (f" {d['account']}" if d.get("account") else "")


SPAN_ALARM_SEVERITY = {"los": Severity.CRITICAL, "ais": Severity.CRITICAL, "lof": Severity.CRITICAL,
                       "rai": Severity.MAJOR, "lomf": Severity.MINOR}


def write_atomically(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename, fsync the directory: a crash leaves the old table or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class QueueDay:
    """One queue's figures since local midnight."""

    answered: int = 0
    answered_in_target: int = 0
    abandoned: int = 0

    def service_level(self) -> float:
        offered = self.answered + self.abandoned
        return 100.0 * self.answered_in_target / offered if offered else 100.0

    def abandon_rate(self) -> float:
        offered = self.answered + self.abandoned
        return 100.0 * self.abandoned / offered if offered else 0.0


@dataclass
class Today:
    day: str = ""
    calls_ended: int = 0
    answered: int = 0
    abandoned: int = 0
    queues: dict[str, QueueDay] = field(default_factory=dict)
    trunks: dict[str, int] = field(default_factory=dict)  # calls ended today that used the trunk (the CDR's)


class MonitorService:
    name = "monitoring"

    def __init__(self, data_dir: Path, store: Any, bus: EventBus, clock: Clock,
                 health: Callable[[], Iterable[Health]], *, queues: QueueViews | None = None,
                 interval: float = 5.0, service_level_target: float = 20.0,
                 hardware: HardwareView | None = None) -> None:
        self.data_dir, self.store, self.bus, self.clock = Path(data_dir), store, bus, clock
        self._health, self._queues, self.hardware = health, queues, hardware
        self.interval, self.service_level_target = interval, service_level_target
        self.table = AlarmTable()
        self.sample: SystemSample | None = None
        self.services: list[Health] = []
        self.trunks: dict[str, bool] = {}
        self.trunk_calls: dict[str, str] = {}  # call id -> the trunk it came in on, while it lasts
        self.today = Today()
        self.ticks_late = 0
        self._saved_changes = 0
        self._task: asyncio.Task[None] | None = None
        self._subs: list[Any] = []
        self._save_lock = asyncio.Lock()
        self._clear_at: dict[tuple[str, str], float] = {}  # (alarm, source) -> when time alone clears it
        self.samples_taken = 0
        self.notices_sent = 0

    # ---- lifecycle

    async def start(self) -> None:
        path = self.data_dir / ALARMS_FILE
        data = await asyncio.to_thread(lambda: path.read_bytes() if path.exists() else b"")
        try:
            self.table = AlarmTable(AlarmTable.loads(data) if data else [])
        except (ValueError, KeyError, TypeError):
            log.error("the alarm table %s is unreadable; starting a new one", path)
            self.table = AlarmTable()
        self._saved_changes = self.table.changes
        self._subs = [self.bus.subscribe(self._on_event, {
            "sip.trunk_registration", "media.recording_stopped", "records.write_failed", "records.write_recovered",
            "backups.failed", "backups.succeeded", "acd.call_answered", "acd.call_abandoned", "calls.ended",
            "calls.offered",
            "e1.alarm", "analog.port_state", "auth.login_blocked", "auth.login_unblocked", "sip.auth_blocked",
            "auth.login_under_attack", "sip.extension_under_attack"})]
        self._task = asyncio.create_task(self._run(), name="monitoring")

    async def stop(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
            await self.save()

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        active = self.table.active()
        status = Status.STARTING if self._task is None else Status.OK
        return Health.of(self.name, status, f"{len(active)} active alarms",
                         counters={"samples": self.samples_taken, "notices": self.notices_sent},
                         gauges={"alarms_active": float(len(active))})

    # ---- thresholds

    def thresholds(self) -> dict[str, Threshold]:
        raw = self.store.settings.get(SETTINGS_KEY, {}).get("thresholds", {})
        try:
            return parse_thresholds(raw, DEFAULT_THRESHOLDS)
        except Exception:  # a stored value from an older version: defaults rather than no monitoring
            log.exception("stored thresholds are invalid; using the defaults")
            return dict(DEFAULT_THRESHOLDS)

    async def patch_thresholds(self, raw: Any) -> dict[str, Threshold]:
        merged = parse_thresholds(raw, self.thresholds())  # validation once, here
        current = dict(self.store.settings.get(SETTINGS_KEY, {}))
        current["thresholds"] = {name: t.to_json() for name, t in merged.items()}
        await self.store.set_settings(**{SETTINGS_KEY: current})
        return merged

    # ---- the loop

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("monitoring pass failed")
            await asyncio.sleep(self.interval)

    async def tick(self) -> None:
        """One pass: sample, read health, evaluate thresholds, release damped alarms, persist."""
        ntp = await sampler.chrony_synced()
        self.sample = await asyncio.to_thread(sampler.sample, self.data_dir, self.clock.wall(), ntp)
        self.samples_taken += 1
        self.services = [h for h in self._health() if h.name != self.name]
        self._evaluate(self.sample)
        self._unblock(self.clock.wall())
        self._notify(self.table.handle_timeout(self.clock.wall()))
        await self.save()

    def _evaluate(self, s: SystemSample) -> None:
        th, now = self.thresholds(), self.clock.wall()
        out = self.table.measure(th["cpu_high"], "box", round(s.cpu_percent, 1), now, "CPU usage %")
        out += self.table.measure(th["load_high"], "box", round(s.load1, 2), now, "load average")
        out += self.table.measure(th["memory_high"], "box", round(s.memory_percent, 1), now, "memory usage %")
        out += self.table.measure(th["swap_high"], "box", round(s.swap_percent, 1), now, "swap usage %")
        out += self.table.measure(th["open_files_high"], "box", float(s.open_files), now, "open files")
        if s.temperature_max is not None:
            out += self.table.measure(th["temperature_high"], "box", s.temperature_max, now, "temperature °C")
        for d in s.disks:
            out += self.table.measure(th["disk_high"], d.mount, d.percent, now, f"disk {d.mount} usage %")
            if d.is_data:
                out += self.table.measure(th["data_disk_full"], d.mount, d.percent, now,
                                          f"data disk {d.mount} usage %")
                if d.percent <= th["data_disk_full"].clear_level:
                    out += self.table.clear("recording_stopped", "recordings", now, "disk space available again")
        for h in self.services:
            if h.name == "media":
                late = int(h.counters.get("ticks_late", 0))
                out += self.table.measure(th["media_ticks_late_rate"], "media", float(max(0, late - self.ticks_late)),
                                          now, "media ticks late per interval")
                self.ticks_late = late
            if h.status is Status.DOWN:
                out += self.table.raise_("service_down", h.name, Severity.CRITICAL, now, f"{h.name}: {h.detail}")
            elif self.table.get("service_down", h.name) is not None:
                out += self.table.clear("service_down", h.name, now, f"{h.name}: {h.status.value}")
        for q in self.queue_figures():
            out += self.table.measure(th["queue_waiting_high"], q["queue"], float(q["waiting"]), now,
                                      f"queue {q['queue']} callers waiting")
            out += self.table.measure(th["queue_wait_long"], q["queue"], float(q["longest_wait"]), now,
                                      f"queue {q['queue']} longest wait s")
            if q["offered_today"]:
                out += self.table.measure(th["queue_service_level_low"], q["queue"], 100.0 - q["service_level"],
                                          now, f"queue {q['queue']} service level shortfall %")
        self._notify(out)

    def _unblock(self, now: float) -> None:
        """Clears the alarms that end with time: a block that ran out, an attack no longer reported."""
        for (name, source), until in list(self._clear_at.items()):
            if now >= until:
                del self._clear_at[(name, source)]
                why = "no longer blocked" if name == "brute_force_blocked" else "no more failures reported"
                self._notify(self.table.clear(name, source, now, f"{source}: {why}"))

    # ---- conditions from the bus

    def _on_event(self, event: Event) -> None:
        now = self.clock.wall()
        d = event.to_dict()
        topic = event.topic
        out: list[AlarmNotice] = []
        if topic == "sip.trunk_registration":
            self.trunks[d["trunk"]] = bool(d["registered"])
            if d["registered"]:
                out = self.table.clear("trunk_unregistered", d["trunk"], now, f"trunk {d['trunk']} registered")
            else:
                out = self.table.raise_("trunk_unregistered", d["trunk"], Severity.MAJOR, now,
                                        f"trunk {d['trunk']} registration lost (status {d['status']})")
        elif topic == "media.recording_stopped" and d.get("error"):
            out = self.table.raise_("recording_stopped", "recordings", Severity.CRITICAL, now,
                                    f"recording stopped: {d['error']}")
        elif topic == "records.write_failed":
            out = self.table.raise_("records_write_failed", "records", Severity.CRITICAL, now,
                                    f"record store cannot write: {d.get('error', '')}")
        elif topic == "records.write_recovered":
            out = self.table.clear("records_write_failed", "records", now, "record store writes again")
        elif topic == "backups.failed":
            out = self.table.raise_("backup_failed", d["target"], Severity.MINOR, now,
                                    f"backup to {d['target']} failed: {d['reason']}")
        elif topic == "backups.succeeded":
            out = self.table.clear("backup_failed", d["target"], now, f"backup to {d['target']} succeeded")
        elif topic == "e1.alarm":
            source = f"span {d['span']} {d['alarm']}"
            if d["raised"]:
                severity = SPAN_ALARM_SEVERITY.get(d["alarm"], Severity.MAJOR)
                out = self.table.raise_("span_alarm", source, severity, now,
                                        f"E1 span {d['span']} ({d['card']}): {d['alarm'].upper()} alarm")
            else:
                out = self.table.clear("span_alarm", source, now, f"E1 span {d['span']}: {d['alarm'].upper()} cleared")
        elif topic == "analog.port_state":
            source = f"{d['kind']} port {d['port']}"
            if d["state"] == "faulted":
                out = self.table.raise_("port_fault", source, Severity.MAJOR, now,
                                        f"{d['kind'].upper()} port {d['port']} faulted: {d.get('detail', '')}")
            else:
                out = self.table.clear("port_fault", source, now, f"{d['kind'].upper()} port {d['port']} {d['state']}")
        elif topic in ("auth.login_blocked", "sip.auth_blocked"):
            # raised for as long as the source is refused, then cleared by the next pass after that
            web = topic == "auth.login_blocked"
            source = _web_block(d) if web else f"sip {d['key']}"
            account = f" to {d['account']}" if web and d.get("account") else ""
            out = self.table.raise_("brute_force_blocked", source, Severity.MINOR, now,
                                    f"{'web sign-in' if web else 'SIP authentication'} from "
                                    f"{d['source'] if web else d['key']}{account} blocked for {d['seconds']:g} s "
                                    f"after {d['failures']} failed attempts")
            self._clear_at[("brute_force_blocked", source)] = now + float(d["seconds"])
        elif topic == "auth.login_unblocked":  # expired, or lifted by an admin before its time
            source = _web_block(d)
            self._clear_at.pop(("brute_force_blocked", source), None)
            out = self.table.clear("brute_force_blocked", source, now, f"{source}: block {d.get('reason', 'ended')}")
        elif topic in ("auth.login_under_attack", "sip.extension_under_attack"):
            # failures against one account from many sources: reported once per window while it goes on, so
            # the alarm stands until a window passes without a report
            web = topic == "auth.login_under_attack"
            source = f"web account {d['account']}" if web else f"sip extension {d['extension']}"
            spread = f" from {len(d['sources'])} addresses" if web else ""
            out = self.table.raise_("account_under_attack", source, Severity.MAJOR, now,
                                    f"{source}: {d['failures']} failed sign-ins{spread}")
            self._clear_at[("account_under_attack", source)] = now + UNDER_ATTACK_HOLD
        else:
            self._count_today(topic, d)
        self._notify(out)

    def _count_today(self, topic: str, d: dict[str, Any]) -> None:
        day = time.strftime("%Y-%m-%d", time.localtime(self.clock.wall()))
        if day != self.today.day:
            self.today = Today(day)
        if topic == "calls.offered":
            if d.get("trunk"):
                self.trunk_calls[d["call_id"]] = d["trunk"]
            return
        if topic == "calls.ended":
            self.today.calls_ended += 1
            self.trunk_calls.pop(d["call_id"], None)
            trunk = (d.get("cdr") or {}).get("trunk")
            if trunk:
                self.today.trunks[trunk] = self.today.trunks.get(trunk, 0) + 1
            return
        q = self.today.queues.setdefault(str(d.get("queue_id", "")), QueueDay())
        if topic == "acd.call_answered":
            self.today.answered += 1
            q.answered += 1
            q.answered_in_target += float(d.get("wait", 0.0)) <= self.service_level_target
        elif topic == "acd.call_abandoned":
            self.today.abandoned += 1
            q.abandoned += 1

    def trunk_calls_active(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trunk in self.trunk_calls.values():
            out[trunk] = out.get(trunk, 0) + 1
        return out

    def queue_figures(self) -> list[dict[str, Any]]:
        """Each queue now (from call control) with today's service level and abandon rate."""
        if self._queues is None:
            return []
        out = []
        for view in self._queues():
            day = self.today.queues.get(view["queue"], QueueDay())
            out.append({**view, "service_level": round(day.service_level(), 1),
                        "abandon_rate": round(day.abandon_rate(), 1), "offered_today": day.answered + day.abandoned})
        return out

    # ---- telling and keeping

    def _notify(self, notices: list[AlarmNotice]) -> None:
        for n in notices:
            a = n.alarm
            cls = AlarmRaised if n.raised else AlarmCleared
            log.log(logging.WARNING if n.raised else logging.INFO, "alarm %s %s/%s (%s, count %d): %s",
                    "raised" if n.raised else "cleared", a.name, a.source, a.severity.value, a.count, a.text)
            self.notices_sent += 1
            self.bus.publish(cls(at=self.clock.wall(), alarm_id=a.id, name=a.name, source=a.source,
                                 severity=a.severity.value, count=a.count, text=a.text))

    def raise_alarm(self, name: str, source: str, severity: Severity, text: str) -> None:
        self._notify(self.table.raise_(name, source, severity, self.clock.wall(), text))

    def clear_alarm(self, name: str, source: str, text: str) -> None:
        self._notify(self.table.clear(name, source, self.clock.wall(), text))

    async def save(self) -> None:
        async with self._save_lock:
            if self.table.changes == self._saved_changes:
                return
            changes, data = self.table.changes, self.table.dumps()
            try:
                await asyncio.to_thread(write_atomically, self.data_dir / ALARMS_FILE, data)
            except OSError as exc:  # a full data disk is itself an alarm: keep the table, write it next pass
                log.error("the alarm table could not be written: %s", exc)
                return
            self._saved_changes = changes
