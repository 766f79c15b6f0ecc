"""The live event stream: a WebSocket at /api/v1/events that sends the public events (`appliance.public_events`)
as JSON, one per text frame (or, with `batch=1`, a JSON array of those that came together), filtered by topic; for agents, to the events that name them; for supervisors, to
the events of the agents and queues in their data scope (`appliance.calls.scope`), so a browser is never sent
what its page would have to hide.

It authenticates before the upgrade (a refusal is a plain JSON HTTP error), re-checks the session after any
log-out and at least every second (logging out closes the stream with 4401), and tells a reader that fell
behind how many events it lost instead of letting a stuck browser tab stall the bus. The fan-out is
`stream_hub.StreamHub`'s.
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
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from appliance.auth.models import ANY_ROLE, Session
from appliance.auth.service import AuthService
from appliance.calls.http import own_agent
from appliance.calls.scope import event_in_scope, scope_of_session
from appliance.calls.stream_hub import Published, StreamHub
from appliance.calls.wallboard import BoardScope
from appliance.domain.models import Role, Staff
from appliance.errors import ApplianceError, FieldError, ValidationFailed
from appliance.events import EventBus
from appliance.http_api import Api, Operation, Param, bearer_token
from appliance.public_events import public_topics

EVENTS_PATH = "/api/v1/events"
WS_UNAUTHORISED = 4401  # close code when the session ends while the stream is open (4000-4999: private use)
SEND_BUFFER_MAX = 1 << 20  # bytes queued to a client beyond which it is skipped (it falls behind, and is told)
SCOPE_REFRESH_S = 5.0  # a change of the groups a supervisor manages reaches an open stream within this
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


def parse_batch(raw: str | None) -> bool:
    """`batch=1`: each text frame carries a JSON array of events (one or more, in order) instead of one."""
    if raw is None or raw in ("", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise ValidationFailed([FieldError("batch", "boolean", "batch: 1 or 0", "batch: 应为 1 或 0")])


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


def make_stream_blueprint(api: Api, bus: EventBus, staff: Callable[[], Iterable[Staff]] | None = None) -> Blueprint:
    """`staff` reads the staff records, for supervisors' data scope (None: supervisors see every event)."""
    bp = Blueprint("event_stream", url_prefix="")
    hub = StreamHub(bus)

    async def ws_admission(request: Request) -> HTTPResponse | None:
        """Authenticate and validate before the upgrade, so a refusal is a plain JSON HTTP error."""
        if request.path != EVENTS_PATH:
            return None
        session = api.auth.authenticate(bearer_token(request) or request.args.get("token"))
        if session.role == Role.AGENT:
            own_agent(session)  # an agent login without a staff link has nothing to follow
        request.ctx.session = session
        request.ctx.topics = public_topics(parse_topics(request.args.get("topics")))
        request.ctx.batch = parse_batch(request.args.get("batch"))
        if not request.ctx.topics:
            raise ValidationFailed([FieldError(
                "topics", "public_topic", "topics: none of these is a public event topic (see /api/v1/events/schemas)",
                "topics: 其中没有公开的事件主题(见 /api/v1/events/schemas)")])
        return None

    async def events(request: Request, ws: Any) -> None:
        session: Session = request.ctx.session
        ended: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        reader = asyncio.ensure_future(_drain(ws))

        def gone(_: object) -> None:  # the client went
            if not ended.done():
                ended.set_result(None)

        reader.add_done_callback(gone)
        check = _SessionCheck(api.auth, bearer_token(request) or request.args.get("token"), session, staff)
        stream = _Stream(ws, request.ctx.topics, request.ctx.batch, check, ended)
        hub.add(stream)
        try:
            code = await ended
            if code is not None:
                await ws.close(code, "session ended")
        finally:
            hub.remove(stream)
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
                Param("token", description="the session token, for browsers that cannot set a header"),
                Param("batch", schema={"type": "string", "enum": ["0", "1"]},
                      description="1: each frame is a JSON array of one or more events, in order (busy boards)")),
        errors=(401, 403, 422),
    ))
    return bp


class _SessionCheck:
    """Whether a stream's session still holds, and which events it may see: the token is checked again when a
    session was ended anywhere (a log-out) or a second has passed (expiry), not for every batch."""

    def __init__(self, auth: AuthService, token: str | None, session: Session,
                 staff: Callable[[], Iterable[Staff]] | None) -> None:
        self._auth, self._token, self._session = auth, token, session
        self._ended_seen, self._checked_at = auth.sessions_ended, time.monotonic()
        self._scope = StreamScope(session, staff)
        # what this stream is sent depends on its session (an agent's, a supervisor's scope) or on its topics alone
        self.personal = session.role in (Role.AGENT, Role.SUPERVISOR)

    def holds(self) -> bool:
        now = time.monotonic()
        if self._auth.sessions_ended == self._ended_seen and now - self._checked_at < 1.0:
            return True
        self._ended_seen, self._checked_at = self._auth.sessions_ended, now
        try:
            self._auth.authenticate(self._token)
        except ApplianceError:
            return False
        return True

    def visible(self, data: dict[str, Any]) -> bool:
        return event_visible_to(self._session, data) and self._scope.allows(data)


class _Stream:
    """One WebSocket as a reader of the hub. It writes whole frames, framed by `websockets` once per batch
    and shared between the boards that are sent the same, straight to the socket's transport: Sanic's
    `ws.send` takes a lock and dispatches a lifecycle signal for each message, which with hundreds of boards
    was most of the event loop that also relays the calls' media. Frames are written whole, so they never
    interleave with the pongs and the close that Sanic's protocol writes itself."""

    cursor = 0

    def __init__(self, ws: Any, topics: set[str], batch: bool, check: _SessionCheck,
                 ended: asyncio.Future[int | None]) -> None:
        self._ws, self._topics, self._batch, self._ended, self._check = ws, topics, batch, ended, check
        self._topics_key = ",".join(sorted(topics))
        self._transport = ws.io_proto.transport

    def ready(self) -> bool:
        return (not self._ended.done() and self._ws.ws_proto.state is State.OPEN
                and not self._transport.is_closing() and self._transport.get_write_buffer_size() < SEND_BUFFER_MAX)

    def push(self, hub: StreamHub, lost: int, published: list[Published], start: int, head: int) -> None:
        if not self._check.holds():
            self._ended.set_result(WS_UNAUTHORISED)
            return
        frames: list[bytes] = []
        if lost:  # a slow reader lost the oldest events; say so, so a wallboard knows to re-read the state
            frames.append(_frame(json.dumps({"topic": "stream.dropped", "dropped": lost})))

        def chosen() -> list[str]:
            return [p.text for p in published if p.topic in self._topics and self._check.visible(p.data)]

        def framed() -> list[bytes]:
            texts = chosen()
            if not texts:
                return []
            # batch: one frame for all of them, a busy floor's hundreds of events a second
            return [_frame(f"[{','.join(texts)}]")] if self._batch else [_frame(t) for t in texts]

        # boards that see everything share the work: filtered and framed once per flush
        frames += framed() if self._check.personal else hub.shared((start, head, self._topics_key, self._batch), framed)
        if frames:
            self._transport.writelines(frames)


def _frame(text: str) -> bytes:
    """A server's (unmasked) text frame."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


async def _drain(ws: Any) -> None:
    """Read (and ignore) what the client sends until it closes: the close is how we learn it has gone."""
    with contextlib.suppress(Exception):
        while True:
            await ws.recv()
