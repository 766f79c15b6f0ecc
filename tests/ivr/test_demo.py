"""The demo tenant end to end: DID 8000 routed by time, then walked through its flow."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.clock import ManualClock
from appliance.ivr.actions import Play, TransferToExtension, TransferToQueue, TransferToVoicemail
from appliance.ivr.demo import DEMO_DID, demo_repository, demo_routing
from appliance.ivr.journey import ExitReason
from appliance.routing.models import Holiday
from appliance.routing.router import Router
from tests.ivr.script import Script


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def _call(wall: float, router: Router | None = None) -> Script:
    router = router or Router(demo_routing())
    decision = router.route(did=DEMO_DID, caller="13800138000", wall=wall)
    assert decision.destination.kind == "flow"
    s = Script(demo_repository().snapshot(), clock=ManualClock(epoch_offset=wall), period_of=router.period_of)
    s.start(decision.destination.target, did=decision.did, language=decision.language, vip=decision.vip)
    return s


def test_work_hours_main_menu_to_each_destination() -> None:
    tuesday_10 = _at(2026, 11, 24, 10, 0)
    expected = {"1": TransferToQueue, "2": TransferToQueue, "0": TransferToExtension}
    targets = {"1": "sales", "2": "support", "0": "1901"}
    for key, kind in expected.items():
        s = _call(tuesday_10)
        assert s.one(Play).prompts == ("welcome",)
        s.finish_prompt()
        assert s.one(Play).prompts == ("main_menu",)
        s.finish_prompt()
        s.press(key)
        s.finish_prompt()
        action = s.one(kind)
        assert targets[key] in (getattr(action, "queue", None), getattr(action, "extension", None))


def test_off_hours_plays_notice_then_voicemail() -> None:
    for wall in (_at(2026, 11, 24, 18, 0), _at(2026, 11, 28, 11, 0)):  # Tuesday evening, Saturday
        s = _call(wall)
        assert s.session.flow is not None and s.session.flow.name == "off_hours"
        assert s.one(Play).prompts == ("off_hours",)
        s.finish_prompt()
        assert s.one(TransferToVoicemail).box == "general"
        assert s.session.summary is not None and s.session.summary.exit_reason is ExitReason.VOICEMAIL


def test_holiday_goes_off_hours_even_in_work_hours() -> None:
    config = demo_routing()
    national_day = Holiday(date="2026-10-01", end_date="2026-10-07", name="国庆节")
    schedule = dataclasses.replace(config.schedules[0], holidays=(national_day,))
    router = Router(dataclasses.replace(config, schedules=(schedule,)))
    s = _call(_at(2026, 10, 5, 10, 0), router)  # a Monday inside the National Day holiday
    assert s.session.flow is not None and s.session.flow.name == "off_hours"
