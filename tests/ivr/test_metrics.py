"""IVR figures computed from the journeys of scripted demo calls."""

from __future__ import annotations

from appliance.ivr.demo import demo_flows
from appliance.ivr.inputs import CallerHungUp
from appliance.ivr.journey import ExitReason, JourneyStep, JourneySummary
from appliance.ivr.metrics import summarise
from tests.ivr.script import Script


def _calls() -> list[Script]:
    sold = Script(demo_flows())
    sold.start("main")
    sold.clock.advance(4)
    sold.finish_prompt()
    sold.press("1")
    sold.finish_prompt()

    lost = Script(demo_flows())
    lost.start("main")
    lost.finish_prompt()
    lost.finish_prompt()
    lost.press("5")  # wrong key, menu replays
    lost.finish_prompt()
    lost.wait(5)  # silence, menu replays
    lost.clock.advance(2)
    lost.send(CallerHungUp())
    return [sold, lost]


def test_outcomes_durations_and_where_callers_give_up() -> None:
    calls = _calls()
    summaries: list[JourneySummary] = [c.session.summary for c in calls if c.session.summary]
    steps: list[JourneyStep] = [st for c in calls for st in c.session.journey]
    stats = summarise(summaries, steps)
    assert stats.calls == 2
    assert stats.outcomes == {ExitReason.TRANSFERRED_TO_AGENT: 1, ExitReason.ABANDONED: 1}
    assert stats.abandoned == 1 and stats.abandon_rate == 0.5 and stats.self_served == 0
    assert stats.total_seconds == 4 + 7
    menu = next(n for n in stats.nodes if n.node == "menu")
    assert (menu.entered, menu.invalid, menu.timeouts, menu.abandoned_here) == (2, 1, 1, 1)
    welcome = next(n for n in stats.nodes if n.node == "welcome")
    assert (welcome.entered, welcome.abandoned_here) == (2, 0)
    assert [n.node for n in stats.nodes][:2] == ["welcome", "menu"]


def test_no_calls() -> None:
    stats = summarise([])
    assert (stats.calls, stats.average_seconds, stats.abandon_rate, stats.nodes) == (0, 0.0, 0.0, ())
