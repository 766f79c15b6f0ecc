"""The IVR service: sessions opened on the demo flows, inputs fed, events on the bus, symmetric stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.clock import SystemClock
from appliance.events import Event, EventBus
from appliance.ivr.actions import Action, Play, TransferToQueue
from appliance.ivr.demo import demo_repository
from appliance.ivr.inputs import CallArrived, CallerHungUp, DigitPressed, PromptFinished
from appliance.ivr.service import IvrService
from appliance.prompts.store import PromptStore


async def test_sessions_run_and_are_released(tmp_path: Path) -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append, {"ivr.*"})
    service = IvrService(demo_repository(), PromptStore(tmp_path), bus, SystemClock())
    await service.start()
    delivered: dict[str, list[Action]] = {"a": [], "b": []}
    runners = {}
    for call_id in ("a", "b"):
        runners[call_id] = await service.open_session(
            CallArrived(call_id=call_id, caller="139", did="8000", flow="main"), delivered[call_id].append
        )
    assert service.active == 2

    first_play = delivered["a"][-1]
    assert isinstance(first_play, Play)
    runners["a"].feed(DigitPressed(digit="2"))  # barge in on the welcome prompt
    transfer_prompt = delivered["a"][-1]
    assert isinstance(transfer_prompt, Play)
    runners["a"].feed(PromptFinished(play_id=transfer_prompt.play_id))
    assert isinstance(delivered["a"][-1], TransferToQueue)
    assert service.active == 1 and service.runner("a") is None

    runners["b"].feed(CallerHungUp())
    await service.close_session("b")
    assert service.active == 0

    ended = [e.to_dict() for e in seen if e.topic == "ivr.ended"]
    assert {(e["call_id"], e["exit_reason"]) for e in ended} == {("a", "transferred_to_agent"), ("b", "abandoned")}
    await service.stop()
    await asyncio.sleep(0)


async def test_stop_cancels_open_sessions(tmp_path: Path) -> None:
    service = IvrService(demo_repository(), PromptStore(tmp_path), EventBus(), SystemClock())
    await service.start()
    actions: list[Action] = []
    runner = await service.open_session(CallArrived(call_id="x", caller="1", did="8000", flow="main"), actions.append)
    for _ in range(2):  # the welcome, then the menu prompt, play to the end
        play = actions[-1]
        assert isinstance(play, Play)
        runner.feed(PromptFinished(play_id=play.play_id))
    assert runner.timer_armed  # waiting 5 s for a key
    await service.stop()
    assert service.active == 0
    assert not runner.timer_armed  # nothing left on the loop after stop
