"""The customer API through the real application: CRUD, numbers, look-up, service records from the CDR's call
id, custom fields, roles and scope, and hostile input answered with a 4xx naming the field."""

from __future__ import annotations

from tests.api_client import Client


async def test_customer_life_through_the_api(api: Client) -> None:
    status, field = await api.call("PUT", "/api/v1/customer-fields/level", {
        "label": "Level", "label_zh": "等级", "type": "select", "options": ["gold", "silver"]})
    assert status == 200 and field["options"] == ["gold", "silver"]
    status, ada = await api.call("POST", "/api/v1/customers", {
        "name": "Ada", "numbers": ["138 0013 8000"], "account_manager": "1001", "vip": True,
        "fields": {"level": "gold"}})
    assert status == 201, ada
    assert ada["numbers"] == ["13800138000"] and ada["fields"] == {"level": "gold"}
    cid = ada["id"]
    status, pop = await api.call("GET", "/api/v1/customers/lookup?number=%2B86%20138%200013%208000")
    assert status == 200 and pop["source"] == "local" and pop["customer"]["id"] == cid
    status, pop = await api.call("GET", "/api/v1/customers/lookup?number=13900139000")
    assert status == 200 and pop == {"number": "13900139000", "customer": None, "external": None,
                                     "external_error": None, "source": "none"}
    status, changed = await api.call("PATCH", f"/api/v1/customers/{cid}", {"note": "prefers mornings",
                                                                          "fields": {"level": None}})
    assert status == 200 and changed["note"] == "prefers mornings" and changed["fields"] == {}
    assert changed["vip"] is True  # a patch keeps what it does not name
    status, changed = await api.call("POST", f"/api/v1/customers/{cid}/numbers", {"number": "010-8888-6666"})
    assert status == 201 and changed["numbers"] == ["13800138000", "01088886666"]
    status, changed = await api.call("DELETE", f"/api/v1/customers/{cid}/numbers/13800138000")
    assert status == 200 and changed["numbers"] == ["01088886666"]
    status, found = await api.call("GET", "/api/v1/customers?q=0108")
    assert status == 200 and [c["id"] for c in found["items"]] == [cid]
    status, found = await api.call("GET", "/api/v1/customers?q=ad&vip=true")
    assert [c["id"] for c in found["items"]] == [cid]

    status, record = await api.call("POST", f"/api/v1/customers/{cid}/service-records", {
        "type": "complaint", "content": "line noise", "result": "ticket opened", "follow_up": "2026-12-10",
        "call_id": "1700000000.42", "agent": "1001"})
    assert status == 201, record
    status, by_call = await api.call("GET", "/api/v1/service-records?call_id=1700000000.42")
    assert status == 200 and by_call["items"] == [record]  # found from the CDR's call id
    status, listed = await api.call("GET", f"/api/v1/customers/{cid}/service-records")
    assert listed["total"] == 1
    status, _ = await api.call("DELETE", f"/api/v1/customers/{cid}")
    assert status == 409  # its service records keep it
    status, other = await api.call("POST", "/api/v1/customers", {"name": "Bob", "numbers": ["01088886666"]})
    assert status == 409 and other["details"]["fields"][0]["field"] == "numbers.0"


async def test_hostile_input_gets_a_4xx_naming_the_field(api: Client) -> None:
    status, data = await api.call("POST", "/api/v1/customers", raw=b"{not json")
    assert status in (400, 415), data
    status, data = await api.call("POST", "/api/v1/customers", ["a", "list"])
    assert status == 422 and data["details"]["fields"][0]["field"] == "(body)"
    status, data = await api.call("POST", "/api/v1/customers", {
        "name": "x" * 101, "numbers": "13800138000", "vip": 1, "fields": {"level": 5}, "__proto__": {}})
    assert status == 422
    assert {f["field"] for f in data["details"]["fields"]} >= {"name", "numbers", "vip", "fields.level", "__proto__"}
    for path in ("/api/v1/customers/abc", "/api/v1/customers/99999999999999999999", "/api/v1/customers/-1",
                 "/api/v1/service-records/1e3", "/api/v1/customers/7/service-records"):
        status, data = await api.call("GET", path)
        assert status == 404, path
    for query, name in (("limit=100000", "limit"), ("offset=-1", "offset"), ("vip=maybe", "vip"),
                        ("field=level", "value"), ("q=" + "9" * 200, "q")):
        status, data = await api.call("GET", f"/api/v1/customers?{query}")
        assert status in (400, 422) and data["details"]["fields"][0]["field"] == name, query
    status, data = await api.call("GET", "/api/v1/customers?field=nope&value=1")
    assert status == 404
    status, data = await api.call("GET", "/api/v1/customers/lookup?number=anonymous")
    assert status == 400 and data["details"]["fields"][0]["field"] == "number"
    status, data = await api.call("GET", "/api/v1/service-records?follow_up_until=tomorrow")
    assert status == 400 and data["details"]["fields"][0]["field"] == "follow_up_until"
    status, data = await api.call("PUT", "/api/v1/customer-fields/Bad-Name", {"label": "x", "type": "select"})
    assert status == 422 and {f["field"] for f in data["details"]["fields"]} == {"name", "options"}
    status, data = await api.call("POST", "/api/v1/customers/import", raw=b"")
    assert status == 400 and data["details"]["fields"][0]["field"] == "file"
    status, data = await api.call("POST", "/api/v1/customers/import?format=xlsx", raw=b"PK\x03\x04 not a zip")
    assert status == 422 and data["error_id"] == "import_unreadable"


async def test_agents_edit_customers_but_not_their_management_and_list_their_own(api: Client,
                                                                                 agent_token: str) -> None:
    for name, manager in (("Mine", "1001"), ("Theirs", "1002"), ("Pool", None)):
        status, _ = await api.call("POST", "/api/v1/customers", {"name": name, "account_manager": manager})
        assert status == 201
    status, listed = await api.call("GET", "/api/v1/customers", token=agent_token)
    assert status == 200 and {c["name"] for c in listed["items"]} == {"Mine", "Pool"}
    status, created = await api.call("POST", "/api/v1/customers", {"name": "New caller", "numbers": ["13700137000"]},
                                     token=agent_token)
    assert status == 201  # the desk's new-customer form
    status, data = await api.call("PATCH", f"/api/v1/customers/{created['id']}", {"vip": True}, token=agent_token)
    assert status == 403 and "vip" in data["message"]
    status, data = await api.call("DELETE", f"/api/v1/customers/{created['id']}", token=agent_token)
    assert status == 403
    status, record = await api.call("POST", f"/api/v1/customers/{created['id']}/service-records",
                                    {"type": "consultation"}, token=agent_token)
    assert status == 201 and record["agent"] == "1001"  # in the agent's own name
    status, data = await api.call("POST", f"/api/v1/customers/{created['id']}/service-records",
                                  {"type": "consultation", "agent": "1002"}, token=agent_token)
    assert status == 403
    status, data = await api.call("GET", "/api/v1/customers/export", token=agent_token)
    assert status == 403


async def test_customer_and_custom_field_changes_are_in_the_audit_log(api: Client) -> None:
    status, _ = await api.call("PUT", "/api/v1/customer-fields/tier", {"label": "Tier", "type": "text"})
    assert status == 200
    status, ada = await api.call("POST", "/api/v1/customers", {"name": "Ada", "numbers": ["13800138000"]})
    assert status == 201
    cid = ada["id"]
    assert (await api.call("PATCH", f"/api/v1/customers/{cid}", {"note": "prefers mornings"}))[0] == 200
    assert (await api.call("DELETE", f"/api/v1/customers/{cid}"))[0] == 204
    assert (await api.call("DELETE", "/api/v1/customer-fields/tier"))[0] == 204
    status, page = await api.call("GET", "/api/v1/audit?kind=customer")
    assert status == 200, page
    entries = sorted(page["items"], key=lambda e: e["id"])
    assert [(e["action"], e["key"], e["actor"]) for e in entries] == [
        ("create", str(cid), "admin"), ("update", str(cid), "admin"), ("delete", str(cid), "admin")]
    create, update, delete = entries
    assert create["before"] is None and create["after"]["name"] == "Ada"
    assert update["before"]["note"] == "" and update["after"]["note"] == "prefers mornings"
    assert delete["before"]["numbers"] == ["13800138000"] and delete["after"] is None
    assert all(e["source"] for e in entries)  # the address the change came from
    status, page = await api.call("GET", "/api/v1/audit?kind=customer_field")
    assert [(e["action"], e["key"]) for e in sorted(page["items"], key=lambda e: e["id"])] == [
        ("create", "tier"), ("delete", "tier")]
