"""Soak test: hundreds of concurrent calls through IVR → queue → agents against `appliance run`.

Customers call the demo access number 8000 from the PSTN (SIPp through an IP-authenticated trunk), press 1
for sales, wait, talk to an agent (SIPp answering for every agent phone) and hang up. The box records every
call. Afterwards every CDR must be there, every agent idle, and the process must hold no more files or memory
than before the run (measured after a warm-up batch, when caches and pools are full).

    .venv/bin/python bench/e2e_load.py                      # 200 concurrent calls for 10 minutes
    .venv/bin/python bench/e2e_load.py --minutes 2 --concurrent 100 --agents 80   # a shorter run

Last line: one JSON object with `concurrent_calls`, `duration_s`, `lost_cdrs`, `rollup_mismatches` (the
reports' half-hour roll-ups, which the journal keeps as it writes, against the raw queue log), `stuck_agents`, `fd_growth`,
`rss_growth_mb`, `heap_blocks_growth` (memory blocks the interpreter holds, which unlike RSS fall again when
objects are freed) and the counts behind them. The figures are taken once the box is idle and past the 32 s
the SIP layer keeps ended dialogs, through the admin API's memory reclaim (a full garbage collection, free
heap pages handed back): the growth keys are what the box still holds after that, the `_raw` ones what it
showed just before it. The run is split in two halves with the figures read between them; the
`_second_half` keys compare the end with the middle (a leak grows in both halves).
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.security.passwords import sip_ha1  # noqa: E402
from tests.conftest import free_port, free_rtp_port  # noqa: E402
from tests.e2e.harness import MEDIA_FIXTURES, RunningAppliance, fill_scenario, start_appliance  # noqa: E402

SCENARIOS = Path(__file__).parent / "scenarios"
PCAP = MEDIA_FIXTURES / "g711a.pcap"
FIRST_AGENT = 3001


def configure(box: RunningAppliance, agents: int) -> list[str]:
    """Add the agents, a PSTN trunk and round-the-clock hours in one configuration import."""
    status, doc = box.api("GET", "/api/v1/config/export")
    assert status == 200, doc
    realm = doc["settings"].get("sip_realm", "appliance")
    entities = doc["entities"]
    ids = [str(FIRST_AGENT + i) for i in range(agents)]
    for agent in ids:
        entities["extensions"].append({"number": agent, "name": f"load {agent}",
                                       "ha1_md5": sip_ha1(agent, realm, f"pw-{agent}", "MD5"),
                                       "ha1_sha256": sip_ha1(agent, realm, f"pw-{agent}", "SHA-256")})
        entities["staff"].append({"employee_no": agent, "name": f"Agent {agent}", "role": "agent",
                                  "skills": [{"skill": "sales", "level": 5}], "extension": agent,
                                  "work_group": "sales-team", "department": "service"})
    for queue in entities["queues"]:
        if queue["id"] == "sales":
            queue.update(members=queue["members"] + ids, max_wait_s=900, max_wait_no_agent_s=900, max_length=5000,
                         wrap_up_s=2, announce_every_s=0, survey_flow=None)
    for schedule in entities["schedules"]:
        schedule.update(work_days=[1, 2, 3, 4, 5, 6, 7], work_hours=[{"start": "00:00", "end": "24:00"}])
    entities["trunks"].append({"id": "pstn", "name": "PSTN", "host": "127.0.0.1", "port": 5060,
                               "ip_auth_networks": ["127.0.0.1/32"]})
    status, result = box.api("POST", "/api/v1/config/import", doc)
    assert status == 200, result
    return ids


def sipp(args: list[str], work: Path, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sipp", *args, "-nostdin", "-trace_err"], capture_output=True, text=True, cwd=work,
                          timeout=timeout)


def counters(text: str) -> tuple[int, int]:
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    bad = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    return (int(ok[-1]) if ok else 0), (int(bad[-1]) if bad else 0)


def memory_figures(box: RunningAppliance) -> dict[str, dict[str, float]]:
    """The box's figures as they stand ("raw"), then after a full garbage collection with free heap pages
    handed back ("reclaimed"): what the appliance really holds, without the garbage that waits for the
    collector's next full pass or the pages the C allocator kept."""
    status, result = box.api("POST", "/api/v1/diagnostics/memory/reclaim", {})
    assert status == 200, result
    return {"raw": result["before"], "reclaimed": result["after"]}


def settle(box: RunningAppliance, agents: list[str]) -> tuple[int, int]:
    """Idle, and past the 32 s the SIP layer keeps ended dialogs for late retransmissions."""
    result = wait_idle(box, agents)
    time.sleep(35)
    return result


def wait_idle(box: RunningAppliance, agents: list[str], timeout: float = 120) -> tuple[int, int]:
    """Wait until no call is active and every agent is idle; returns (active calls, agents not idle)."""
    deadline = time.monotonic() + timeout
    active, stuck = -1, -1
    while time.monotonic() < deadline:
        _, calls = box.api("GET", "/api/v1/calls")
        _, states = box.api("GET", "/api/v1/agents")
        active = int(calls["total"])
        stuck = sum(1 for a in states["items"] if a["agent"] in agents and a["state"] != "idle")
        if active == 0 and stuck == 0:
            break
        time.sleep(1)
    return active, stuck


def run_callers(box: RunningAppliance, work: Path, calls: int, rate: float, hold_ms: int, limit: int,
                sample: list[int]) -> tuple[int, int]:
    path = fill_scenario(SCENARIOS / "pstn_caller.xml", work, PCAP=PCAP, HOLD_MS=hold_ms)
    proc = subprocess.Popen(
        ["sipp", "-sf", str(path), "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_rtp_port()),
         "-s", "8000", "-r", str(rate), "-m", str(calls), "-l", str(limit), "-nostdin", "-trace_err",
         "-timeout", str(int(calls / rate + hold_ms / 1000 + 300)), f"127.0.0.1:{box.sip_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
    while proc.poll() is None:
        status, active = box.api("GET", "/api/v1/calls")
        if status == 200:
            sample.append(int(active["total"]))
        time.sleep(2)
    out = proc.stdout.read() if proc.stdout else ""
    return counters(out)


def cdr_count(box: RunningAppliance, since: float) -> tuple[int, int]:
    with sqlite3.connect(f"file:{box.data / 'records.sqlite3'}?mode=ro", uri=True) as db:
        total = db.execute("SELECT count(*) FROM cdr WHERE callee = '8000' AND started >= ?", (since,)).fetchone()[0]
        answered = db.execute("SELECT count(*) FROM cdr WHERE callee = '8000' AND started >= ? AND "
                              "disposition = 'answered'", (since,)).fetchone()[0]
    return int(total), int(answered)


def rollup_mismatches(box: RunningAppliance) -> dict[str, int]:
    """The reports' roll-ups, kept by the journal's writer in each batch's transaction, against the raw queue log
    they were made from (the whole run's): each figure's difference, all 0 when the journal kept up."""
    with sqlite3.connect(f"file:{box.data / 'records.sqlite3'}?mode=ro", uri=True) as db:
        def one(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0] or 0)

        raw = {"queued": one("SELECT count(*) FROM queue_log WHERE event = 'queued'"),
               "answered": one("SELECT count(*) FROM queue_log WHERE event = 'answered'"),
               "completed": one("SELECT count(*) FROM queue_log WHERE event IN "
                                "('complete_agent', 'complete_caller', 'complete_system', 'transfer')"),
               "offered": one("SELECT count(*) FROM queue_log WHERE event = 'offered'")}
        rolled = {"queued": one("SELECT sum(queued) FROM report_queue_hh"),
                  "answered": one("SELECT sum(answered) FROM report_queue_hh"),
                  "completed": one("SELECT sum(completed) FROM report_queue_hh"),
                  "offered": one("SELECT sum(offered) FROM report_agent_hh")}
    print(f"roll-ups against the raw queue log: raw {raw}, rolled up {rolled}", flush=True)
    return {k: rolled[k] - raw[k] for k in raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrent", type=int, default=200, help="calls in the box at once (target)")
    parser.add_argument("--agents", type=int, default=160)
    parser.add_argument("--talk", type=float, default=25.0, help="seconds a caller stays after pressing 1")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="e2e-load-"))
    box = start_appliance(work, "--rtp-ports", "40000-49999")
    agent_port = free_port()
    phones: subprocess.Popen[bytes] | None = None
    try:
        agents = configure(box, args.agents)
        users = work / "agents.csv"
        users.write_text("SEQUENTIAL\n" + "".join(
            f"{a};[authentication username={a} password=pw-{a}]\n" for a in agents))
        register = fill_scenario(SCENARIOS / "register_many.xml", work, CONTACT_PORT=agent_port)
        reg = sipp(["-sf", str(register), "-inf", str(users),
                    # from the phones' own port: the registrar keeps the address a REGISTER came from (NAT)
                    "-i", "127.0.0.1", "-p", str(agent_port), "-m", str(len(agents)), "-r", "50",
                    "-timeout", "60", f"127.0.0.1:{box.sip_port}"], work, timeout=120)
        registered, _ = counters(reg.stdout)
        print(f"registered {registered} agent phones", flush=True)
        phones = subprocess.Popen(
            ["sipp", "-sf", str(fill_scenario(SCENARIOS / "agent_phones.xml", work, PCAP=PCAP)),
             "-i", "127.0.0.1", "-p", str(agent_port), "-mp", str(free_rtp_port()), "-nostdin", "-trace_err"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
        for agent in agents:
            status, body = box.api("POST", f"/api/v1/agents/{agent}/login", {})
            assert status == 200, body
        # a caller stays 1.5 s before pressing 1, then the talk time (the IVR, queue and the agent's number
        # come within it), then hangs up: concurrency = rate x that
        per_call = 2.0 + args.talk
        rate = args.concurrent / per_call
        hold_ms = int(args.talk * 1000)

        # warm-up at full concurrency: caches, pools, buffers and prompt synthesis reach their working size
        # before the baseline is taken (the allocator keeps what a peak needed, so a smaller warm-up would
        # show the main run's peak as "growth")
        warm: list[int] = []
        run_callers(box, work, int(rate * 60), rate, hold_ms, args.concurrent + 50, warm)
        settle(box, agents)
        before = memory_figures(box)
        print(f"baseline after warm-up: {before}", flush=True)

        # the run in two halves with the figures read between them: a leak grows in both, while what the
        # first half still warmed up (a cache reaching its limit, the allocator's arenas) does not recur
        started_wall = time.time()
        calls = int(rate * args.minutes * 60)
        sample: list[int] = []
        ok = failed = 0
        duration = 0.0
        figures = [before]
        active = stuck = 0
        for half in (calls // 2, calls - calls // 2):
            started = time.monotonic()
            done, bad = run_callers(box, work, half, rate, hold_ms, args.concurrent + 50, sample)
            duration += time.monotonic() - started
            ok, failed = ok + done, failed + bad
            active, stuck_now = settle(box, agents)
            stuck = max(stuck, stuck_now)
            figures.append(memory_figures(box))
            print(f"after {ok + failed} calls: {figures[-1]}", flush=True)
        mid, after = figures[1], figures[2]

        def growth(kind: str, key: str, since: dict[str, dict[str, float]] = before) -> float:
            return after[kind][key] - since[kind][key]

        cdrs, answered = cdr_count(box, started_wall - 1)
        mismatches = rollup_mismatches(box)
        placed = ok + failed
        result: dict[str, Any] = {
            "concurrent_calls": max(sample) if sample else 0,
            "duration_s": round(duration, 1),
            "lost_cdrs": max(0, placed - cdrs),
            "rollup_mismatches": sum(abs(v) for v in mismatches.values()),  # reports' roll-ups vs the raw log
            "stuck_agents": stuck,
            "fd_growth": int(growth("reclaimed", "open_files")),
            "rss_growth_mb": round(growth("reclaimed", "rss_mb"), 1),
            "heap_blocks_growth": int(growth("reclaimed", "heap_blocks")),
            "sqlite_growth_mb": round(growth("reclaimed", "sqlite_mb"), 2),
            "rss_growth_second_half_mb": round(growth("reclaimed", "rss_mb", mid), 1),
            "heap_blocks_growth_second_half": int(growth("reclaimed", "heap_blocks", mid)),
            "rss_growth_raw_mb": round(growth("raw", "rss_mb"), 1),
            "heap_blocks_growth_raw": int(growth("raw", "heap_blocks")),
            "calls_placed": placed,
            "calls_successful": ok,
            "calls_failed": failed,
            "cdrs": cdrs,
            "cdrs_answered": answered,
            "active_after": active,
            "agents": len(agents),
        }
        print(f"peak {result['concurrent_calls']} concurrent calls; {placed} placed, {ok} completed, "
              f"{failed} failed; {cdrs} CDRs ({answered} answered); {stuck} agents not idle; "
              f"after reclaim: fds {before['reclaimed']['open_files']}→{after['reclaimed']['open_files']}, "
              f"RSS {before['reclaimed']['rss_mb']}→{after['reclaimed']['rss_mb']} MB, "
              f"heap blocks {before['reclaimed']['heap_blocks']}→{after['reclaimed']['heap_blocks']}", flush=True)
        print(json.dumps(result))
    finally:
        if phones is not None:
            phones.terminate()
            phones.wait(timeout=10)
        box.stop()


if __name__ == "__main__":
    main()
