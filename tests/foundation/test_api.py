"""The REST API: setup gate, roles, validation at the edge, staff rules, audit, OpenAPI."""

from __future__ import annotations

import gc
import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from appliance.auth.service import MAX_FAILURES
from appliance.domain.kinds import all_kinds
from tests.api_client import ADMIN_PASSWORD, Client


async def test_health_needs_no_login_and_reports_services(fresh: Client) -> None:
    status, data = await fresh.call("GET", "/api/v1/health")
    assert status == 200
    assert data["version"]
    assert data["uptime_s"] >= 0
    assert data["services"]["config_store"]["status"] == "ok"
    assert data["services"]["records"]["detail"] == "wal"
    assert data["process"]["rss_mb"] > 0 and data["process"]["open_files"] > 0 and data["process"]["heap_blocks"] > 0
    assert data["process"]["sqlite_mb"] > 0  # the record store is open


async def test_memory_reclaim_is_for_admins_and_reports_what_the_collector_found(admin: Client) -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    await admin.call("POST", "/api/v1/users", {"name": "sup2", "role": "supervisor", "password": "super-password"})
    _, sup = await admin.call("POST", "/api/v1/login", {"name": "sup2", "password": "super-password"})
    status, _ = await admin.call("POST", "/api/v1/diagnostics/memory/reclaim", {}, token=sup["token"])
    assert status == 403
    status, _ = await admin.call("POST", "/api/v1/diagnostics/memory/reclaim", {}, token="not-a-token")
    assert status == 401
    gc.disable()  # or the young generation's automatic passes free some first
    try:
        for _ in range(1000):
            Cycle()  # unreachable garbage only a collection frees
        status, data = await admin.call("POST", "/api/v1/diagnostics/memory/reclaim", {})
    finally:
        gc.enable()
    assert status == 200, data
    assert data["unreachable_objects"] >= 1000
    assert data["after"]["heap_blocks"] < data["before"]["heap_blocks"]
    assert data["after"]["open_files"] == data["before"]["open_files"]


async def test_nothing_but_setup_works_before_the_setup_token_is_used(fresh: Client) -> None:
    for method, path in [("GET", "/api/v1/staff"), ("POST", "/api/v1/queues"), ("GET", "/api/v1/audit"),
                         ("GET", "/api/v1/me")]:
        status, data = await fresh.call(method, path, {})
        assert status == 403, path
        assert data["error_id"] == "setup_required"
    status, data = await fresh.call("POST", "/api/v1/login", {"name": "admin", "password": "anything at all"})
    assert status == 403 and data["error_id"] == "setup_required"
    status, data = await fresh.call("POST", "/api/v1/setup", {"token": "wrong", "password": ADMIN_PASSWORD})
    assert status == 401
    status, data = await fresh.call("POST", "/api/v1/setup", {"token": fresh.appliance.setup_token,
                                                               "password": "short"})
    assert status == 422 and data["details"]["fields"][0]["field"] == "password"
    status, data = await fresh.call("GET", "/api/v1/setup")
    assert data == {"setup_required": True}
    status, data = await fresh.call("POST", "/api/v1/setup", {"token": fresh.appliance.setup_token,
                                                               "password": ADMIN_PASSWORD})
    assert status == 200 and data["setup_required"] is False and (data["user"], data["role"]) == ("admin", "admin")
    fresh.token = data["token"]  # the setup itself signs the admin in
    status, data = await fresh.call("GET", "/api/v1/staff")
    assert status == 200 and data["total"] == 6
    # the token is one-time
    status, data = await fresh.call("POST", "/api/v1/setup", {"token": fresh.appliance.setup_token,
                                                               "password": ADMIN_PASSWORD})
    assert status == 403 and data["error_id"] == "setup_done"


async def test_no_default_password_admin_cannot_log_in_before_setup(fresh: Client) -> None:
    for guess in ("admin", "password", "123456", ""):
        status, _ = await fresh.call("POST", "/api/v1/login", {"name": "admin", "password": guess})
        assert status == 403


async def test_login_lockout_after_repeated_failures(admin: Client) -> None:
    for _ in range(MAX_FAILURES):
        status, _ = await admin.call("POST", "/api/v1/login", {"name": "admin", "password": "wrong password"})
        assert status == 401
    status, data = await admin.call("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert status == 429 and data["error_id"] == "login_locked"


async def test_unknown_user_and_wrong_password_look_the_same(admin: Client) -> None:
    s1, d1 = await admin.call("POST", "/api/v1/login", {"name": "nobody", "password": "wrong password"})
    s2, d2 = await admin.call("POST", "/api/v1/login", {"name": "admin", "password": "wrong password"})
    assert (s1, d1) == (s2, d2)


# A valid body for each kind, used to prove the bad ones change nothing.
VALID: dict[str, dict[str, Any]] = {
    "departments": {"id": "ops", "name": "Operations"},
    "work_groups": {"id": "night", "name": "Night shift"},
    "skills": {"id": "billing", "name": "Billing"},
    "extensions": {"number": "2001", "name": "Desk", "password": "a-good-password"},
    "staff": {"employee_no": "2001", "name": "New Agent", "skills": [{"skill": "sales", "level": 3}]},
    "voicemail_boxes": {"id": "night", "name": "Night box"},
    "queues": {"id": "billing", "name": "Billing", "members": ["1001"]},
    "vip_list": {"number": "13800138000", "name": "Big customer"},
    "blacklist": {"number": "4001234567"},
    "trunks": {"id": "carrier", "name": "Carrier", "host": "sip.example.net"},
    "pause_reasons": {"code": "9", "name": "Coaching", "name_zh": "辅导"},
    "users": {"name": "sup", "role": "supervisor", "password": "a-good-password"},
    "schedules": {"name": "night", "work_days": [1, 2, 3, 4, 5, 6, 7],
                  "work_hours": [{"start": "20:00", "end": "24:00"}]},
    "ivr_flows": {"name": "simple", "start": "bye", "nodes": [{"id": "bye", "kind": "hangup", "prompt": "goodbye"}]},
    "dids": {"number": "8001", "schedule": "business_hours", "default": {"kind": "flow", "target": "main"}},
}

# For each kind: a body with one broken field, and the field that must be named.
BAD: dict[str, list[tuple[dict[str, Any], str]]] = {
    "departments": [({"id": "Bad Id", "name": "x"}, "id"), ({"id": "ok"}, "name")],
    "work_groups": [({"id": "g", "name": "G", "department": "missing"}, "department")],
    "skills": [({"id": "s", "name": ""}, "name")],
    "extensions": [({"number": "12a", "password": "a-good-password"}, "number"),
                   ({"number": "2002", "password": "short"}, "password"),
                   ({"number": "2003", "ha1_md5": "abc"}, "ha1_md5")],
    "staff": [({"employee_no": "2002", "name": "A", "level": 10}, "level"),
              ({"employee_no": "2002", "name": "A", "role": "boss"}, "role"),
              ({"employee_no": "2002", "name": "A", "skills": [{"skill": "sales", "level": -1}]}, "skills.0.level"),
              ({"employee_no": "2002", "name": "A", "skills": [{"skill": "cooking"}]}, "skills"),
              ({"employee_no": "2002", "name": "A", "pin": "12"}, "pin")],
    "voicemail_boxes": [({"id": "b", "name": "B", "max_message_s": 5}, "max_message_s")],
    "queues": [({"id": "q", "name": "Q", "strategy": "fastest"}, "strategy"),
               ({"id": "q", "name": "Q", "members": ["9999"]}, "members"),
               ({"id": "q", "name": "Q", "ring_timeout_s": 1}, "ring_timeout_s"),
               ({"id": "q", "name": "Q", "on_full": {"kind": "teleport"}}, "on_full.kind")],
    "vip_list": [({"number": "not a number"}, "number")],
    "blacklist": [({"number": ""}, "number")],
    "trunks": [({"id": "t", "name": "T", "port": 70000}, "port"), ({"id": "t", "name": "T", "kind": "isdn"}, "kind")],
    "pause_reasons": [({"code": "123", "name": "x", "name_zh": "x"}, "code")],
    "users": [({"name": "bad name", "role": "agent"}, "name"), ({"name": "u", "surprise": 1}, "surprise")],
    "schedules": [({"name": "x", "work_days": [8]}, "work_days.0"),
                  ({"name": "x", "timezone": "Mars/Base"}, "timezone"),
                  ({"name": "x", "work_hours": [{"start": "25:00", "end": "18:00"}]}, "work_hours.0")],
    "ivr_flows": [
        ({"name": "f", "start": "a", "nodes": [{"id": "a", "kind": "play", "prompt": "welcome", "next": "zz"}]},
         "nodes.0.next"),
        ({"name": "f", "start": "a", "nodes": [{"id": "a", "kind": "queue", "queue": "nope"}]}, "nodes.0.queue"),
        ({"name": "f", "start": "a", "nodes": [{"id": "a", "kind": "teleport"}]}, "nodes.0"),
        ({"name": "f", "start": "a", "nodes": [{"id": "a", "kind": "menu", "prompt": "p",
                                                 "options": [{"digit": "1", "next": "a"}]}]}, "nodes.0.invalid"),
    ],
    "dids": [({"number": "8001", "schedule": "nope", "default": {"kind": "hangup"}}, "schedule"),
             ({"number": "8001", "schedule": "business_hours", "default": {"kind": "queue", "target": "nope"}},
              "default.target"),
             ({"number": "8001", "schedule": "business_hours", "default": {"kind": "hangup"}, "surprise": 1},
              "surprise")],
}


def test_every_kind_has_bad_input_cases() -> None:
    assert set(BAD) == {k.name for k in all_kinds()} == set(VALID)


@pytest.mark.parametrize("kind", sorted(BAD))
async def test_bad_input_to_every_create_endpoint_names_the_field_and_changes_nothing(admin: Client, kind: str) -> None:
    config_before = admin.appliance.core.store.path.read_bytes()
    _, audit_before = await admin.call("GET", "/api/v1/audit")
    for body, field in BAD[kind]:
        status, data = await admin.call("POST", f"/api/v1/{kind}", body)
        assert 400 <= status < 500, (body, data)
        assert data["error_id"] == "validation_failed"
        fields = [f["field"] for f in data["details"]["fields"]]
        assert field in fields, (body, fields)
        for f in data["details"]["fields"]:
            assert f["rule"] and f["message"] and f["message_zh"]
    status, data = await admin.call("POST", f"/api/v1/{kind}", raw=b"{not json")
    assert status == 400 and data["error_id"] == "bad_json"
    status, data = await admin.call("POST", f"/api/v1/{kind}", [1, 2])
    assert status == 422
    assert admin.appliance.core.store.path.read_bytes() == config_before
    _, audit_after = await admin.call("GET", "/api/v1/audit")
    assert audit_after["total"] == audit_before["total"]
    # and the valid body goes through
    status, data = await admin.call("POST", f"/api/v1/{kind}", VALID[kind])
    assert status == 201, data


async def test_secrets_are_write_only_and_hashed(admin: Client) -> None:
    status, data = await admin.call("POST", "/api/v1/extensions", VALID["extensions"])
    assert status == 201
    assert "password" not in data and "ha1_md5" not in data and data["has_password"] is True
    text = admin.appliance.core.store.path.read_text()
    assert "a-good-password" not in text
    _, audit = await admin.call("GET", "/api/v1/audit?kind=extensions")
    assert "ha1" not in json.dumps(audit) and "a-good-password" not in json.dumps(audit)


async def test_staff_are_never_deleted_only_leave_and_are_reinstated(admin: Client) -> None:
    status, data = await admin.call("DELETE", "/api/v1/staff/1001")
    assert status == 403 and data["error_id"] == "not_deletable"
    status, data = await admin.call("POST", "/api/v1/staff/1001/leave", {"reason": "moved to Shenzhen"})
    assert status == 200 and data["status"] == "left"
    assert data["employment"][-1]["left"] is not None
    status, data = await admin.call("POST", "/api/v1/staff/1001/leave", {})
    assert status == 409
    status, data = await admin.call("GET", "/api/v1/staff?status=left")
    assert [s["employee_no"] for s in data["items"]] == ["1001"]
    status, data = await admin.call("POST", "/api/v1/staff/1001/reinstate")
    assert status == 200 and data["status"] == "active"
    assert len(data["employment"]) == 2  # the earlier period is kept
    status, data = await admin.call("PATCH", "/api/v1/staff/1001", {"status": "left"})
    assert status == 422 and data["details"]["fields"][0]["field"] == "status"
    _, audit = await admin.call("GET", "/api/v1/audit?kind=staff&key=1001")
    assert [e["action"] for e in audit["items"]][:2] == ["reinstate", "leave"]


async def test_update_replace_and_patch_with_audit_before_after(admin: Client) -> None:
    status, data = await admin.call("PATCH", "/api/v1/queues/sales", {"ring_timeout_s": 25})
    assert status == 200 and data["ring_timeout_s"] == 25 and data["members"] == ["1001", "1002", "1003"]
    status, data = await admin.call("PUT", "/api/v1/queues/sales", {"id": "sales", "name": "Sales only"})
    assert status == 200 and data["members"] == [] and data["name"] == "Sales only"
    status, data = await admin.call("PUT", "/api/v1/queues/sales", {"id": "other", "name": "x"})
    assert status == 422 and data["details"]["fields"][0]["field"] == "id"
    _, audit = await admin.call("GET", "/api/v1/audit?kind=queues&key=sales")
    latest = audit["items"][0]
    assert latest["actor"] == "admin" and latest["action"] == "update"
    assert latest["before"]["ring_timeout_s"] == 25 and latest["after"]["name"] == "Sales only"


async def test_delete_refused_while_in_use(admin: Client) -> None:
    status, data = await admin.call("DELETE", "/api/v1/skills/sales")
    assert status == 409 and "queues/sales" in data["details"]["used_by"]
    status, data = await admin.call("DELETE", "/api/v1/queues/sales")
    assert status == 409 and "ivr_flows/main" in data["details"]["used_by"]
    status, data = await admin.call("DELETE", "/api/v1/ivr_flows/off_hours")
    assert status == 409 and "dids/8000" in data["details"]["used_by"]


async def test_editing_a_flow_makes_a_new_version(admin: Client) -> None:
    _, flow = await admin.call("GET", "/api/v1/ivr_flows/main")
    status, data = await admin.call("PATCH", "/api/v1/ivr_flows/main", {"title": "New title"})
    assert status == 200 and data["version"] == flow["version"] + 1 and data["title"] == "New title"


async def test_demo_tenant_routes_8000_to_main_in_work_hours_and_off_hours_to_voicemail(admin: Client) -> None:
    _, did = await admin.call("GET", "/api/v1/dids/8000")
    routes = {r["period"]: r["destination"] for r in did["routes"]}
    assert routes["work_hours"] == {"kind": "flow", "target": "main", "skill": "", "priority": 0}
    _, off = await admin.call("GET", f"/api/v1/ivr_flows/{routes['off_hours']['target']}")
    assert any(n["kind"] == "voicemail" for n in off["nodes"])
    _, main = await admin.call("GET", "/api/v1/ivr_flows/main")
    menu = next(n for n in main["nodes"] if n["kind"] == "menu")
    assert {o["digit"] for o in menu["options"]} == {"1", "2", "0"}


async def test_paging_filter_and_search(admin: Client) -> None:
    status, data = await admin.call("GET", "/api/v1/staff?limit=2&offset=1")
    assert status == 200 and data["total"] == 6 and [s["employee_no"] for s in data["items"]] == ["1002", "1003"]
    _, data = await admin.call("GET", "/api/v1/staff?role=supervisor")
    assert [s["employee_no"] for s in data["items"]] == ["1901"]
    _, data = await admin.call("GET", "/api/v1/staff?q=李娜")
    assert [s["employee_no"] for s in data["items"]] == ["1003"]
    status, data = await admin.call("GET", "/api/v1/staff?limit=0")
    assert status == 422 and data["details"]["fields"][0]["field"] == "limit"


async def test_roles_are_enforced(admin: Client) -> None:
    await admin.call("POST", "/api/v1/users", {"name": "agent1", "role": "agent", "password": "agent-password"})
    await admin.call("POST", "/api/v1/users", {"name": "sup1", "role": "supervisor", "password": "super-password"})
    _, agent = await admin.call("POST", "/api/v1/login", {"name": "agent1", "password": "agent-password"})
    _, sup = await admin.call("POST", "/api/v1/login", {"name": "sup1", "password": "super-password"})
    status, _ = await admin.call("GET", "/api/v1/staff", token=agent["token"])
    assert status == 403
    status, _ = await admin.call("GET", "/api/v1/staff", token=sup["token"])
    assert status == 200
    status, _ = await admin.call("POST", "/api/v1/skills", {"id": "x", "name": "X"}, token=sup["token"])
    assert status == 403
    status, data = await admin.call("GET", "/api/v1/me", token=agent["token"])
    assert status == 200 and data["role"] == "agent"
    status, _ = await admin.call("GET", "/api/v1/staff", token="not-a-token")
    assert status == 401


async def test_export_then_import_round_trips_and_a_bad_import_changes_nothing(admin: Client) -> None:
    status, exported = await admin.call("GET", "/api/v1/config/export")
    assert status == 200 and exported["entities"]["staff"]
    before = admin.appliance.core.store.path.read_bytes()
    broken = json.loads(json.dumps(exported))
    broken["entities"]["queues"][0]["strategy"] = "nonsense"
    status, data = await admin.call("POST", "/api/v1/config/import", broken)
    assert status == 422 and data["details"]["fields"][0]["field"] == "entities.queues.0.strategy"
    assert admin.appliance.core.store.path.read_bytes() == before
    status, data = await admin.call("POST", "/api/v1/config/import", exported)
    assert status == 200 and data["imported"] == sum(len(v) for v in exported["entities"].values())


async def test_openapi_document_is_valid_and_covers_every_route(admin: Client) -> None:
    status, doc = await admin.call("GET", "/api/v1/openapi.json")
    assert status == 200
    validate(doc)
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for route in admin.appliance.http_app.router.routes:
        path = "/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path)
        if not path.startswith("/api/"):
            continue  # the pages and their assets are not the API
        for method in route.methods:
            if method in ("HEAD", "OPTIONS"):
                continue
            served.add((path, method.lower()))
    assert served == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (path, method)


async def test_unknown_route_is_a_json_404(admin: Client) -> None:
    status, data = await admin.call("GET", "/api/v1/nothing-here")
    assert status == 404 and data["error_id"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/login", "/api/v1/setup", "/api/v1/departments"])
async def test_deeply_nested_json_is_a_400_not_a_500(admin: Client, path: str) -> None:
    body = "[" * 100_000 + "]" * 100_000
    status, data = await admin.call("POST", path, raw=body.encode())
    assert status == 400 and data["error_id"] == "bad_json", data
