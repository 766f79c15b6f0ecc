"""The customer service: events, validation and the screen pop with an external CRM over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from appliance.clock import ManualClock
from appliance.customers.events import ServiceRecordSaved
from appliance.customers.service import CustomerService
from appliance.errors import ValidationFailed
from appliance.events import Event, EventBus
from appliance.records.sqlite_store import RecordStore

SLOW_S = 2.5


class Crm(BaseHTTPRequestHandler):
    """A CRM's look-up: one known caller, one unknown (404), one slow, one failing, one answering garbage."""

    def do_GET(self) -> None:
        number = parse_qs(urlparse(self.path).query).get("number", [""])[0]
        self.server.asked.append(number)  # type: ignore[attr-defined]
        if number == "13700137000":
            time.sleep(SLOW_S)
        status, body = {
            "13800138000": (200, json.dumps({"name": "Ada (CRM)", "vip": True, "fields": {"plan": "gold"},
                                             "url": "javascript:alert(1)"}).encode()),
            "13600136000": (500, b"oops"),
            "13500135000": (200, b"<html>not json</html>"),
        }.get(number, (404, b"{}"))
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the slow answer's client gave up, as it should

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def crm() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Crm)
    server.asked = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
async def service(tmp_path: Path, crm: ThreadingHTTPServer) -> AsyncIterator[tuple[CustomerService, list[Event]]]:
    path = tmp_path / "records.sqlite3"
    RecordStore.open(path).close()
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    settings = {"crm_customer_url": f"http://127.0.0.1:{crm.server_address[1]}/lookup", "crm_customer_timeout_s": 0.8}
    svc = CustomerService(path, bus, ManualClock(), lambda no: no in ("1001", "1002"),
                          settings=lambda: settings)
    await svc.start()
    yield svc, seen
    await svc.stop()


async def test_create_update_and_records_publish_events(service: tuple[CustomerService, list[Event]]) -> None:
    svc, seen = service
    await svc.put_definition(svc_definition())
    ada = await svc.create(svc.parse_customer({"name": "Ada", "numbers": ["+86 138 0013 8000"],
                                               "account_manager": "1001", "fields": {"level": "gold"}}), "admin")
    assert ada.numbers == ("13800138000",)
    assert (await svc.lookup("013800138000")) == ada  # the toll-prefixed caller ID finds her too
    assert svc.lookup_now("138-0013-8000") == ada
    changed = await svc.update(ada.id, svc.parse_customer({"name": "Ada L.", "numbers": ["13800138000"]}), "u1")
    assert changed.name == "Ada L." and changed.created == ada.created
    record = await svc.add_record(ada.id, svc.parse_record({"type": "complaint", "content": "echo on the line",
                                                            "call_id": "call-7", "agent": "1002",
                                                            "follow_up": "2026-12-10"}), "agent2")
    assert (await svc.records(call_id="call-7")).items == (record,)
    topics = [(e.topic, getattr(e, "customer_id", None)) for e in seen]
    assert topics == [("customers.created", ada.id), ("customers.updated", ada.id),
                      ("customers.service_record_saved", ada.id)]
    saved = seen[-1]
    assert isinstance(saved, ServiceRecordSaved) and saved.agent == "1002" and saved.at == 1_700_000_000.0


def svc_definition() -> Any:
    from appliance.customers.validation import definition_input

    return definition_input({"label": "Level", "label_zh": "等级", "type": "select", "options": ["gold", "silver"]},
                            name="level")


async def test_validation_names_every_broken_field(service: tuple[CustomerService, list[Event]]) -> None:
    svc, _ = service
    await svc.put_definition(svc_definition())
    with pytest.raises(ValidationFailed) as failed:
        svc.parse_customer({"name": "", "numbers": ["13800138000", "not a number", "13800138000"],
                            "account_manager": "9999", "vip": "yes", "fields": {"level": "bronze", "nope": 1},
                            "surprise": True})
    fields = {e.field for e in failed.value.errors}
    assert fields == {"name", "numbers.1", "numbers.2", "account_manager", "vip", "fields.level", "fields.nope",
                      "surprise"}
    with pytest.raises(ValidationFailed) as failed:
        svc.parse_record({"type": "", "follow_up": "next tuesday", "agent": "1003"})
    assert {e.field for e in failed.value.errors} == {"type", "follow_up", "agent"}


async def test_screen_pop_asks_the_crm_and_falls_back_to_the_local_record(
        service: tuple[CustomerService, list[Event]], crm: ThreadingHTTPServer) -> None:
    svc, _ = service
    for number in ("13800138000", "13700137000", "13600136000", "13500135000"):
        await svc.create(svc.parse_customer({"name": f"Local {number}", "numbers": [number]}), "admin")
    pop = await svc.pop("+8613800138000")
    assert pop.source == "external" and pop.external is not None
    assert pop.external["name"] == "Ada (CRM)" and pop.external["vip"] is True and "url" not in pop.external
    assert pop.customer is not None and pop.customer.name == "Local 13800138000"
    started = time.monotonic()
    slow = await svc.pop("13700137000")
    assert time.monotonic() - started < SLOW_S - 0.5  # the CRM's time-out, not its answer, ended the wait
    assert slow.source == "local" and slow.external_error and slow.customer is not None
    for number in ("13600136000", "13500135000"):
        failed = await svc.pop(number)
        assert failed.source == "local" and failed.external_error, number
    unknown = await svc.pop("13900139000")  # 404 at the CRM, nobody here: the new-customer form
    assert unknown.source == "none" and unknown.external_error is None and unknown.number == "13900139000"
    assert crm.asked[0] == "13800138000"  # type: ignore[attr-defined]  # asked in the normalised form
    assert svc.health().counters["crm_failures"] == 3
