"""SNMP benchmark: how fast net-snmp walks the enterprise subtree, and whether walking it while the media
engine relays 200 calls costs any RTP.

The agent runs in the media engine's process and event loop, as in the appliance (the engine process of
`bench/media_relay.py`, with the monitor and the SNMP agent started beside it). The figures it serves are
the real ones for the box, services and alarm table; the 100 queues are views shaped as call control
reports them (call control is not running here), the agent summary stands for 1,000 agents, and 4 E1 spans
(30 B-channels each, a third of them in use) and 8 analog ports are the hardware status view's records as
the card drivers fill them (no card here).

1. `snmpwalk -v2c` (GETNEXT) and `snmpbulkwalk -v2c -Cr50` of the whole enterprise subtree, idle;
2. 200 calls relayed for `--seconds` without SNMP, then 200 calls again while `snmpbulkwalk` and `snmpwalk -v3`
   (authPriv) walk the subtree back to back; loss is reported for both, and the engine's late ticks.

    .venv/bin/python bench/snmp_walk.py [--calls 200] [--seconds 10]

The last line is one JSON object: objects, walk_s, bulkwalk_s, call_loss_pct (during walks), and the
baseline and late-tick figures beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import media_relay

COMMUNITY = "bench-community-1"
USER, AUTH_KEY, PRIV_KEY = "bench", "bench-auth-pass", "bench-priv-pass"
ROOT = "1.3.6.1.4.1.32473"
QUEUES, AGENTS, SPANS = 100, 1000, 4


def engine_main(conn: Connection, snmp_port: int, data_dir: str) -> None:
    media_relay.raise_fd_limit()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_engine(conn, snmp_port, Path(data_dir)))


async def _engine(conn: Connection, snmp_port: int, data_dir: Path) -> None:
    from appliance.clock import SystemClock
    from appliance.domain.kinds import all_kinds
    from appliance.events import EventBus
    from appliance.health import Health, Status
    from appliance.monitoring.service import MonitorService
    from appliance.snmp.service import SnmpService
    from appliance.snmp.view import Identity
    from appliance.store.config_store import ConfigStore

    bus, clock = EventBus(), SystemClock()
    store = ConfigStore.open(data_dir, all_kinds(), bus, clock)
    await store.set_settings(snmp={
        "communities": [COMMUNITY], "allowed_networks": ["127.0.0.0/8"], "heartbeat_interval": 0,
        "users": [{"name": USER, "auth_key": AUTH_KEY, "priv_key": PRIV_KEY}]})
    queues = [{"queue": f"q{i:03d}", "name": f"Queue {i}", "waiting": i % 7, "logged_in": AGENTS // QUEUES,
               "idle": i % 5, "longest_wait": float(i % 60)} for i in range(1, QUEUES + 1)]
    holder: list[Any] = []

    def health() -> list[Health]:
        return [Health.of("telephony", Status.OK, "", gauges={
            "calls_active": 200.0, "acd_agents_logged_in": float(AGENTS), "acd_agents_idle": 400.0,
            "acd_agents_on_call": 500.0, "acd_agents_paused": 100.0}), *(s.health() for s in holder)]

    from drivers.hardware.models import ChannelView, HardwareStatus, PortView, SpanView

    channels = (*range(1, 16), *range(17, 32))
    cards = HardwareStatus(at=clock.wall(), running=True, spans=tuple(
        SpanView(card_id="E1-BENCH", span=n, trunk=f"pri{n}", role="user", framing="crc4", framing_in_use="crc4",
                 clock="line", clock_priority=n, d_channel="up", lapd_state="multiple_frame_established",
                 alarms=(), sending_rai=False, loopback="none",
                 counters={"crc4_errors": 3 * n, "ebits": n, "slips": 0, "bpv": 7, "fas_errors": 0},
                 channels=tuple(ChannelView(channel=c, state="in_use" if c % 3 == 0 else "idle") for c in channels))
        for n in range(1, SPANS + 1)), ports=tuple(
        PortView(card_id="ANALOG-BENCH", port=p, kind="fxo" if p <= 4 else "fxs", state="idle", counters={})
        for p in range(1, 9)))
    monitor = MonitorService(data_dir, store, bus, clock, health, queues=lambda: queues, hardware=lambda: cards)
    snmp = SnmpService("127.0.0.1", snmp_port, data_dir, store, bus, clock, monitor, health,
                       Identity("CC-Bench", "SN-BENCH", "bench"), lambda: [(f"trunk{i}", True) for i in range(8)])
    holder += [monitor, snmp]
    await monitor.start()
    await snmp.start()
    try:
        await media_relay._engine(conn, "relay")  # the media relay benchmark's engine, on this same loop
        conn.send(snmp.health().to_dict())  # how long SNMP datagrams held the loop
    finally:
        await snmp.stop()
        await monitor.stop()
        store.close()


def walk(argv: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout
    return time.perf_counter() - t0, sum(1 for line in out.splitlines()
                                         if " = " in line and "No more variables" not in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    media_relay.raise_fd_limit()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tempfile.TemporaryDirectory()
    generator = media_relay.build_generator(Path(work.name))
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=engine_main, args=(child, port, str(Path(work.name) / "data")), daemon=True)
    proc.start()
    target = f"udp:127.0.0.1:{port}"
    v2c = ["-v2c", "-c", COMMUNITY, "-m", "", "-On", "-t", "5", "-r", "1", target, ROOT]
    v3 = ["-v3", "-l", "authPriv", "-u", USER, "-a", "SHA-256", "-A", AUTH_KEY, "-x", "AES", "-X", PRIV_KEY,
          "-m", "", "-On", "-t", "5", "-r", "1", target, ROOT]
    try:
        for _ in range(50):  # the agent binds once the engine process is up
            try:
                walk(["snmpget", *v2c[:-1], f"{ROOT}.1.1.1.0"])
                break
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        walk_s, objects = min(walk(["snmpwalk", *v2c]) for _ in range(3))
        bulk_s, bulk_objects = min(walk(["snmpbulkwalk", "-Cr50", *v2c]) for _ in range(3))
        v3_s, _ = min(walk(["snmpbulkwalk", "-Cr50", *v3]) for _ in range(3))
        print(f"objects={objects} (bulk {bulk_objects}) walk={walk_s:.3f}s bulkwalk={bulk_s:.3f}s "
              f"bulkwalk_v3={v3_s:.3f}s", flush=True)

        base = media_relay.run_step(parent, proc.pid or 0, generator, args.calls, args.seconds, 1)
        print(f"relay alone: calls={base.calls} loss={base.loss_pct:.4f}% jitter_p99={base.jitter_p99_ms:.2f} ms "
              f"ticks_late={base.ticks_late} engine_cpu={base.engine_cpu_pct:.1f}%", flush=True)
        stop = threading.Event()
        walks = [0]

        def walker() -> None:
            while not stop.is_set():
                walk(["snmpbulkwalk", "-Cr50", *v2c])
                walk(["snmpwalk", *v3])
                walks[0] += 2

        thread = threading.Thread(target=walker, daemon=True)
        thread.start()
        during = media_relay.run_step(parent, proc.pid or 0, generator, args.calls, args.seconds, 2)
        stop.set()
        thread.join(60)
        print(f"relay with walks: calls={during.calls} loss={during.loss_pct:.4f}% "
              f"jitter_p99={during.jitter_p99_ms:.2f} ms ticks_late={during.ticks_late} "
              f"engine_cpu={during.engine_cpu_pct:.1f}% walks={walks[0]}", flush=True)
    finally:
        parent.send({"op": "stop"})
        parent.recv()
        agent = parent.recv() if parent.poll(10) else {"gauges": {}, "counters": {}}
        proc.join(10)
        work.cleanup()
    gauges, counters = agent["gauges"], agent["counters"]
    print(f"agent: {counters.get('datagrams')} datagrams, longest held the loop {gauges.get('datagram_ms_max')} ms, "
          f"mean {gauges.get('datagram_ms_mean')} ms", flush=True)
    print(json.dumps({"objects": objects, "walk_s": round(walk_s, 3), "bulkwalk_s": round(bulk_s, 3),
                      "bulkwalk_v3_s": round(v3_s, 3), "call_loss_pct": during.loss_pct,
                      "baseline_loss_pct": base.loss_pct, "added_loss_pct": round(during.loss_pct - base.loss_pct, 4),
                      "jitter_p99_ms": during.jitter_p99_ms, "baseline_jitter_p99_ms": base.jitter_p99_ms,
                      "ticks_late": during.ticks_late, "baseline_ticks_late": base.ticks_late,
                      "walks_during_relay": walks[0], "queues": QUEUES, "agents": AGENTS, "spans": SPANS,
                      "datagram_ms_max": gauges.get("datagram_ms_max"),
                      "datagram_ms_mean": gauges.get("datagram_ms_mean")}))


if __name__ == "__main__":
    main()
