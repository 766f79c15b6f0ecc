"""The running appliance for each end-to-end test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import RunningAppliance, start_appliance


@pytest.fixture
def box(tmp_path: Path) -> Iterator[RunningAppliance]:
    app = start_appliance(tmp_path)
    try:
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]
