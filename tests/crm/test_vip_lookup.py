"""The CRM VIP adapter against a real local HTTP server: success, timeout, bad answers → normal priority."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.models import QueueConfig, VipSource
from appliance.crm.vip_lookup import CrmVipLookup
from tests.acd.harness import Harness, agent


class _Crm(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        caller = query.get("caller", [""])[0]
        if caller == "slow":
            time.sleep(1.0)
        status, body = 200, json.dumps({"vip": caller.startswith("vip"), "queue": query.get("queue", [""])[0]})
        if caller == "vip9":
            body = json.dumps({"vip": True, "priority": 9})
        elif caller == "garbage":
            body = "<html>not json</html>"
        elif caller == "wrongshape":
            body = json.dumps({"vip": "yes"})
        elif caller == "error":
            status = 500
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first: that is the timeout under test

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def crm_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Crm)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/vip"
    server.shutdown()
    server.server_close()


def _action(caller: str, timeout: float = 0.5) -> A.LookupVip:
    return A.LookupVip("c1", caller, "q", timeout)


async def test_crm_says_vip(crm_url: str) -> None:
    crm = CrmVipLookup(crm_url)
    try:
        assert await crm.lookup(_action("vip-gold")) == C.VipLookupResult("c1", True, None)
        assert await crm.lookup(_action("vip9")) == C.VipLookupResult("c1", True, 9)
        assert await crm.lookup(_action("13800000000")) == C.VipLookupResult("c1", False, None)
    finally:
        await crm.aclose()


@pytest.mark.parametrize("caller", ["slow", "garbage", "wrongshape", "error"])
async def test_crm_timeout_or_bad_answer_means_normal_priority(crm_url: str, caller: str) -> None:
    crm = CrmVipLookup(crm_url)
    try:
        started = time.monotonic()
        assert await crm.lookup(_action(caller, timeout=0.3)) == C.VipLookupResult("c1", False)
        assert time.monotonic() - started < 0.9  # the timeout cut the slow answer short
        assert crm.failures == 1
    finally:
        await crm.aclose()


async def test_crm_unreachable_means_normal_priority() -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), _Crm)
    port = probe.server_address[1]
    probe.server_close()  # nothing listens there any more
    crm = CrmVipLookup(f"http://127.0.0.1:{port}/vip")
    try:
        assert await crm.lookup(_action("vip1")) == C.VipLookupResult("c1", False)
    finally:
        await crm.aclose()


async def test_engine_and_adapter_raise_a_waiting_call_to_vip(crm_url: str) -> None:


    h = Harness([QueueConfig("q", vip_sources=(VipSource.CRM,))], [agent("a")])
    h.do(C.AgentLoggedIn("a", paused_reason="busy"))
    results: list[C.VipLookupResult] = []
    crm = CrmVipLookup(crm_url)
    try:
        h.arrive("plain", caller="13800000000")
        (lookup,) = h.of(A.LookupVip, h.arrive("gold", caller="vip-gold"))
        crm.spawn(lookup, results.append)
        for _ in range(100):
            if results:
                break
            await asyncio.sleep(0.01)
        for result in results:
            h.do(result)
        assert h.engine.waiting_calls("q") == ["gold", "plain"]
    finally:
        await crm.aclose()
