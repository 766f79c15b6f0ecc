"""The live event stream: a WebSocket at /api/v1/events that sends the public events (`appliance.public_events`)
as JSON, one per text frame, filtered by topic; for agents, to the events that name them; for supervisors, to
the events of the agents and queues in their data scope (`appliance.calls.scope`), so a browser is never sent
what its page would have to hide.

It authenticates before the upgrade (a refusal is a plain JSON HTTP error), re-checks the session for every
event (logging out closes the stream with 4401), and tells a reader that fell behind how many events it lost
instead of letting a stuck browser tab stall the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE, Session
from appliance.calls.http import own_agent
from appliance.calls.scope import event_in_scope, scope_of_session
from appliance.calls.wallboard import BoardScope
from appliance.domain.models import Role, Staff
from appliance.errors import ApplianceError, FieldError, ValidationFailed
from appliance.events import Event, EventBus
from appliance.http_api import Api, Operation, Param, bearer_token
from appliance.public_events import public_topics, to_public

EVENTS_PATH = "/api/v1/events"
WS_UNAUTHORISED = 4401  # close code when the session ends while the stream is open (4000-4999: private use)
SCOPE_REFRESH_S = 5.0  # a change of the groups a supervisor manages reaches an open stream within this
BACKLOG_STREAK = 32  # queued events a stream sends before it yields to the loop again
_TOPIC = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$")


def parse_topics(raw: str | None) -> set[str] | None:
    """`acd.*,voicemail.new` → a topic set for `EventBus.stream`; None (every topic) when absent or `*`."""
    if raw is None or raw.strip() in ("", "*"):
        return None
    topics = {t.strip() for t in raw.split(",") if t.strip()}
    bad = sorted(t for t in topics if not _TOPIC.match(t))
    if bad or not topics:
        raise ValidationFailed([FieldError(
            "topics", "pattern", f"topics: comma-separated topics such as acd.* or acd.call_queued (bad: {bad})",
            f"topics: 应为逗号分隔的主题, 如 acd.* 或 acd.call_queued (无效: {bad})",
        )])
    return topics


def event_visible_to(session: Session, data: dict[str, Any]) -> bool:
    """Agents see only events about themselves (their state, offers to them, their calls' answers)."""
    if session.role != Role.AGENT:
        return True
    me = session.staff
    if not me:
        return False
    if data.get("agent_id") == me or data.get("agent") == me:
        return True
    agents = data.get("agent_ids")
    return isinstance(agents, list | tuple) and me in agents


class StreamScope:
    """One stream's data scope, read again every few seconds rather than for each event (a busy box sends
    hundreds a second to each of hundreds of boards)."""

    def __init__(self, session: Session, staff: Callable[[], Iterable[Staff]] | None) -> None:
        self._session, self._staff = session, staff
        self._scope: BoardScope | None = None
        self._read_at = 0.0

    def allows(self, data: dict[str, Any]) -> bool:
        if self._session.role != Role.SUPERVISOR or self._staff is None:
            return True
        now = time.monotonic()
        if self._scope is None or now - self._read_at >= SCOPE_REFRESH_S:
            self._scope, self._read_at = scope_of_session(self._session, self._staff()), now
        return event_in_scope(self._scope, data)


class EncodedEvents:
    """Each event's public form and JSON text, made once for all the streams that send it (hundreds of boards
    follow one bus: encoding per stream cost more than the send). Keyed by identity, holding the event so its
    id cannot be reused while remembered; the last few hundred are kept, more than one publish burst."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._last: dict[int, tuple[Event, dict[str, Any], str]] = {}

    def of(self, event: Event) -> tuple[dict[str, Any], str]:
        hit = self._last.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1], hit[2]
        data = to_public(event)  # the contract's shape, never the internal object
        text = json.dumps(data, ensure_ascii=False, default=str)
        if len(self._last) >= self._size:
            del self._last[next(iter(self._last))]  # the oldest (dicts keep insertion order)
        self._last[id(event)] = (event, data, text)
        return data, text


def make_stream_blueprint(api: Api, bus: EventBus, staff: Callable[[], Iterable[Staff]] | None = None) -> Blueprint:
    """`staff` reads the staff records, for supervisors' data scope (None: supervisors see every event)."""
    bp = Blueprint("event_stream", url_prefix="")
    encoded = EncodedEvents()


    async def ws_admission(request: Request) -> HTTPResponse | None:
        """Authenticate and validate before the upgrade, so a refusal is a plain JSON HTTP error."""
        if request.path != EVENTS_PATH:
            return None
        session = api.auth.authenticate(bearer_token(request) or request.args.get("token"))
        if session.role == Role.AGENT:
            own_agent(session)  # an agent login without a staff link has nothing to follow
        request.ctx.session = session
        request.ctx.topics = public_topics(parse_topics(request.args.get("topics")))
        if not request.ctx.topics:
            raise ValidationFailed([FieldError(
                "topics", "public_topic", "topics: none of these is a public event topic (see /api/v1/events/schemas)",
                "topics: 其中没有公开的事件主题(见 /api/v1/events/schemas)")])
        return None

    async def events(request: Request, ws: Any) -> None:
        session: Session = request.ctx.session
        token = bearer_token(request) or request.args.get("token")
        stream = bus.stream(request.ctx.topics)
        scope = StreamScope(session, staff)
        reader = asyncio.ensure_future(_drain(ws))
        try:
            dropped = streak = 0
            while not reader.done():
                event: Event
                if stream.queue.empty() or streak >= BACKLOG_STREAK:
                    streak = 0
                    getter = asyncio.ensure_future(stream.__anext__())
                    await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        break
                    event = getter.result()
                else:  # a backlog: no task and wait per event, but back to the loop every few (RTP waits on it)
                    event = stream.queue.get_nowait()
                    streak += 1
                try:
                    api.auth.authenticate(token)
                except ApplianceError:
                    await ws.close(WS_UNAUTHORISED, "session ended")
                    break
                if stream.dropped != dropped:
                    # A slow reader lost the oldest events; say so, so a wallboard knows to re-read the state.
                    await ws.send(json.dumps({"topic": "stream.dropped", "dropped": stream.dropped - dropped}))
                    dropped = stream.dropped
                data, text = encoded.of(event)
                if event_visible_to(session, data) and scope.allows(data):
                    await ws.send(text)
        finally:
            stream.close()
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    bp.on_request(ws_admission)
    bp.add_websocket_route(events, EVENTS_PATH, name="event_stream")
    # The stream is not an `Api.route` (Sanic upgrades it), so its operation is registered by hand.
    api.operations.append(Operation(
        "get", EVENTS_PATH,
        "Live events: upgrades to a WebSocket (Upgrade: websocket); each text frame is one public event as JSON "
        "(topic, v, at and the fields of its schema at /api/v1/events/schemas); agents receive only events "
        "about themselves, supervisors only those of the agents and queues they manage",
        "events", "event_stream", ANY_ROLE,
        response={"type": "object", "required": ["topic"], "properties": {
            "topic": {"type": "string"}, "at": {"type": "number"}}, "additionalProperties": True},
        response_status=101,
        params=(Param("topics", description="comma-separated topics; a trailing .* matches a prefix (acd.*)"),
                Param("token", description="the session token, for browsers that cannot set a header")),
        errors=(401, 403, 422),
    ))
    return bp


async def _drain(ws: Any) -> None:
    """Read (and ignore) what the client sends until it closes: the close is how we learn it has gone."""
    with contextlib.suppress(Exception):
        while True:
            await ws.recv()
