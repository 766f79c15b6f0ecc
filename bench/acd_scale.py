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
import sys
import time
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Sample:
    wall_ns: int  # elapsed time of the decision
    cpu_ns: int  # CPU time of this thread during it (excludes time the OS gave to other processes)
    kind: str  # "arrival" or "agent_free"
    rung: int  # agents rung by the decision (ring-all rings many; every one is a state change and an event)


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


def latency(agents: int, queues: int, waiting: int, samples: int, seed: int) -> tuple[list[Sample], int]:
    centre = Centre(agents, queues, seed)
    engine = centre.engine
    for p in centre.profiles:
        engine.handle(C.AgentLoggedIn(p.id))
    # Fill the centre: calls arrive and are answered until every agent able to serve is busy and `waiting`
    # calls wait (some agents stay idle: no waiting call needs their skills).
    while centre.waiting < waiting:
        centre.clock.now += 0.01
        centre.answer_all(centre.arrive())
    # The long-lived state is built: move it out of the collector's way, as the appliance does after
    # start-up, so a full collection does not walk 10,000 agents in the middle of a decision.
    gc.collect()
    gc.freeze()
    samples_out: list[Sample] = []
    busy = list(centre.on_call)
    for i in range(samples):
        centre.clock.now += 0.01
        if i % 2 == 0:
            agent_id = busy[centre.rng.randrange(len(busy))]
            call_id = centre.on_call.pop(agent_id, None)
            if call_id is None:
                continue
            t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            out = engine.handle(C.CallCompleted(agent_id, call_id))
            c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
            kind = "agent_free"
        else:
            t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            out = centre.arrive()
            c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
            kind = "arrival"
        rung = max((len(a.agent_ids) for a in out if isinstance(a, A.RingAll)), default=1)
        samples_out.append(Sample(t1 - t0, c1 - c0, kind, rung))
        centre.answer_all(out)
        if i % 1000 == 0:
            busy = list(centre.on_call)
    gc.unfreeze()
    return samples_out, centre.waiting


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000 if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--waiting", type=int, default=5_000)
    parser.add_argument("--samples", type=int, default=40_000)
    parser.add_argument("--sim-hours", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    samples, still_waiting = latency(args.agents, args.queues, args.waiting, args.samples, args.seed)
    wall = [x.wall_ns for x in samples]
    p50, p99 = pct(wall, 0.50), pct(wall, 0.99)
    print(
        f"routing decisions: {len(samples):,} with {args.agents:,} agents, {args.queues} queues, "
        f"~{still_waiting:,} waiting",
        flush=True,
    )
    groups = (
        ("all decisions", samples),
        ("  call arrives", [x for x in samples if x.kind == "arrival"]),
        ("  agent frees", [x for x in samples if x.kind == "agent_free"]),
        ("  ringing one agent or none", [x for x in samples if x.rung <= 1]),
        ("  ring-all to several agents", [x for x in samples if x.rung > 1]),
    )
    for name, group in groups:
        w, c = [x.wall_ns for x in group], [x.cpu_ns for x in group]
        print(
            f"{name:30s} n={len(group):6d}  wall p50 {pct(w, 0.5):6.1f} p99 {pct(w, 0.99):7.1f} us | "
            f"thread CPU p50 {pct(c, 0.5):6.1f} p99 {pct(c, 0.99):7.1f} us",
            flush=True,
        )
    ring_all = [x.rung for x in samples if x.rung > 1]
    if ring_all:
        print(f"ring-all decisions rang {sum(ring_all) / len(ring_all):.1f} agents on average", flush=True)

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
