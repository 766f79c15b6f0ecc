"""One test per distribution strategy (唯一策略), plus ring-all and round robin with memory."""

from __future__ import annotations

from collections import Counter

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.models import AgentState, QueueConfig, Strategy

from .harness import Harness, agent, offered_to


def _serve(h: Harness, call_id: str, agent_id: str, talk: float = 10.0) -> None:
    h.answer(call_id, agent_id)
    h.advance(talk)
    h.do(C.CallCompleted(agent_id, call_id))


def test_login_order_offers_the_earliest_logged_in_idle_agent() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.LOGIN_ORDER)], [agent("a"), agent("b"), agent("c")])
    h.login("b", "c", "a")
    assert offered_to(h.arrive("c1")) == [("c1", "b")]
    assert offered_to(h.arrive("c2")) == [("c2", "c")]
    _serve(h, "c1", "b")  # b is idle again and still the earliest login
    assert offered_to(h.arrive("c3")) == [("c3", "b")]


def test_fewest_answered_offers_the_agent_with_fewest_answered_calls() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.FEWEST_ANSWERED)], [agent("a"), agent("b")])
    h.login("a", "b")
    h.do(C.AgentPaused("b", "busy"))
    for i in range(2):  # a answers two calls while b is paused
        (pair,) = offered_to(h.arrive(f"x{i}"))
        assert pair[1] == "a"
        _serve(h, f"x{i}", "a")
    h.do(C.AgentUnpaused("b"))
    h.advance(100)  # b is now the longer idle too, so check the count wins over idle time
    _serve(h, h.of(A.OfferCall, h.arrive("y"))[0].call_id, "b")
    assert h.engine.agent_view("b").answered == 1
    assert offered_to(h.arrive("z")) == [("z", "b")]  # b: 1 answered, a: 2


def test_longest_idle_offers_the_agent_idle_longest() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.LONGEST_IDLE)], [agent("a"), agent("b"), agent("c")])
    h.login("a", "b", "c")
    (pair,) = offered_to(h.arrive("c1"))
    assert pair == ("c1", "a")
    _serve(h, "c1", "a")  # a becomes idle last
    assert offered_to(h.arrive("c2")) == [("c2", "b")]
    assert offered_to(h.arrive("c3")) == [("c3", "c")]
    assert offered_to(h.arrive("c4")) == [("c4", "a")]


def test_random_picks_uniformly_with_the_injected_seeded_rng() -> None:
    def run(seed: int) -> list[str]:
        h = Harness([QueueConfig("q", strategy=Strategy.RANDOM)], [agent(x) for x in "abcd"], seed=seed)
        h.login(*"abcd")
        picks = []
        for i in range(2000):
            (pair,) = offered_to(h.arrive(f"c{i}"))
            picks.append(pair[1])
            h.do(C.CallerHungUp(f"c{i}"))  # the agent is idle again, no answer counted
        return picks

    first = run(7)
    assert first == run(7)  # reproducible from the seed
    assert first != run(8)
    counts = Counter(first)
    assert set(counts) == set("abcd")
    assert all(400 <= n <= 600 for n in counts.values()), counts  # 500 expected, ~5 sigma band


def test_ring_all_rings_every_idle_agent_and_the_first_answer_wins() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.RING_ALL)], [agent(x) for x in "abc"])
    h.login(*"abc")
    (ring,) = h.of(A.RingAll, h.arrive("c1"))
    assert sorted(ring.agent_ids) == ["a", "b", "c"]
    assert all(h.state(x) is AgentState.RINGING for x in "abc")
    out = h.answer("c1", "b")
    cancelled = sorted(a.agent_id for a in h.of(A.CancelOffer, out))
    assert cancelled == ["a", "c"]
    assert h.state("b") is AgentState.ON_CALL
    assert h.state("a") is AgentState.IDLE and h.state("c") is AgentState.IDLE


def test_round_robin_remembers_the_last_agent_offered() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.ROUND_ROBIN)], [agent(x) for x in "abc"])
    h.login(*"abc")
    picks = []
    for i in range(6):
        (pair,) = offered_to(h.arrive(f"c{i}"))
        picks.append(pair[1])
        h.do(C.CallerHungUp(f"c{i}"))
    assert picks == ["a", "b", "c", "a", "b", "c"]
    # Memory survives an agent being away: with b busy the turn after a goes to c, then wraps to a.
    h.do(C.AgentPaused("b", "busy"))
    picks = []
    for i in range(3):
        (pair,) = offered_to(h.arrive(f"d{i}"))
        picks.append(pair[1])
        h.do(C.CallerHungUp(f"d{i}"))
    assert picks == ["a", "c", "a"]


def test_ring_all_that_nobody_answers_returns_the_call_and_rings_again() -> None:
    h = Harness([QueueConfig("q", strategy=Strategy.RING_ALL, ring_timeout=10)], [agent("a"), agent("b")])
    h.login("a", "b")
    h.arrive("c1")
    out = h.advance(10)
    assert sorted(c.agent_id for c in h.of(A.CancelOffer, out)) == ["a", "b"]
    rings = h.of(A.RingAll, out)
    assert rings and {x for r in rings for x in r.agent_ids} == {"a", "b"}


def test_ring_all_with_level_first_rings_only_the_highest_level() -> None:
    from appliance.acd.models import Modifier

    q = QueueConfig("q", strategy=Strategy.RING_ALL, modifiers=(Modifier.LEVEL,))
    h = Harness([q], [agent("a", level=3), agent("b", level=8), agent("c", level=8)])
    h.login("a", "b", "c")
    (ring,) = h.of(A.RingAll, h.arrive("c1"))
    assert sorted(ring.agent_ids) == ["b", "c"]


def test_random_with_level_first_picks_only_among_the_highest_level() -> None:
    from appliance.acd.models import Modifier

    q = QueueConfig("q", strategy=Strategy.RANDOM, modifiers=(Modifier.LEVEL,))
    h = Harness([q], [agent("a", level=3), agent("b", level=8), agent("c", level=8)], seed=3)
    h.login("a", "b", "c")
    picks = set()
    for i in range(200):
        (pair,) = offered_to(h.arrive(f"c{i}"))
        picks.add(pair[1])
        h.do(C.CallerHungUp(f"c{i}"))
    assert picks == {"b", "c"}
