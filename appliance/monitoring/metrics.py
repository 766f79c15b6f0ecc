"""Prometheus metrics (text exposition format, written by prometheus-client) with the figures SNMP serves:
the box, every service's typed health (counters and gauges), queues, alarms."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.health import Health, Status
from appliance.monitoring.service import MonitorService

_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _metric_name(*parts: str) -> str:
    return _NAME.sub("_", "_".join(("appliance", *parts)))


class ApplianceCollector(Collector):
    def __init__(self, monitor: MonitorService, health: Callable[[], Iterable[Health]]) -> None:
        self.monitor, self.health = monitor, health

    def collect(self) -> Iterator[Metric]:
        s = self.monitor.sample
        if s is not None:
            for name, value, doc in (("cpu_usage_percent", s.cpu_percent, "CPU usage, all cores"),
                                     ("load1", s.load1, "one-minute load average"),
                                     ("memory_usage_percent", s.memory_percent, "memory in use"),
                                     ("swap_usage_percent", s.swap_percent, "swap in use"),
                                     ("open_files", float(s.open_files), "file descriptors of the process")):
                yield GaugeMetricFamily(_metric_name(name), doc, value=value)
            synced = GaugeMetricFamily(_metric_name("time_synchronized"), "1 synchronized, 0 not, -1 unknown",
                                       value={True: 1.0, False: 0.0, None: -1.0}[s.ntp_synced])
            yield synced
            disk = GaugeMetricFamily(_metric_name("disk_usage_percent"), "file system usage", labels=["mount", "data"])
            size = GaugeMetricFamily(_metric_name("disk_size_bytes"), "file system size", labels=["mount", "data"])
            for d in s.disks:
                disk.add_metric([d.mount, str(d.is_data).lower()], d.percent)
                size.add_metric([d.mount, str(d.is_data).lower()], float(d.total_mib * 2**20))
            yield disk
            yield size
            temp = GaugeMetricFamily(_metric_name("temperature_celsius"), "temperature sensors", labels=["sensor"])
            for label, value in s.temperatures.items():
                temp.add_metric([label], value)
            yield temp
        up = GaugeMetricFamily(_metric_name("service_up"), "1 ok, 0.5 degraded or starting, 0 down",
                               labels=["service", "status"])
        counters: dict[str, CounterMetricFamily] = {}
        gauges: dict[str, GaugeMetricFamily] = {}
        for h in self.health():
            up.add_metric([h.name, h.status.value], {Status.OK: 1.0, Status.DOWN: 0.0}.get(h.status, 0.5))
            for key, value in h.counters.items():
                name = _metric_name(h.name, key)
                fam = counters.setdefault(name, CounterMetricFamily(name, f"{h.name} {key}"))
                fam.add_metric([], float(value))
            for key, gvalue in h.gauges.items():
                name = _metric_name(h.name, key)
                if name in counters:
                    continue
                gauges.setdefault(name, GaugeMetricFamily(name, f"{h.name} {key}")).add_metric([], gvalue)
        yield up
        yield from counters.values()
        yield from gauges.values()
        qs = self.monitor.queue_figures()
        for key, doc in (("waiting", "callers waiting"), ("longest_wait", "longest wait, seconds"),
                         ("logged_in", "agents logged in"), ("idle", "agents idle"),
                         ("service_level", "answered within target today, percent"),
                         ("abandon_rate", "abandoned today, percent")):
            qfam = GaugeMetricFamily(_metric_name("queue", key), doc, labels=["queue"])
            for q in qs:
                qfam.add_metric([str(q["queue"])], float(q[key]))
            yield qfam
        today = self.monitor.today
        active = self.monitor.trunk_calls_active()
        trunk_calls = GaugeMetricFamily(_metric_name("trunk_calls_active"), "calls in progress that came in on the trunk",
                                        labels=["trunk"])
        for trunk in sorted(set(active) | set(self.monitor.trunks)):
            trunk_calls.add_metric([trunk], float(active.get(trunk, 0)))
        yield trunk_calls
        yield GaugeMetricFamily(_metric_name("calls_today"), "calls ended today", value=float(today.calls_ended))
        alarms = GaugeMetricFamily(_metric_name("alarm_active"), "1 while the alarm is raised",
                                   labels=["name", "source", "severity"])
        raised = CounterMetricFamily(_metric_name("alarm_raised"), "times the alarm was raised",
                                     labels=["name", "source", "severity"])
        for a in self.monitor.table.rows():
            alarms.add_metric([a.name, a.source, a.severity.value], 1.0 if a.active else 0.0)
            raised.add_metric([a.name, a.source, a.severity.value], float(a.count))
        yield alarms
        yield raised
        if self.monitor.hardware is not None:
            yield from _hardware(self.monitor.hardware())


# The same codes as the MIB's ccaSpanAlarmState and ccaPortState.
_SPAN_COLOUR = {"los": 4, "ais": 4, "lof": 4, "rai": 3, "lomf": 2}
_PORT_STATE = {"idle": 1, "ringing": 2, "off_hook": 3, "in_call": 4, "faulted": 5}


def _hardware(status: Any) -> Iterator[Metric]:
    """E1 spans and analog ports from the cards' status (`HardwareStatus`)."""
    labels = ["span", "trunk"]
    up = GaugeMetricFamily(_metric_name("span_d_channel_up"), "1 while the span's D-channel is up", labels=labels)
    state = GaugeMetricFamily(_metric_name("span_alarm_state"), "1 none, 2 minor, 3 yellow, 4 red", labels=labels)
    busy = GaugeMetricFamily(_metric_name("span_channels_in_use"), "B-channels carrying a call", labels=labels)
    errors = CounterMetricFamily(_metric_name("span_errors"), "line error counters since the card started",
                                 labels=[*labels, "counter"])
    for span in status.spans:
        key = [str(span.span), span.trunk]
        up.add_metric(key, 1.0 if span.d_channel == "up" else 0.0)
        state.add_metric(key, float(max((_SPAN_COLOUR.get(a, 2) for a in span.alarms), default=1)))
        busy.add_metric(key, float(sum(1 for ch in span.channels if ch.state == "in_use")))
        for name in ("crc4_errors", "ebits", "slips", "bpv", "fas_errors"):
            errors.add_metric([*key, name], float(span.counters.get(name, 0)))
    port = GaugeMetricFamily(_metric_name("port_state"), "1 idle, 2 ringing, 3 off hook, 4 in call, 5 faulted",
                             labels=["port", "kind"])
    for p in status.ports:
        port.add_metric([str(p.port), p.kind], float(_PORT_STATE.get(p.state, 5)))
    yield from (up, state, busy, errors, port)


def registry_for(monitor: MonitorService, health: Callable[[], Iterable[Health]]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ApplianceCollector(monitor, health))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
