"""Records → Current calls (`/records/current-calls`, 当前通话列表): every call on the box now — inbound, outbound
and between agents — with its caller and callee, start time, type, where it is (IVR, queue, ringing,
talking), queue and access number, kept live by `current_calls.js`.

The rows come from `GET /api/v1/calls`, which scopes them to the viewer (agents their own calls, a supervisor
those of their groups and queues); the page reads it again when the event stream says a call changed, so it
shows what the API shows and never keeps a call that has ended.
"""

from __future__ import annotations

import json

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of

DIRECTIONS = {"inbound": N_("Inbound"), "outbound": N_("Outbound"), "internal": N_("Internal")}
PHASES = {"routing": N_("Routing"), "ivr": N_("In the IVR"), "queued": N_("Waiting in a queue"),
          "ringing": N_("Ringing"), "answered": N_("Answered"), "connected": N_("Talking"),
          "voicemail": N_("Leaving voicemail"), "feature": N_("Feature code"), "ended": N_("Ended")}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("current_calls_pages", url_prefix="")

    async def current_calls(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request)  # every role: the API gives each their own scope
        _ = ui.languages.gettext(viewer.language)
        queues = {q.id: q.name for q in ui.config.store.list("queues")}
        labels = {"directions": {k: _(v) for k, v in DIRECTIONS.items()},
                  "phases": {k: _(v) for k, v in PHASES.items()}, "queues": queues}
        return render(ui, request, "live/current_calls.html", viewer=viewer,
                      labels=json.dumps(labels, ensure_ascii=False))

    bp.add_route(current_calls, "/records/current-calls", methods=["GET"], name="current_calls_page")
    return bp
