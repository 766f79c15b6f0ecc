"""ACD routing-decision latency at scale, and simulation speed of a 1,000-agent centre.

Latency: 10,000 logged-in agents in 500 queues (each agent in 3 queues; every queue needs one of 50 skills
at a minimum level 0-5, agents hold levels 0-9; all six strategies and the modifiers in use), every agent
that can work on a call, and 5,000 calls waiting. Then, alternately, an agent finishes its call (the engine
picks the best waiting call across the agent's queues) and a new call arrives (the engine picks an idle
agent or queues it), keeping about 5,000 waiting. Each `AcdEngine.handle` of those two kinds is timed
(`time.perf_counter_ns`, the whole call including events and index updates); answering the resulting offer
is done untimed between samples.

Speed: `bench/acd_sim.py`'s default centre (1,000 agents, 20 queues, 40,000 calls per hour) simulated for
two hours; speedup = simulated seconds / wall seconds.

    .venv/bin/python bench/acd_scale.py

Last line: {"agents", "queues", "waiting", "route_p50_us", "route_p99_us", "speedup_x"}.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import acd_sim

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.engine import AcdEngine
from appliance.acd.models import (
    AcdConfig,
    AgentProfile,
    Modifier,
    QueueConfig,
    SkillLevel,
    SkillRequirement,
    Strategy,
)
from appliance.clock import ManualClock
from appliance.events import Event

MODIFIER_SETS = ((), (Modifier.LEVEL,), (Modifier.LOCALITY,), (Modifier.LAST_SERVED, Modifier.ACCOUNT_MANAGER),
                 (Modifier.LOCALITY, Modifier.LEVEL))


def build(agents: int, queues: int, skills: int, rng: random.Random) -> tuple[list[QueueConfig], list[AgentProfile]]:
    strategies = list(Strategy)
    qcfgs = [
        QueueConfig(
            f"q{i}",
            priority=rng.randrange(3),
            strategy=strategies[i % len(strategies)],
            modifiers=MODIFIER_SETS[i % len(MODIFIER_SETS)],
            required_skills=(SkillRequirement(f"s{i % skills}", rng.randrange(6)),),
            max_wait=3600.0,
            announce_interval=30.0,
        )
        for i in range(queues)
    ]
    profiles = []
    for k in range(agents):
        mine = rng.sample(range(queues), 3)
        profiles.append(
            AgentProfile(
                f"a{k}",
                level=rng.randrange(10),
                locality=f"area{rng.randrange(30)}",
                skills=tuple(SkillLevel(f"s{q % skills}", rng.randrange(10)) for q in mine),
                queues=tuple(f"q{q}" for q in mine),
            )
        )
    return qcfgs, profiles


class Centre:
    def __init__(self, agents: int, queues: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.qcfgs, self.profiles = build(agents, queues, 50, self.rng)
        self.clock = ManualClock()
        self.events = 0
        self.engine = AcdEngine(
            AcdConfig(queues=tuple(self.qcfgs), agents=tuple(self.profiles)), self.clock, random.Random(seed),
            self._count,
        )
        self.on_call: dict[str, str] = {}  # agent -> call
        self.waiting = 0
        self.n = 0

    def _count(self, event: Event) -> None:
        self.events += 1

    def answer_all(self, actions: list[A.Action]) -> None:
        for action in actions:
            if isinstance(action, A.OfferCall):
                agent_id = action.agent_id
            elif isinstance(action, A.RingAll):
                agent_id = action.agent_ids[0]
            else:
                continue
            self.waiting -= 1
            self.engine.handle(C.OfferAnswered(action.call_id, agent_id))
            self.on_call[agent_id] = action.call_id

    def arrive(self) -> list[A.Action]:
        self.n += 1
        self.waiting += 1
        q = f"q{self.rng.randrange(len(self.qcfgs))}"
        return self.engine.handle(
            C.CallArrived(
                f"c{self.n}", q, caller=f"1{self.rng.randrange(10**9):09d}", area=f"area{self.rng.randrange(30)}",
                priority=self.rng.choice((0, 0, 0, 5)),
            )
        )


def latency(agents: int, queues: int, waiting: int, samples: int, seed: int) -> tuple[list[int], int]:
    centre = Centre(agents, queues, seed)
    engine = centre.engine
    for p in centre.profiles:
        engine.handle(C.AgentLoggedIn(p.id))
    # Fill the centre: calls arrive and are answered until every agent able to serve is busy and `waiting`
    # calls wait (some agents stay idle: no waiting call needs their skills).
    while centre.waiting < waiting:
        centre.clock.now += 0.01
        centre.answer_all(centre.arrive())
    times: list[int] = []
    busy = list(centre.on_call)
    gc.collect()
    for i in range(samples):
        centre.clock.now += 0.01
        if i % 2 == 0:
            agent_id = busy[centre.rng.randrange(len(busy))]
            call_id = centre.on_call.pop(agent_id, None)
            if call_id is None:
                continue
            t0 = time.perf_counter_ns()
            out = engine.handle(C.CallCompleted(agent_id, call_id))
            times.append(time.perf_counter_ns() - t0)
        else:
            t0 = time.perf_counter_ns()
            out = centre.arrive()
            times.append(time.perf_counter_ns() - t0)
        centre.answer_all(out)
        busy = busy if i % 1000 else list(centre.on_call)
    return times, centre.waiting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--waiting", type=int, default=5_000)
    parser.add_argument("--samples", type=int, default=40_000)
    parser.add_argument("--sim-hours", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    times, still_waiting = latency(args.agents, args.queues, args.waiting, args.samples, args.seed)
    times.sort()
    p50 = statistics.median(times) / 1000
    p99 = times[int(0.99 * (len(times) - 1))] / 1000
    print(
        f"routing decisions: {len(times):,} samples with {args.agents:,} agents, {args.queues} queues, "
        f"~{still_waiting:,} waiting: p50 {p50:.1f} us, p90 {times[int(0.9 * len(times))] / 1000:.1f} us, "
        f"p99 {p99:.1f} us, max {times[-1] / 1000:.1f} us",
        flush=True,
    )

    res = acd_sim.run(args.sim_hours, 1000, 20, 40_000.0, args.seed)
    print(
        f"simulation: 1,000 agents, 40,000 calls/h, {res.calls:,} calls: {res.sim_seconds / 3600:.2f} h simulated "
        f"in {res.wall_seconds:.2f} s = {res.speedup:,.0f}x real time",
        flush=True,
    )
    print(
        json.dumps(
            {
                "agents": args.agents, "queues": args.queues, "waiting": still_waiting,
                "route_p50_us": round(p50, 2), "route_p99_us": round(p99, 2), "speedup_x": round(res.speedup),
            }
        )
    )


if __name__ == "__main__":
    main()
