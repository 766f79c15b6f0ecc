"""Configuration: validated from JSON by a pydantic TypeAdapter, and applied live without losing calls."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from appliance.acd.errors import UnknownQueue
from appliance.acd.models import (
    AcdConfig,
    AcdSettings,
    AgentProfile,
    AgentState,
    Modifier,
    OverflowKind,
    QueueConfig,
    SkillLevel,
    SkillRequirement,
    Strategy,
)

from .harness import Harness, agent, offered_to

STORED = {
    "settings": {"min_busy": 30, "reserved_idle_for_inbound": 2, "vip_numbers": ["13800000000"]},
    "queues": [
        {
            "id": "sales", "strategy": "fewest_answered", "modifiers": ["locality", "level"], "order": "lifo",
            "required_skills": [{"skill": "mandarin", "min_level": 3}],
            "max_wait": 120, "on_max_wait": {"kind": "voicemail", "target": "sales-box"},
        }
    ],
    "agents": [
        {"id": "1001", "number": "8001", "level": 7, "locality": "hangzhou",
         "skills": [{"skill": "mandarin", "level": 9}], "queues": ["sales"]}
    ],
}


def test_configuration_validates_from_stored_json() -> None:
    config = TypeAdapter(AcdConfig).validate_python(STORED)
    q = config.queues[0]
    assert q.strategy is Strategy.FEWEST_ANSWERED and q.modifiers == (Modifier.LOCALITY, Modifier.LEVEL)
    assert q.on_max_wait.kind is OverflowKind.VOICEMAIL
    assert q.required_skills == (SkillRequirement("mandarin", 3),)
    assert config.agents[0].skills == (SkillLevel("mandarin", 9),)
    assert config.settings.min_busy == 30


def test_configuration_with_an_unknown_strategy_is_rejected_with_its_path() -> None:
    bad = {"queues": [{"id": "q", "strategy": "cheapest"}]}
    with pytest.raises(ValidationError) as err:
        TypeAdapter(AcdConfig).validate_python(bad)
    assert err.value.errors()[0]["loc"][:3] == ("queues", 0, "strategy")


def test_live_strategy_change_reorders_idle_agents() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.LOGIN_ORDER)], [agent("a", level=1), agent("b", level=9)])
    h.login("a", "b")
    h.engine.configure(
        AcdConfig(AcdSettings(), (QueueConfig("q", strategy=Strategy.LOGIN_ORDER, modifiers=(Modifier.LEVEL,)),),
                  (agent("a", level=1), agent("b", level=9)))
    )
    assert offered_to(h.arrive("c1")) == [("c1", "b")]


def test_live_skill_change_lets_a_logged_in_agent_serve_a_waiting_call() -> None:
    q = QueueConfig("q", required_skills=(SkillRequirement("fr", 5),))
    h = Harness([q], [agent("a", skills={"fr": 2})])
    h.login("a")
    h.arrive("c1")
    assert h.state("a") is AgentState.IDLE
    out = h.engine.configure(AcdConfig(AcdSettings(), (q,), (agent("a", skills={"fr": 6}),)))
    assert offered_to(out) == [("c1", "a")]


def test_removed_queue_takes_no_new_calls_but_serves_its_waiting_ones() -> None:
    h = Harness([QueueConfig("q"), QueueConfig("old")], [agent("a", queues=("old",))])
    h.arrive("c1", "old")
    h.engine.configure(AcdConfig(AcdSettings(), (QueueConfig("q"),), (agent("a", queues=("old",)),)))
    with pytest.raises(UnknownQueue):
        h.arrive("c2", "old")
    assert offered_to(h.login("a")) == [("c1", "a")]


def test_offer_carries_the_agent_number_to_announce() -> None:
    h = Harness([QueueConfig("q", announce_agent_number=True)], [AgentProfile("a", number="8001", queues=("q",))])
    h.login("a")
    (offer,) = h.arrive("c1")
    assert offer.agent_number == "8001" and offer.announce_agent_number  # type: ignore[attr-defined]
