"""A configured analog card that cannot be opened leaves the box running: ports faulted, health down with the
reason, its phones and lines refused with Q.850 causes."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.events import EventBus
from appliance.health import Status
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused, OutboundLeg
from appliance.media.models import MediaConfig
from appliance.media.service import MediaEngine
from drivers.analog.config import parse_config
from drivers.analog.events import PortStateChanged
from drivers.analog.service import AnalogService
from drivers.hal.serial_backend import SerialCard

CONFIG = {"fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000"}], "fxs": [{"port": 2, "extension": "1002"}]}


async def test_a_missing_card_faults_its_ports_and_refuses_calls(tmp_path: Path) -> None:
    bus = EventBus()
    faults: list[PortStateChanged] = []
    bus.subscribe(lambda e: faults.append(e) if isinstance(e, PortStateChanged) else None, {"analog.*"})
    service = AnalogService(SerialCard(str(tmp_path / "no-such-tty")), MediaEngine(MediaConfig(), bus),
                            parse_config(CONFIG), bus)
    await service.start()
    health = service.health()
    assert health.status == Status.DOWN and "cannot open the card" in health.detail
    assert [p["state"] for p in service.port_status()] == ["faulted", "faulted"]
    assert [(f.port, f.state) for f in faults] == [(1, "faulted"), (2, "faulted")]
    with pytest.raises(LegRefused) as refused:
        await service.fxs.create(OutboundLeg(callee="1002", caller="8000", extension="1002"))
    assert refused.value.cause == Cause.DESTINATION_OUT_OF_ORDER
    with pytest.raises(LegRefused) as refused:
        await service.fxo.create(OutboundLeg(callee="10086", caller="8000", trunk="pstn"))
    assert refused.value.cause == Cause.NETWORK_OUT_OF_ORDER
    await service.stop()
