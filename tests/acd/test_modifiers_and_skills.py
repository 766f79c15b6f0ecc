"""Modifiers (非唯一策略: locality, level, last served; 专属座席 account manager) and skills routing."""

from __future__ import annotations

from appliance.acd import commands as C
from appliance.acd.models import AgentState, Modifier, QueueConfig, SkillRequirement, Strategy

from .harness import Harness, agent, offered_to


def test_locality_first_prefers_an_agent_in_the_callers_area() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, modifiers=(Modifier.LOCALITY,))
    h = Harness([q], [agent("a", locality="beijing"), agent("b", locality="shanghai")])
    h.login("a", "b")
    assert offered_to(h.arrive("c1", area="shanghai")) == [("c1", "b")]


def test_locality_first_falls_back_to_the_strategy_when_no_local_agent_is_free() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, modifiers=(Modifier.LOCALITY,))
    h = Harness([q], [agent("a", locality="beijing"), agent("b", locality="shanghai"), agent("c")])
    h.login("a", "b", "c")
    assert offered_to(h.arrive("c1", area="guangzhou")) == [("c1", "a")]
    h.do(C.AgentPaused("b", "busy"))
    assert offered_to(h.arrive("c2", area="shanghai")) == [("c2", "c")]


def test_level_first_prefers_the_higher_level_agent() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, modifiers=(Modifier.LEVEL,))
    h = Harness([q], [agent("a", level=2), agent("b", level=9), agent("c", level=5)])
    h.login("a", "b", "c")
    picks = [offered_to(h.arrive(f"c{i}"))[0][1] for i in range(3)]
    assert picks == ["b", "c", "a"]


def test_level_first_combines_with_the_strategy_inside_one_level() -> None:
    q = QueueConfig("q", strategy=Strategy.LONGEST_IDLE, modifiers=(Modifier.LEVEL,))
    h = Harness([q], [agent("a", level=5), agent("b", level=5), agent("c", level=1)])
    h.login("b", "a", "c")
    assert offered_to(h.arrive("c1")) == [("c1", "b")]  # same level: longest idle


def test_last_served_first_offers_the_agent_who_served_this_caller_before() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, modifiers=(Modifier.LAST_SERVED,))
    h = Harness([q], [agent("a"), agent("b")])
    h.login("a", "b")
    h.do(C.AgentPaused("a", "busy"))
    assert offered_to(h.arrive("c1", caller="13800000001")) == [("c1", "b")]
    h.answer("c1", "b")
    h.do(C.CallCompleted("b", "c1"))
    h.do(C.AgentUnpaused("a"))
    # Plain login order would choose a; the sticky modifier brings the caller back to b.
    assert offered_to(h.arrive("c2", caller="13800000001")) == [("c2", "b")]
    assert offered_to(h.arrive("c3", caller="13900000002")) == [("c3", "a")]


def test_account_manager_first_when_logged_in_and_free() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, modifiers=(Modifier.ACCOUNT_MANAGER,))
    h = Harness([q], [agent("a"), agent("b"), agent("m")])
    h.login("a", "b", "m")
    assert offered_to(h.arrive("c1", account_manager="m")) == [("c1", "m")]


def test_account_manager_busy_or_logged_out_falls_back_to_the_strategy() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, modifiers=(Modifier.ACCOUNT_MANAGER,))
    h = Harness([q], [agent("a"), agent("b"), agent("m")])
    h.login("a", "b", "m")
    h.do(C.AgentPaused("m", "busy"))
    assert offered_to(h.arrive("c1", account_manager="m")) == [("c1", "a")]
    h.do(C.AgentLoggedOut("m"))
    assert offered_to(h.arrive("c2", account_manager="m")) == [("c2", "b")]


def test_account_manager_ignored_when_the_modifier_is_off() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.LOGIN_ORDER)], [agent("a"), agent("m")])
    h.login("a", "m")
    assert offered_to(h.arrive("c1", account_manager="m")) == [("c1", "a")]


def test_modifier_precedence_account_manager_before_last_served_before_locality() -> None:
    mods = (Modifier.LOCALITY, Modifier.LAST_SERVED, Modifier.ACCOUNT_MANAGER)
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, modifiers=mods)
    h = Harness([q], [agent("loc", locality="hz"), agent("last"), agent("am")])
    h.login("loc", "last", "am")
    h.do(C.AgentPaused("loc", "busy"))
    h.do(C.AgentPaused("am", "busy"))
    h.arrive("c0", caller="555")
    h.answer("c0", "last")
    h.do(C.CallCompleted("last", "c0"))
    h.do(C.AgentUnpaused("loc"))
    h.do(C.AgentUnpaused("am"))
    assert offered_to(h.arrive("c1", caller="555", area="hz", account_manager="am")) == [("c1", "am")]
    assert offered_to(h.arrive("c2", caller="555", area="hz")) == [("c2", "last")]
    h.do(C.CallerHungUp("c2"))
    h.do(C.CallerHungUp("c1"))
    assert offered_to(h.arrive("c3", caller="777", area="hz")) == [("c3", "loc")]


def test_skill_minimum_level_excludes_agents_below_it() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER, required_skills=(SkillRequirement("english", 5),))
    h = Harness([q], [agent("low", skills={"english": 3}), agent("none"), agent("high", skills={"english": 7})])
    h.login("low", "none", "high")
    assert offered_to(h.arrive("c1")) == [("c1", "high")]
    assert offered_to(h.arrive("c2")) == []  # low and none stay idle: they cannot serve it
    assert h.state("low") is AgentState.IDLE


def test_call_skill_requirement_overrides_the_queue_default() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER)
    h = Harness([q], [agent("a", skills={"billing": 2}), agent("b", skills={"billing": 8, "vip": 1})])
    h.login("a", "b")
    need = (SkillRequirement("billing", 6), SkillRequirement("vip", 0))
    assert offered_to(h.arrive("c1", skills=need)) == [("c1", "b")]
    assert offered_to(h.arrive("c2")) == [("c2", "a")]


def test_skilled_agent_freed_takes_the_waiting_call_unskilled_agent_does_not() -> None:
    q = QueueConfig("q", strategy=Strategy.LOGIN_ORDER)
    h = Harness([q], [agent("a", skills={"fr": 9}), agent("b")])
    h.login("a", "b")
    h.do(C.AgentPaused("a", "busy"))
    h.do(C.AgentPaused("b", "busy"))
    h.arrive("c1", skills=(SkillRequirement("fr", 1),))
    assert offered_to(h.do(C.AgentUnpaused("b"))) == []
    assert offered_to(h.do(C.AgentUnpaused("a"))) == [("c1", "a")]
