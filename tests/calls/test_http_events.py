"""The live event stream over a real WebSocket: the app listens on a free port and a `websockets` client
connects; public events published on the bus arrive as JSON in the contract's shape (internal ones never),
filtered by topic and by role, and the bus subscription ends with the socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import pytest
from jsonschema import Draft202012Validator, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from appliance import public_events
from appliance.acd.events import AgentStateChanged
from appliance.app import Appliance
from appliance.calls.events import CallHeld
from appliance.calls.stream_hub import RING
from appliance.events import Event
from appliance.http_api import SESSION_COOKIE
from tests.api_client import Client
from tests.calls.test_http import login_as


@dataclass(frozen=True, slots=True, kw_only=True)
class Internal(Event):
    """An event that is not part of the public contract: it never leaves the process."""

    topic: ClassVar[str] = "calls.internal_test"
    n: int


def ping(n: int, agent: str = "", at: float = 0.0) -> CallHeld:
    return CallHeld(at=at, call_id=f"c{n}", held=True, agent=agent)


def state_changed(agent: str, new: str) -> AgentStateChanged:
    return AgentStateChanged(at=1.0, agent_id=agent, old="idle", new=new, reason="", since=0.0, duration=1.0)


@asynccontextmanager
async def serving(appliance: Appliance) -> AsyncIterator[int]:
    """The HTTP app alone on a free port (no SIP, no media)."""
    server: Any = await appliance.http_app.create_server(host="127.0.0.1", port=0, return_asyncio_server=True,
                                                         access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield int(server.server.sockets[0].getsockname()[1])
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def receive(ws: ClientConnection) -> Any:
    """One frame: an event (or a notice) as an object, or a batch stream's list of events."""
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def post(port: int, path: str, token: str | None, body: Any = None) -> int:
    """A request to the listening app (the in-process test client cannot share an app that is serving)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        return response.status_code


def url(port: int, query: str = "") -> str:
    return f"ws://127.0.0.1:{port}/api/v1/events{query}"


async def test_events_arrive_as_json_and_the_subscription_ends_with_the_socket(admin: Client) -> None:
    bus = admin.appliance.core.bus
    base = bus.subscriber_count
    async with serving(admin.appliance) as port:
        async with connect(url(port), additional_headers={"Authorization": f"Bearer {admin.token}"}) as ws:
            await until(lambda: bus.subscriber_count == base + 1)
            bus.publish(Internal(n=0))
            bus.publish(ping(1, "你好", at=12.5))
            bus.publish(ping(2, at=13.0))
            assert await receive(ws) == {"topic": "calls.held", "v": public_events.VERSION, "at": 12.5, "call_id": "c1",
                                         "held": True, "agent": "你好"}
            assert (await receive(ws))["call_id"] == "c2"
        await until(lambda: bus.subscriber_count == base)
        # A second client after the first: nothing left behind from the first.
        async with connect(url(port, f"?token={admin.token}")) as ws:
            await until(lambda: bus.subscriber_count == base + 1)
        await until(lambda: bus.subscriber_count == base)


async def test_topics_filter_with_prefix_wildcards_and_real_agent_events(admin: Client) -> None:
    bus = admin.appliance.core.bus
    base = bus.subscriber_count
    async with serving(admin.appliance) as port:
        headers = {"Authorization": f"Bearer {admin.token}"}
        async with connect(url(port, "?topics=acd.*,voicemail.new"), additional_headers=headers) as ws:
            await until(lambda: bus.subscriber_count == base + 1)
            bus.publish(ping(1))  # not asked for
            assert await post(port, "/api/v1/agents/1001/login", admin.token) == 200
            event = await receive(ws)
            assert event["topic"] == "acd.agent_state_changed"
            assert (event["agent_id"], event["old"], event["new"], event["reason"]) == \
                ("1001", "logged_out", "idle", "login")
            assert await post(port, "/api/v1/agents/1001/pause", admin.token, {"reason": "2"}) == 200
            event = await receive(ws)
            assert (event["new"], event["reason"]) == ("paused", "2")
    await until(lambda: bus.subscriber_count == base)


async def test_the_stream_needs_a_session_and_valid_topics(admin: Client) -> None:
    bus = admin.appliance.core.bus
    base = bus.subscriber_count
    async with serving(admin.appliance) as port:
        for query, headers, status, error_id in (
            ("", {}, 401, "unauthorized"),
            ("?token=wrong", {}, 401, "unauthorized"),
            ("?topics=acd.*,BAD%20TOPIC", {"Authorization": f"Bearer {admin.token}"}, 422, "validation_failed"),
            # internal topics are not part of the contract: asking only for them names the field
            ("?topics=sip.*,legs.incoming", {"Authorization": f"Bearer {admin.token}"}, 422, "validation_failed"),
        ):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url(port, query), additional_headers=headers):
                    pass
            response = refused.value.response
            assert response.status_code == status, query
            body = json.loads(response.body or b"{}")
            assert body["error_id"] == error_id, body
            if status == 422:
                assert [f["field"] for f in body["details"]["fields"]] == ["topics"]
        # The session cookie works as it does for the other routes.
        cookie = {"Cookie": f"{SESSION_COOKIE}={admin.token}"}
        async with connect(url(port, "?topics=calls.held"), additional_headers=cookie) as ws:
            await until(lambda: bus.subscriber_count == base + 1)
            bus.publish(ping(7))
            assert (await receive(ws))["call_id"] == "c7"
    assert bus.subscriber_count == base


async def test_an_agent_receives_only_events_about_themselves(admin: Client) -> None:
    bus = admin.appliance.core.bus
    base = bus.subscriber_count
    me = await login_as(admin, "zhangwei", "agent", staff="1001")
    unlinked = await login_as(admin, "temp", "agent")
    async with serving(admin.appliance) as port:
        async with connect(url(port, f"?token={me}")) as ws:
            await until(lambda: bus.subscriber_count == base + 1)
            bus.publish(state_changed("1002", "paused"))
            bus.publish(ping(1, agent="1002"))
            bus.publish(state_changed("1001", "paused"))
            event = await receive(ws)
            assert (event["agent_id"], event["new"]) == ("1001", "paused")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url(port, f"?token={unlinked}")):
                pass
        assert refused.value.response.status_code == 403
    await until(lambda: bus.subscriber_count == base)


async def test_logging_out_ends_the_stream(admin: Client) -> None:
    bus = admin.appliance.core.bus
    base = bus.subscriber_count
    token = await login_as(admin, "qa1", "qa")
    async with serving(admin.appliance) as port:
        async with connect(url(port), additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await until(lambda: bus.subscriber_count == base + 1)
            bus.publish(ping(1))
            assert (await receive(ws))["call_id"] == "c1"
            assert await post(port, "/api/v1/logout", token) == 204
            bus.publish(ping(2))
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        await until(lambda: bus.subscriber_count == base)


async def test_stopping_the_server_ends_open_streams(admin: Client) -> None:
    bus = admin.appliance.core.bus
    base = bus.subscriber_count
    async with serving(admin.appliance) as port:
        ws = await connect(url(port), additional_headers={"Authorization": f"Bearer {admin.token}"})
        await until(lambda: bus.subscriber_count == base + 1)
    await until(lambda: bus.subscriber_count == base)
    await ws.close()


async def test_a_reader_that_falls_behind_is_told_how_many_events_it_lost(admin: Client) -> None:
    bus = admin.appliance.core.bus
    base = bus.subscriber_count
    async with serving(admin.appliance) as port:
        headers = {"Authorization": f"Bearer {admin.token}"}
        async with connect(url(port, "?topics=calls.*"), additional_headers=headers) as ws:
            await until(lambda: bus.subscriber_count == base + 1)
            for n in range(RING + 500):  # no await in between: the hub's ring overflows
                bus.publish(ping(n))
            assert await receive(ws) == {"topic": "stream.dropped", "dropped": 500}
            assert [(await receive(ws))["call_id"] for _ in range(RING)] == [f"c{n}" for n in range(500, RING + 500)]
    await until(lambda: bus.subscriber_count == base)


async def test_a_batch_stream_sends_what_came_together_in_one_frame(admin: Client) -> None:
    bus = admin.appliance.core.bus
    base = bus.subscriber_count
    async with serving(admin.appliance) as port:
        headers = {"Authorization": f"Bearer {admin.token}"}
        async with connect(url(port, "?topics=calls.*&batch=1"), additional_headers=headers) as ws, \
                connect(url(port, "?topics=calls.*"), additional_headers=headers) as single:
            await until(lambda: bus.subscriber_count == base + 1)  # one subscription serves both streams
            for n in range(3):  # published together: one frame of three for the batch stream
                bus.publish(ping(n))
            frame = await receive(ws)
            assert isinstance(frame, list) and [e["call_id"] for e in frame] == ["c0", "c1", "c2"]
            assert [(await receive(single))["call_id"] for _ in range(3)] == ["c0", "c1", "c2"]
            bus.publish(ping(3))
            assert [e["call_id"] for e in await receive(ws)] == ["c3"]
    await until(lambda: bus.subscriber_count == base)


async def test_openapi_documents_the_stream_as_a_get_that_upgrades(admin: Client) -> None:
    status, doc = await admin.call("GET", "/api/v1/openapi.json")
    assert status == 200
    op = doc["paths"]["/api/v1/events"]["get"]
    assert "WebSocket" in op["summary"] and "101" in op["responses"]
    assert {p["name"] for p in op["parameters"]} == {"topics", "token", "batch"}


async def test_every_public_event_has_a_schema_served_beside_the_openapi_document(admin: Client) -> None:
    status, body = await admin.call("GET", "/api/v1/events/schemas")
    assert status == 200 and body["version"] == public_events.VERSION
    assert set(body["events"]) == set(public_events.topics())
    assert {"calls.offered", "calls.ringing", "calls.answered", "calls.bridged", "calls.held", "calls.transferred",
            "calls.queued", "calls.dequeued", "calls.abandoned", "calls.ended", "calls.monitor_started",
            "acd.agent_state_changed", "acd.call_queued"} <= set(body["events"])
    ended = body["events"]["calls.ended"]
    Draft202012Validator.check_schema(ended)
    sample = public_events.to_public(state_changed("1001", "idle"))
    Draft202012Validator(body["events"]["acd.agent_state_changed"]).validate(sample)
    with pytest.raises(ValidationError):  # a field outside the contract is refused by the schema
        Draft202012Validator(body["events"]["acd.agent_state_changed"]).validate({**sample, "extra": 1})
