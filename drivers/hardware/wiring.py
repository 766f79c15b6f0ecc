"""How the composition root puts the hardware status in: a service over whichever drivers the box built."""

from __future__ import annotations

from pathlib import Path

from drivers.analog.wiring import AnalogWiring
from drivers.e1.wiring import E1Wiring
from drivers.hardware.service import HardwareService


def build_hardware(e1: E1Wiring | None, analog: AnalogWiring | None, data_dir: Path) -> HardwareService:
    """Call after the drivers' providers were made (their services exist then)."""
    return HardwareService(e1.service if e1 is not None else None, analog.service if analog is not None else None,
                           data_dir=data_dir)
