from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator

import pytest

from appliance.events import Event, EventBus
from appliance.media import MediaConfig, MediaEngine


def free_port_range(size: int = 200) -> tuple[int, int]:
    """A random even-aligned range in the dynamic area whose first port is free now; the engine skips any
    port that turns out to be taken."""
    while True:
        low = random.randrange(30000, 60000 - size, 2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", low))
            except OSError:
                continue
        return low, low + size - 2


class Recorded:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        bus.subscribe(self.events.append, {"media.*"})

    def of(self, topic: str) -> list[Event]:
        return [e for e in self.events if e.topic == topic]


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def events(bus: EventBus) -> Recorded:
    return Recorded(bus)


@pytest.fixture(params=["compiled", "python"])
async def engine(request: pytest.FixtureRequest, bus: EventBus) -> AsyncIterator[MediaEngine]:
    """Every engine test runs twice: relaying in the compiled relay (which must be built here) and in Python."""
    low, high = free_port_range()
    compiled = request.param == "compiled"
    eng = MediaEngine(MediaConfig(port_low=low, port_high=high, rtp_timeout=0.5, compiled_relay=compiled), bus)
    assert eng.compiled_relay == compiled, "the compiled relay is not built: pip install -e . builds it"
    await eng.start()
    yield eng
    await eng.stop()
