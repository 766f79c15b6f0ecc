"""The appliance as `bench/live_fanout.py` starts it: the real `appliance run` (`python -m bench.live_box run
...` takes the same arguments) with one bench-only hook added, a control port on loopback that exists only in
a box started this way. Through it the bench

- runs a synthetic contact centre inside the box process (`CentreSim`): well-formed public events (the
  contract's own dataclasses, `at` set when published, as call control and the ACD set it) on the box's own
  bus, so they reach the WebSocket stream and the wallboard exactly as real ones do. Driving 300 events/s
  through real calls would take about 25 new calls a second and 700 calls up at once on this machine, far
  more work than the fan-out being measured, so the calls here are simulated: agent state changes, calls
  entering the IVR, queued, offered, ringing, answered, completed or abandoned across the queues, and pauses;
- allocates and bridges RTP endpoints in the box's own media engine, in the same event loop as the stream,
  for the relay load of `bench/media_relay.py` (its `run_step` speaks to this port as it speaks to its own
  engine process: the `setup` and `stats` commands).

Commands are JSON lines; each gets one JSON line back. The port is taken from `LIVE_BENCH_CONTROL_PORT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import heapq
import io
import json
import os
import pstats
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.acd import events as acd
from appliance.calls import events as calls_events
from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.ivr import events as ivr
from appliance.records import events as records

CONTROL_PORT_ENV = "LIVE_BENCH_CONTROL_PORT"
PAUSE_REASONS = ("1", "2", "3", "4")  # the demo tenant's pause reason codes
TICK_S = 0.005  # how often the simulator publishes what has fallen due


@dataclass
class Agent:
    id: str
    queue: str
    state: str = "idle"
    reason: str = ""
    since: float = 0.0
    call: str = ""


@dataclass
class Call:
    id: str
    queue: str
    caller: str
    queued_at: float = 0.0
    agent: str = ""
    gone: bool = False


@dataclass
class CentreSim:
    """A contact centre of `agents` split evenly over `queues`, driven by a seeded random source. Callers
    arrive at a rate steered so the events published per second stay at `rate`: about 12 events per call
    (IVR in and out, queued, offered, the agent ringing, answered, on a call, wrap-up, the completion, idle
    again), 8 % abandon while waiting, 4 % leave in the IVR, and idle agents take pauses of a reason now and
    then. Every agent state change is logged (agent, new state, `at`) for the page's event-to-screen match."""

    bus: EventBus
    wall: Callable[[], float]
    agents: dict[str, Agent]
    queues: dict[str, list[str]]
    rate: float
    seed: int = 1
    published: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    state_log: list[tuple[str, str, float]] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    _heap: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _seq: int = 0
    _calls: int = 0
    _waiting: dict[str, list[Call]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rnd = random.Random(self.seed)

    # ------------------------------------------------------------------ scheduling

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, action))

    def publish(self, event: Event) -> None:
        self.published += 1
        self.by_topic[event.topic] = self.by_topic.get(event.topic, 0) + 1
        self.bus.publish(event)

    async def run(self, warmup: float, seconds: float) -> None:
        """`warmup` seconds for the centre to settle (not measured: the counts and the state log start after
        it), then `seconds` measured."""
        now = self.wall()
        end = now + warmup + seconds
        measure_from = now + warmup
        arrivals = self.rate / 12.0  # calls/s, steered below
        next_arrival = now
        window: list[tuple[float, int]] = []  # (time, events so far) once a second, for the steering
        next_steer = now + 1.0
        total = 0
        self._prefill(now)
        while now < end:
            if not self.started and now >= measure_from:
                self.started, total = now, total + self.published
                self.published, self.by_topic, self.state_log = 0, {}, []
            while next_arrival <= now:
                self._arrive(next_arrival)
                next_arrival += self.rnd.expovariate(arrivals)
            while self._heap and self._heap[0][0] <= now:
                _, _, action = heapq.heappop(self._heap)
                action()
            if now >= next_steer:
                window = [*window[-2:], (now, total + self.published)]
                if len(window) >= 2:
                    seen = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
                    arrivals = max(1.0, min(60.0, arrivals * min(1.5, max(0.7, self.rate / max(1.0, seen)))))
                next_steer = now + 1.0
            await asyncio.sleep(TICK_S)
            now = self.wall()
        self.ended = self.wall()

    # ------------------------------------------------------------------ the centre

    def _prefill(self, now: float) -> None:
        """Start mid-day: about half the agents are already on calls (their ends fall over the next 25 s,
        announced by the events when they happen), a few are paused, so the rate is steady from the start."""
        for agent in self.agents.values():
            roll = self.rnd.random()
            if roll < 0.5:
                call = self._new_call(agent.queue, now)
                call.agent, agent.call, agent.state, agent.since = agent.id, call.id, "on_call", now
                self.at(now + self.rnd.uniform(0.5, 25.0), partial(self._hang_up, agent, call))
            elif roll < 0.55:
                agent.state, agent.reason, agent.since = "paused", self.rnd.choice(PAUSE_REASONS), now
                self.at(now + self.rnd.uniform(1.0, 30.0), partial(self._unpause, agent))

    def _new_call(self, queue: str, now: float) -> Call:
        self._calls += 1
        return Call(f"bench-{self.seed}-{self._calls}", queue, f"1390000{self._calls % 10000:04d}", now)

    def _set_state(self, agent: Agent, new: str, reason: str = "", by: str = "") -> None:
        now = self.wall()
        self.publish(acd.AgentStateChanged(at=now, agent_id=agent.id, old=agent.state, new=new, reason=reason,
                                           since=agent.since, duration=round(now - agent.since, 3), by=by))
        agent.state, agent.reason, agent.since = new, reason, now
        self.state_log.append((agent.id, new, now))

    def _arrive(self, when: float) -> None:
        queue = self.rnd.choice(list(self.queues))
        call = self._new_call(queue, when)
        self.publish(ivr.IvrStarted(at=self.wall(), call_id=call.id, caller=call.caller, did="8000", flow="main",
                                    flow_version=1))
        self.at(when + self.rnd.uniform(2.0, 6.0), lambda: self._leave_ivr(call))

    def _leave_ivr(self, call: Call) -> None:
        now = self.wall()
        left = self.rnd.random() < 0.04
        self.publish(ivr.IvrEnded(
            at=now, call_id=call.id, caller=call.caller, did="8000", entry_flow="main", entry_flow_version=1,
            started_at=call.queued_at, duration=round(now - call.queued_at, 3),
            exit_reason="abandoned" if left else "queue", last_flow="main", last_node="menu",
            path=("start", "menu"), keys="" if left else "1", destination="" if left else call.queue))
        if left:
            return
        call.queued_at = now
        waiting = self._waiting.setdefault(call.queue, [])
        waiting.append(call)
        self.publish(acd.CallQueued(at=now, call_id=call.id, queue_id=call.queue, caller=call.caller, priority=0,
                                    vip_source="", position=len(waiting)))
        if self.rnd.random() < 0.08:
            self.at(now + self.rnd.uniform(3.0, 40.0), lambda: self._abandon(call))
        self._dispatch(call.queue)

    def _abandon(self, call: Call) -> None:
        if call.agent or call.gone:
            return
        call.gone = True
        self._waiting[call.queue].remove(call)
        now = self.wall()
        self.publish(acd.CallAbandoned(at=now, call_id=call.id, queue_id=call.queue,
                                       wait=round(now - call.queued_at, 3), while_ringing=False))

    def _dispatch(self, queue: str) -> None:
        """Offer the longest-waiting call of `queue` to an idle member, after a short think (the ACD's
        strategy and the IVR's prompt end are not instant)."""
        waiting = self._waiting.get(queue) or []
        idle = [a for a in self.queues[queue] if self.agents[a].state == "idle"]
        if not waiting or not idle:
            return
        call = waiting.pop(0)
        agent = self.agents[self.rnd.choice(idle)]
        call.agent, agent.call = agent.id, call.id
        now = self.wall()
        self.publish(acd.CallOffered(at=now, call_id=call.id, queue_id=queue, agent_ids=(agent.id,), attempt=1))
        self._set_state(agent, "ringing", by="system")
        self.publish(calls_events.CallRinging(at=self.wall(), call_id=call.id, role="agent", party=agent.id,
                                              agent=agent.id, caller=call.caller, caller_name="", queue=queue))
        self.at(now + self.rnd.uniform(1.0, 4.0), lambda: self._answer(agent, call))

    def _answer(self, agent: Agent, call: Call) -> None:
        now = self.wall()
        self.publish(acd.CallAnswered(at=now, call_id=call.id, queue_id=call.queue, agent_id=agent.id,
                                      wait=round(now - call.queued_at, 3), attempts=1))
        self._set_state(agent, "on_call", by="system")
        self.at(now + self.rnd.uniform(8.0, 30.0), lambda: self._hang_up(agent, call))

    def _hang_up(self, agent: Agent, call: Call) -> None:
        talk = round(self.wall() - agent.since, 3)
        self._set_state(agent, "wrap_up", by="system")
        self.publish(records.RecordsCallCompleted(at=self.wall(), call_id=call.id, queue=call.queue, agent=agent.id,
                                                  completed_by=self.rnd.choice(("complete_agent", "complete_caller")),
                                                  talk=talk, hold=0.0))
        agent.call = ""
        self.at(self.wall() + self.rnd.uniform(2.0, 6.0), lambda: self._wrap_up_done(agent))

    def _wrap_up_done(self, agent: Agent) -> None:
        if self.rnd.random() < 0.06:
            self._set_state(agent, "paused", reason=self.rnd.choice(PAUSE_REASONS))
            self.at(self.wall() + self.rnd.uniform(5.0, 30.0), lambda: self._unpause(agent))
            return
        self._set_state(agent, "idle", by="system")
        self._dispatch(agent.queue)

    def _unpause(self, agent: Agent) -> None:
        self._set_state(agent, "idle")
        self._dispatch(agent.queue)


class LoopLag:
    """The event loop's own lateness, seen from inside: a task that asks to sleep 5 ms and notes how much longer it
    took, and the pauses of the cyclic garbage collector (gc.callbacks), which stop the loop as a whole. The raw
    figures go back to the bench, which sums them up."""

    PERIOD = 0.005

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.gc: list[tuple[int, float]] = []
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.PERIOD)
            self.lags.append(loop.time() - before - self.PERIOD)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc.append((info["generation"], time.perf_counter() - self._gc_started))

    def stop(self) -> dict[str, Any]:
        gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
        return {"lags_ms": sorted(round(x * 1e3, 3) for x in self.lags),
                "gc_ms": [(generation, round(d * 1e3, 3)) for generation, d in self.gc],
                "gc_tracked_objects": len(gc.get_objects())}


@dataclass
class BenchHook:
    """The control port (see the module docstring), started after every other service of the box."""

    box: Any  # appliance.app.Appliance
    port: int
    name: str = "live_bench_hook"
    _server: asyncio.Server | None = None
    _sim: CentreSim | None = None
    _sim_task: asyncio.Task[None] | None = None
    _endpoints: list[str] = field(default_factory=list)
    _profile: cProfile.Profile | None = None
    _lag: LoopLag | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._sim_task is not None:
            self._sim_task.cancel()
            with contextlib.suppress(BaseException):
                await self._sim_task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def listening(self) -> list[str]:
        return [f"bench control 127.0.0.1:{self.port} (bench only)"]

    def health(self) -> Health:
        return Health.of(self.name, Status.OK, "bench only")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = await self._command(json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    async def _command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        media = self.box.telephony.media
        if op == "simulate":
            queues: dict[str, list[str]] = cmd["queues"]
            now = self.box.core.clock.wall()  # in their state since they were logged in, just before
            agents = {a: Agent(a, q, since=now) for q, members in queues.items() for a in members}
            self._sim = CentreSim(self.box.core.bus, self.box.core.clock.wall, agents, queues, float(cmd["rate"]),
                                  int(cmd.get("seed", 1)))
            self._sim_task = asyncio.ensure_future(self._sim.run(float(cmd["warmup"]), float(cmd["seconds"])))
            return {"started": True}
        if op == "simulation":
            sim = self._sim
            assert sim is not None and self._sim_task is not None
            await self._sim_task
            return {"published": sim.published, "started": sim.started, "ended": sim.ended,
                    "by_topic": sim.by_topic, "state_log": sim.state_log}
        if op == "setup":  # bench/media_relay.run_step's engine command: two-party relayed calls
            from appliance.media import RemoteMedia

            for ep in self._endpoints:
                media.release(ep)
            self._endpoints.clear()
            ports: list[int] = []
            gen_ports = cmd["ports"]
            for _ in range(cmd["groups"]):
                pair = []
                for _ in range(2):
                    local = await media.allocate(RemoteMedia(cmd["host"], gen_ports[len(ports) % len(gen_ports)], (8,)))
                    pair.append(local.endpoint_id)
                    ports.append(local.port)
                self._endpoints.extend(pair)
                media.bridge(*pair)
            return {"ports": ports}
        if op == "stats":
            h = media.health()
            return {"ticks_late": media.ticks_late, "srtp_auth_failures": h.counters.get("srtp_auth_failures", 0)}
        if op == "profile_start":  # the event loop's thread, where the stream, the bus and the relay run
            self._profile = cProfile.Profile()
            self._profile.enable()
            return {"profiling": True}
        if op == "profile_stop":
            assert self._profile is not None
            self._profile.disable()
            out = io.StringIO()
            pstats.Stats(self._profile, stream=out).sort_stats("tottime").print_stats(int(cmd.get("top", 30)))
            return {"profile": out.getvalue()}
        if op == "lag_start":  # how late the loop runs a 5 ms timer, and how long the collector holds it
            self._lag = LoopLag()
            self._lag.start()
            return {"measuring": True}
        if op == "lag_stop":
            assert self._lag is not None
            return self._lag.stop()
        if op == "release":
            for ep in self._endpoints:
                media.release(ep)
            self._endpoints.clear()
            return {"released": True}
        return {"error": f"unknown op {op}"}


def main() -> int:
    import appliance.app as app_module
    from appliance.cli import main as cli_main

    port = int(os.environ[CONTROL_PORT_ENV])
    create = app_module.create_appliance

    def with_hook(*args: Any, **kwargs: Any) -> Any:
        box = create(*args, **kwargs)
        box.services.append(BenchHook(box, port))
        return box

    app_module.create_appliance = with_hook  # the CLI imports it when `run` starts
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
