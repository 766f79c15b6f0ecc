"""Live operations → Supervisor console (`/live/console`, 班长功能): the agents and queues the supervisor manages,
with listen, whisper, barge and take-over of a live call (switching mode on the same call), force idle, busy with
a reason or logged out, and each waiting call with a move to another queue or agent.

The page carries what does not change during a shift, within the viewer's data scope (the same
`appliance.calls.scope` the API and the event stream apply): the agents and queues it may show and move calls
to, the pause reasons, the words for states and modes, and the supervisor's own phone. The live figures come
from `GET /api/v1/wallboard` and `GET /api/v1/monitors`, read each time the event stream (re)connects; every
action goes through the API (`supervisor.js`), which checks the scope again.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.calls.scope import scope_of
from appliance.domain.models import Role
from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of
from web_ui.pages.wallboard_pages import STATE_LABELS

ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})  # those who may act on agents' calls (the API's SUPERVISING)
MODE_LABELS = {"listen": N_("Listen in"), "whisper": N_("Whisper"), "barge": N_("Barge in"),
               "take_over": N_("Take over")}
MODE_STATUS = {"listen": N_("Listening"), "whisper": N_("Whispering to the agent"),
               "barge": N_("Barged in: all three talk"), "take_over": N_("Took the caller over")}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("supervisor_pages", url_prefix="")

    async def console(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, ROLES)
        _ = ui.languages.gettext(viewer.language)
        store = ui.config.store
        staff = store.list("staff")
        scope = scope_of(viewer.session.role, viewer.session.staff, staff)
        agents = [s for s in staff if scope.sees_agent(s.employee_no)]
        queues = [q for q in store.list("queues") if scope.sees_queue(q.id)]
        me = store.find("staff", viewer.session.staff) if viewer.session.staff else None
        zh = viewer.language == "zh_CN"
        reasons = [(r.code, r.name_zh if zh else r.name) for r in store.list("pause_reasons")]
        labels: dict[str, Any] = {
            "states": {k: _(v) for k, v in STATE_LABELS.items()},
            "modes": {k: _(v) for k, v in MODE_LABELS.items()},
            "modeStatus": {k: _(v) for k, v in MODE_STATUS.items()},
            "reasons": dict(reasons),
            "queues": {q.id: q.name for q in queues},
            "agents": {s.employee_no: s.name for s in agents},
        }
        return render(ui, request, "supervisor/console.html", viewer=viewer, queues=queues,
                      agents=[s for s in agents if s.employee_no != viewer.session.staff], reasons=reasons,
                      extension=(me.extension or "") if me is not None else "",
                      labels=json.dumps(labels, ensure_ascii=False),
                      modes=[(k, _(v)) for k, v in MODE_LABELS.items()])

    bp.add_route(console, "/live/console", methods=["GET"], name="supervisor_console_page")
    return bp
