"""A standalone SIP server for interop tests and the benchmark: the real `SipService` with in-memory
credentials and the `MiniRouter` (test target + forwarding), no call control.

    python -m tests.sip.testserver --port 0 --user 1001:secret1001 --trust 127.0.0.1/32 \
        --target 9999 --hangup-after 1 --forward 'sip:{user}@127.0.0.1:5070'

Prints one line `READY udp=<port> tcp=<port> tls=<port>` when listening; stops cleanly on SIGINT/SIGTERM
and then prints the core's counters as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import signal
import sys
import tempfile
from pathlib import Path

from appliance.events import EventBus
from appliance.sip.digest import InMemoryCredentials
from appliance.sip.models import SipConfig, TrunkConfig
from appliance.sip.security import SecurityPolicy
from appliance.sip.service import SipService, run_event_loop
from tests.sip.minirouter import MiniRouter


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="UDP and TCP port (0: any free port)")
    p.add_argument("--tcp-port", type=int, default=None)
    p.add_argument("--tls-port", type=int, default=-1, help="-1: no TLS; 0: any free port")
    p.add_argument("--realm", default="appliance")
    p.add_argument("--user", action="append", default=[], help="extension:password (repeatable)")
    p.add_argument("--users-range", default=None, help="FIRST-LAST: extensions with password 'secret<ext>'")
    p.add_argument("--trust", action="append", default=[], help="network of an IP-authenticated trunk")
    p.add_argument("--target", default="9999")
    p.add_argument("--answer-delay", type=float, default=0.0)
    p.add_argument("--hangup-after", type=float, default=1.0)
    p.add_argument("--forward", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--algorithms", default="MD5", help="digest algorithms offered, e.g. SHA-256,MD5")
    p.add_argument("--rate", type=float, default=200.0, help="requests per second per source")
    p.add_argument("--trusted-source", action="append", default=[], help="source never rate limited")
    p.add_argument("--qualify", type=float, default=60.0)
    p.add_argument("--verbose", action="store_true")
    return p


async def serve(args: argparse.Namespace) -> dict[str, int]:
    creds = InMemoryCredentials()
    for u in args.user:
        ext, _, pw = u.partition(":")
        creds.add(ext, pw, args.realm)
    if args.users_range:
        first, _, last = args.users_range.partition("-")
        for n in range(int(first), int(last) + 1):
            creds.add(str(n), f"secret{n}", args.realm)
    trunks = tuple(
        TrunkConfig(name=f"trusted{i}", host=str(ipaddress.ip_network(t).network_address),
                    ip_networks=(ipaddress.ip_network(t),))
        for i, t in enumerate(args.trust)
    )
    cfg = SipConfig(
        realm=args.realm, listen_host=args.host, udp_port=args.port,
        tcp_port=args.tcp_port if args.tcp_port is not None else args.port,
        tls_port=None if args.tls_port < 0 else args.tls_port, trunks=trunks,
        auth_algorithms=tuple(a.strip() for a in args.algorithms.split(",")),
        security=SecurityPolicy(rate_per_source=args.rate, burst_per_source=args.rate * 2,
                                trusted_sources=tuple(args.trusted_source)),
        qualify_interval=args.qualify,
    )
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="sip-testserver-")
        data_dir = Path(tmp.name)
    bus = EventBus()
    svc = SipService(cfg, creds, data_dir, bus)
    router = MiniRouter(svc, target_number=args.target, answer_delay=args.answer_delay,
                        hangup_after=args.hangup_after, forward_uri=args.forward)
    svc.on_event = router.on_event
    if args.verbose:
        bus.subscribe(lambda e: print("EVENT", e.to_dict(), flush=True))
    await svc.start()
    ports = " ".join(f"{k.lower()}={v}" for k, v in svc.ports.items())
    print(f"READY {ports}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    router.close()
    await svc.stop()
    if tmp is not None:
        tmp.cleanup()
    stats = dict(svc.core.stats)
    stats["answered"] = router.answered
    return stats


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    result: dict[str, int] = {}

    async def run() -> None:
        result.update(await serve(args))

    run_event_loop(run)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
