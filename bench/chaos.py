"""Chaos: `appliance run` killed with SIGKILL under load, and started again on the same data directory.

Customers call the demo access number 8000 through a PSTN trunk (SIPp), press 1, wait in the sales queue and
talk to an agent (SIPp answering for every agent phone), about `--concurrent` calls at a time. At a random
moment the box gets SIGKILL; it is started again on the same data directory, and checked before new load:

- `lost_cdrs`: calls SIPp saw complete (its own message trace: the 200 to the caller's BYE, by the caller
  number, unique per call) with no CDR of that caller in the records API after the restarts; beside it,
  `reached_box_without_cdr` counts the calls the box answered anything at all (in progress at a kill, say)
  that have no CDR;
- `stuck_agents`: agents the API shows on a call or ringing right after a restart, when the box has no call
  at all, and agents not idle once the last round's calls have drained;
- `unrepaired_recordings`: WAV files under the data directory's `recordings/` that Python's `wave` module
  does not read as 8 kHz stereo with the header's length matching the file's, or that no CDR of the API
  names, or (for the calls cut off by a kill) that the recordings API does not serve as such a WAV.
The phones register once, before the first kill: every later call reaching an agent uses the registrations
the box kept. Agents log in again from the API after each restart (the default `agents_after_restart`).

    .venv/bin/python bench/chaos.py                   # 10 kills, 100 concurrent calls
    .venv/bin/python bench/chaos.py --kills 2 --concurrent 30 --agents 30    # a quick run

Last line: one JSON object with `kills`, `lost_cdrs`, `stuck_agents`, `unrepaired_recordings`, `restart_s`
(the slowest start after a kill until the API answers a login) and the counts behind them.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e_load import configure, counters, sipp  # noqa: E402
from tests.conftest import free_port, free_rtp_port  # noqa: E402
from tests.e2e.harness import (  # noqa: E402
    ADMIN_PASSWORD,
    MEDIA_FIXTURES,
    RunningAppliance,
    fill_scenario,
    start_appliance,
)

SCENARIOS = Path(__file__).parent / "scenarios"
PCAP = MEDIA_FIXTURES / "g711a.pcap"
RTP_PORTS = ("--rtp-ports", "40000-49999")
CALLER_FIELD = "138[call_number]"  # the caller number in the PSTN scenario's From


@dataclass
class Tally:
    completed: set[str] = field(default_factory=set)  # caller numbers SIPp saw complete
    reached: set[str] = field(default_factory=set)  # caller numbers the box answered anything
    placed: int = 0
    stuck_after_restart: int = 0
    restart_s: list[float] = field(default_factory=list)
    bad_recordings: set[str] = field(default_factory=set)
    interrupted_checked: int = 0


def callers_seen(trace: Path) -> tuple[set[str], set[str]]:
    """From SIPp's message trace (not the box's word), by caller number: the calls whose BYE got its 200
    (completed), and those the box answered anything at all (the box had them)."""
    done: set[str] = set()
    reached: set[str] = set()
    if not trace.exists():
        return done, reached
    for block in re.split(r"\n-{20,}[^\n]*\n", trace.read_text(errors="replace")):
        if "message received" not in block:
            continue
        lines = block.split("\n")
        status = next((line for line in lines if line.startswith("SIP/2.0 ")), None)
        cseq = re.search(r"^CSeq:\s*\d+\s+(\w+)", block, re.M | re.I)
        caller = re.search(r"^From:\s*<sip:([^@>]+)@", block, re.M | re.I)
        if status is None or caller is None:
            continue
        reached.add(caller.group(1))
        if status.startswith("SIP/2.0 200") and cseq and cseq.group(1).upper() == "BYE":
            done.add(caller.group(1))
    return done, reached


def all_cdrs(box: RunningAppliance) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        status, page = box.api("GET", f"/api/v1/cdr?callee=8000&limit=1000&offset={len(items)}")
        assert status == 200, page
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


def wav_ok(data: bytes) -> bool:
    """Read by the standard library as the box's format, with the header's length the file's."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            return bool(w.getnchannels() == 2 and w.getframerate() == 8000 and w.getsampwidth() == 2
                    and 44 + w.getnframes() * 4 == len(data))
    except (EOFError, wave.Error):
        return False


def download(box: RunningAppliance, call_id: str) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{box.http_port}/api/v1/recordings/{call_id}",
                                 headers={"Authorization": f"Bearer {box.token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return bytes(r.read())


def check_after_restart(box: RunningAppliance, agents: list[str], tally: Tally) -> dict[str, int]:
    """Agents, recordings and CDRs as the restarted box shows them, before any new call."""
    _, calls = box.api("GET", "/api/v1/calls")
    _, states = box.api("GET", "/api/v1/agents")
    busy = [a["agent"] for a in states["items"] if a["agent"] in agents and a["state"] in ("on_call", "ringing")]
    stuck = len(busy) if int(calls["total"]) == 0 else max(0, len(busy) - int(calls["total"]))
    tally.stuck_after_restart += stuck
    cdrs = all_cdrs(box)
    named = {name for c in cdrs for name in c.get("recordings") or ([c["recording"]] if c.get("recording") else [])}
    for path in sorted((box.data / "recordings").glob("*/*.wav")):
        name = str(path.relative_to(box.data))
        if not wav_ok(path.read_bytes()) or name not in named:
            tally.bad_recordings.add(name)
    interrupted = [c for c in cdrs if c.get("disposition") == "interrupted"]
    for cdr in interrupted:
        if cdr.get("recording"):
            tally.interrupted_checked += 1
            if not wav_ok(download(box, cdr["call_id"])):
                tally.bad_recordings.add(cdr["recording"])
    return {"stuck": stuck, "cdrs": len(cdrs), "interrupted": len(interrupted)}


def restart(work: Path, tally: Tally) -> RunningAppliance:
    began = time.monotonic()
    box = start_appliance(work, *RTP_PORTS, set_up=False)
    status, session = box.api("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert status == 200, session
    box.token = session["token"]
    tally.restart_s.append(time.monotonic() - began)
    return box


def log_in(box: RunningAppliance, agents: list[str]) -> None:
    for agent in agents:
        status, body = box.api("POST", f"/api/v1/agents/{agent}/login", {})
        assert status == 200, body


def start_callers(box: RunningAppliance, work: Path, round_no: int, rate: float, hold_ms: int,
                  limit: int) -> tuple[subprocess.Popen[bytes], Path]:
    """The PSTN callers of one round, each with a caller number no other round uses; their message trace."""
    template = (SCENARIOS / "pstn_caller.xml").read_text().replace(CALLER_FIELD, f"139{round_no:02d}[call_number]")
    source = work / f"pstn_caller_round{round_no}.xml"
    source.write_text(template)
    scenario = fill_scenario(source, work, PCAP=PCAP, HOLD_MS=hold_ms)
    trace = work / f"callers-{round_no}.log"
    proc = subprocess.Popen(
        ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_rtp_port()),
         "-s", "8000", "-r", f"{rate:.2f}", "-l", str(limit), "-nostdin", "-trace_err", "-trace_msg",
         "-message_file", str(trace), "-timeout", "3600", f"127.0.0.1:{box.sip_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    return proc, trace


def stop(proc: subprocess.Popen[bytes], *, drain: bool = False) -> None:
    """SIPp places no new call after one SIGUSR1 and quits when its calls are over (`drain`), or at once,
    after writing its logs, on a second."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGUSR1)
        try:
            proc.wait(timeout=120 if drain else 1)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=100, help="calls in the box at once (target)")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--talk", type=float, default=20.0, help="seconds a caller stays after pressing 1")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    rng = random.Random(seed)
    print(f"seed {seed}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    tally = Tally()
    box = start_appliance(work, *RTP_PORTS)
    agent_port = free_port()
    phones: subprocess.Popen[bytes] | None = None
    callers: subprocess.Popen[bytes] | None = None
    per_call = 1.5 + args.talk
    rate = args.concurrent / per_call
    rounds: list[dict[str, Any]] = []
    final_not_idle = 0
    try:
        agents = configure(box, args.agents)
        users = work / "agents.csv"
        users.write_text("SEQUENTIAL\n" + "".join(
            f"{a};[authentication username={a} password=pw-{a}]\n" for a in agents))
        register = fill_scenario(SCENARIOS / "register_many.xml", work, CONTACT_PORT=agent_port)
        reg = sipp(["-sf", str(register), "-inf", str(users), "-i", "127.0.0.1", "-p", str(agent_port),
                    "-m", str(len(agents)), "-r", "50", "-timeout", "60", f"127.0.0.1:{box.sip_port}"],
                   work, timeout=120)
        print(f"registered {counters(reg.stdout)[0]} agent phones (once, for every round)", flush=True)
        time.sleep(3)  # the registrar's bindings reach the disk every 2 s
        for round_no in range(1, args.kills + 2):  # the last round only drains, with no kill
            phones = subprocess.Popen(
                ["sipp", "-sf", str(fill_scenario(SCENARIOS / "agent_phones.xml", work, PCAP=PCAP)),
                 "-i", "127.0.0.1", "-p", str(agent_port), "-mp", str(free_rtp_port()), "-nostdin",
                 "-trace_err"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
            log_in(box, agents)
            callers, trace = start_callers(box, work, round_no, rate, int(args.talk * 1000), args.concurrent + 20)
            last = round_no == args.kills + 1
            wait = per_call * 1.5 if last else rng.uniform(0.5 * per_call, 2.5 * per_call)
            time.sleep(wait)
            _, active = box.api("GET", "/api/v1/calls")
            in_box = int(active["total"])
            if last:
                stop(callers, drain=True)  # no new calls; the ones in progress finish
                deadline = time.monotonic() + per_call + 60
                while time.monotonic() < deadline:
                    _, calls = box.api("GET", "/api/v1/calls")
                    _, states = box.api("GET", "/api/v1/agents")
                    final_not_idle = sum(1 for a in states["items"] if a["agent"] in agents and a["state"] != "idle")
                    if int(calls["total"]) == 0 and final_not_idle == 0:
                        break
                    time.sleep(1)
                time.sleep(2)
            else:
                box.proc.send_signal(signal.SIGKILL)
                box.proc.wait(timeout=10)
                stop(callers)
            stop(phones)
            callers = phones = None
            done, reached = callers_seen(trace)
            tally.completed |= done
            tally.reached |= reached
            tally.placed += len(set(re.findall(r"^From:\s*<sip:(139\d+)@", trace.read_text(errors="replace"),
                                               re.M)))
            if last:
                figures = check_after_restart(box, agents, tally)
                rounds.append({"round": round_no, "kill_after_s": None, "calls_in_box": in_box,
                               "completed": len(done), **figures})
                break
            box = restart(work, tally)
            figures = check_after_restart(box, agents, tally)
            rounds.append({"round": round_no, "kill_after_s": round(wait, 1), "calls_in_box": in_box,
                           "completed": len(done), "restart_s": round(tally.restart_s[-1], 2), **figures})
            print(json.dumps(rounds[-1]), flush=True)
        cdrs = all_cdrs(box)
        by_caller: dict[str, list[dict[str, Any]]] = {}
        for cdr in cdrs:
            by_caller.setdefault(str(cdr.get("caller", "")), []).append(cdr)
        lost = sorted(c for c in tally.completed if c not in by_caller)
        unrecorded = sorted(c for c in tally.reached if c not in by_caller)
        completed_interrupted = sum(1 for c in tally.completed
                                    if c in by_caller and all(x["disposition"] == "interrupted" for x in by_caller[c]))
        result: dict[str, Any] = {
            "kills": args.kills,
            "lost_cdrs": len(lost),
            "stuck_agents": tally.stuck_after_restart + final_not_idle,
            "unrepaired_recordings": len(tally.bad_recordings),
            "restart_s": round(max(tally.restart_s), 2) if tally.restart_s else None,
            "restart_median_s": round(statistics.median(tally.restart_s), 2) if tally.restart_s else None,
            "calls_placed": tally.placed,
            "calls_completed": len(tally.completed),
            "completed_marked_interrupted": completed_interrupted,
            "calls_reached_box": len(tally.reached),
            "reached_box_without_cdr": len(unrecorded),
            "cdrs": len(cdrs),
            "cdrs_interrupted": sum(1 for c in cdrs if c["disposition"] == "interrupted"),
            "interrupted_recording_downloads": tally.interrupted_checked,  # every restart checks all again
            "recordings": len(list((box.data / "recordings").glob("*/*.wav"))),
            "agents_not_idle_at_end": final_not_idle,
            "seed": seed,
        }
        if lost:
            print(f"completed calls with no CDR: {lost[:20]}", flush=True)
        if unrecorded:
            print(f"calls the box answered with no CDR: {unrecorded[:20]}", flush=True)
        if tally.bad_recordings:
            print(f"recordings not repaired or not listed: {sorted(tally.bad_recordings)[:20]}", flush=True)
        print(f"{args.kills} kills; {result['calls_placed']} calls placed, {result['calls_completed']} completed, "
              f"{result['cdrs']} CDRs ({result['cdrs_interrupted']} interrupted); {len(lost)} completed calls "
              f"without a CDR; {result['stuck_agents']} stuck agents; {result['unrepaired_recordings']} of "
              f"{result['recordings']} recordings unrepaired or unlisted; restart {result['restart_s']} s at most",
              flush=True)
        print(json.dumps(result))
    finally:
        for proc in (callers, phones):
            if proc is not None:
                stop(proc)
        if box.proc.poll() is None:
            box.stop()


if __name__ == "__main__":
    main()
