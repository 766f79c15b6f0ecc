"""Intended customers (意向客户): the calls an agent marked, found through their own index, on the API's search
and on the Records page, within the viewer's scope."""

from __future__ import annotations

from typing import Any

from appliance.http_api import SESSION_COOKIE
from appliance.records.search import CallQuery, CallRecords
from tests.api_client import Client


def cdr(call_id: str, started: float, caller: str, agent: str, intended: bool) -> dict[str, Any]:
    return {"call_id": call_id, "started": started, "ended": started + 60.0, "direction": "inbound",
            "caller": caller, "callee": "8000", "did": "8000", "queue": "sales", "agent": agent,
            "disposition": "answered", "intended_customer": intended, "missed": [], "legs": [],
            "duration": 60.0, "wait": 5.0, "talk": 50.0, "recording": ""}


async def test_the_intended_customers_list_holds_the_marked_calls_only(admin: Client) -> None:
    records = admin.appliance.core.records
    records.write_batch([("cdr", cdr("c1", 1000.0, "13800000001", "1001", True)),
                         ("cdr", cdr("c2", 1100.0, "13800000002", "1001", False)),
                         ("cdr", cdr("c3", 1200.0, "13800000003", "1002", True))])
    search = CallRecords(records.path)
    page = search.search_sync(CallQuery(intended=True))
    assert [c["call_id"] for c in page.items] == ["c3", "c1"] and page.total == 2  # newest first
    assert [c["call_id"] for c in search.search_sync(CallQuery(intended=True, agent="1001")).items] == ["c1"]
    plan = " ".join(str(r) for r in records.conn.execute(
        "EXPLAIN QUERY PLAN SELECT rowid FROM cdr INDEXED BY cdr_intended "
        "WHERE json_extract(data, '$.intended_customer') = 1"))
    assert "cdr_intended" in plan  # the partial index serves the list

    response = await admin.fetch("/records/intended", headers={"Cookie": f"{SESSION_COOKIE}={admin.token}"})
    assert response.status == 200
    html = response.body.decode()
    assert "意向客户" in html and "13800000001" in html and "13800000003" in html
    assert "13800000002" not in html
    assert 'href="/api/v1/cdr/export?format=csv&amp;intended=true"' in html  # its export holds the same calls

    status, listed = await admin.call("GET", "/api/v1/cdr?intended=true")
    assert status == 200 and [c["call_id"] for c in listed["items"]] == ["c3", "c1"]
    status, listed = await admin.call("GET", "/api/v1/cdr?intended=false")
    assert status == 200 and [c["call_id"] for c in listed["items"]] == ["c2"]
    status, body = await admin.call("GET", "/api/v1/cdr?intended=maybe")
    assert status in (400, 422) and "intended" in str(body)
    exported = await admin.fetch("/api/v1/cdr/export?format=csv&intended=true")
    assert exported.status == 200
    text = exported.body.decode("utf-8-sig")
    assert "13800000001" in text and "13800000003" in text and "13800000002" not in text
    bad = await admin.fetch("/api/v1/cdr/export?format=csv&intended=maybe")
    assert bad.status == 400 and b"intended" in bad.body
