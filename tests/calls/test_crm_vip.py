"""CRM VIP look-up wired into call control (第三方VIP), in-process against a real local HTTP server.

The CRM URL is a setting (imported with the configuration); a queued call's look-up runs beside the call's
actor, which keeps handling its inbox meanwhile; a VIP answer raises the call's priority in the ACD, and a CRM
that answers too late leaves the call at normal priority. Customers call on lines of the test's own leg provider
(tests/legs/frame_provider.py: no SIP, a frame port per leg) to an access number of the sales queue.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from appliance.acd.events import CallPriorityRaised, VipLookupTimedOut
from appliance.calls.controller import CallController
from appliance.calls.messages import TimerFired
from appliance.calls.models import Call, CallPhase
from appliance.events import Event
from appliance.routing.models import AccessNumber, Destination
from tests.api_client import Client
from tests.legs.frame_provider import FrameLineProvider

VIP_CALLER, SLOW_CALLER, PLAIN_CALLER = "13800000001", "13900000002", "13700000003"
SALES_DID = "8009"


@dataclass
class _Crm:
    url: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)
    asked: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def crm() -> Iterator[_Crm]:
    state = _Crm()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            state.seen.append(query)
            state.asked.set()
            if query.get("caller") == SLOW_CALLER:
                time.sleep(1.5)  # well past the configured timeout
            body = json.dumps({"vip": query.get("caller") in (VIP_CALLER, SLOW_CALLER), "priority": 50}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the appliance gave up first: the timeout under test

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/vip"
    yield state
    server.shutdown()
    server.server_close()


async def configure_crm(admin: Client, url: str, timeout: float) -> tuple[CallController, FrameLineProvider]:
    """The CRM at `url`, an access number straight to the sales queue, and lines of the test's own kind that
    customers call on (a leg provider without SIP: a media-engine frame port per leg)."""
    status, exported = await admin.call("GET", "/api/v1/config/export")
    assert status == 200
    exported["settings"].update({"crm_vip_url": url, "crm_vip_timeout_s": timeout})
    status, body = await admin.call("POST", "/api/v1/config/import", exported)
    assert status == 200, body
    appliance = admin.appliance
    await appliance.core.store.create("dids", AccessNumber(  # no routes: the default, whatever the time
        number=SALES_DID, schedule="business_hours", default=Destination(kind="queue", target="sales")))
    service = appliance.telephony
    assert service is not None
    service._reload(None)  # what `start()` and config.replaced do
    lines = FrameLineProvider(service.media)
    service.legs.register(lines)
    controller: CallController = service.controller
    await controller.start()
    return controller, lines


async def stop(controller: CallController, lines: FrameLineProvider) -> None:
    await controller.stop()  # every call ends: its lines are hung up
    await lines.close()


async def queued_call(controller: CallController, lines: FrameLineProvider, caller: str) -> Call:
    """A customer calls the access number of the sales queue on a line; the call queues (no agent is in)."""
    lines.incoming(caller, SALES_DID)
    await until(lambda: any(c.caller == caller and c.phase == CallPhase.QUEUED for c in controller.active_calls))
    return next(c for c in controller.active_calls if c.caller == caller)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_vip_answer_from_the_crm_raises_the_callers_priority(admin: Client, crm: _Crm) -> None:
    controller, lines = await configure_crm(admin, crm.url, 1.0)
    seen: list[Event] = []
    sub = admin.appliance.core.bus.subscribe(seen.append, {"acd.call_priority_raised", "acd.call_queued"})
    try:
        vip = await queued_call(controller, lines, VIP_CALLER)
        plain = await queued_call(controller, lines, PLAIN_CALLER)
        await until(lambda: any(e == "crm_vip" for _, e, _ in vip.timeline)
                    and any(e == "crm_vip" for _, e, _ in plain.timeline))
        await until(lambda: any(isinstance(e, CallPriorityRaised) and e.call_id == vip.id for e in seen))
    finally:
        admin.appliance.core.bus.unsubscribe(sub)
        await stop(controller, lines)
    assert {"caller": VIP_CALLER, "queue": "sales"} in crm.seen
    assert {"caller": PLAIN_CALLER, "queue": "sales"} in crm.seen
    raised = [(e.call_id, e.priority, e.source) for e in seen if isinstance(e, CallPriorityRaised)]
    assert raised == [(vip.id, 50, "crm")]
    assert ("crm_vip", "vip") in [(e, d) for _, e, d in vip.timeline] and vip.vip
    assert ("crm_vip", "not vip") in [(e, d) for _, e, d in plain.timeline] and not plain.vip


async def test_a_crm_that_answers_too_late_leaves_the_call_at_normal_priority_without_holding_it_up(
        admin: Client, crm: _Crm) -> None:
    controller, lines = await configure_crm(admin, crm.url, 0.3)
    seen: list[Event] = []
    sub = admin.appliance.core.bus.subscribe(seen.append, {"acd.*"})
    try:
        started = time.monotonic()
        call = await queued_call(controller, lines, SLOW_CALLER)
        await until(crm.asked.is_set)
        # the CRM is still thinking: the call's actor handles its inbox all the same
        handled: list[float] = []

        async def probe() -> None:
            handled.append(time.monotonic())

        assert controller.submit(call.id, TimerFired(probe))
        await until(lambda: bool(handled), timeout=0.5)
        await until(lambda: any(e == "crm_vip" for _, e, _ in call.timeline))
        answered = time.monotonic() - started
    finally:
        admin.appliance.core.bus.unsubscribe(sub)
        await stop(controller, lines)
    assert handled[0] - started < 0.3 and answered < 1.2  # gave up at the timeout, not when the CRM answered
    assert ("crm_vip", "not vip") in [(e, d) for _, e, d in call.timeline] and not call.vip
    assert not [e for e in seen if isinstance(e, CallPriorityRaised)]
    assert [e.call_id for e in seen if isinstance(e, VipLookupTimedOut)] == [call.id]


async def test_without_a_crm_url_nobody_is_asked(admin: Client, crm: _Crm) -> None:
    controller, lines = await configure_crm(admin, "", 1.0)
    try:
        call = await queued_call(controller, lines, VIP_CALLER)
        await asyncio.sleep(0.2)
    finally:
        await stop(controller, lines)
    assert crm.seen == [] and not call.vip
    assert "crm_vip" not in [e for _, e, _ in call.timeline]
    assert lines.live_legs == 0  # the line was hung up as the controller stopped
