"""PRI load benchmark: four emulated E1 spans (120 B-channels) held full by a far exchange that places calls
at a steady rate, each answered by the box and bridged to a SIP-side RTP leg, for a given time.

Processes: the card emulator (`python -m drivers.emulator`, two cards wired span to span), the box (this
process: `E1Driver` in the user role on card 1, the real `MediaEngine`; every inbound PRI leg gets an RTP
endpoint towards "SIP phones" and the two are bridged, A-law passthrough), and the far end (a child
process: `E1Driver` in the network role on card 2, and a UDP reflector standing for the SIP phones, which
sends each RTP packet back to where it came from with another SSRC). Every far-end B-channel frame carries
a counter; it travels exchange -> box frame port -> RTP -> reflector -> RTP -> frame port -> exchange, and
the far end counts the counters that never came back (frame loss, after each call's first second).

Where a frame can go missing, in path order (each is counted and printed before the last line): the card
plays a driver's answer to tick n at tick n + 4 and drops one that comes later (`bearer_lost` of each card);
a driver handles a tick late (lateness against the card's grid, each side); the kernel drops datagrams on a
full socket (/proc/net/udp: box RTP, reflector, bearer sockets); the box's frame port relays each frame at
once as RTP (its rx buffer only feeds taps: DTMF detection, recordings); the RTP leg's jitter buffer
(late_dropped, drift_skipped) and the frame port's tx elastic buffer between the media tick and the card's
clock (dropped, concealed); the far end prints the lengths of the runs of lost frames (a run of one: a slip;
longer: a stall). `--profile FILE` writes the box loop's cProfile figures.

Calls last `channels / rate` seconds on average (uniform ±33 %), so the spans stay full while `rate` calls
per second are set up and torn down. CPU: the box process's user+system time over wall time, per channel.

    .venv/bin/python bench/pri_load.py [--spans 4] [--seconds 600] [--rate 10] [--profile FILE]

PRI_BENCH_RT=1 runs all three processes at round-robin real-time priority (as media servers run on a box,
and as bench/media_relay.py does with MEDIA_BENCH_RT=1), so other jobs on a shared machine do not decide
the result.

The last line printed is one JSON object: spans, channels, concurrent_calls, setups_per_s, failed,
frame_loss_pct, cpu_per_channel_pct (and blocked: channels left blocked at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import gc
import json
import multiprocessing as mp
import os
import pstats
import random
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from appliance.events import Event, EventBus
from appliance.legs import events as le
from appliance.legs.causes import Cause
from appliance.legs.models import OutboundLeg
from appliance.media.events import LegQuality
from appliance.media.frames import FrameLaw
from appliance.media.models import MediaConfig, RemoteMedia
from appliance.media.service import MediaEngine
from drivers.e1.models import E1Settings, SpanSettings
from drivers.e1.q931_model import Timers
from drivers.e1.service import E1Driver
from drivers.hal.serial_backend import SerialCard

STAMP = struct.Struct(">I")
ALAW_SILENCE = b"\xd5" * 160


# ---------------------------------------------------------------- where frames go missing


class TickLateness:
    """How late a driver sees the card's bearer ticks, against the card's 20 ms grid (each span's earliest
    arrival so far anchors it): a tick handled more than 20 ms late was answered after the card's next tick."""

    def __init__(self) -> None:
        self.anchor: dict[int, float] = {}
        self.late = collections.Counter[str]()
        self.worst = 0.0
        self.missed = 0  # gaps in a span's tick numbers (datagrams lost before the driver)
        self._last: dict[int, int] = {}

    @classmethod
    def watch(cls, driver: E1Driver) -> TickLateness:
        me = cls()
        inner = driver.bearer

        def bearer(frames: Any) -> None:
            me.seen(frames.unit, frames.tick, time.monotonic())
            inner(frames)

        driver.bearer = bearer  # type: ignore[method-assign]
        return me

    def seen(self, unit: int, tick: int, now: float) -> None:
        last = self._last.get(unit)
        if last is not None and tick != last + 1:
            self.missed += max(0, tick - last - 1)
        self._last[unit] = tick
        zero = now - tick * 0.020
        anchor = self.anchor.get(unit)
        if anchor is None or zero < anchor:
            self.anchor[unit] = anchor = zero
        late = zero - anchor
        self.worst = max(self.worst, late)
        for ms in (20, 40, 60, 80):
            if late > ms / 1000:
                self.late[f">{ms}ms"] += 1

    def figures(self) -> dict[str, Any]:
        return {**self.late, "worst_ms": round(self.worst * 1000, 1), "missed": self.missed}


class UdpDrops:
    """Datagrams the kernel dropped on full receive buffers, per socket (/proc/net/udp, last column), read
    once a second: a socket's count is gone when it closes, so the highest seen per socket is kept."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, int]] = {}  # inode -> (local port, drops)

    def sample(self) -> None:
        with contextlib.suppress(OSError), open("/proc/net/udp") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if len(cols) >= 13 and cols[1].startswith("0100007F:"):
                    drops = int(cols[-1])
                    if drops:
                        self.seen[cols[9]] = (int(cols[1].split(":")[1], 16), drops)

    def by_port(self, named: dict[str, range]) -> dict[str, int]:
        """Drops on the named ports (other processes on the machine have sockets on the loopback too)."""
        out = dict.fromkeys(named, 0)
        for port, drops in self.seen.values():
            name = next((n for n, r in named.items() if port in r), None)
            if name is not None:
                out[name] += drops
        return out


class GcPauses:
    """Collections in this process, and how long the longest ones held the loop."""

    def __init__(self) -> None:
        self.count = collections.Counter[int]()
        self.worst = 0.0
        self.over_10ms = 0
        self._t = 0.0
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
            return
        spent = time.perf_counter() - self._t
        self.count[int(info["generation"])] += 1
        self.worst = max(self.worst, spent)
        self.over_10ms += spent > 0.010

    def figures(self) -> dict[str, Any]:
        return {"by_generation": dict(self.count), "worst_ms": round(self.worst * 1000, 1),
                "over_10ms": self.over_10ms}


# ---------------------------------------------------------------- the far end (child process)


@dataclass(eq=False)
class CountingPort:
    """A far-end B-channel: sends frames stamped with a counter, checks the counters that come back."""

    endpoint_id: str
    sent: int = 0
    seen: set[int] = field(default_factory=set)
    opened: float = field(default_factory=time.monotonic)
    measure_from: int = 50  # (the first second: set-up, buffers priming, the bridge forming)

    def pull(self) -> bytes:
        self.sent += 1
        return STAMP.pack(self.sent) + ALAW_SILENCE[4:]

    def push(self, frame: bytes) -> None:
        n = STAMP.unpack_from(frame)[0]
        if 0 < n <= self.sent:
            self.seen.add(n)

    def figures(self) -> tuple[int, int, list[int]]:
        """(expected, lost, lengths of the runs of lost frames) among the frames sent after the first second,
        allowing the path's delay."""
        last = self.sent - 25  # frames still on their way when the call ended (the round trip is ~300 ms)
        wanted = range(self.measure_from, last)
        runs: list[int] = []
        run = 0
        for n in wanted:
            if n in self.seen:
                if run:
                    runs.append(run)
                run = 0
            else:
                run += 1
        if run:
            runs.append(run)
        return len(wanted), sum(runs), runs


@dataclass
class CountingMedia:
    ports: dict[str, CountingPort] = field(default_factory=dict)
    expected: int = 0
    lost: int = 0
    n: int = 0
    runs: collections.Counter[int] = field(default_factory=collections.Counter)  # lost-run length -> runs

    def open_frame_port(self, law: FrameLaw = "alaw") -> CountingPort:
        self.n += 1
        port = CountingPort(f"far{self.n}")
        self.ports[port.endpoint_id] = port
        return port

    def release(self, endpoint_id: str) -> LegQuality | None:
        port = self.ports.pop(endpoint_id)
        expected, lost, runs = port.figures()
        self.expected += max(0, expected)
        self.lost += lost
        self.runs.update(runs)
        return None


class Reflector:
    """The SIP phones: every RTP packet goes back where it came from, with another SSRC. Drains its socket
    on each wake-up (an asyncio datagram transport reads one datagram per loop turn: 6,000 packets/s into
    one socket would starve it)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])
        self.packets = 0
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self.readable)

    def readable(self) -> None:
        for _ in range(4096):
            try:
                data, addr = self.sock.recvfrom(2048)
            except BlockingIOError:
                return
            if len(data) < 12 or 72 <= data[1] & 0x7F <= 76:
                continue  # (RTCP: not audio)
            self.packets += 1
            with contextlib.suppress(BlockingIOError):
                self.sock.sendto(data[:8] + bytes(b ^ 0x5A for b in data[8:12]) + data[12:], addr)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


def far_main(conn: Connection, tty: str, spans: int, seconds: float, rate: float) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_far(conn, tty, spans, seconds, rate))


async def _far(conn: Connection, tty: str, spans: int, seconds: float, rate: float) -> None:
    loop = asyncio.get_running_loop()
    reflector = Reflector()
    conn.send({"reflector": reflector.port})
    media = CountingMedia()
    settings = E1Settings(device=tty, spans=tuple(SpanSettings(span=n, role="network") for n in range(1, spans + 1)),
                          timers=Timers())
    card = SerialCard(tty)
    far = E1Driver(settings, card, media)
    arrivals = TickLateness.watch(far)
    ended: list[le.LegEnded] = []
    far.attach(lambda e: ended.append(e) if isinstance(e, le.LegEnded) else None)
    await far.start()
    while not all(rt.link_up for rt in far.spans.values()):
        await asyncio.sleep(0.05)
    conn.send({"up": True})
    conn.recv()  # the box is ready
    channels = 30 * spans
    hold = 0.95 * channels / rate  # (a little headroom: a cleared channel is busy until RELEASE COMPLETE)
    live: dict[str, float] = {}  # leg id -> when to hang up
    placed = failed = 0
    concurrent_max = 0
    legs: dict[str, Any] = {}
    start = loop.time()
    next_at = start
    while loop.time() < start + seconds:
        now = loop.time()
        for leg_id, until in list(live.items()):
            if now >= until:
                legs.pop(leg_id).hangup(Cause.NORMAL_CLEARING)
                del live[leg_id]
        while now >= next_at and (len(live) < channels or now - start > hold):
            if len(live) >= channels or sum(len(rt.stack.q931.busy) for rt in far.spans.values()) >= channels:
                break  # (every channel busy or still clearing: the call waits for one, and keeps its turn)
            next_at += 1 / rate if now - start > hold else 0.0  # ramp up at once, then the steady rate
            try:
                leg = await far.create(OutboundLeg(callee=f"8{placed % 1000:03d}", caller="02150001234"))
            except Exception:
                failed += 1
                break
            placed += 1
            legs[leg.leg_id] = leg
            live[leg.leg_id] = now + random.uniform(0.67, 1.33) * hold
        if now - start <= hold:
            next_at = now + 1 / rate
        concurrent_max = max(concurrent_max, len(live))
        await asyncio.sleep(0.02)
    for leg in legs.values():
        leg.hangup(Cause.NORMAL_CLEARING)
    await asyncio.sleep(1.0)
    abnormal = [e for e in ended if e.cause not in (Cause.NORMAL_CLEARING,)]
    me = psutil.Process()
    cpu = me.cpu_times()
    card_lost = sum([(await card.span_status(n)).counters.bearer_lost for n in far.spans])
    conn.send({"far_cpu_s": cpu.user + cpu.system, "runs": dict(media.runs), "far_ticks": arrivals.figures(),
               "far_card_bearer_lost": card_lost, "placed": placed, "failed": failed + len(abnormal), "concurrent_max": concurrent_max,
               "expected": media.expected, "lost": media.lost, "reflected": reflector.packets,
               "causes": sorted({int(e.cause) for e in abnormal})})
    await far.stop()
    reflector.close()


# ---------------------------------------------------------------- the box (this process)


async def box(args: argparse.Namespace) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.emulator", "--cards", "2", "--spans", str(args.spans),
        "--link", ",".join(f"1.{n}-2.{n}" for n in range(1, args.spans + 1)), stdout=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parent.parent))
    assert proc.stdout is not None
    info = json.loads(await proc.stdout.readline())
    parent, child = mp.Pipe()
    far = mp.get_context("spawn").Process(target=far_main, args=(child, info["ttys"][1], args.spans, args.seconds,
                                                                 args.rate))
    far.start()
    reflector_port = (await asyncio.to_thread(parent.recv))["reflector"]
    bus = EventBus()
    media = MediaEngine(MediaConfig(port_low=30000, port_high=31998, rtp_timeout=3600), bus)
    await media.start()
    settings = E1Settings(device=info["ttys"][0], spans=tuple(SpanSettings(span=n, role="user")
                                                                 for n in range(1, args.spans + 1)))
    card = SerialCard(info["ttys"][0])
    driver = E1Driver(settings, card, media, bus)
    arrivals = TickLateness.watch(driver)
    gc_pauses = GcPauses()
    udp = UdpDrops()
    jitter = collections.Counter[str]()  # the RTP legs' jitter buffers, summed as they are released
    rtp: dict[str, str] = {}  # PRI leg -> its RTP endpoint
    failed = 0

    async def answer(event: le.LegIncoming) -> None:
        nonlocal failed
        leg = driver.leg(event.leg_id)
        try:
            port_ep = await leg.open_media()
            local = await media.allocate(RemoteMedia("127.0.0.1", reflector_port, (8,)))
            rtp[event.leg_id] = local.endpoint_id
            media.bridge(port_ep, local.endpoint_id)
            leg.answer()
        except Exception:
            failed += 1
            leg.hangup(Cause.TEMPORARY_FAILURE)

    def on_leg(event: Event) -> None:
        if isinstance(event, le.LegIncoming):
            asyncio.get_running_loop().create_task(answer(event))
        elif isinstance(event, le.LegEnded):
            ep = rtp.pop(event.leg_id, None)
            if ep is not None:
                buf = media._endpoints[ep].jitter  # (the bench looks inside: where frames are lost)
                if buf is not None:
                    jitter.update(vars(buf.stats))
                media.release(ep)

    driver.attach(on_leg)
    await driver.start()
    await asyncio.to_thread(parent.recv)  # the far end is up
    up_by = time.monotonic() + 30.0
    while not all(rt.link_up for rt in driver.spans.values()):
        if time.monotonic() > up_by:  # (say which span, rather than wait for ever)
            states = {n: (rt.stack.lapd.state.name, rt.refused, sorted(a.value for a in rt.alarms.active))
                      for n, rt in driver.spans.items()}
            far.terminate()
            proc.terminate()
            raise SystemExit(f"the box's D-channels did not all come up in 30 s: {states}")
        await asyncio.sleep(0.05)
    me = psutil.Process()
    cpu0, t0 = me.cpu_times(), time.monotonic()
    in_use: list[int] = []

    async def sample() -> None:
        while True:
            await asyncio.sleep(1.0)
            in_use.append(sum(len(rt.stack.q931.busy) for rt in driver.spans.values()))
            udp.sample()

    sampler = asyncio.create_task(sample())
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        profile.enable()
    parent.send("go")
    emu = psutil.Process(proc.pid)
    emu_cpu0 = sum(emu.cpu_times()[:2])
    result = await asyncio.to_thread(parent.recv)
    cpu1, t1 = me.cpu_times(), time.monotonic()
    if profile is not None:  # (the box's loop only: cProfile sees this thread)
        profile.disable()
        with open(args.profile, "w") as out:
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(40)
    emu_cpu = sum(emu.cpu_times()[:2]) - emu_cpu0
    sampler.cancel()
    await asyncio.sleep(2.0)
    blocked = sum(len(rt.stack.q931.blocked) for rt in driver.spans.values())
    left = sum(len(rt.stack.q931.busy) for rt in driver.spans.values())
    slips = media.health().counters
    gauges = media.health().gauges
    frames = media._frames.figures()
    udp.sample()
    card_lost = sum([(await card.span_status(n)).counters.bearer_lost for n in driver.spans])
    bearer_port = card._sock.getsockname()[1] if card._sock is not None else 0
    drops = udp.by_port({"box_rtp": range(30000, 32000), "reflector": range(reflector_port, reflector_port + 1),
                         "box_bearer": range(bearer_port, bearer_port + 1),
                         "emulator_bearer": range(info["bearer_port"], info["bearer_port"] + 1)})
    await driver.stop()
    await media.stop()
    far.join(10)
    proc.terminate()
    await proc.wait()
    channels = 30 * args.spans
    busy = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    steady = sorted(in_use[int(len(in_use) * 0.2):] or [0])
    figures = {
        "spans": args.spans, "channels": channels,
        "concurrent_calls": max(in_use or [0]),
        "concurrent_median": steady[len(steady) // 2],
        "setups_per_s": round(result["placed"] / args.seconds, 2),
        "failed": result["failed"] + failed,
        "frame_loss_pct": round(100.0 * result["lost"] / max(1, result["expected"]), 4),
        "cpu_per_channel_pct": round(100.0 * busy / (t1 - t0) / channels, 3),
        "blocked": blocked, "left_in_use": left,
    }
    print(f"placed {result['placed']} calls in {args.seconds:.0f} s; frames checked {result['expected']}, "
          f"lost {result['lost']}; reflected RTP packets {result['reflected']}; abnormal causes {result['causes']}")
    print(f"far end (exchange and SIP phones) CPU {100.0 * result['far_cpu_s'] / (t1 - t0):.1f} %, emulator CPU "
          f"{100.0 * emu_cpu / (t1 - t0):.1f} % of one core; load average {psutil.getloadavg()[0]:.1f}")
    print(f"box CPU {100.0 * busy / (t1 - t0):.1f} % of one core; media counters: "
          f"{ {k: v for k, v in slips.items() if 'slip' in k or 'late' in k or 'skipped' in k} }, "
          f"longest tick {gauges['tick_max_ms']} ms")
    print("where frames go missing, in path order:")
    print(f"  far -> card 2 (far end's answers late for their slot): {result['far_card_bearer_lost']}; "
          f"far end's ticks late {result['far_ticks']}")
    print(f"  card 1 -> box: box's bearer ticks late {arrivals.figures()}; UDP drops {drops}")
    print(f"  box frame port, line -> RTP: rx dropped {frames['rx_dropped']}, concealed {frames['rx_concealed']} "
          f"(relayed {frames['relayed']} of {frames['pushed']} pushed)")
    print(f"  RTP -> box jitter buffers: {dict(jitter)}")
    print(f"  box frame port, RTP -> line: tx dropped {frames['tx_dropped']}, concealed {frames['tx_concealed']}")
    print(f"  box -> card 1 (box's answers late for their slot): {card_lost}")
    print(f"  lost-run lengths at the far end (length: runs): {dict(sorted(result['runs'].items())[:12])}")
    print(f"  box GC: {gc_pauses.figures()}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--profile", help="write the box loop's cProfile figures (by own time) to this file")
    args = parser.parse_args()
    if os.environ.get("PRI_BENCH_RT") and hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))  # (inherited by the emulator and far end)
    with contextlib.suppress(ImportError):
        import uvloop
        uvloop.install()
    figures = asyncio.run(box(args))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
