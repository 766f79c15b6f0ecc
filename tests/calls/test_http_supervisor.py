"""A supervisor's data scope on the call-control API in-process, and the console's own routes (monitor mode,
monitors, moving a waiting call): who may act on what, and bad input named. The real switching of modes and
moving of calls with phones is the supervisor console's browser test (tests/web/test_supervisor_console.py)."""

from __future__ import annotations

from appliance.calls.live import Monitor
from appliance.calls.models import CallPhase
from tests.api_client import Client
from tests.calls.test_http import add_call, agents, field_names, login_as


async def sales_supervisor(admin: Client) -> str:
    status, _ = await admin.call("PATCH", "/api/v1/staff/1901", {"managed_groups": ["sales-team"],
                                                                  "managed_queues": ["sales"]})
    assert status == 200
    return await login_as(admin, "zhaomin", "supervisor", staff="1901")


async def test_a_supervisor_sees_and_acts_on_only_their_groups_agents_calls_and_queues(admin: Client) -> None:
    sup = await sales_supervisor(admin)
    assert set(await agents(admin, sup)) == {"1001", "1002", "1003", "1901"}
    assert {"1004", "1005"} <= set(await agents(admin))  # the admin sees everyone
    await admin.call("POST", "/api/v1/agents/1004/login")
    for path, body in (("force", {"state": "busy"}), ("force", {"state": "logged_out"}), ("pause", {}),
                       ("logout", None), ("login", {})):
        status, data = await admin.call("POST", f"/api/v1/agents/1004/{path}", body, token=sup)
        assert status == 403 and data["error_id"] == "forbidden", (path, data)
    assert (await agents(admin))["1004"]["state"] == "idle"  # nothing changed
    await admin.call("POST", "/api/v1/agents/1002/login")
    status, view = await admin.call("POST", "/api/v1/agents/1002/force", {"state": "busy", "reason": "2"}, token=sup)
    assert status == 200 and (view["state"], view["reason"]) == ("paused", "2")

    add_call(admin, "s-mine", agent="1002")
    add_call(admin, "s-other", agent="1004")
    status, calls = await admin.call("GET", "/api/v1/calls", token=sup)
    assert status == 200 and [c["id"] for c in calls["items"]] == ["s-mine"]
    for path, body in (("", None), ("/hangup", {}), ("/monitor", {"mode": "listen", "extension": "1901"}),
                       ("/transfer", {"target": "1003"}), ("/hold", {})):
        status, data = await admin.call("GET" if not path else "POST", f"/api/v1/calls/s-other{path}", body, token=sup)
        assert status == 403 and data["error_id"] == "forbidden", (path, data)
    status, queues = await admin.call("GET", "/api/v1/queues/status", token=sup)
    assert status == 200 and [q["queue"] for q in queues["items"]] == ["sales"]


async def test_monitor_mode_names_bad_input_and_keeps_to_the_scope(admin: Client) -> None:
    sup = await sales_supervisor(admin)
    status, data = await admin.call("POST", "/api/v1/calls/s-none/monitor-mode", {"mode": "shout"})
    assert status == 422 and field_names(data) == {"mode"}
    status, _ = await admin.call("POST", "/api/v1/calls/s-none/monitor-mode", {"mode": "whisper"})
    assert status == 404
    add_call(admin, "s-plain", agent="1002")
    status, data = await admin.call("POST", "/api/v1/calls/s-plain/monitor-mode", {"mode": "whisper"})
    assert status == 409, data  # not a supervisor's monitoring call
    add_call(admin, "s-other", agent="1004")
    spy = add_call(admin, "s-spy", agent="1901")
    spy.monitor = Monitor("s-other", "1004", "listen")
    status, data = await admin.call("POST", "/api/v1/calls/s-spy/monitor-mode", {"mode": "barge"}, token=sup)
    assert status == 403, data
    status, listed = await admin.call("GET", "/api/v1/monitors", token=sup)
    assert status == 200 and listed["items"] == []  # another group's agent's call
    status, listed = await admin.call("GET", "/api/v1/monitors")
    assert status == 200 and [(m["call"], m["agent"], m["mode"]) for m in listed["items"]] == [
        ("s-spy", "1004", "listen")]


async def test_moving_a_call_names_bad_input_and_keeps_to_the_scope(admin: Client) -> None:
    sup = await sales_supervisor(admin)
    add_call(admin, "s-wait", phase=CallPhase.QUEUED)  # waiting in sales (as far as the API can tell)
    for body, name in (({}, "queue"), ({"queue": "sales", "agent": "1002"}, "queue"), ({"queue": "nowhere"}, "queue"),
                       ({"queue": "sales"}, "queue"), ({"agent": "7777"}, "agent"), ({"agent": 5}, "agent")):
        status, data = await admin.call("POST", "/api/v1/calls/s-wait/move", body)
        assert status == 422 and field_names(data) == {name}, (body, data)
    for body in ({"queue": "support"}, {"agent": "1004"}):  # out of the sales supervisor's scope
        status, data = await admin.call("POST", "/api/v1/calls/s-wait/move", body, token=sup)
        assert status == 403, (body, data)
    status, data = await admin.call("POST", "/api/v1/calls/s-wait/move", {"queue": "support"})
    assert status == 409, data  # the ACD does not hold this call: nothing to move
    add_call(admin, "s-talk", agent="1002")
    status, data = await admin.call("POST", "/api/v1/calls/s-talk/move", {"queue": "support"})
    assert status == 409, data
    status, _ = await admin.call("POST", "/api/v1/calls/s-gone/move", {"queue": "support"})
    assert status == 404
