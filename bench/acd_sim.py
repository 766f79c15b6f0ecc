"""Simulate a whole contact centre through the real ACD engine and print its service figures.

The default centre: 1,000 agents, 20 queues with skills and minimum levels, 40,000 calls per hour
(Poisson), log-normal talk times, callers who abandon (exponential patience), agents who take a few
seconds to answer and sometimes let a call ring out, wrap-up, position announcements and VIP callers.
Every decision is taken by `appliance.acd.engine.AcdEngine`; `appliance.acd.sim.Simulator` plays call control
and the agents.

    .venv/bin/python bench/acd_sim.py                      # 2 simulated hours of the default centre
    .venv/bin/python bench/acd_sim.py --hours 8 --agents 1500 --calls-per-hour 60000

Last line: one JSON object with the totals and the speed (simulated seconds per wall second).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.acd.models import (
    AcdSettings,
    AgentProfile,
    Modifier,
    OverflowAction,
    OverflowKind,
    QueueConfig,
    SkillLevel,
    SkillRequirement,
    Strategy,
)
from appliance.acd.sim import HandleTime, SimResult, SimSpec, Simulator, TrafficSource

STRATEGIES = list(Strategy)


def centre_spec(agents: int = 1000, queues: int = 20, calls_per_hour: float = 40_000.0,
                handle_mean: float = 70.0) -> SimSpec:
    """A centre sized so that the agents run at roughly 80-85 % occupancy."""
    qcfgs = []
    for i in range(queues):
        qcfgs.append(
            QueueConfig(
                f"q{i}",
                priority=i % 3,
                strategy=STRATEGIES[i % len(STRATEGIES)],
                modifiers=((Modifier.LEVEL,), (Modifier.LOCALITY,), (Modifier.LAST_SERVED,), ())[i % 4],
                required_skills=(SkillRequirement(f"s{i % 5}", 2),),
                ring_timeout=15.0,
                max_misses=3,
                wrap_up=5.0,
                max_wait=600.0,
                on_max_wait=OverflowAction(OverflowKind.VOICEMAIL, f"vm{i}"),
                announce_interval=30.0,
                voicemail_key="1",
                callback_key="2",
            )
        )
    profiles = []
    for k in range(agents):
        mine = (k % queues, (k * 7 + 3) % queues)
        skills = tuple(SkillLevel(f"s{q % 5}", 3 + (k + q) % 7) for q in mine)
        profiles.append(
            AgentProfile(f"a{k}", level=k % 10, locality=f"area{k % 8}", skills=skills, queues=tuple(sorted({f"q{q}" for q in mine})))
        )
    rate = calls_per_hour / 3600.0 / queues
    traffic = tuple(
        TrafficSource(f"q{i}", rate, HandleTime("lognormal", handle_mean, 0.8), patience=180.0, vip_share=0.05)
        for i in range(queues)
    )
    return SimSpec(tuple(qcfgs), tuple(profiles), traffic, AcdSettings(), answer_delay=3.0, no_answer_share=0.02)


def run(hours: float, agents: int, queues: int, calls_per_hour: float, seed: int) -> SimResult:
    spec = centre_spec(agents, queues, calls_per_hour)
    calls = int(hours * calls_per_hour)
    return Simulator(spec, seed=seed).run(calls, warmup=int(0.25 * calls_per_hour))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--calls-per-hour", type=float, default=40_000.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    res = run(args.hours, args.agents, args.queues, args.calls_per_hour, args.seed)
    for qid, s in res.stats.items():
        if not s.arrived:
            continue
        asa = s.wait_sum_answered / s.answered if s.answered else 0.0
        print(
            f"{qid:>5}: arrived {s.arrived:6d} answered {s.answered:6d} abandoned {s.abandoned:5d} "
            f"overflowed {s.overflowed:4d} ASA {asa:6.1f}s SL20 {s.answered_within_20 / s.arrived:.3f}"
        )
    t = res.total
    print(
        f"total: {t.arrived} calls, answered {t.answered / t.arrived:.3f}, abandoned {t.abandoned / t.arrived:.3f}, "
        f"ASA {t.wait_sum_answered / max(1, t.answered):.1f}s; {res.sim_seconds / 3600:.2f} h simulated in "
        f"{res.wall_seconds:.1f} s wall = {res.speedup:,.0f}x real time; {res.engine_calls:,} engine calls, "
        f"{res.events:,} events"
    )
    print(
        json.dumps(
            {
                "agents": args.agents, "queues": args.queues, "calls_per_hour": args.calls_per_hour,
                "calls": t.arrived, "answered": t.answered, "abandoned": t.abandoned, "overflowed": t.overflowed,
                "asa": t.wait_sum_answered / max(1, t.answered), "sl20": t.answered_within_20 / max(1, t.arrived),
                "sim_seconds": res.sim_seconds, "wall_seconds": res.wall_seconds, "speedup_x": res.speedup,
            }
        )
    )


if __name__ == "__main__":
    main()
