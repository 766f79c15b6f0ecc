"""A call-control harness: the real `CallController`, ACD, IVR, router and stores with fake legs, fake media
and virtual time — no SIPp, no sockets, a call in milliseconds.

    @control_test
    async def test_something(h: Harness) -> None:
        h.login("1002")                                   # agent 1002 logs in at its own extension
        caller = await h.incoming("13800138000", "8000")  # a customer calls the access number
        await h.play_through(caller)                      # the welcome and the menu play to their end
        caller.press("1")                                 # RFC 4733 through the media (out_of_band: INFO)
        await h.play_through(caller)                      # "transferring you"; the call joins the queue
        agent = await h.rung("1002")                      # the agent's phone rings
        agent.answer()
        await h.play_through(caller)                      # the agent's number is announced, then the bridge
        await h.advance(30)                               # virtual time: ACD, IVR and call timers fire
        caller.hang_up()
        await h.settle()
        assert h.cdr()["disposition"] == "answered"

`h.call_menu("1")` and `h.pick_up("1002", caller)` are the same steps in one line each; `h.unregister(ext)`
makes a phone unreachable; `h.call()`, `h.agent(id)`, `h.cdr()`, `h.published(EventType)` and the legs'
`commands` say what happened.

Modules: `loop` (the virtual-time event loop), `media` (the fake media engine), `legs` (fake legs, providers
and the far-end `Phone`), `tenant` (the demo configuration), `box` (`Harness`: wiring and the test API),
`scenario` (`@control_test`, which also checks that every test leaves nothing behind).
"""

import pytest

# The harness's own asserts explain themselves too (registered before the modules are imported).
pytest.register_assert_rewrite(*(f"tests.calls.harness.{name}" for name in ("box", "legs", "loop", "media")))

from tests.calls.harness.box import Harness  # noqa: E402
from tests.calls.harness.legs import FakeLeg, Phone  # noqa: E402
from tests.calls.harness.scenario import control_test  # noqa: E402

__all__ = ["FakeLeg", "Harness", "Phone", "control_test"]
