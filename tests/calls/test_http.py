"""The call-control API in-process: agent actions against the real controller and ACD (no SIP sockets), active
calls, queue status, roles, bad input, and the routes without telephony."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from appliance.acd.events import AgentStateChanged
from appliance.app import create_appliance
from appliance.calls.live import LiveCall
from appliance.calls.messages import ApiHangup
from appliance.calls.models import Call, CallPhase, Direction, LegRole, LegState
from appliance.config import RunConfig
from appliance.events import Event
from tests.api_client import Client


async def login_as(admin: Client, name: str, role: str, staff: str | None = None) -> str:
    body: dict[str, Any] = {"name": name, "role": role, "password": f"{name}-password"}
    if staff is not None:
        body["staff"] = staff
    status, data = await admin.call("POST", "/api/v1/users", body)
    assert status == 201, data
    status, data = await admin.call("POST", "/api/v1/login", {"name": name, "password": f"{name}-password"})
    assert status == 200, data
    return str(data["token"])


async def agents(client: Client, token: str | None = None) -> dict[str, dict[str, Any]]:
    status, data = await client.call("GET", "/api/v1/agents", token=token)
    assert status == 200, data
    return {a["agent"]: a for a in data["items"]}


def field_names(data: dict[str, Any]) -> set[str]:
    return {f["field"] for f in data["details"]["fields"]}


def add_call(client: Client, call_id: str, agent: str = "", phase: CallPhase = CallPhase.CONNECTED) -> LiveCall:
    """A call as the controller holds it, without SIP: the API reads calls, it does not care how they came."""
    assert client.appliance.telephony is not None
    controller = client.appliance.telephony.controller
    call = Call(id=call_id, direction=Direction.INBOUND, caller="13800000000", callee="8000", started_at=1000.0,
                caller_leg=f"{call_id}-a", did="8000", phase=phase, queue="sales", agent=agent,
                queued_at=1002.0, answered_at=1000.5, agent_answered_at=1010.0 if agent else None)
    call.legs[f"{call_id}-a"] = LegState(object(), LegRole.CALLER, "13800000000", 1000.0,  # type: ignore[arg-type]
                                         answered_at=1000.5)
    if agent:
        call.legs[f"{call_id}-b"] = LegState(object(), LegRole.AGENT, agent, 1005.0,  # type: ignore[arg-type]
                                             agent_id=agent, answered_at=1010.0)
    call.ivr_path = ["main", "menu"]
    call.variables["customer"] = "VIP-7"
    call.note(1000.0, "incoming", "13800000000 → 8000")
    live = LiveCall(call)
    controller.registry.add(live)
    return live


# ---------------------------------------------------------------------------- agents


async def test_agent_login_pause_unpause_wrap_up_and_logout(admin: Client) -> None:
    before = await agents(admin)
    assert before["1001"]["state"] == "logged_out"
    assert set(before) >= {"1001", "1002", "1003", "1004", "1005"}

    status, view = await admin.call("POST", "/api/v1/agents/1001/login")
    assert status == 200, view
    assert view["agent"] == "1001" and view["state"] == "idle" and view["extension"] == "1001"
    assert (await agents(admin))["1001"]["state"] == "idle"

    status, view = await admin.call("POST", "/api/v1/agents/1001/pause", {"reason": "2"})
    assert status == 200 and view["state"] == "paused" and view["reason"] == "2"
    assert (await agents(admin))["1001"]["state"] == "paused"

    status, view = await admin.call("POST", "/api/v1/agents/1001/unpause")
    assert status == 200 and view["state"] == "idle"

    # Not in wrap-up: the ACD refuses, and says which state the agent is in.
    status, data = await admin.call("POST", "/api/v1/agents/1001/wrap-up-done")
    assert status == 409 and data["error_id"] == "conflict" and data["details"]["state"] == "idle"

    status, view = await admin.call("POST", "/api/v1/agents/1001/logout")
    assert status == 200 and view["state"] == "logged_out"
    assert (await agents(admin))["1001"]["state"] == "logged_out"


async def test_pause_without_reason_takes_the_first_configured_one_and_an_unknown_reason_is_named(
        admin: Client) -> None:
    await admin.call("POST", "/api/v1/agents/1002/login")
    status, data = await admin.call("POST", "/api/v1/agents/1002/pause", {"reason": "coffee"})
    assert status == 422 and field_names(data) == {"reason"}
    assert (await agents(admin))["1002"]["state"] == "idle"
    status, view = await admin.call("POST", "/api/v1/agents/1002/pause")
    assert status == 200 and view["state"] == "paused" and view["reason"] == "1"


async def test_login_at_another_extension_and_bad_extensions(admin: Client) -> None:
    status, view = await admin.call("POST", "/api/v1/agents/1003/login", {"extension": "1005"})
    assert status == 200 and view["extension"] == "1005" and view["state"] == "idle"
    status, data = await admin.call("POST", "/api/v1/agents/1004/login", {"extension": "12a"})
    assert status == 422 and field_names(data) == {"extension"}
    status, data = await admin.call("POST", "/api/v1/agents/1004/login", {"extension": 1004})
    assert status == 422 and field_names(data) == {"extension"}
    status, data = await admin.call("POST", "/api/v1/agents/1004/login", {"extension": "9999"})
    assert status == 409  # no such phone
    status, data = await admin.call("POST", "/api/v1/agents/1004/login", raw=b"{not json")
    assert status == 400 and data["error_id"] == "bad_json"
    status, data = await admin.call("POST", "/api/v1/agents/1004/login", ["1004"])
    assert status == 422 and field_names(data) == {"body"}
    assert (await agents(admin))["1004"]["state"] == "logged_out"


async def test_unknown_agent_is_a_404_naming_the_agent(admin: Client) -> None:
    for action in ("login", "logout", "pause", "unpause", "wrap-up-done"):
        status, data = await admin.call("POST", f"/api/v1/agents/7777/{action}")
        assert status == 404 and data["details"] == {"kind": "agent", "key": "7777"}, (action, data)
    status, data = await admin.call("POST", "/api/v1/agents/7777/force", {"state": "idle"})
    assert status == 404 and data["details"]["key"] == "7777"


async def test_supervisor_forces_agents_busy_idle_and_logged_out(admin: Client) -> None:
    sup = await login_as(admin, "zhaomin", "supervisor", staff="1901")
    seen: list[Event] = []
    bus = admin.appliance.core.bus
    sub = bus.subscribe(seen.append, {"acd.agent_state_changed"})
    try:
        await admin.call("POST", "/api/v1/agents/1005/login")
        status, view = await admin.call("POST", "/api/v1/agents/1005/force", {"state": "busy", "reason": "3"},
                                        token=sup)
        assert status == 200 and view["state"] == "paused" and view["reason"] == "3"
        status, view = await admin.call("POST", "/api/v1/agents/1005/force", {"state": "idle"}, token=sup)
        assert status == 200 and view["state"] == "idle"
        status, view = await admin.call("POST", "/api/v1/agents/1005/force", {"state": "logged_out"}, token=sup)
        assert status == 200 and view["state"] == "logged_out"
    finally:
        bus.unsubscribe(sub)
    forced = [e for e in seen if isinstance(e, AgentStateChanged) and e.agent_id == "1005"]
    assert [(e.new, e.by) for e in forced] == [
        ("idle", ""), ("paused", "zhaomin"), ("idle", "zhaomin"), ("logged_out", "zhaomin"),
    ]


async def test_force_rejects_bad_state_and_reason_naming_the_field(admin: Client) -> None:
    await admin.call("POST", "/api/v1/agents/1001/login")
    for body, name in (({"state": "asleep"}, "state"), ({}, "state"), ({"state": "busy", "reason": "nap"}, "reason"),
                       ({"state": "busy", "reason": 3}, "reason")):
        status, data = await admin.call("POST", "/api/v1/agents/1001/force", body)
        assert status == 422 and field_names(data) == {name}, (body, data)
    assert (await agents(admin))["1001"]["state"] == "idle"


async def test_an_agent_acts_only_on_themselves_and_sees_only_themselves(admin: Client) -> None:
    me = await login_as(admin, "zhangwei", "agent", staff="1001")
    unlinked = await login_as(admin, "temp", "agent")
    status, view = await admin.call("POST", "/api/v1/agents/1001/login", token=me)
    assert status == 200 and view["state"] == "idle"
    status, view = await admin.call("POST", "/api/v1/agents/1001/pause", {"reason": "4"}, token=me)
    assert status == 200 and view["state"] == "paused"

    status, data = await admin.call("POST", "/api/v1/agents/1002/login", token=me)
    assert status == 403 and data["error_id"] == "forbidden"
    status, _ = await admin.call("POST", "/api/v1/agents/1001/force", {"state": "idle"}, token=me)
    assert status == 403  # supervisors only, even on oneself
    status, _ = await admin.call("POST", "/api/v1/agents/1001/unpause", token=unlinked)
    assert status == 403
    assert (await agents(admin))["1002"]["state"] == "logged_out"
    assert (await agents(admin))["1001"]["state"] == "paused"

    assert list(await agents(admin, me)) == ["1001"]
    status, _ = await admin.call("GET", "/api/v1/agents", token=unlinked)
    assert status == 403

    qa = await login_as(admin, "qa1", "qa")
    assert len(await agents(admin, qa)) >= 5
    status, _ = await admin.call("POST", "/api/v1/agents/1001/unpause", token=qa)
    assert status == 403  # QA reads, never acts
    status, _ = await admin.call("GET", "/api/v1/agents", token="not-a-token")
    assert status == 401


# ---------------------------------------------------------------------------- queues


async def test_queue_status_counts_logged_in_and_idle_agents_beside_the_queue_configuration(admin: Client) -> None:
    await admin.call("POST", "/api/v1/agents/1001/login")
    await admin.call("POST", "/api/v1/agents/1003/login")
    await admin.call("POST", "/api/v1/agents/1003/pause", {"reason": "1"})
    status, data = await admin.call("GET", "/api/v1/queues/status")
    assert status == 200
    queues = {q["queue"]: q for q in data["items"]}
    assert queues["sales"] == {"queue": "sales", "name": "销售", "waiting": 0, "logged_in": 2, "idle": 1,
                               "longest_wait": 0.0}
    assert queues["support"]["logged_in"] == 1 and queues["support"]["idle"] == 0
    # The configuration route for one queue is still the configuration route.
    status, data = await admin.call("GET", "/api/v1/queues/sales")
    assert status == 200 and data["id"] == "sales" and "members" in data


# ---------------------------------------------------------------------------- calls


async def test_active_calls_list_details_and_hangup(admin: Client) -> None:
    add_call(admin, "c1-1", agent="1001")
    live = add_call(admin, "c1-2", phase=CallPhase.QUEUED)
    status, data = await admin.call("GET", "/api/v1/calls")
    assert status == 200 and data["total"] == 2
    first = data["items"][0]
    assert first["id"] == "c1-1" and first["direction"] == "inbound" and first["phase"] == "connected"
    assert first["agent"] == "1001" and first["agent_answered_at"] == 1010.0 and first["did"] == "8000"
    assert [(leg["role"], leg["party"]) for leg in first["legs"]] == [("caller", "13800000000"), ("agent", "1001")]

    status, detail = await admin.call("GET", "/api/v1/calls/c1-1")
    assert status == 200
    assert detail["ivr_path"] == ["main", "menu"] and detail["variables"] == {"customer": "VIP-7"}
    assert detail["timeline"] == [[1000.0, "incoming", "13800000000 → 8000"]]

    status, data = await admin.call("POST", "/api/v1/calls/c1-2/hangup")
    assert status == 202 and data == {"call_id": "c1-2", "accepted": True}
    assert live.inbox.get_nowait() == ApiHangup()  # the call's own task carries it out

    status, data = await admin.call("GET", "/api/v1/calls/c9-9")
    assert status == 404 and data["details"] == {"kind": "call", "key": "c9-9"}
    status, data = await admin.call("POST", "/api/v1/calls/c9-9/hangup")
    assert status == 404


async def test_an_agent_sees_and_hangs_up_only_their_own_calls(admin: Client) -> None:
    mine = add_call(admin, "c2-1", agent="1001")
    theirs = add_call(admin, "c2-2", agent="1002")
    me = await login_as(admin, "zhangwei", "agent", staff="1001")
    status, data = await admin.call("GET", "/api/v1/calls", token=me)
    assert status == 200 and [c["id"] for c in data["items"]] == ["c2-1"]
    status, _ = await admin.call("GET", "/api/v1/calls/c2-2", token=me)
    assert status == 403
    status, _ = await admin.call("POST", "/api/v1/calls/c2-2/hangup", token=me)
    assert status == 403
    assert theirs.inbox.empty()
    status, _ = await admin.call("POST", "/api/v1/calls/c2-1/hangup", token=me)
    assert status == 202 and mine.inbox.get_nowait() == ApiHangup()
    qa = await login_as(admin, "qa1", "qa")
    status, data = await admin.call("GET", "/api/v1/calls", token=qa)
    assert status == 200 and data["total"] == 2
    status, _ = await admin.call("POST", "/api/v1/calls/c2-1/hangup", token=qa)
    assert status == 403


# ---------------------------------------------------------------------------- without telephony


async def test_without_telephony_the_routes_exist_and_answer_503_and_records_still_work(
        admin: Client, tmp_path: Path) -> None:
    from tests.api_client import ADMIN_PASSWORD

    data_dir = tmp_path / "plain"
    shutil.copytree(admin.appliance.core.data_dir, data_dir, ignore=shutil.ignore_patterns(".appliance.lock"))
    plain = create_appliance(RunConfig(data_dir=data_dir, http_port=0, https_port=0), telephony=False)
    await plain.prepare()
    try:
        names = [s.name for s in plain.services]
        assert plain.telephony is None and names[:2] == ["crash_recovery", "records_journal"] and "telephony" not in names
        client = Client(plain)
        status, data = await client.call("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
        assert status == 200
        client.token = data["token"]
        for method, path in (("GET", "/api/v1/calls"), ("GET", "/api/v1/calls/c1"), ("GET", "/api/v1/agents"),
                             ("POST", "/api/v1/calls/c1/hangup"), ("POST", "/api/v1/agents/1001/login"),
                             ("POST", "/api/v1/agents/1001/force"), ("GET", "/api/v1/queues/status")):
            status, data = await client.call(method, path, {"state": "idle"} if method == "POST" else None)
            assert status == 503 and data["error_id"] == "telephony_off", (path, data)
            assert data["message"] and data["message_zh"] and data["details"] == {}
        status, data = await client.call("GET", "/api/v1/cdr")
        assert status == 200 and data["total"] == 0
        _, with_calls = await admin.call("GET", "/api/v1/openapi.json")
        _, without = await client.call("GET", "/api/v1/openapi.json")
        assert with_calls["paths"] == without["paths"]
        assert "/api/v1/events" in without["paths"] and "/api/v1/queues/status" in without["paths"]
    finally:
        plain.core.close()
