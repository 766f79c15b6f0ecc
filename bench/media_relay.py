"""Relay benchmark: how many two-party G.711 calls one engine process holds on one core.

The media engine runs in its own process (uvloop when available) and bridges 2 x N endpoints in pairs. The load
generator is a small C program (`media_loadgen.c`, compiled here with the system gcc at start: 1,000 calls
are 100,000 packets/s each way, more than a Python generator sends and receives on the same machine). It sends
real RTP for every leg (50 packets/s, 160-byte A-law payloads, paced over each 20 ms period), receives what the
engine relays, and per step this process reports:

- loss: packets sent in the window and not received by 200 ms after it, over packets sent;
- added jitter: per packet, kernel arrival time (SO_TIMESTAMPNS) minus send time, above the smallest such
  transit of its stream; p99 in ms;
- engine CPU: the engine process's user+system CPU time over the step's wall time, per call.

Steps grow until a step breaks the limits (loss > 0.1 % or p99 added jitter > 5 ms) or the engine's core
is saturated. The result is the largest step that held.

    MEDIA_BENCH_RT=1 .venv/bin/python bench/media_relay.py [--steps 100,250,500,...] [--seconds 5]

Environment: MEDIA_BENCH_RT=1 runs engine and generator at real-time priority (as documented in
docs/BENCHMARKS.md), MEDIA_BENCH_PIN=1 pins them to separate cores, MEDIA_BENCH_GEN_SOCKETS sets how many
sockets the generator spreads its legs over (64), MEDIA_BENCH_DEBUG=1 prints the engine's and the generator's
figures per step, MEDIA_BENCH_PYTHON=1 runs the engine's Python packet path instead of the compiled one (the
reference it is compared with). Each step also reports the raw UDP sockets open on the machine (they make
every packet dearer).

With `--srtp`, the same engine process then runs SRTP steps, so plain and SRTP calls are measured in one run
(`--srtp-suite`, AES_CM_128_HMAC_SHA1_80 by default; encrypted legs always take the Python packet path):

- plain-to-SRTP (`--srtp-steps`, `srtp_*`): each step is chains of four endpoints, generator → plain leg →
  SRTP leg → (UDP on loopback) → SRTP leg → plain leg → generator, the two SRTP legs keyed as SDES would key
  two phones. A chain is two plain-to-SRTP calls (a caller on a plain trunk to an agent's SRTP phone, say),
  each the other's SRTP phone, so every figure of the engine belongs to one of them: those steps count calls,
  two per chain. The generator stays plain there.
- SRTP-to-SRTP (`--srtp-to-srtp-steps`, `srtp_to_srtp_*`): the generator's own phones speak SRTP (its srtp
  mode, linked with libsrtp2: it protects what it sends and unprotects what it receives, and a packet that
  fails authentication is lost and counted). Per call the engine has two endpoints, each allocated with
  SrtpKeys as SDES would give them (the key it sends with, the phone's), bridged to each other: phone A →
  endpoint 1 (unprotect) → relay → endpoint 2 (protect) → phone B, and back. Loss, jitter and engine CPU per
  call are measured as for plain calls; these figures are held, not derived. (Earlier versions of this
  bench estimated them by adding libsrtp's timed cost to the plain-to-SRTP figure; `srtp_protect_us` and
  `srtp_unprotect_us` are still timed in the engine process, for reference.)

An empty step list skips that kind. Each step also reports the generator's CPU (in srtp mode Debian's
libsrtp2 is dear: see media_loadgen.c) and the machine's one-minute load average.

The last line printed is one JSON object: calls, loss_pct, jitter_p99_ms, cpu_per_call_pct (and with --srtp
the same figures prefixed srtp_ and srtp_to_srtp_, with srtp_to_srtp_auth_failures counted by the generator's
phones and srtp_to_srtp_engine_auth_failures by the engine, and srtp_to_srtp_calls_within_loss: the largest
step within the loss limit alone, p99 jitter aside), and load_average per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
GENERATOR_SOCKETS = int(os.environ.get("MEDIA_BENCH_GEN_SOCKETS", "64"))


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ------------------------------------------------------------------------------------------ engine side

def engine_main(conn: Connection, mode: str) -> None:
    """Child process: runs the engine; commands over a pipe."""
    raise_fd_limit()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    if os.environ.get("MEDIA_BENCH_PIN") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # one core for the engine; the generator is pinned to the other
    _priority()
    asyncio.run(_engine(conn, mode))


async def _srtp_chain(engine: Any, host: str, gen_a: int, gen_b: int, suite: str) -> tuple[list[str], list[int]]:
    """One SRTP call of the bench (see the module docstring): its endpoints, and the two ports the generator
    sends to."""
    from appliance.media import RemoteMedia, SrtpKeys
    from appliance.media.srtp import key_length

    a = await engine.allocate(RemoteMedia(host, gen_a, (8,)))
    b = await engine.allocate(RemoteMedia(host, gen_b, (8,)))
    ka, kb = secrets.token_bytes(key_length(suite)), secrets.token_bytes(key_length(suite))
    sa = await engine.allocate(srtp=SrtpKeys(suite, tx_key=ka, rx_key=kb))
    sb = await engine.allocate(RemoteMedia("127.0.0.1", sa.port, (8,)), srtp=SrtpKeys(suite, tx_key=kb, rx_key=ka))
    engine.set_remote(sa.endpoint_id, RemoteMedia("127.0.0.1", sb.port, (8,)))
    engine.bridge(a.endpoint_id, sa.endpoint_id)
    engine.bridge(sb.endpoint_id, b.endpoint_id)
    return [a.endpoint_id, b.endpoint_id, sa.endpoint_id, sb.endpoint_id], [a.port, b.port]


async def _srtp_call(engine: Any, host: str, gen_a: int, gen_b: int, suite: str,
                     keys: list[tuple[bytes, bytes]]) -> tuple[list[str], list[int]]:
    """One SRTP-to-SRTP call (see the module docstring): two endpoints, each keyed as SDES would key it with one
    of the generator's SRTP phones (`keys`: per endpoint, the key it sends with and the phone's), bridged."""
    from appliance.media import RemoteMedia, SrtpKeys

    ends = [await engine.allocate(RemoteMedia(host, port, (8,)), srtp=SrtpKeys(suite, tx_key=tx, rx_key=rx))
            for port, (tx, rx) in zip((gen_a, gen_b), keys, strict=True)]
    bridge = engine.bridge(ends[0].endpoint_id, ends[1].endpoint_id)
    assert engine.bridge_mode(bridge) == "relay"
    return [e.endpoint_id for e in ends], [e.port for e in ends]


def _srtp_cost(suite: str, packets: int = 20000) -> dict[str, float]:
    """Microseconds per protect and per unprotect of a 160-byte A-law packet through the engine's own SRTP
    context (libsrtp), timed in the engine process."""
    import struct

    from appliance.media import SrtpKeys
    from appliance.media.srtp import SrtpContext, key_length

    key = secrets.token_bytes(key_length(suite))
    ctx = SrtpContext(SrtpKeys(suite, tx_key=key, rx_key=key))  # (its own packets come back to it)
    plain = [struct.pack("!BBHII", 0x80, 8, i & 0xFFFF, i * 160, 0x5EC) + bytes(160) for i in range(packets)]
    t0 = time.perf_counter()
    protected = [ctx.protect(p) for p in plain]
    t1 = time.perf_counter()
    back = [ctx.unprotect(p) for p in protected if p is not None]
    t2 = time.perf_counter()
    assert back[-1] == plain[-1]
    return {"protect_us": round((t1 - t0) / packets * 1e6, 2), "unprotect_us": round((t2 - t1) / packets * 1e6, 2)}


async def _engine(conn: Connection, mode: str) -> None:
    from appliance.events import EventBus
    from appliance.media import MediaConfig, MediaEngine, PartyMask, RemoteMedia
    from appliance.process_memory import settle_heap

    # MEDIA_BENCH_PYTHON=1: the engine's Python packet path instead of the compiled one (the reference)
    compiled = not os.environ.get("MEDIA_BENCH_PYTHON")
    engine = MediaEngine(MediaConfig(port_low=20000, port_high=39998, rtp_timeout=3600.0, compiled_relay=compiled),
                         EventBus())
    if compiled and not engine.compiled_relay:
        raise SystemExit("the compiled packet path is not built: pip install -e . (or set MEDIA_BENCH_PYTHON=1)")
    await engine.start()
    # what the appliance's composition root does after start-up: keep the long-lived objects out of the
    # cyclic collector's full passes, which otherwise stall a tick for tens of milliseconds
    settle_heap()
    loop = asyncio.get_running_loop()
    legs: list[str] = []
    recordings: list[str] = []
    gc_time = [0.0, 0.0]

    def gc_watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]

    gc.callbacks.append(gc_watch)
    rec_dir = Path(os.environ.get("MEDIA_BENCH_DIR", "/tmp"))
    while True:
        cmd: dict[str, Any] = await loop.run_in_executor(None, conn.recv)
        if cmd["op"] == "setup":
            for ep in legs:
                engine.release(ep)
            for r in recordings:
                engine.stop_recording(r)
            legs.clear()
            recordings.clear()
            await asyncio.sleep(0.05)
            settle_heap()
            ports: list[int] = []
            host, gen_ports = cmd["host"], cmd["ports"]
            group = cmd["group"]
            calls = cmd.get("srtp_to_srtp") or []  # per call, per endpoint (key it sends with, phone's key)
            for call_keys in calls:
                n = len(gen_ports)
                members, pair = await _srtp_call(engine, host, gen_ports[len(ports) % n],
                                                 gen_ports[(len(ports) + 1) % n], cmd["srtp"], call_keys)
                legs.extend(members)
                ports.extend(pair)
            for _ in range(cmd["groups"] if cmd.get("srtp") and not calls else 0):
                n = len(gen_ports)
                members, pair = await _srtp_chain(engine, host, gen_ports[len(ports) % n],
                                                  gen_ports[(len(ports) + 1) % n], cmd["srtp"])
                legs.extend(members)
                ports.extend(pair)
            for _ in range(0 if cmd.get("srtp") else cmd["groups"]):
                members = []
                for _ in range(group):
                    # leg i is answered by the generator's socket i mod S (see media_loadgen.c)
                    gen_port = gen_ports[len(ports) % len(gen_ports)]
                    local = await engine.allocate(RemoteMedia(host, gen_port, (8,)))
                    members.append(local.endpoint_id)
                    ports.append(local.port)
                legs.extend(members)
                bridge = engine.bridge(*members, masks={m: PartyMask() for m in members})
                if cmd.get("record"):
                    recordings.append(engine.start_recording(members[0], members[1],
                                                              rec_dir / f"bench-{len(recordings)}.wav"))
                assert mode != "relay" or engine.bridge_mode(bridge) == "relay"
            conn.send({"ports": ports})
        elif cmd["op"] == "stats":
            conn.send({"ticks_late": engine.ticks_late, "ticks_skipped": engine.ticks_skipped,
                       "ticks": engine.tick_count, "tick_busy": engine.tick_busy, "tick_max": engine.tick_max,
                       "gc_seconds": round(gc_time[0], 3), "drains": engine.drains, "drained": engine.drained,
                       "send_failures": engine.send_failures,
                       "srtp_auth_failures": engine.health().counters["srtp_auth_failures"]})
            engine.tick_max = 0.0
        elif cmd["op"] == "srtp_cost":
            conn.send(_srtp_cost(cmd["suite"]))
        elif cmd["op"] == "stop":
            for r in recordings:
                engine.stop_recording(r)
            for i in range(len(recordings)):
                (rec_dir / f"bench-{i}.wav").unlink(missing_ok=True)
            await engine.stop()
            conn.send({"stopped": True})
            return


# ------------------------------------------------------------------------------------------ generator

@dataclass
class StepResult:
    calls: int
    legs: int
    seconds: float
    sent: int
    received: int
    expected: int
    loss_pct: float
    jitter_p99_ms: float
    engine_cpu_pct: float
    ticks_late: int
    engine_wait_pct: float = 0.0  # time the engine was runnable but waited for a CPU (other load on the box)
    raw_udp_sockets: int = 0  # raw sockets on the box that take a copy of every UDP packet (see raw_udp_sockets)
    auth_failures: int = 0  # SRTP packets the generator's phones refused (authentication, replay): lost
    engine_auth_failures: int = 0  # SRTP packets the engine's endpoints refused
    load_average: float = 0.0  # the machine's one-minute load average at the step's end (others' work beside it)
    generator_cpu_pct: float = 0.0  # the load generator's CPU over the window (its SRTP phones' cost in srtp mode)

    @property
    def cpu_per_call_pct(self) -> float:
        return self.engine_cpu_pct / max(1, self.calls)


def build_generator(directory: Path, srtp: bool = False) -> Path:
    """Compile the C load generator beside this file with the system gcc (a Python generator cannot send and
    receive 100,000 packets/s here); with `srtp`, its SRTP phones too, linked with libsrtp2 (libsrtp2-dev)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise SystemExit("the load generator needs gcc on PATH")
    exe = directory / ("media_loadgen_srtp" if srtp else "media_loadgen")
    flags = ["-DLOADGEN_SRTP"] if srtp else []
    libs = ["-lsrtp2"] if srtp else []
    subprocess.run([gcc, "-O2", *flags, "-o", str(exe), str(Path(__file__).with_name("media_loadgen.c")), *libs],
                   check=True)
    return exe


def generator_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    with contextlib.suppress(OSError):  # above net.core.rmem_max when allowed
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def generator_sockets(count: int) -> tuple[list[socket.socket], list[socket.socket]]:
    """`count` generator sockets on even ports, each with port + 1 held by a second socket, as a phone holds
    its RTCP port: the engine sends its (S)RTCP reports to the peer's port + 1 (RFC 3550 §11), and a free
    ephemeral port + 1 can be another engine endpoint's RTP port, which then counts the reports as SRTP that
    failed authentication. Nothing reads the second sockets."""
    rtp: list[socket.socket] = []
    rtcp: list[socket.socket] = []
    while len(rtp) < count:
        sock = generator_socket()
        port = sock.getsockname()[1]
        pair = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if port % 2:
                raise OSError("odd port")
            pair.bind(("127.0.0.1", port + 1))
        except OSError:
            sock.close()
            pair.close()
            continue
        rtp.append(sock)
        rtcp.append(pair)
    return rtp, rtcp


def run_step(conn: Connection, engine_pid: int, generator: Path, calls: int, seconds: float, step: int,
             group: int = 2, record: bool = False, relay: bool = True, srtp: str | None = None,
             srtp_phones: bool = False) -> StepResult:
    # The generator's legs are spread over several sockets: phones each have their own address, and one
    # socket receiving every leg's packets would make the engine's sends contend for its queue.
    # with srtp, `calls` counts plain-to-SRTP calls: each chain of the bench is two of them (module docstring);
    # with srtp_phones too, they are SRTP-to-SRTP calls and the generator's phones speak SRTP (suite `srtp`)
    groups = max(1, calls // 2) if srtp and not srtp_phones else calls
    socks, rtcp_socks = generator_sockets(min(GENERATOR_SOCKETS, groups * group))
    # per leg: the key its phone sends with, and the one its engine endpoint sends with (SDES: each side's own)
    keys: list[tuple[bytes, bytes]] = []
    if srtp and srtp_phones:
        from appliance.media.srtp import key_length

        keys = [(secrets.token_bytes(key_length(srtp)), secrets.token_bytes(key_length(srtp)))
                for _ in range(2 * calls)]
    engine_keys = [((keys[i][1], keys[i][0]), (keys[i + 1][1], keys[i + 1][0])) for i in range(0, len(keys), 2)]
    conn.send({"op": "setup", "groups": groups, "group": group, "host": "127.0.0.1",
               "ports": [s.getsockname()[1] for s in socks], "record": record, "srtp": srtp,
               "srtp_to_srtp": engine_keys})
    ports = conn.recv()["ports"]
    # the generator warms up for 0.5 s first (every leg latched, jitter buffers settled), not measured; the
    # engine's CPU time is read when it says the measured window starts and ends
    fds = [s.fileno() for s in socks]
    mode = "srtp" if keys else "relay" if relay else "grid"
    gen = subprocess.Popen([str(generator), ",".join(map(str, fds)), mode, "0.5", str(seconds), str(step),
                            *([srtp] if keys and srtp else [])], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           pass_fds=fds, text=True)
    assert gen.stdin is not None and gen.stdout is not None
    gen.stdin.write(" ".join(map(str, ports)) + "\n")
    gen.stdin.writelines(f"{tx.hex()} {rx.hex()}\n" for tx, rx in keys)
    gen.stdin.close()
    proc = psutil.Process(engine_pid)
    conn.send({"op": "stats"})
    st0 = conn.recv()
    late0 = st0["ticks_late"]
    if gen.stdout.readline().strip() != "warm":
        raise RuntimeError("the load generator failed")
    cpu0 = proc.cpu_times()
    gen_proc = psutil.Process(gen.pid)
    gcpu0 = gen_proc.cpu_times()
    sched0 = _schedstat(engine_pid)
    t0 = time.perf_counter()
    if gen.stdout.readline().strip() != "done":
        raise RuntimeError("the load generator failed")
    cpu1 = proc.cpu_times()
    gcpu1 = gen_proc.cpu_times()
    elapsed = time.perf_counter() - t0
    sched1 = _schedstat(engine_pid)
    figures = json.loads(gen.stdout.readline())
    gen.wait()
    for s in socks + rtcp_socks:
        s.close()
    wait_pct = (sched1[1] - sched0[1]) / 1e9 / elapsed * 100
    conn.send({"op": "stats"})
    st1 = conn.recv()
    late1 = st1["ticks_late"]
    if os.environ.get("MEDIA_BENCH_DEBUG"):
        print(f"engine user {100 * (cpu1.user - cpu0.user) / elapsed:.1f}% system "
              f"{100 * (cpu1.system - cpu0.system) / elapsed:.1f}%")
        print("engine", st1)
        print("generator", figures)
    cpu_pct = 100.0 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / elapsed
    legs = groups * group
    wall = figures["wall"]
    sent, received = figures["sent"], figures["received"]
    expected = sent if relay else int(legs * wall / 0.02)
    loss = max(0.0, 1.0 - received / expected) * 100.0 if expected else 100.0
    p99 = figures["p99_ms"] if figures["samples"] else float("inf")
    return StepResult(calls, legs, round(wall, 2), sent, received, expected, round(loss, 4), round(p99, 2),
                      round(cpu_pct, 1), late1 - late0, round(wait_pct, 1), raw_udp_sockets(),
                      figures.get("auth_failures", 0), st1["srtp_auth_failures"] - st0["srtp_auth_failures"],
                      round(os.getloadavg()[0], 2),
                      round(100.0 * (gcpu1.user - gcpu0.user + gcpu1.system - gcpu0.system) / elapsed, 1))


def raw_udp_sockets() -> int:
    """Raw IPPROTO_UDP sockets open on the machine (SIPp opens one per call that plays pcap audio): the
    kernel hands each of them a copy of every UDP packet, which makes every send and receive of the engine
    dearer (one run measured 11 % of the engine's CPU in raw_local_deliver with 100 of them open)."""
    try:
        with open("/proc/net/raw") as f:
            return sum(1 for line in f if line.split()[1:2] and line.split()[1].endswith(":0011"))
    except OSError:
        return 0


def _priority() -> None:
    """MEDIA_BENCH_RT=1: round-robin real-time priority, as media servers run on a box (Asterisk -p), so
    that other jobs on a shared machine do not decide the result (the kernel's real-time throttling still
    leaves them 5 %); MEDIA_BENCH_NICE=-10: a milder nice value instead."""
    if os.environ.get("MEDIA_BENCH_RT") and hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
    elif os.environ.get("MEDIA_BENCH_NICE"):
        os.nice(int(os.environ["MEDIA_BENCH_NICE"]))


def _schedstat(pid: int) -> tuple[int, int]:
    """Nanoseconds run and waited on a run queue, summed over the process's threads (Linux)."""
    run = wait = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                a, b, _ = f.read().split()
                run += int(a)
                wait += int(b)
    except OSError:
        pass
    return run, wait


def start_engine(mode: str) -> tuple[mp.process.BaseProcess, Connection]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=engine_main, args=(child, mode), daemon=True)
    proc.start()
    return proc, parent


def stop_engine(proc: mp.process.BaseProcess, conn: Connection) -> None:
    conn.send({"op": "stop"})
    conn.recv()
    proc.join(10)


def pin_generator() -> None:
    if os.environ.get("MEDIA_BENCH_PIN") and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    _priority()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="100,250,500,750,1000,1250,1500")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-loss-pct", type=float, default=0.1)
    parser.add_argument("--max-jitter-ms", type=float, default=5.0)
    parser.add_argument("--srtp", action="store_true", help="then SRTP calls in the same run (see above)")
    parser.add_argument("--srtp-steps", default="200,500,750,1000",
                        help="plain-to-SRTP calls (two per chain); empty: none")
    parser.add_argument("--srtp-to-srtp-steps", default="250,500,750",
                        help="SRTP-to-SRTP calls, the generator's phones speaking SRTP; empty: none")
    parser.add_argument("--srtp-suite", default="AES_CM_128_HMAC_SHA1_80",
                        choices=("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"))
    args = parser.parse_args()
    raise_fd_limit()
    pin_generator()
    build_dir = tempfile.TemporaryDirectory()
    generator = build_generator(Path(build_dir.name), srtp=args.srtp)
    proc, conn = start_engine("relay")
    srtp_best: StepResult | None = None
    srtp_failed: dict[str, float] | None = None
    both_best: StepResult | None = None
    both_failed: dict[str, float] | None = None
    both_loss: StepResult | None = None
    cost: dict[str, float] = {}
    load_start = round(os.getloadavg()[0], 2)
    try:
        best, failed, _ = climb(conn, proc.pid or 0, generator, args, args.steps, None)
        if args.srtp:
            first = len(args.steps.split(",")) + 1
            srtp_best, srtp_failed, _ = climb(conn, proc.pid or 0, generator, args, args.srtp_steps, args.srtp_suite,
                                           first_step=first)
            both_best, both_failed, both_loss = climb(conn, proc.pid or 0, generator, args, args.srtp_to_srtp_steps,
                                           args.srtp_suite, first_step=first + len(args.srtp_steps.split(",")),
                                           srtp_phones=True)
            conn.send({"op": "srtp_cost", "suite": args.srtp_suite})
            cost = conn.recv()
    finally:
        stop_engine(proc, conn)
        build_dir.cleanup()
    result: dict[str, Any] = {
        "calls": best.calls if best else 0,
        "loss_pct": best.loss_pct if best else None,
        "jitter_p99_ms": best.jitter_p99_ms if best else None,
        "cpu_per_call_pct": round(best.cpu_per_call_pct, 4) if best else None,
        "engine_cpu_pct": best.engine_cpu_pct if best else None,
        "engine_waited_for_cpu_pct": best.engine_wait_pct if best else None,
        "raw_udp_sockets": best.raw_udp_sockets if best else None,
        "first_failed_step": failed,
        "projected_calls_per_core": int(100.0 / best.cpu_per_call_pct) if best and best.cpu_per_call_pct else 0,
        "load_average": {"start": load_start, "plain": best.load_average if best else None},
    }
    if args.srtp:
        b, m = srtp_best, both_best
        print(f"srtp libsrtp protect {cost['protect_us']} us, unprotect {cost['unprotect_us']} us per packet "
              "(in the engine process, through pylibsrtp)", flush=True)
        result.update({
            "srtp_suite": args.srtp_suite,
            "srtp_calls": b.calls if b else 0,
            "srtp_loss_pct": b.loss_pct if b else None,
            "srtp_jitter_p99_ms": b.jitter_p99_ms if b else None,
            "srtp_cpu_per_call_pct": round(b.cpu_per_call_pct, 4) if b else None,
            "srtp_engine_cpu_pct": b.engine_cpu_pct if b else None,
            "srtp_engine_waited_for_cpu_pct": b.engine_wait_pct if b else None,
            "srtp_first_failed_step": srtp_failed,
            "srtp_projected_calls_per_core": int(100.0 / b.cpu_per_call_pct) if b and b.cpu_per_call_pct else 0,
            "srtp_protect_us": cost["protect_us"],
            "srtp_unprotect_us": cost["unprotect_us"],
            # measured: the engine held these calls with the generator's phones speaking SRTP both ends
            "srtp_to_srtp_calls": m.calls if m else 0,
            "srtp_to_srtp_loss_pct": m.loss_pct if m else None,
            "srtp_to_srtp_jitter_p99_ms": m.jitter_p99_ms if m else None,
            "srtp_to_srtp_cpu_per_call_pct": round(m.cpu_per_call_pct, 4) if m else None,
            "srtp_to_srtp_engine_cpu_pct": m.engine_cpu_pct if m else None,
            "srtp_to_srtp_engine_waited_for_cpu_pct": m.engine_wait_pct if m else None,
            "srtp_to_srtp_auth_failures": m.auth_failures if m else None,
            "srtp_to_srtp_engine_auth_failures": m.engine_auth_failures if m else None,
            "srtp_to_srtp_first_failed_step": both_failed,
            # the criterion: the largest step within 0.1 % loss (the bench's jitter limit aside)
            "srtp_to_srtp_calls_within_loss": both_loss.calls if both_loss else 0,
            "srtp_to_srtp_projected_calls_per_core":
                int(100.0 / m.cpu_per_call_pct) if m and m.cpu_per_call_pct else 0,
        })
        result["load_average"].update(srtp=b.load_average if b else None,
                                      srtp_to_srtp=m.load_average if m else None)
    print(json.dumps(result))


def climb(conn: Connection, pid: int, generator: Path, args: argparse.Namespace, steps: str, srtp: str | None,
          first_step: int = 1, srtp_phones: bool = False
          ) -> tuple[StepResult | None, dict[str, float] | None, StepResult | None]:
    """Steps of growing calls until one breaks the limits or the engine's core is saturated: the largest step
    that held, the first that did not, and the largest within the loss limit alone (its jitter aside)."""
    best: StepResult | None = None
    failed: dict[str, float] | None = None
    within_loss: StepResult | None = None
    label = "srtp-to-srtp " if srtp_phones else "srtp " if srtp else ""
    for k, calls in enumerate(int(s) for s in steps.split(",") if s.strip()):
        r = run_step(conn, pid, generator, calls, args.seconds, first_step + k, srtp=srtp, srtp_phones=srtp_phones)
        ok = r.loss_pct <= args.max_loss_pct and r.jitter_p99_ms <= args.max_jitter_ms
        auth = f"auth_failures={r.auth_failures}/{r.engine_auth_failures} " if srtp else ""
        print(f"{label}calls={r.calls:5d} sent={r.sent:7d} received={r.received:7d} "
              f"loss={r.loss_pct:.3f}% jitter_p99={r.jitter_p99_ms:.2f} ms engine_cpu={r.engine_cpu_pct:.1f}% "
              f"per_call={r.cpu_per_call_pct:.3f}% engine_waited_for_cpu={r.engine_wait_pct:.1f}% "
              f"generator_cpu={r.generator_cpu_pct:.1f}% "
              f"raw_udp_sockets={r.raw_udp_sockets} {auth}load={r.load_average} {'ok' if ok else 'FAILED'}",
              flush=True)
        if r.loss_pct <= args.max_loss_pct:
            within_loss = r
        if ok:
            best = r
        else:
            failed = {"calls": r.calls, "loss_pct": r.loss_pct, "jitter_p99_ms": r.jitter_p99_ms,
                      "engine_cpu_pct": r.engine_cpu_pct, "engine_waited_for_cpu_pct": r.engine_wait_pct}
        if not ok or r.engine_cpu_pct > 97.0:
            break
    return best, failed, within_loss


if __name__ == "__main__":
    main()
