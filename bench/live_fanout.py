"""Live fan-out: the event stream and the wallboard of a large centre at a busy rate, beside 200 relayed calls.

The real appliance (`appliance run`, started through `bench/live_box.py`, which adds a control port that only
a box started for the bench has) is configured with `--agents` agents (staff, in 20 work groups) spread
evenly over `--queues` queues, all logged in through the API. Then, for `--seconds`:

- events: `--rate` public events a second from a simulated centre inside the box process (`live_box.CentreSim`:
  the contract's own event classes published on the box's bus, not driven through real calls — see there why):
  agent state changes, calls entering and leaving the IVR, queued, offered, ringing, answered, completed and
  abandoned across every queue, and pauses;
- `--clients` WebSocket clients (asyncio, in a process of their own) follow `/api/v1/events` with the
  wallboard's topics. Each frame's delivery latency is its receipt time less the event's `at` (the same clock:
  one machine). A client told `stream.dropped` reads the snapshot again (`GET /api/v1/wallboard`), as a board
  does. Every event published in the window is counted per client: one not received must have been announced
  in a `stream.dropped` (`unannounced_loss` counts those that were not: a client fallen behind unawares);
- one Chromium page (Debian's, through Playwright) shows `/live/wallboard`; a MutationObserver notes when each
  agent tile's state changes, with the page's clock, whose offset from this process's clock is measured and
  taken off; each agent state event is matched to the first change of its tile to that state after it
  (`page_event_to_dom_*`; a change that two events make within one frame shows only the second: `unmatched`);
- the relay: `--calls` two-party G.711 calls relayed by the box's own media engine (in the same event loop as
  the stream), loaded and measured by `bench/media_relay.py`'s generator and `run_step`; first
  `--baseline-seconds` without events, then for the whole window.

Goals (issue 14): delivery p99 <= 50 ms, page p95 <= 250 ms, relay loss <= 0.1 %.

    .venv/bin/python bench/live_fanout.py --seconds 60          # the issue's run
    .venv/bin/python bench/live_fanout.py --seconds 10 --baseline-seconds 0    # a quick try

The last line is one JSON object: agents, queues, events_per_s, ws_clients, deliver_p50_ms, deliver_p99_ms,
page_event_to_dom_p95_ms, relay_loss_pct, and the counts behind them (events: "simulated in the box"), with
the box's own view of its event loop over the events: how late it ran a 5 ms timer (`box_loop_lag_*`) and the
garbage collector's passes and pauses (`box_gc_*`).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.live_box import CONTROL_PORT_ENV  # noqa: E402
from bench.media_relay import _schedstat, build_generator, raise_fd_limit, run_step  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.e2e.harness import ADMIN_PASSWORD, RunningAppliance  # noqa: E402
from tests.web.conftest import CHROMIUM_ARGS, _real_chromium  # noqa: E402

TOPICS = "acd.*,calls.ringing,ivr.started,ivr.ended,records.call_completed"  # the wallboard's (wallboard.js)
GROUPS = 20


# ------------------------------------------------------------------------------------------ the box

def launch(work: Path, control_port: int) -> RunningAppliance:
    """`appliance run` with the bench hook (bench/live_box.py), set up with the admin password and signed in."""
    data, log = work / "data", work / "appliance.log"
    http_port, https_port, sip_port = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.live_box", "run", "--data-dir", str(data), "--http-port", str(http_port),
         "--https-port", str(https_port), "--sip-port", str(sip_port), "--rtp-ports", "40000-49999",
         "--rtp-timeout", "3600", "--snmp-port", "0"],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), CONTROL_PORT_ENV: str(control_port)})
    assert proc.stdout is not None
    token = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"the appliance did not start:\n{log.read_text()[-3000:]}")
        if "setup token" in line:
            token = proc.stdout.readline().strip()
        if "demo info" in line:
            break
    box = RunningAppliance(data, work, http_port, sip_port, proc, log=log, https_port=https_port)
    assert box.api("POST", "/api/v1/setup", {"token": token, "password": ADMIN_PASSWORD})[0] == 200
    status, session = box.api("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert status == 200, session
    box.token = session["token"]
    return box


def configure(box: RunningAppliance, agents: int, queues: int) -> dict[str, list[str]]:
    """The agents (in work groups) and queues in one configuration import; every agent logged in."""
    status, doc = box.api("GET", "/api/v1/config/export")
    assert status == 200, doc
    ents = doc["entities"]
    ents["departments"] += [{"id": f"dept{d}", "name": f"Department {d}"} for d in range(4)]
    ents["work_groups"] += [{"id": f"wg{g:02d}", "name": f"Group {g}", "department": f"dept{g % 4}"}
                            for g in range(GROUPS)]
    ids = [str(200000 + i) for i in range(agents)]
    # an agent logs in at a phone (its extension); none of them registers: no call rings them here
    ents["extensions"] += [{"number": str(70000 + i), "name": f"Desk {i}"} for i in range(agents)]
    ents["staff"] += [{"employee_no": a, "name": f"坐席 {i}", "role": "agent", "work_group": f"wg{i % GROUPS:02d}",
                       "department": f"dept{i % GROUPS % 4}", "extension": str(70000 + i)}
                      for i, a in enumerate(ids)]
    members = {f"q{q:03d}": ids[q::queues] for q in range(queues)}
    ents["queues"] += [{"id": q, "name": f"Queue {q}", "members": m} for q, m in members.items()]
    status, result = box.api("POST", "/api/v1/config/import", doc)
    assert status == 200, str(result)[:2000]

    def login(agent: str) -> None:
        status, body = box.api("POST", f"/api/v1/agents/{agent}/login", {})
        assert status == 200, (agent, body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(login, ids))
    return members


class ControlLink:
    """The box's bench control port, as a `multiprocessing` connection's send/recv (what `run_step` uses)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.file = self.sock.makefile("rwb")

    def send(self, cmd: dict[str, Any]) -> None:
        self.file.write(json.dumps(cmd).encode() + b"\n")
        self.file.flush()

    def recv(self) -> Any:
        return json.loads(self.file.readline())

    def call(self, cmd: dict[str, Any]) -> Any:
        self.send(cmd)
        return self.recv()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


# ------------------------------------------------------------------------------------------ WebSocket clients

class WsClient(asyncio.Protocol):
    """One follower of the stream: a plain RFC 6455 client that parses frames itself (a full client library
    costs tens of microseconds a frame, and 200 of them at 300 events/s would make this process, not the box,
    the bottleneck). Per text frame it keeps the receipt time and the event's `at` (read from the JSON the box
    sends with `json.dumps`' default separators; the first frames are parsed in full and checked)."""

    def __init__(self, n: int, host: str, port: int, token: str, state: dict[str, Any]) -> None:
        self.n, self.host, self.port, self.token, self.state = n, host, port, token, state
        self.buf = bytearray()
        self.open = False
        self.opened: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.ats = array.array("d")
        self.recv_at = array.array("d")
        self.dropped = 0  # events the server said it dropped for this client
        self.notices = 0  # stream.dropped frames
        self.resyncs = 0
        self.resync_failures = 0
        self.checked = 0
        self.closed = False
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # (uvloop's transports are not asyncio.Transport subclasses)
        key = base64.b64encode(os.urandom(16)).decode()
        # batch=1, as the box's own pages ask: the events that came together in one frame
        self.transport.write((f"GET /api/v1/events?batch=1&topics={TOPICS} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                         f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                         f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {self.token}\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_result(False)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = buf.startswith(b"HTTP/1.1 101")
            del buf[:end + 4]
            self.open = True
            self.opened.set_result(ok)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head:pos + head + length])
            pos += head + length
            opcode = b0 & 0x0F
            if opcode == 1:
                self.text(payload, now)
            elif opcode == 9:  # ping: a pong with the same payload, masked as a client must
                mask = os.urandom(4)
                body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
                assert self.transport is not None
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + body)
            elif opcode == 8:
                self.closed = True
        del buf[:pos]

    def text(self, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"topic": "stream.dropped"'):
            self.notices += 1
            self.dropped += int(json.loads(payload)["dropped"])
            self.state["tasks"].add(task := asyncio.ensure_future(self.resync()))
            task.add_done_callback(self.state["tasks"].discard)
            return
        if self.checked < 20:  # the first frames in full: a list of events in the contract's shape
            frame = json.loads(payload)
            for data in frame if isinstance(frame, list) else [frame]:
                assert {"topic", "v", "at"} <= data.keys(), data
            self.checked += 1
        if not self.state["measuring"]:
            return
        i = payload.find(b'"at": ')
        while i >= 0:  # each event's own time (a batch frame holds several)
            j = k = i + 6
            while payload[k] in b"0123456789.e+-":
                k += 1
            self.ats.append(float(payload[j:k]))
            self.recv_at.append(now)
            i = payload.find(b'"at": ', k)

    async def resync(self) -> None:
        """What a board does after `stream.dropped`: read the snapshot again."""
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write((f"GET /api/v1/wallboard HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"Authorization: Bearer {self.token}\r\nConnection: close\r\n\r\n").encode())
            ok = (await reader.read()).startswith(b"HTTP/1.1 200")
            writer.close()
        except OSError:
            ok = False
        if ok:
            self.resyncs += 1
        else:
            self.resync_failures += 1


def clients_main(conn: Connection, port: int, token: str, count: int) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_clients(conn, port, token, count))


async def _clients(conn: Connection, port: int, token: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {"measuring": False, "tasks": set()}
    clients = []
    for n in range(count):
        _, client = await loop.create_connection(partial(WsClient, n, "127.0.0.1", port, token, state),
                                                 "127.0.0.1", port)
        assert await client.opened, f"client {n}: the upgrade was refused"
        clients.append(client)
    conn.send({"connected": len(clients)})
    await loop.run_in_executor(None, conn.recv)  # start
    cpu0 = psutil.Process().cpu_times()
    t0 = time.monotonic()
    state["measuring"] = True
    started, ended = await loop.run_in_executor(None, conn.recv)  # the window, once the box has published it
    # what the box still holds for a client that fell behind arrives late, not never: wait until every
    # client has been quiet for a second (at most 60 s), so late is told apart from lost
    quiet_since, last = time.monotonic(), -1
    while time.monotonic() - quiet_since < 1.0 and time.monotonic() - t0 < elapsed_limit(started, ended):
        await asyncio.sleep(0.2)
        total = sum(len(c.ats) for c in clients)
        if total != last:
            quiet_since, last = time.monotonic(), total
    state["measuring"] = False
    cpu1 = psutil.Process().cpu_times()
    elapsed = time.monotonic() - t0
    lat: list[float] = []
    per_client = []
    for c in clients:
        got = 0
        worst = 0.0
        for at, rx in zip(c.ats, c.recv_at, strict=True):
            if started <= at <= ended:
                got += 1
                ms = (rx - at) * 1000
                lat.append(ms)
                worst = max(worst, ms)
        per_client.append({"received": got, "dropped": c.dropped, "notices": c.notices, "resyncs": c.resyncs,
                           "resync_failures": c.resync_failures,
                           "closed": c.closed, "max_ms": round(worst, 1)})
        if c.transport is not None:
            c.transport.close()
    lat.sort()
    conn.send({"latencies": _percentiles(lat), "clients": per_client,
               "client_cpu_pct": round(100 * (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / elapsed, 1)})


def elapsed_limit(started: float, ended: float) -> float:
    return ended - started + 60.0


def _percentiles(ordered: list[float]) -> dict[str, float]:
    if not ordered:
        return {"count": 0}

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {"count": len(ordered), "p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "max": round(ordered[-1], 2)}


def loop_figures(raw: dict[str, Any]) -> dict[str, Any]:
    """The box's loop lateness and collector pauses (bench/live_box.py's LoopLag), summed up."""
    lags = _percentiles(raw["lags_ms"])
    gen2 = [d for g, d in raw["gc_ms"] if g == 2]
    return {"loop_lag_p99_ms": lags.get("p99"), "loop_lag_max_ms": lags.get("max"),
            "loop_lags_over_50_ms": sum(1 for x in raw["lags_ms"] if x > 50),
            "gc_collections": len(raw["gc_ms"]), "gc_gen2": len(gen2),
            "gc_pause_max_ms": round(max((d for _, d in raw["gc_ms"]), default=0.0), 2),
            "gc_gen2_pause_max_ms": round(max(gen2, default=0.0), 2),
            "gc_tracked_objects": raw["gc_tracked_objects"]}


# ------------------------------------------------------------------------------------------ the page

OBSERVER = """() => {
  window.benchSeen = [];
  new MutationObserver((list) => {
    const t = (performance.timeOrigin + performance.now()) / 1000;
    for (const m of list) {
      const tile = m.target;
      if (tile.dataset && tile.dataset.agent) window.benchSeen.push([tile.dataset.agent, tile.dataset.state, t]);
    }
  }).observe(document.getElementById('wb-agents'), {subtree: true, attributes: true, attributeFilter: ['data-state']});
}"""


# Notes when the page's own WebSocket receives each agent state event (before the page's handler runs: this
# listener is added first), so the page's time from receipt to the tile is told apart from the delivery's.
RECEIPTS = """(() => {
  const Native = window.WebSocket;
  window.benchRecv = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (m) => {
        if (typeof m.data !== 'string' || !m.data.includes('acd.agent_state_changed')) return;
        const t = (performance.timeOrigin + performance.now()) / 1000;
        const frame = JSON.parse(m.data);  // a batch frame: the events that came together
        for (const e of Array.isArray(frame) ? frame : [frame]) {
          if (e.topic === 'acd.agent_state_changed') window.benchRecv.push([e.agent_id, e.new, e.at, t]);
        }
      });
    }
  };
})();"""


def page_clock_offset(page: Any) -> tuple[float, float]:
    """The page's clock less this process's, from the tightest of a few round trips; and that round trip."""
    best = (0.0, float("inf"))
    for _ in range(7):
        t0 = time.time()
        p = float(page.evaluate("(performance.timeOrigin + performance.now()) / 1000"))
        t1 = time.time()
        if t1 - t0 < best[1]:
            best = (p - (t0 + t1) / 2, t1 - t0)
    return best


def match_page(state_log: list[list[Any]], seen: list[list[Any]], offset: float
               ) -> tuple[list[float], int, list[tuple[tuple[str, str, float], float]]]:
    """Per agent state event, the first change of its tile to that state at or after it (page times with the
    offset taken off) and before the agent's next change to the same state; returns the latencies (ms) and
    how many events matched no change within 10 s."""
    shown: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for agent, state, t in seen:
        shown[agent].append((float(t) - offset, str(state)))
    per_agent: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for agent, state, at in state_log:
        per_agent[agent].append((float(at), str(state)))
    latencies: list[float] = []
    matched: list[tuple[tuple[str, str, float], float]] = []
    unmatched = 0
    for agent, events in per_agent.items():
        changes = shown.get(agent, [])
        for k, (at, state) in enumerate(events):
            later = next((a for a, s in events[k + 1:] if s == state), float("inf"))
            hit = next((t for t, s in changes if s == state and at - 0.002 <= t < min(later, at + 10.0)), None)
            if hit is None:
                unmatched += 1
            else:
                latencies.append((hit - at) * 1000)
                matched.append(((agent, state, at), (hit - at) * 1000))
    return sorted(latencies), unmatched, matched


# ------------------------------------------------------------------------------------------ the run

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--rate", type=float, default=300.0, help="public events a second")
    parser.add_argument("--clients", type=int, default=200, help="WebSocket clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=15.0, help="events before the window, not measured")
    parser.add_argument("--calls", type=int, default=200, help="relayed calls beside it (0: none)")
    parser.add_argument("--profile", action="store_true",
                        help="profile the box's event loop over the events (cProfile: slows it) and print the top")
    parser.add_argument("--baseline-seconds", type=float, default=10.0, help="the relay alone first (0: skip)")
    args = parser.parse_args()
    raise_fd_limit()
    load_start = os.getloadavg()
    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {uptime_start}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="live-fanout-"))
    control_port = free_port()
    box = launch(work, control_port)
    build_dir = tempfile.TemporaryDirectory()
    ctx = mp.get_context("spawn")
    clients_proc = None
    try:
        started = time.perf_counter()
        members = configure(box, args.agents, args.queues)
        print(f"configured {args.agents} agents (logged in) in {args.queues} queues in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        generator = build_generator(Path(build_dir.name)) if args.calls else None
        parent, child = ctx.Pipe()
        clients_proc = ctx.Process(target=clients_main, args=(child, box.http_port, box.token, args.clients),
                                   daemon=True)
        clients_proc.start()
        print(f"{parent.recv()['connected']} WebSocket clients connected", flush=True)
        result = run_window(args, box, control_port, members, generator, parent)
    finally:
        if clients_proc is not None:
            clients_proc.join(10)
            if clients_proc.is_alive():
                clients_proc.terminate()
        box.stop()
        build_dir.cleanup()
    result["load_average_start"] = [round(x, 2) for x in load_start]
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"machine: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", flush=True)
    print(json.dumps(result))
    return 0


def run_window(args: argparse.Namespace, box: RunningAppliance, control_port: int, members: dict[str, list[str]],
               generator: Path | None, clients: Connection) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{box.http_port}"
    control = ControlLink(control_port)
    box_proc = psutil.Process(box.proc.pid)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_real_chromium(), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base, locale="zh-CN", viewport={"width": 1920, "height": 1080})
        context.add_cookies([{"name": "appliance_session", "value": box.token, "url": base}])
        context.add_init_script(RECEIPTS)
        page = context.new_page()
        snapshots = []
        page.on("request", lambda r: snapshots.append(r.url) if "/api/v1/wallboard" in r.url else None)
        page.goto("/live/wallboard")
        page.wait_for_selector("#wallboard[data-state=live]", timeout=60000)
        tiles = page.locator("#wb-agents li").count()
        print(f"wallboard live with {tiles} agent tiles", flush=True)
        page.evaluate(OBSERVER)
        offset, round_trip = page_clock_offset(page)

        baseline = None
        if generator is not None and args.baseline_seconds > 0:
            link = ControlLink(control_port)
            baseline = run_step(link, box.proc.pid, generator, args.calls, args.baseline_seconds, 1)  # type: ignore[arg-type]
            link.close()
            print(f"relay alone: {args.calls} calls, loss {baseline.loss_pct:.3f} %, "
                  f"jitter p99 {baseline.jitter_p99_ms} ms, box CPU {baseline.engine_cpu_pct} %", flush=True)
        relay: list[Any] = []
        relay_thread = None
        if generator is not None:
            def relay_run() -> None:
                link = ControlLink(control_port)
                relay.append(run_step(link, box.proc.pid, generator, args.calls, args.warmup + args.seconds, 2))  # type: ignore[arg-type]
                link.close()

            relay_thread = threading.Thread(target=relay_run)
            relay_thread.start()
            time.sleep(1.0)  # the generator's warm-up (0.5 s), so the window lies inside the relay's
        pages_before = len(snapshots)
        clients.send("start")
        cpu0 = box_proc.cpu_times()
        sched0 = _schedstat(box.proc.pid)
        t0 = time.monotonic()
        assert control.call({"op": "simulate", "rate": args.rate, "warmup": args.warmup, "seconds": args.seconds,
                             "queues": members, "seed": 14})["started"]
        control.call({"op": "lag_start"})
        if args.profile:
            control.call({"op": "profile_start"})
        sim = control.call({"op": "simulation"})
        lag = loop_figures(control.call({"op": "lag_stop"}))
        if args.profile:
            print(control.call({"op": "profile_stop"})["profile"], flush=True)
        time.sleep(2.0)  # what is still on its way
        clients.send((sim["started"], sim["ended"]))
        ws = clients.recv()  # once every client has been quiet for a second
        box_cpu = box_proc.cpu_times()
        sched1 = _schedstat(box.proc.pid)
        spent = time.monotonic() - t0
        box_cpu_s = box_cpu.user - cpu0.user + box_cpu.system - cpu0.system
        box_cpu_pct = 100 * box_cpu_s / spent
        box_wait_pct = 100 * (sched1[1] - sched0[1]) / 1e9 / spent  # runnable, but waiting for a CPU
        seen = page.evaluate("window.benchSeen")
        receipts = page.evaluate("window.benchRecv")
        connects = page.locator("#wallboard").get_attribute("data-connects")
        page_resyncs = len(snapshots) - pages_before
        browser.close()
    if relay_thread is not None:
        relay_thread.join()
    control.call({"op": "release"})
    control.close()

    window = sim["ended"] - sim["started"]
    published = sim["published"]
    in_window = len(sim["state_log"])
    page_lat, unmatched, matched = match_page(sim["state_log"], seen, offset)
    page_stats = _percentiles(page_lat)
    # the page's part: from its WebSocket's receipt to the tile, per matched event (page clock only); and the
    # delivery to the page (receipt less `at`, offset taken off)
    received = {(a, s, round(float(at), 3)): float(t) for a, s, at, t in receipts}
    page_recv = sorted((t - offset - float(at)) * 1000 for a, s, at, t in receipts
                       if sim["started"] <= float(at) <= sim["ended"])
    page_own = sorted(ms - (received[(a, s, round(float(at), 3))] - offset - float(at)) * 1000
                      for (a, s, at), ms in matched if (a, s, round(float(at), 3)) in received)
    per_client = ws["clients"]
    unannounced = [max(0, published - c["received"] - c["dropped"]) for c in per_client]
    r = relay[0] if relay else None
    print(f"published {published} events in {window:.1f} s ({published / window:.0f}/s): "
          f"{json.dumps(sim['by_topic'])}", flush=True)
    print(f"delivery to {len(per_client)} clients: {ws['latencies']}; clients' CPU {ws['client_cpu_pct']} %; "
          f"box CPU {box_cpu_pct:.0f} % (waited for a CPU {box_wait_pct:.0f} %)", flush=True)
    print(f"dropped per client: max {max(c['dropped'] for c in per_client)}, notices "
          f"{sum(c['notices'] for c in per_client)}, re-syncs {sum(c['resyncs'] for c in per_client)}, "
          f"unannounced loss {sum(unannounced)}", flush=True)
    print(f"page: {len(seen)} tile changes seen, {in_window} state events, matched {page_stats.get('count', 0)} "
          f"({unmatched} not), event-to-DOM {page_stats}; clock offset {offset * 1000:.2f} ms "
          f"(round trip {round_trip * 1000:.1f} ms); page re-syncs {page_resyncs}, connects {connects}", flush=True)
    print(f"page: delivery to its WebSocket {_percentiles(page_recv)}; its own receipt-to-DOM "
          f"{_percentiles(sorted(page_own))}", flush=True)
    if r is not None:
        print(f"relay during: {r.calls} calls, loss {r.loss_pct:.3f} %, jitter p99 {r.jitter_p99_ms} ms, "
              f"late ticks {r.ticks_late}, box waited for a CPU {r.engine_wait_pct} %", flush=True)
    print(f"the box's event loop (a 5 ms timer's lateness; the collector's pauses): {json.dumps(lag)}", flush=True)
    lat = ws["latencies"]
    return {
        "agents": args.agents, "queues": args.queues, "events": "simulated in the box (bench hook)",
        "events_per_s": round(published / window, 1), "events_published": published, "seconds": round(window, 1),
        "ws_clients": len(per_client),
        "deliver_p50_ms": lat.get("p50"), "deliver_p95_ms": lat.get("p95"), "deliver_p99_ms": lat.get("p99"),
        "deliver_max_ms": lat.get("max"), "deliveries": lat.get("count", 0),
        "clients_dropped_max": max(c["dropped"] for c in per_client),
        "clients_with_drops": sum(1 for c in per_client if c["dropped"]),
        "stream_dropped_notices": sum(c["notices"] for c in per_client),
        "client_resyncs": sum(c["resyncs"] for c in per_client),
        "client_resync_failures": sum(c["resync_failures"] for c in per_client),
        "unannounced_loss": sum(unannounced),
        "clients_closed": sum(1 for c in per_client if c["closed"]),
        "page_event_to_dom_p50_ms": page_stats.get("p50"), "page_event_to_dom_p95_ms": page_stats.get("p95"),
        "page_event_to_dom_max_ms": page_stats.get("max"), "page_matched": page_stats.get("count", 0),
        "page_unmatched": unmatched,
        "page_deliver_p95_ms": _percentiles(page_recv).get("p95"),
        "page_receipt_to_dom_p95_ms": _percentiles(sorted(page_own)).get("p95"), "page_clock_offset_ms": round(offset * 1000, 2), "page_resyncs": page_resyncs,
        "relay_calls": r.calls if r else 0, "relay_loss_pct": r.loss_pct if r else None,
        "relay_jitter_p99_ms": r.jitter_p99_ms if r else None,
        "relay_baseline_loss_pct": baseline.loss_pct if baseline else None,
        "box_cpu_pct": round(box_cpu_pct, 1), "box_waited_for_cpu_pct": round(box_wait_pct, 1),
        # the box's CPU from the start of the events until the last frame, per frame sent in the window (the
        # warm-up's, the simulation's and the relay's share included: an upper bound)
        "box_cpu_us_per_frame": round(1e6 * box_cpu_s / max(1, lat.get("count", 0)), 1),
        "client_cpu_pct": ws["client_cpu_pct"],
        "page_tile_changes": len(seen),
        **{f"box_{k}": v for k, v in lag.items()},
    }


if __name__ == "__main__":
    sys.exit(main())
