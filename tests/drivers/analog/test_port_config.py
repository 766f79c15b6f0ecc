"""The FXO line's impedance and region reach the card when the driver starts (HAL PORT_CONFIG), on the analog
card emulator as its own process; a setting the card refuses is counted and the port still works."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.analog.config import parse_config
from drivers.analog.service import AnalogService
from tests.drivers.analog.emulated import analog_card
from tests.drivers.e1.far_end import ToneMedia

pytestmark = [pytest.mark.slow, pytest.mark.interop]


async def test_the_line_settings_of_fxo_ports_are_passed_to_the_card(tmp_path: Path) -> None:
    async with analog_card(tmp_path, "fxo:2,fxs:1") as (card, far, _info):
        config = parse_config({"fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000",
                                        "settings": {"impedance": "600", "region": "hk"}},
                                       {"port": 2, "trunk": "pstn", "access_number": "8001"}],
                               "fxs": [{"port": 3, "extension": "1003"}]})
        service = AnalogService(card, ToneMedia(), config)  # type: ignore[arg-type]
        await service.start()
        try:
            assert (await far(1, "status"))["line"] == {"impedance": "600", "region": "hk"}
            assert (await far(2, "status"))["line"] == {"impedance": "cn", "region": "cn"}  # China's default
            assert (await far(3, "status"))["line"] is None  # (an FXS port has no exchange line to match)
            assert service.health().counters["port_config_failed"] == 0
            # a card that cannot do an impedance refuses it: counted, and the port is used all the same
            from drivers.hal.errors import CardRefused
            from drivers.hal.models import PortConfig

            with pytest.raises(CardRefused):
                await card.configure_port(1, PortConfig(impedance="75"))
        finally:
            await service.stop()
