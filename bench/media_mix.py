"""Mixing and recording benchmark: conference legs and recorded calls one engine process holds on one core.

Same harness as `media_relay.py` (engine in its own process, the C load generator sends real RTP for every leg):

- mixed legs: three-party conferences (every leg decoded, mixed with its masks and re-encoded each 20 ms tick);
- recorded calls: two-party calls with a stereo WAV recording each (relayed, with every leg decoded from a tap
  of its packets each tick, and the file writes).

For each, steps grow until a step breaks the limits — more than 0.1 % of the packets the engine should have
sent in the window missing, p99 deviation of packet arrivals from the 20 ms grid above 5 ms — or the engine's
core is saturated. Recordings go to $MEDIA_BENCH_DIR (default: the system temporary directory) and are deleted.

    .venv/bin/python bench/media_mix.py [--legs 300,600,...] [--calls 100,250,...] [--seconds 5]

The last line printed is one JSON object: mixed_legs, recorded_calls (and the figures behind them).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

_spec = importlib.util.spec_from_file_location("media_relay", Path(__file__).with_name("media_relay.py"))
assert _spec is not None and _spec.loader is not None
relay = importlib.util.module_from_spec(_spec)
sys.modules["media_relay"] = relay
_spec.loader.exec_module(relay)


def ramp(label: str, generator: Path, steps: list[int], group: int, record: bool, seconds: float,
         max_loss: float, max_jitter: float) -> relay.StepResult | None:
    proc, conn = relay.start_engine("mix")
    best = None
    try:
        for k, n in enumerate(steps):
            groups = max(1, n // group) if not record else n
            # recorded two-party calls stay on the relay (the recording taps it), so they are measured like
            # relayed calls: every packet carries its send time; conference output is measured on its grid
            r = relay.run_step(conn, proc.pid or 0, generator, groups, seconds, k + 1, group=group, record=record,
                               relay=record)
            ok = r.loss_pct <= max_loss and r.jitter_p99_ms <= max_jitter
            print(f"{label}: legs={r.legs:5d} calls={r.calls:5d} expected={r.expected:7d} received={r.received:7d} "
                  f"loss={r.loss_pct:.3f}% jitter_p99={r.jitter_p99_ms:.2f} ms engine_cpu={r.engine_cpu_pct:.1f}% "
                  f"late_ticks={r.ticks_late} engine_waited_for_cpu={r.engine_wait_pct:.1f}% "
                  f"raw_udp_sockets={r.raw_udp_sockets} {'ok' if ok else 'FAILED'}", flush=True)
            if ok:
                best = r
            if not ok or r.engine_cpu_pct > 97.0:
                break
    finally:
        relay.stop_engine(proc, conn)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--legs", default="300,600,900,1200,1500")
    parser.add_argument("--calls", default="100,250,500,750,1000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-loss-pct", type=float, default=0.1)
    parser.add_argument("--max-jitter-ms", type=float, default=5.0)
    args = parser.parse_args()
    relay.raise_fd_limit()
    relay.pin_generator()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MEDIA_BENCH_DIR", tmp)
        generator = relay.build_generator(Path(tmp))
        mixed = ramp("conference", generator, [int(x) for x in args.legs.split(",")], 3, False, args.seconds,
                     args.max_loss_pct, args.max_jitter_ms)
        recorded = ramp("recorded", generator, [int(x) for x in args.calls.split(",")], 2, True, args.seconds,
                        args.max_loss_pct, args.max_jitter_ms)
    result = {
        "mixed_legs": mixed.legs if mixed else 0,
        "mixed_loss_pct": mixed.loss_pct if mixed else None,
        "mixed_jitter_p99_ms": mixed.jitter_p99_ms if mixed else None,
        "mixed_cpu_per_leg_pct": round(mixed.engine_cpu_pct / mixed.legs, 4) if mixed else None,
        "recorded_calls": recorded.calls if recorded else 0,
        "recorded_loss_pct": recorded.loss_pct if recorded else None,
        "recorded_jitter_p99_ms": recorded.jitter_p99_ms if recorded else None,
        "recorded_cpu_per_call_pct": round(recorded.engine_cpu_pct / recorded.calls, 4) if recorded else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
