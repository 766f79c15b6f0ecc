"""A SIPp carrier that stops answering registrations: the SIP service's refresh times out, the monitor
raises `trunk_unregistered` and snmptrapd receives the trap naming the trunk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.sip.models import TrunkConfig
from tests.sip.conftest import make_config, start_service
from tests.sip.sipp import free_udp_port, sipp_path, start_sipp
from tests.snmp.conftest import ROOT, Box
from tests.snmp.test_traps import (  # noqa: F401  (the trap tests' fixtures: snmptrapd and its receivers)
    ALARM_RAISED,
    heartbeat,
    snmp_extra,
    trap_port,
    trapd,
    v3_inform,
)
from tests.snmp.trapd import TrapD, text_of

pytestmark = [pytest.mark.interop, pytest.mark.slow]
FIXTURES = Path(__file__).parent / "fixtures"


async def test_a_carrier_that_stops_answering_raises_trunk_unregistered(tmp_path: Path, trapd: TrapD,  # noqa: F811
                                                                         box: Box) -> None:
    if sipp_path() is None:
        pytest.fail("sipp (Debian sip-tester) is not installed")
    port = free_udp_port()
    carrier = start_sipp(["-sf", str(FIXTURES / "reg_once.xml"), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
                          "-timeout", "20"], tmp_path)
    await asyncio.sleep(0.5)
    trunk = TrunkConfig(name="carrier", host="127.0.0.1", port=port, username="acct", password="trunk-pw",
                        register=True, register_expires=10)
    sip = await start_service(tmp_path / "sip", make_config(trunks=(trunk,)))
    sip.bus.subscribe(box.bus.publish, {"sip.trunk_registration"})  # the appliance's one bus, in two parts here
    try:
        assert (await carrier).successful == 1  # registered once; the carrier is gone now
        # refresh after 5 s, then the REGISTER transaction times out (64 x T1 = 32 s)
        for _ in range(600):
            alarm = box.monitor.table.get("trunk_unregistered", "carrier")
            if alarm is not None and alarm.active:
                break
            await asyncio.sleep(0.1)
        assert alarm is not None and alarm.active and "408" in alarm.text
        await trapd.wait_for_alarms(ALARM_RAISED, {"trunk_unregistered"})
        traps = [n for n in trapd.received if n.oid == ALARM_RAISED
                 and f"{ROOT}.1.7.2.1.2.{alarm.id}" in n.varbinds]
        assert traps and text_of(traps[0].varbinds[f"{ROOT}.1.7.2.1.3.{alarm.id}"]) == "carrier"
    finally:
        await sip.service.stop()
