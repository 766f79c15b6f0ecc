"""`GET /api/v1/wallboard`: the live board's snapshot (`calls.wallboard`) with today's figures per queue and
agent, within the viewer's scope.

Today's figures come from the reports' half-hour roll-ups (`appliance.reports`), which the journal keeps with
each batch it writes (every 0.2 s), over the box's local day. A board adds the events that follow `at` to
them, with the same rules as the roll-ups: a call abandoned before `short_abandon_s` is not offered, an
answer within the queue's `service_level.target_s` counts towards the service level, and a
`records.call_completed` whose talk is over `long_call_s` is one of the calls over 15 s (seed 004's sign of an
interested customer). Today's IVR entries and abandons (`ivr.started`, `ivr.ended` with exit reason
`abandoned`) are the whole box's: they belong to no queue or agent.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from appliance.calls.wallboard import BoardScope, snapshot
from appliance.configuration.service import ConfigService
from appliance.errors import TelephonyOff
from appliance.http_api import Api, ok, session_of
from appliance.reports.models import Kind, Period, ReportQuery
from appliance.reports.rollups import LONG_CALL_S, SLOT
from appliance.reports.service import ReportService

if TYPE_CHECKING:
    from appliance.calls.service import CallService

WALLBOARD_PATH = "/api/v1/wallboard"
QUEUE_COUNTS = ("queued", "short_abandoned", "answered", "answered_in_sl", "abandoned", "timed_out", "overflowed",
                "long_calls")


def day_of(at: float, reports: ReportService) -> tuple[int, int]:
    """The local day holding `at` as [start, end) epoch seconds, on half-hour boundaries (the roll-ups')."""
    zone = reports.zone()
    day = datetime.fromtimestamp(at, zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone).timestamp()
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).timestamp()
    return int(start - start % SLOT), int(end - end % SLOT)


def queue_today(rows: list[dict[str, Any]]) -> dict[str, int]:
    """A queue's counts over today's rows (one per period; a day that crosses a change of offset has more)."""
    return {name: int(sum(r.get(name) or 0 for r in rows)) for name in QUEUE_COUNTS}


def make_blueprint(api: Api, service: CallService | None, config: ConfigService,
                   reports: ReportService) -> Blueprint:
    bp = Blueprint("wallboard", url_prefix="")

    async def wallboard(request: Request) -> HTTPResponse:
        if service is None:
            raise TelephonyOff()
        session = session_of(request)
        staff = config.store.list("staff")
        queues = config.store.list("queues")
        scope = BoardScope.of(config.scope_of(session.role, session.staff), staff)
        board = snapshot(service.controller, scope, staff, queues)
        start, end = day_of(board["at"], reports)
        names = tuple(str(q["queue"]) for q in board["queues"])
        agents = tuple(str(a["agent"]) for a in board["agents"])
        by_queue = (await reports.run(ReportQuery(kind=Kind.QUEUES, period=Period.DAY, start=start, end=end,
                                                  queues=names))).rows if names else ()
        by_agent = (await reports.run(ReportQuery(kind=Kind.AGENT_CALLS, period=Period.DAY, start=start, end=end,
                                                  agents=agents))).rows if agents else ()
        journeys = (await reports.run(ReportQuery(kind=Kind.IVR, period=Period.DAY, start=start, end=end))).rows
        entry_rows = [r for r in journeys if r["node"] == ""]  # a flow's own row; node rows count visits
        ivr_today = {name: int(sum(r.get(name) or 0 for r in entry_rows)) for name in ("entries", "abandoned")}
        policy = reports.policy()
        for q in board["queues"]:
            q["today"] = queue_today([r for r in by_queue if r["queue"] == q["queue"]])
            q["service_level"] = policy.level(str(q["queue"])).to_dict()
        for a in board["agents"]:
            a["answered_today"] = int(sum(r.get("answered") or 0 for r in by_agent if r["agent"] == a["agent"]))
        return ok({**board, "day": {"start": start, "end": end, "time_zone": reports.zone().key},
                   "short_abandon_s": policy.short_abandon_s, "long_call_s": LONG_CALL_S, "ivr_today": ivr_today})

    count = {"type": "integer", "minimum": 0}
    agent = {"type": "object", "required": ["agent", "state", "since"], "properties": {
        "agent": {"type": "string"}, "name": {"type": "string"}, "work_group": {"type": "string"},
        "department": {"type": "string"},
        "state": {"type": "string", "enum": ["logged_out", "idle", "ringing", "on_call", "wrap_up", "paused",
                                             "disconnected"]},
        "reason": {"type": "string", "description": "the pause reason's code (paused), else the last change's"},
        "since": {"type": ["number", "null"],
                  "description": "when the state began (epoch seconds; null: logged out since the box started)"},
        "answered": count, "misses": count, "extension": {"type": ["string", "null"]},
        "call": {"type": ["string", "null"], "description": "the call ringing or connected to the agent"},
        "number": {"type": "string", "description": "that call's other party"},
        "queue": {"type": "string", "description": "that call's queue (empty: not a queue call)"},
        "answered_today": count}}
    call = {"type": "object", "properties": {
        "call": {"type": "string"}, "caller": {"type": "string"},
        "since": {"type": "number", "description": "when it entered the queue (epoch seconds)"},
        "ringing": {"type": "boolean", "description": "offered to an agent now (not waiting)"}}}
    queue = {"type": "object", "required": ["queue", "waiting", "calls", "today"], "properties": {
        "queue": {"type": "string"}, "name": {"type": "string"}, "waiting": count, "logged_in": count, "idle": count,
        "longest_wait": {"type": "number"}, "members": {"type": "array", "items": {"type": "string"}},
        "calls": {"type": "array", "items": call},
        "service_level": {"type": "object", "properties": {"target_s": {"type": "number"},
                                                           "basis": {"type": "string", "enum": ["offered",
                                                                                                "answered"]}}},
        "today": {"type": "object", "properties": {name: count for name in QUEUE_COUNTS}}}}
    api.route(bp, "GET", WALLBOARD_PATH, wallboard,
              summary="The live board's snapshot (座席监控/队列监控): agents and queues now, the calls each queue holds "
                      "and today's figures, within the viewer's scope; a board follows /api/v1/events from `at`",
              tag="agents", operation_id="wallboard_snapshot", roles=READ_CONFIG,
              response={"type": "object", "required": ["at", "agents", "queues", "day"], "properties": {
                  "at": {"type": "number", "description": "the snapshot's time (epoch seconds)"},
                  "agents": {"type": "array", "items": agent}, "queues": {"type": "array", "items": queue},
                  "day": {"type": "object", "properties": {"start": {"type": "integer"}, "end": {"type": "integer"},
                                                           "time_zone": {"type": "string"}}},
                  "short_abandon_s": {"type": "number"},
                  "long_call_s": {"type": "number", "description": "talk over this is a call over 15 s"},
                  "ivr_today": {"type": "object", "description": "the whole box's IVR today",
                                "properties": {"entries": count, "abandoned": count}}}},
              errors=(401, 403, 503))
    return bp
