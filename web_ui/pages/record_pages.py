"""Records → Call records (`/records/calls`, 通话记录), Missed calls (`/records/missed`, 漏接电话) and
Voicemail (`/records/voicemail`, 语音留言).

The lists are read through `appliance.records.search.CallRecords` (a worker thread and a read connection of
its own, indexed offset paging) and the voicemail service; recordings are played from the ranged recordings
route, chosen ones downloaded as one streamed zip (`/api/v1/recordings.zip`), and a number is called back
through click-to-dial (`POST /api/v1/calls`) only when the viewer's dial class allows it — the API checks
the same rule again. Agents see only the calls they took; a supervisor the calls of the agents in the groups
they manage and the calls no agent took (as the export does); missed calls and voicemail are for the people
who watch the floor (admins, supervisors, QA), as the voicemail API is.

A filter the page cannot read is named in a message above the list (400), never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE, READ_CONFIG
from appliance.calls.dialplan import may_dial
from appliance.domain.models import DialClass, Role
from appliance.records.search import DIRECTIONS, MISSED_KINDS, RESULTS, SORTS, CallPage, CallQuery
from web_ui.i18n import N_
from web_ui.pages.context import PageForbidden, Viewer, WebUi, render, viewer_of

DIRECTION_LABELS = {"inbound": N_("Inbound"), "outbound": N_("Outbound"), "internal": N_("Internal")}
RESULT_LABELS = {"answered": N_("Answered"), "abandoned": N_("Abandoned"), "voicemail": N_("Voicemail"),
                 "self_served": N_("Self-served in the IVR"), "no_answer": N_("No answer"), "failed": N_("Failed"),
                 "rejected": N_("Rejected"), "unavailable": N_("Unavailable"), "callback_failed": N_("Callback failed"),
                 "feature": N_("Feature code"), "ended": N_("Ended"), "interrupted": N_("Interrupted")}
MISSED_LABELS = {"ivr_abandoned": N_("Hung up in the IVR"), "no_agent": N_("No agent to serve it"),
                 "not_answered": N_("Agent did not answer"), "queue_abandoned": N_("Hung up while queued")}
MISSED_HELP = {
    "ivr_abandoned": N_("The caller hung up in the IVR menu, before reaching any queue."),
    "no_agent": N_("The call waited in a queue and left it by overflow (no agent logged in, the queue full, or "
                   "the longest wait reached) without an agent answering."),
    "not_answered": N_("The call was offered to at least one agent who did not answer or refused it, and no "
                       "agent answered it afterwards."),
    "queue_abandoned": N_("The caller hung up while waiting in a queue, before an agent answered."),
}
SORT_LABELS = {"started": N_("Start time"), "duration": N_("Duration"), "caller": N_("Caller"),
               "callee": N_("Called number"), "agent": N_("Agent"), "queue": N_("Queue")}
PAGE_SIZES = (25, 50, 100)
MAX_TEXT = 64
DIALLERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})  # who may click to dial (the API's roles)


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = max(0, round(float(seconds)))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class Filters:
    """The list's filters read from the address once, with what could not be read kept as problems."""

    def __init__(self, ui: WebUi, request: Request, _: Any) -> None:
        self.request, self.ui, self._ = request, ui, _
        self.problems: list[Problem] = []
        self.values: dict[str, str] = {}

    def text(self, name: str, pattern: str = "") -> str:
        raw = str(self.request.args.get(name) or "").strip()
        if len(raw) > MAX_TEXT or (pattern and raw and not all(c in pattern for c in raw)):
            self.problems.append(Problem(name, self._("%(field)s: at most %(n)s characters of digits, + or *")
                                         % {"field": name, "n": MAX_TEXT} if pattern else
                                         self._("%(field)s: at most %(n)s characters") % {"field": name, "n": MAX_TEXT}))
            return ""
        self.values[name] = raw
        return raw

    def choice(self, name: str, allowed: tuple[str, ...] | list[str], default: str = "") -> str:
        raw = str(self.request.args.get(name) or default)
        if raw and raw not in allowed:
            self.problems.append(Problem(name, self._("%(field)s: not one of the choices") % {"field": name}))
            return default
        if raw != default:
            self.values[name] = raw
        return raw

    def number(self, name: str, lo: float, hi: float) -> float | None:
        raw = str(self.request.args.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            self.problems.append(Problem(name, self._("%(field)s: a number from %(lo)s to %(hi)s")
                                         % {"field": name, "lo": int(lo), "hi": int(hi)}))
            return None
        self.values[name] = raw
        return value

    def time(self, name: str) -> float | None:
        """A `datetime-local` value, in the box's time zone."""
        raw = str(self.request.args.get(name) or "").strip()
        if not raw:
            return None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            self.problems.append(Problem(name, self._("%(field)s: a date and time such as 2026-03-10T08:30")
                                         % {"field": name}))
            return None
        self.values[name] = raw
        return (moment if moment.tzinfo else moment.replace(tzinfo=self.ui.zone())).timestamp()

    def query_string(self, **changes: object) -> str:
        values: dict[str, object] = {**self.values, **changes}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _allowed_class(ui: WebUi, viewer: Viewer) -> tuple[str, DialClass] | None:
    """The extension click-to-dial rings for this viewer and its dial class, as `POST /api/v1/calls` decides:
    the wider of the extension's and the staff member's. None: the viewer has no phone to ring."""
    if viewer.session.role not in DIALLERS or not viewer.session.staff:
        return None
    store = ui.config.store
    person = store.find("staff", viewer.session.staff)
    if person is None or not person.extension:
        return None
    ext = store.find("extensions", person.extension)
    allowed = max((x.dial_class for x in (ext, person) if x is not None),
                  key=lambda c: list(DialClass).index(c), default=DialClass.INTERNAL)
    return person.extension, allowed


def _dialler(ui: WebUi, viewer: Viewer) -> Any:
    """A function telling whether the viewer may click to call a number."""
    found = _allowed_class(ui, viewer)
    if found is None:
        return lambda number: False
    _, allowed = found
    extensions = {e.number for e in ui.config.store.list("extensions")}
    return lambda number: bool(number) and may_dial(allowed, str(number), extensions).allowed


def _agents_seen(ui: WebUi, viewer: Viewer) -> tuple[str, ...] | None:
    """A supervisor's scope over call records (as the export's): the agents of the groups they manage and
    themself; None for those who see every call."""
    if viewer.scope.everyone or viewer.session.role != Role.SUPERVISOR:
        return None
    return tuple(s.employee_no for s in ui.config.store.list("staff")
                 if viewer.scope.sees_staff(s.employee_no, s.work_group))


def _call_query(ui: WebUi, f: Filters, viewer: Viewer, *, missed: str = "", intended: bool = False) -> CallQuery:
    agent_only = viewer.session.role == Role.AGENT
    sort = f.choice("sort", tuple(SORTS), "started")
    order = f.choice("order", ("desc", "asc"), "desc")
    return CallQuery(
        since=f.time("from"), until=f.time("to"), number=f.text("number", "0123456789+*#"),
        agent="" if agent_only else f.text("agent"), queue=f.text("queue"),
        direction=f.choice("direction", DIRECTIONS), result=f.choice("result", RESULTS),
        min_duration=f.number("min_duration", 0, 10**6), max_duration=f.number("max_duration", 0, 10**6),
        missed=missed, intended=intended, only_agent=(viewer.session.staff or "-") if agent_only else None,
        agents_seen=_agents_seen(ui, viewer),
        sort=sort, descending=order == "desc",
        offset=int(f.number("offset", 0, 10**7) or 0), limit=int(f.choice("limit", [str(n) for n in PAGE_SIZES], "50")),
    )


def export_query(query: CallQuery) -> str | None:
    """The call list's filters as `GET /api/v1/cdr/export` reads them (the CDR list's: exact matches, a start
    time range); None when the list is filtered on what the export cannot express (a number matched as caller
    or callee, or by prefix; a duration), so no export claims to be the list when it would hold more."""
    if query.number or query.min_duration is not None or query.max_duration is not None:
        return None
    params: dict[str, object] = {"since": query.since, "until": query.until, "agent": query.agent,
                                 "queue": query.queue, "direction": query.direction, "disposition": query.result,
                                 "intended": "true" if query.intended else ""}
    return urlencode({k: (f"{v:.0f}" if isinstance(v, float) else v) for k, v in params.items() if v not in ("", None)})


def _pager(f: Filters, page: CallPage) -> dict[str, Any]:
    previous = max(0, page.offset - page.limit) if page.offset else None
    last = page.offset + len(page.items)
    following = last if (page.more or last < page.total) and len(page.items) == page.limit else None
    return {"first": page.offset + 1 if page.items else 0, "last": last, "total": page.total, "more": page.more,
            "previous": None if previous is None else f.query_string(offset=previous or ""),
            "next": None if following is None else f.query_string(offset=following)}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("record_pages", url_prefix="")

    def services() -> Any:
        if ui.call_records is None:
            raise PageForbidden()
        return ui.call_records

    def common(viewer: Viewer) -> dict[str, Any]:
        _ = ui.languages.gettext(viewer.language)
        store = ui.config.store
        staff = [s for s in store.list("staff") if viewer.scope.sees_staff(s.employee_no, s.work_group)]
        return {"directions": [(k, _(v)) for k, v in DIRECTION_LABELS.items()],
                "results": [(k, _(v)) for k, v in RESULT_LABELS.items()],
                "missed_labels": {k: _(v) for k, v in MISSED_LABELS.items()},
                "direction_labels": {k: _(v) for k, v in DIRECTION_LABELS.items()},
                "result_labels": {k: _(v) for k, v in RESULT_LABELS.items()},
                "sorts": [(k, _(v)) for k, v in SORT_LABELS.items()],
                "queues": store.list("queues"), "staff": staff,
                "queue_names": {q.id: q.name for q in store.list("queues")},
                "agent_names": {s.employee_no: s.name for s in store.list("staff")},
                "may_dial": _dialler(ui, viewer), "duration": duration, "page_sizes": PAGE_SIZES}

    async def calls_page(request: Request) -> HTTPResponse:
        return await call_list(request, intended=False)

    async def intended_page(request: Request) -> HTTPResponse:
        """意向客户: the calls whose caller an agent marked as an intended customer (* on the phone, or the desk)."""
        return await call_list(request, intended=True)

    async def call_list(request: Request, *, intended: bool) -> HTTPResponse:
        viewer = viewer_of(ui, request, ANY_ROLE)
        _ = ui.languages.gettext(viewer.language)
        f = Filters(ui, request, _)
        query = _call_query(ui, f, viewer, intended=intended)
        page = await services().search(query)
        export = export_query(query)
        return render(ui, request, "records/calls.html", viewer=viewer, status=400 if f.problems else 200,
                      f=f, query=query, page=page, pager=_pager(f, page), export=export, intended=intended,
                      **common(viewer))

    async def missed_page(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        f = Filters(ui, request, _)
        kind = f.choice("kind", MISSED_KINDS)
        query = _call_query(ui, f, viewer, missed=kind or "any")
        records = services()
        page = await records.search(query)
        counts = await records.missed_counts(query)
        return render(ui, request, "records/missed.html", viewer=viewer, status=400 if f.problems else 200,
                      f=f, query=query, page=page, pager=_pager(f, page), kind=kind, counts=counts,
                      kinds=[(k, _(MISSED_LABELS[k]), _(MISSED_HELP[k])) for k in MISSED_KINDS], **common(viewer))

    async def voicemail_page(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        if ui.voicemail is None:
            raise PageForbidden()
        f = Filters(ui, request, _)
        boxes = ui.config.store.list("voicemail_boxes")
        box = f.choice("box", [b.id for b in boxes])
        state = f.choice("state", ("unhandled", "handled", "all"), "unhandled")
        offset = int(f.number("offset", 0, 10**7) or 0)
        limit = 50
        listed = ui.voicemail.list(box=box or None, handled=None if state == "all" else state == "handled",
                                   offset=offset, limit=limit)
        pager = {"first": offset + 1 if listed.items else 0, "last": offset + len(listed.items),
                 "total": listed.total, "more": False,
                 "previous": f.query_string(offset=max(0, offset - limit) or "") if offset else None,
                 "next": f.query_string(offset=offset + limit) if offset + limit < listed.total else None}
        return render(ui, request, "records/voicemail.html", viewer=viewer, status=400 if f.problems else 200,
                      f=f, messages=listed.items, pager=pager, boxes=boxes, box=box, state=state,
                      box_names={b.id: b.name for b in boxes},
                      can_handle=viewer.session.role in (Role.ADMIN, Role.SUPERVISOR), **common(viewer))

    bp.add_route(calls_page, "/records/calls", methods=["GET"], name="record_calls_page")
    bp.add_route(intended_page, "/records/intended", methods=["GET"], name="record_intended_page")
    bp.add_route(missed_page, "/records/missed", methods=["GET"], name="record_missed_page")
    bp.add_route(voicemail_page, "/records/voicemail", methods=["GET"], name="record_voicemail_page")
    return bp
