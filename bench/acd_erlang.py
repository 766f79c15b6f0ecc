"""M/M/c through the real ACD engine, compared with Erlang C (and, with abandonment, Erlang A).

Each point simulates one FIFO queue with c agents, Poisson arrivals and exponential handle times through
`appliance.acd.sim.Simulator` (which drives `AcdEngine` exactly as call control would), and prints beside
the simulated probability of waiting, average speed of answer and service level (answered within 20 s) the
Erlang C values. Agreement required: 1 percentage point for P(wait) and SL20, 3 % relative for ASA.

The Erlang A point adds exponential patience and compares P(wait), P(abandon) and the ASA of answered calls
with the exact birth-death solution of M/M/c+M.

    .venv/bin/python bench/acd_erlang.py --calls 3000000,12000000,16000000,3000000 --jobs 2   # the recorded run
    .venv/bin/python bench/acd_erlang.py                 # 500,000 calls per point
    .venv/bin/python bench/acd_erlang.py --calls 50000   # a quick look

Heavily loaded queues converge slowly: at c=50, rho=0.9 and c=100, rho=0.95 the ASA of a 500,000-call run
still varies by several percent from run to run (an independent plain M/M/c simulation varies as much), so
those points need the longer runs above to be judged against the 3 % tolerance.

The last line printed is one JSON object: {"points": [{agents, arrival_rate, handle_time, calls, sim_p_wait,
sim_asa, sim_sl20, erlang_p_wait, erlang_asa, erlang_sl20}, ...]}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.acd.models import AgentProfile, QueueConfig, Strategy
from appliance.acd.sim import (
    HandleTime,
    QueueStats,
    SimResult,
    SimSpec,
    Simulator,
    TrafficSource,
    batch_interval,
)

HANDLE = 180.0  # seconds: a typical inbound service call
POINTS = ((10, 0.80), (50, 0.90), (100, 0.95))


def erlang_c(c: int, load: float) -> float:
    """Probability of waiting in M/M/c with offered load `load` Erlangs (via the stable Erlang B recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = load * b / (k + load * b)
    rho = load / c
    return b / (1.0 - rho * (1.0 - b))


def erlang_c_figures(c: int, lam: float, handle: float, t: float = 20.0) -> tuple[float, float, float]:
    mu = 1.0 / handle
    pw = erlang_c(c, lam / mu)
    drain = c * mu - lam
    return pw, pw / drain, 1.0 - pw * math.exp(-drain * t)


def erlang_a_figures(c: int, lam: float, handle: float, patience: float) -> tuple[float, float, float]:
    """P(wait), P(abandon), ASA of answered calls for M/M/c+M, from the birth-death chain (truncated)."""
    mu, theta = 1.0 / handle, 1.0 / patience
    n_max = c + 20_000
    # Stationary distribution in log space (the chain is long and the weights span many decades).
    logp = [0.0]
    for n in range(1, n_max + 1):
        death = min(n, c) * mu + max(n - c, 0) * theta
        logp.append(logp[-1] + math.log(lam / death))
    top = max(logp)
    p = [math.exp(x - top) for x in logp]
    total = sum(p)
    p = [x / total for x in p]
    p_wait = sum(p[c:])
    # An arrival finding n >= c in the system has j = n - c callers ahead. Its position advances at rate
    # c*mu + j*theta (a service start or one ahead abandoning) and it abandons itself at rate theta:
    #   P(j) = a_j * P(j-1),  T(j) = P(j)/r_j + a_j * T(j-1),  r_j = c*mu + (j+1)*theta, a_j = (c*mu+j*theta)/r_j
    # where P(j) is the probability of being served and T(j) = E[wait * 1{served}].
    served_p, served_t = 1.0, 0.0
    p_served_wait = 0.0
    sum_wait_served = 0.0
    for j in range(n_max - c + 1):
        r = c * mu + (j + 1) * theta
        a = (c * mu + j * theta) / r
        served_t = served_p * a / r + a * served_t
        served_p = a * served_p
        p_served_wait += p[c + j] * served_p
        sum_wait_served += p[c + j] * served_t
    p_abandon = p_wait - p_served_wait
    p_answered = 1.0 - p_abandon
    return p_wait, p_abandon, sum_wait_served / p_answered


def simulate(c: int, lam: float, calls: int, seed: int, patience: float | None = None) -> SimResult:
    queue = QueueConfig("q", strategy=Strategy.LONGEST_IDLE, ring_timeout=1e9)
    agents = tuple(AgentProfile(f"a{i}", queues=("q",)) for i in range(c))
    traffic = (TrafficSource("q", lam, HandleTime("exp", HANDLE), patience=patience),)
    return Simulator(SimSpec((queue,), agents, traffic), seed=seed).run(calls, warmup=max(10_000, calls // 25))


def _p_wait(s: QueueStats) -> float:
    return s.waited / s.arrived


def _asa(s: QueueStats) -> float:
    return s.wait_sum_answered / s.answered


def _sl20(s: QueueStats) -> float:
    return s.answered_within_20 / s.arrived


def _p_abandon(s: QueueStats) -> float:
    return s.abandoned / s.arrived


def _job(args: tuple[int, float, int, int, float | None]) -> SimResult:
    c, lam, calls, seed, patience = args
    return simulate(c, lam, calls, seed, patience)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--calls", type=str, default="500000",
        help="calls per point after warm-up: one number, or four comma-separated (three Erlang C points, "
        "then the Erlang A point)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--jobs", type=int, default=1, help="points simulated in parallel processes")
    args = parser.parse_args()
    counts = [int(x) for x in args.calls.split(",")]
    if len(counts) == 1:
        counts *= 4
    if len(counts) != 4 or min(counts) < 1:
        parser.error("--calls takes one number or four")

    # Erlang A: the same engine with callers who hang up after an exponential patience.
    a_c, a_rho, patience = 50, 0.95, 120.0
    jobs = [(c, rho * c / HANDLE, n, args.seed + c, None) for (c, rho), n in zip(POINTS, counts, strict=False)]
    jobs.append((a_c, a_rho * a_c / HANDLE, counts[3], args.seed + 7, patience))
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(_job, jobs))

    points = []
    ok = True
    for (c, rho), res in zip(POINTS, results, strict=False):
        lam = rho * c / HANDLE
        t = res.total
        sim_pw, sim_asa, sim_sl = _p_wait(t), _asa(t), _sl20(t)
        ci_pw, ci_asa, ci_sl = (batch_interval(res.batches, m) for m in (_p_wait, _asa, _sl20))
        pw, asa, sl = erlang_c_figures(c, lam, HANDLE)
        good = abs(sim_pw - pw) <= 0.01 and abs(sim_sl - sl) <= 0.01 and abs(sim_asa - asa) <= 0.03 * asa
        ok = ok and good
        print(
            f"c={c:3d} rho={rho:.2f} lambda={lam:.4f}/s h={HANDLE:.0f}s calls={t.arrived:,} | "
            f"P(wait) sim {sim_pw:.4f}±{ci_pw:.4f} erlang {pw:.4f} | "
            f"ASA sim {sim_asa:6.2f}±{ci_asa:.2f}s erlang {asa:6.2f}s ({(sim_asa / asa - 1) * 100:+.2f}%) | "
            f"SL20 sim {sim_sl:.4f}±{ci_sl:.4f} erlang {sl:.4f} | {'ok' if good else 'OUT OF TOLERANCE'} | "
            f"{res.wall_seconds:.0f}s wall, {res.speedup:,.0f}x real time",
            flush=True,
        )
        points.append(
            {
                "agents": c, "arrival_rate": lam, "handle_time": HANDLE, "calls": t.arrived,
                "sim_p_wait": sim_pw, "sim_asa": sim_asa, "sim_sl20": sim_sl,
                "erlang_p_wait": pw, "erlang_asa": asa, "erlang_sl20": sl,
            }
        )

    res = results[3]
    lam = a_rho * a_c / HANDLE
    t = res.total
    a_pw, a_pab, a_asa = erlang_a_figures(a_c, lam, HANDLE, patience)
    sim_pw, sim_pab, sim_asa = _p_wait(t), _p_abandon(t), _asa(t)
    ci_pw, ci_pab, ci_asa = (batch_interval(res.batches, m) for m in (_p_wait, _p_abandon, _asa))
    good = abs(sim_pw - a_pw) <= 0.01 and abs(sim_pab - a_pab) <= 0.01 and abs(sim_asa - a_asa) <= 0.03 * a_asa
    ok = ok and good
    print(
        f"Erlang A: c={a_c} rho={a_rho:.2f} patience={patience:.0f}s calls={t.arrived:,} | "
        f"P(wait) sim {sim_pw:.4f}±{ci_pw:.4f} erlangA {a_pw:.4f} | "
        f"P(abandon) sim {sim_pab:.4f}±{ci_pab:.4f} erlangA {a_pab:.4f} | "
        f"ASA(answered) sim {sim_asa:.2f}±{ci_asa:.2f}s erlangA {a_asa:.2f}s ({(sim_asa / a_asa - 1) * 100:+.2f}%) | "
        f"{'ok' if good else 'OUT OF TOLERANCE'} | {res.wall_seconds:.0f}s wall",
        flush=True,
    )
    print("(± is the ~95 % batch-means confidence half-width of the simulated value)")
    print(json.dumps({"points": points}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
