"""Provisioning benchmark: a power cut brings 500 phones back at once, while the box relays 200 calls.

One box process runs, on one event loop as the appliance does, the media engine and the phone provisioning
server (HTTPS, per-phone tokens, files rendered per fetch) over an inventory of 2,000 phones (Yealink,
Grandstream, Polycom and generic in turn, each on an extension of its own). The relay load is the media
benchmark's C generator (`media_relay.py`): 200 two-party G.711 calls. The calls run first alone (the
baseline) and then again while 500 phones fetch at once, each over its own new TLS connection, first its
vendor's common file (when it has one) and then its own file; the phones are simulated in a process per core
(`--client-processes`). Reported: every fetch's latency (p50, p99, max), fetches per second over the storm,
errors, and the relay's loss and added-jitter p99 in both runs.

    .venv/bin/python bench/provisioning.py [--phones 2000] [--fetching 500] [--calls 200] [--seconds 12]
                                           [--client-processes 2] [--server-threads 2]

The last line printed is one JSON object: phones, fetching, fetches, fetches_per_s, p50_ms, p99_ms,
max_ms, errors, calls, loss_pct, baseline_loss_pct, jitter_p99_ms, baseline_jitter_p99_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
# this file's name would shadow the `provisioning` package: the repository root goes first instead
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
_spec = importlib.util.spec_from_file_location("media_relay", HERE / "media_relay.py")
assert _spec is not None and _spec.loader is not None
media_relay = importlib.util.module_from_spec(_spec)
sys.modules["media_relay"] = media_relay
_spec.loader.exec_module(media_relay)

VENDORS = ("yealink", "grandstream", "polycom", "generic")
COMMON = {"yealink": "y000000000000.cfg", "polycom": "000000000000.cfg"}


def own_file(vendor: str, mac: str) -> str:
    return {"yealink": f"{mac}.cfg", "grandstream": f"cfg{mac}.xml", "polycom": f"{mac}-phone.cfg"}.get(
        vendor, f"{mac}.xml")


# ------------------------------------------------------------------------------------------ the box

def box_main(conn: Connection, info: Connection, data_dir: str, phones: int, threads: int) -> None:
    media_relay.raise_fd_limit()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_box(conn, info, Path(data_dir), phones, threads))


async def _box(conn: Connection, info: Connection, data_dir: Path, phones: int, threads: int) -> None:
    from appliance.app import Core
    from appliance.domain import models as m
    from provisioning.phones.inventory import new_sip_password, new_token
    from provisioning.phones.models import KeyKind, LineKey, Phone, PhoneRecord, Vendor
    from provisioning.phones.service import PhoneServerConfig, PhoneService

    core = Core.open(data_dir)
    numbers = [str(20000 + i) for i in range(phones)]
    await core.store.replace_all({"extensions": [m.Extension(number=n, name=f"Agent {n}") for n in numbers]},
                                 {"time_zone": "Asia/Shanghai", "ntp_servers": ["ntp.aliyun.com"]})
    service = PhoneService(data_dir, core.config,
                           PhoneServerConfig(bind="127.0.0.1", https_port=0, https_threads=threads))
    records = []
    for i, number in enumerate(numbers):
        vendor = Vendor(VENDORS[i % len(VENDORS)])
        keys = (LineKey(KeyKind.BLF, numbers[(i + 1) % phones], "Next"), LineKey(KeyKind.LOGIN, "*11", "Log in"),
                LineKey(KeyKind.PAUSE, "*13", "Pause"))
        records.append(PhoneRecord(Phone(f"0015{i:08x}", number, vendor, line_keys=keys), new_token(),
                                   new_sip_password()))
    service.inventory.put(records)
    await asyncio.to_thread(service.inventory.save, service.inventory.document())
    await service.start()
    info.send({"port": service.https_port,
               "phones": [(r.phone.mac, r.phone.vendor.value, r.token) for r in records]})
    try:
        await media_relay._engine(conn, "relay")  # the relay benchmark's engine, on this same loop
    finally:
        info.send({"health": dict(service.health().counters)})
        await service.stop()
        core.close()


# ------------------------------------------------------------------------------------------ the phones

async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bool:
    """One HTTP/1.1 GET on a kept-alive connection, as a phone's small client does it."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: box\r\nUser-Agent: bench-phone\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    return status == 200 and len(body) > 0


async def storm(port: int, phones: list[tuple[str, str, str]], start_at: float) -> tuple[list[float], int, float]:
    """Every phone opens its own TLS connection (a power cut leaves no session to resume) and fetches its
    vendor's common file, when it has one, then its own, on that one connection; all start at `start_at`
    (wall clock, shared by the phones' processes). Returns the latencies, the errors and when the last ended."""
    import ssl

    # no CA store: these phones do not verify the box, and OpenSSL 3 walks a loaded store on every handshake
    # (about 0.2 ms of the simulator's CPU per phone, taken from the box on this shared machine)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    latencies: list[float] = []
    errors = 0
    start = asyncio.Event()

    async def phone(mac: str, vendor: str, token: str) -> None:
        nonlocal errors
        names = ([COMMON[vendor]] if vendor in COMMON else []) + [own_file(vendor, mac)]
        await start.wait()
        t0 = time.perf_counter()
        writer: asyncio.StreamWriter | None = None
        try:
            reader, stream = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), 30)
            writer = stream
            for name in names:
                ok = await asyncio.wait_for(_get(reader, stream, f"/p/{token}/{name}"), 30)
                latencies.append(time.perf_counter() - t0)
                errors += 0 if ok else 1
                t0 = time.perf_counter()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            latencies.append(time.perf_counter() - t0)
            errors += 1
        finally:
            if writer is not None:
                writer.close()

    tasks = [asyncio.create_task(phone(*p)) for p in phones]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    start.set()
    await asyncio.gather(*tasks)
    return latencies, errors, time.time()


def storm_process(port: int, phones: list[tuple[str, str, str]], conn: Connection) -> None:
    """One process of simulated phones: it waits for the start time, storms, and sends back its latencies,
    errors, end time and CPU seconds."""
    start_at = conn.recv()
    cpu0 = time.process_time()
    try:  # the phones' side on uvloop too: its TLS is compiled, asyncio's runs in Python
        import uvloop

        latencies, errors, ended = uvloop.run(storm(port, phones, start_at))
    except ImportError:
        latencies, errors, ended = asyncio.run(storm(port, phones, start_at))
    conn.send((latencies, errors, ended, time.process_time() - cpu0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=2000)
    parser.add_argument("--fetching", type=int, default=500)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--client-processes", type=int, default=2, help="processes simulating the phones")
    parser.add_argument("--server-threads", type=int, default=2, help="the box's HTTPS server threads")
    args = parser.parse_args()
    media_relay.raise_fd_limit()
    work = tempfile.TemporaryDirectory()
    build = tempfile.TemporaryDirectory()
    generator = media_relay.build_generator(Path(build.name))
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    info_parent, info_child = ctx.Pipe()
    proc = ctx.Process(target=box_main, args=(child, info_child, work.name, args.phones, args.server_threads),
                       daemon=True)
    proc.start()
    try:
        hello = info_parent.recv()
        port, phones = hello["port"], hello["phones"]
        print(f"box up: {len(phones)} phones in the inventory, HTTPS on {port}", flush=True)
        base = media_relay.run_step(parent, proc.pid or 0, generator, args.calls, args.seconds / 2, 1)
        print(f"baseline: calls={base.calls} loss={base.loss_pct:.3f}% jitter_p99={base.jitter_p99_ms:.2f} ms "
              f"engine_cpu={base.engine_cpu_pct:.1f}%", flush=True)
        result: dict[str, Any] = {}

        def relay() -> None:
            result["step"] = media_relay.run_step(parent, proc.pid or 0, generator, args.calls, args.seconds, 2)

        # 500 phones are 500 devices: simulated in one thread their TLS handshakes would queue behind each
        # other, so they run in a process per core, started (and their modules loaded) before the storm.
        fetching = phones[:args.fetching]
        clients = []
        for i in range(args.client_processes):
            mine, theirs = ctx.Pipe()
            client = ctx.Process(target=storm_process, args=(port, fetching[i::args.client_processes], theirs),
                                 daemon=True)
            client.start()
            clients.append((client, mine))
        time.sleep(3.0)  # the phones' processes are up, their phones waiting
        thread = threading.Thread(target=relay)
        thread.start()
        time.sleep(1.5)  # the relay is warm and measuring
        box = psutil.Process(proc.pid)
        box_cpu0 = sum(box.cpu_times()[:2])
        start_at = time.time() + 0.2
        for _, conn in clients:
            conn.send(start_at)
        latencies, errors, ended, client_cpu = [], 0, start_at, 0.0
        for client, conn in clients:
            got_latencies, got_errors, got_ended, got_cpu = conn.recv()
            latencies += got_latencies
            errors += got_errors
            ended = max(ended, got_ended)
            client_cpu += got_cpu
            client.join(10)
        wall = ended - start_at
        box_cpu = sum(box.cpu_times()[:2]) - box_cpu0
        thread.join()
        step = result["step"]
        parent.send({"op": "stop"})
        parent.recv()
        counters = info_parent.recv()["health"]
        proc.join(10)
    finally:
        if proc.is_alive():
            proc.kill()
        work.cleanup()
        build.cleanup()
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    storm_inside = wall + 1.5 < args.seconds
    print(f"storm: {args.fetching} phones, {len(ms)} fetches in {wall:.2f} s ({len(ms) / wall:.0f}/s), "
          f"p50={statistics.median(ms):.1f} ms p99={p99:.1f} ms max={ms[-1]:.1f} ms errors={errors} "
          f"(served {counters['served']}, refused {counters['refused']}); inside the relay window: {storm_inside}")
    print(f"CPU during the storm: box {box_cpu:.2f} s (relay and phones' server), phones' clients {client_cpu:.2f} s",
          flush=True)
    print(f"with the storm: calls={step.calls} loss={step.loss_pct:.3f}% jitter_p99={step.jitter_p99_ms:.2f} ms "
          f"engine_cpu={step.engine_cpu_pct:.1f}%", flush=True)
    print(json.dumps({
        "phones": args.phones, "fetching": args.fetching, "fetches": len(ms),
        "fetches_per_s": round(len(ms) / wall, 1), "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(p99, 1), "max_ms": round(ms[-1], 1), "errors": errors, "calls": step.calls,
        "loss_pct": step.loss_pct, "baseline_loss_pct": base.loss_pct, "jitter_p99_ms": step.jitter_p99_ms,
        "baseline_jitter_p99_ms": base.jitter_p99_ms, "storm_inside_relay_window": storm_inside,
        "box_cpu_s": round(box_cpu, 2), "client_cpu_s": round(client_cpu, 2)}))


if __name__ == "__main__":
    main()
