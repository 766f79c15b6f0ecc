"""The monitoring routes in the composed appliance: the alarm table, thresholds (admins change them,
supervisors read them, agents neither), the box now, and /metrics parsed by prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from appliance.monitoring.service import MonitorService
from appliance.sip.events import TrunkRegistrationChanged
from tests.api_client import Client


def _monitor(client: Client) -> MonitorService:
    return next(s for s in client.appliance.services if isinstance(s, MonitorService))


async def _supervisor(admin: Client) -> str:
    await admin.call("POST", "/api/v1/users", {"name": "sup9", "role": "supervisor", "password": "super-password"})
    _, sup = await admin.call("POST", "/api/v1/login", {"name": "sup9", "password": "super-password"})
    return str(sup["token"])


async def test_alarms_are_listed_active_first(admin: Client) -> None:
    mon = _monitor(admin)
    await mon.start()  # the fixture prepares the appliance without starting its services
    try:
        await _list_alarms(admin, mon)
    finally:
        await mon.stop()


async def _list_alarms(admin: Client, mon: MonitorService) -> None:
    bus = admin.appliance.core.bus
    bus.publish(TrunkRegistrationChanged(trunk="old", registered=False, status=408))
    bus.publish(TrunkRegistrationChanged(trunk="old", registered=True, status=200))
    bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=False, status=503))
    status, data = await admin.call("GET", "/api/v1/alarms")
    assert status == 200
    names = [(a["name"], a["source"], a["active"]) for a in data["items"]]
    assert names.index(("trunk_unregistered", "carrier", True)) < names.index(("trunk_unregistered", "old", False))
    assert data["active"] == len(mon.table.active())
    status, data = await admin.call("GET", "/api/v1/alarms?active=true")
    assert all(a["active"] for a in data["items"])
    status, _ = await admin.call("GET", "/api/v1/alarms", token=await _supervisor(admin))
    assert status == 200
    status, _ = await admin.call("GET", "/api/v1/alarms", token="nope")
    assert status == 401


async def test_thresholds_patch_validates_each_field(admin: Client) -> None:
    status, data = await admin.call("PATCH", "/api/v1/monitoring/thresholds",
                                    {"disk_high": {"set_level": 80, "clear_level": 85}, "cpu_high": {"bogus": 1}})
    assert status in (400, 422)
    fields = {f["field"] for f in data["details"]["fields"]}
    assert fields == {"disk_high.clear_level", "cpu_high.bogus"}
    status, data = await admin.call("PATCH", "/api/v1/monitoring/thresholds",
                                    {"disk_high": {"set_level": 80, "clear_level": 70, "severity": "critical"}})
    assert status == 200
    disk = next(t for t in data["items"] if t["name"] == "disk_high")
    assert (disk["set_level"], disk["clear_level"], disk["severity"]) == (80.0, 70.0, "critical")
    sup = await _supervisor(admin)
    status, _ = await admin.call("GET", "/api/v1/monitoring/thresholds", token=sup)
    assert status == 200
    status, _ = await admin.call("PATCH", "/api/v1/monitoring/thresholds", {}, token=sup)
    assert status == 403


async def test_metrics_parse_and_match_the_monitor(admin: Client) -> None:
    mon = _monitor(admin)
    await mon.tick()
    status, _ = await admin.call("PUT", "/api/v1/monitoring/metrics-token", {"token": "short"})
    assert status == 422
    token = "metrics-reader-0123456789"
    status, _ = await admin.call("PUT", "/api/v1/monitoring/metrics-token", {"token": token})
    assert status == 200
    assert (await admin.fetch("/metrics")).status == 403  # the admin's session is not the metrics token
    response = await admin.fetch("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.body.decode())}
    assert mon.sample is not None
    [mem] = families["appliance_memory_usage_percent"].samples
    assert mem.value == mon.sample.memory_percent
    data_disk = [s for s in families["appliance_disk_usage_percent"].samples if s.labels["data"] == "true"]
    assert [s.labels["mount"] for s in data_disk] == [mon.sample.disks[0].mount]
    services = {s.labels["service"] for s in families["appliance_service_up"].samples}
    assert {"config_store", "records", "monitoring", "snmp"} <= services
