"""`@control_test`: an `async def test_...(h: Harness)` run on its own virtual-time loop.

pytest-asyncio would run the test on a loop of its own making; these tests need a loop whose time is the
harness's clock, so the decorator turns the coroutine into a plain test (taking `tmp_path`) that builds the
loop and the harness, runs the body, checks that nothing was left behind, and closes everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.calls.harness.box import Harness
from tests.calls.harness.loop import VirtualTimeLoop

Scenario = Callable[[Harness], Awaitable[None]]


async def _run(body: Scenario, data_dir: Path) -> None:
    h = await Harness.open(data_dir)
    try:
        await body(h)
        await h.assert_clean()
    finally:
        await h.close()


def run_scenario(body: Scenario, data_dir: Path) -> None:
    loop = VirtualTimeLoop()
    try:
        loop.run_until_complete(_run(body, data_dir))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def control_test(body: Scenario) -> Callable[[Path], None]:
    def test(tmp_path: Path) -> None:
        run_scenario(body, tmp_path)

    test.__name__, test.__qualname__, test.__doc__ = body.__name__, body.__qualname__, body.__doc__
    test.__module__ = body.__module__
    test.pytestmark = list(getattr(body, "pytestmark", []))  # type: ignore[attr-defined]  # marks under it
    return test
