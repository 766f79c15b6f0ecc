"""Discovery of cards (serial candidates, DAHDI nodes) and the serial protocol's time-outs and retries
against the emulator process, stopped and resumed with signals (a card that is busy or gone)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from drivers.hal.discovery import dahdi_candidates, discover, serial_candidates
from drivers.hal.errors import CardTimeout
from drivers.hal.models import SpanConfig
from tests.drivers.hal.emulated import open_card


def test_dahdi_nodes_are_listed_when_the_driver_is_loaded(tmp_path: Path) -> None:
    assert dahdi_candidates(tmp_path) == []
    (tmp_path / "ctl").touch()
    assert [c.path for c in dahdi_candidates(tmp_path)] == [str(tmp_path)]
    for span in ("1", "2"):
        (tmp_path / "chan" / span).mkdir(parents=True)
    found = dahdi_candidates(tmp_path)
    assert [(c.backend, Path(c.path).name) for c in found] == [("dahdi", "1"), ("dahdi", "2")]


def test_configured_serial_paths_are_candidates_once(tmp_path: Path) -> None:
    extra = ("/dev/pts/99", "/dev/pts/99")
    paths = [c.path for c in serial_candidates(extra)]
    assert paths.count("/dev/pts/99") == 1
    assert all(c.backend == "serial" for c in discover(("/dev/pts/99",), tmp_path))


async def test_a_request_is_repeated_after_its_time_out_and_acted_on_once() -> None:
    async with open_card("--spans", "2", "--link", "1-2") as (card, _rec, info):
        pid = int(info["pid"])  # type: ignore[call-overload]
        await card.configure_span(1, SpanConfig(framing="no-crc4"))
        os.kill(pid, signal.SIGSTOP)  # the card is busy for 0.7 s: the first try times out, the repeat waits
        loop = asyncio.get_running_loop()
        loop.call_later(0.7, os.kill, pid, signal.SIGCONT)
        await card.inject(span=1, errored_frames=3)  # (not idempotent: acted on twice it would count 6)
        assert card.counters["retries"] >= 1 and card.counters["timeouts"] == 0
        status = await card.span_status(1)
        assert status.configured and status.framing_in_use == "no-crc4" and status.counters.crc4_errors == 3


async def test_a_card_that_never_answers_times_out_after_the_retries() -> None:
    async with open_card("--spans", "1") as (card, _rec, info):
        pid = int(info["pid"])  # type: ignore[call-overload]
        card.timeout, card.retries = 0.2, 2
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(CardTimeout, match="configure"):
                await card.configure_span(1, SpanConfig())
        finally:
            os.kill(pid, signal.SIGCONT)
        assert card.counters["retries"] == 2 and card.counters["timeouts"] == 1
        card.timeout = 0.5
        await card.configure_span(1, SpanConfig())  # the card is back: the line works as before
        assert (await card.span_status(1)).configured
