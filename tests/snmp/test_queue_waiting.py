"""A queue with a caller waiting and no agent logged in, on `appliance run` with a real SIPp caller: the
monitor's next sample raises queue_waiting_high for the queue, snmptrapd receives ccaAlarmRaised for it, and
when the caller hangs up the alarm clears (ccaAlarmCleared)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import MEDIA_FIXTURES, RunningAppliance, sipp_available, start_appliance
from tests.snmp.conftest import AUTH_KEY, COMMUNITY, PRIV_KEY, ROOT, USER, settings
from tests.snmp.trapd import TrapD, config, text_of

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]

ALARM_RAISED, ALARM_CLEARED = f"{ROOT}.0.1", f"{ROOT}.0.2"
ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}


@pytest.fixture
async def box_and_trapd(tmp_path: Path) -> AsyncIterator[tuple[RunningAppliance, TrapD]]:
    trap_port = free_port(2)
    trapd = TrapD(trap_port, tmp_path / "trapd")
    await trapd.start(config(COMMUNITY, USER, AUTH_KEY, PRIV_KEY, "80007ed9050102030405060708"))
    (tmp_path / "box").mkdir()
    box = await asyncio.to_thread(start_appliance, tmp_path / "box", "--snmp-port", "0")
    try:
        yield box, trapd
    finally:
        await asyncio.to_thread(box.stop)
        await trapd.stop()


async def test_callers_waiting_with_no_agent_raise_queue_waiting_high(
        box_and_trapd: tuple[RunningAppliance, TrapD]) -> None:
    box, trapd = box_and_trapd

    def api(method: str, path: str, body: object = None) -> object:
        status, answer = box.api(method, path, body)
        assert status == 200, (path, answer)
        return answer

    api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    api("PUT", "/api/v1/snmp/settings", settings(trap_receivers=[
        {"host": "127.0.0.1", "port": trapd.port, "version": "v2c", "community": COMMUNITY}]))
    api("PATCH", "/api/v1/monitoring/thresholds", {"queue_waiting_high": {"set_level": 1, "clear_level": 0}})

    scenario = box.scenario("caller_menu.xml", DIGIT="1", PCAP=MEDIA_FIXTURES / "g711a.pcap", WAIT_MS=14000,
                            BEFORE_KEY_MS=2000)
    caller = box.sipp_background([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                                  "-inf", str(box.users_csv("1005")), "-s", "8000", f"127.0.0.1:{box.sip_port}"])
    try:
        names = await trapd.wait_for_alarms(ALARM_RAISED, {"queue_waiting_high"}, timeout=25)
        assert "queue_waiting_high" in names
        raised = next(n for n in trapd.received if n.oid == ALARM_RAISED
                      and any(text_of(v) == "queue_waiting_high" for v in n.varbinds.values()))
        assert "sales" in [text_of(v) for k, v in raised.varbinds.items() if ".1.7.2.1.3." in k]
        queues = api("GET", "/api/v1/queues/status")
        sales = next(q for q in queues["items"] if q["queue"] == "sales")  # type: ignore[index]
        assert sales["waiting"] >= 1 and sales["logged_in"] == 0
    finally:
        await asyncio.to_thread(caller.communicate, timeout=60)
    await trapd.wait_for_alarms(ALARM_CLEARED, {"queue_waiting_high"}, timeout=20)
    alarms = api("GET", "/api/v1/alarms")
    row = next(a for a in alarms["items"] if a["name"] == "queue_waiting_high")  # type: ignore[index]
    assert row["source"] == "sales" and not row["active"] and row["count"] == 1
