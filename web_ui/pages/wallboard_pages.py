"""Live operations → Wallboard (`/live/wallboard`, 座席监控/队列监控): agents as tiles coloured by state and the
queues with today's figures, kept live by `wallboard.js` over the event stream (`/api/v1/events`).

The page itself carries only what does not change during a shift: the filters the viewer may use (queues,
work groups and departments within their scope), the words for states and pause reasons, and the colour
thresholds, which are the alarm thresholds (System → Alarm thresholds) so the board and the alarms agree.
The figures come from the snapshot `GET /api/v1/wallboard`, read when the stream (re)connects.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from appliance.calls.wallboard import BoardScope
from appliance.monitoring.models import DEFAULT_THRESHOLDS, Threshold
from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of

STATE_LABELS = {"idle": N_("Idle"), "ringing": N_("Ringing"), "on_call": N_("On a call"),
                "wrap_up": N_("Wrap-up"), "paused": N_("Busy"), "disconnected": N_("Phone unreachable"),
                "logged_out": N_("Logged out")}
# the thresholds that colour a queue's cells: amber from the level that clears the alarm, red from the one
# that raises it
COLOURED = ("queue_wait_long", "queue_waiting_high", "queue_service_level_low")


def _thresholds(ui: WebUi) -> dict[str, dict[str, float]]:
    current: dict[str, Threshold] = ui.monitoring.monitor.thresholds() if ui.monitoring else DEFAULT_THRESHOLDS
    return {name: {"amber": t.clear_level, "red": t.set_level}
            for name in COLOURED if (t := current.get(name)) is not None and t.enabled}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("wallboard_pages", url_prefix="")

    async def wallboard(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        store = ui.config.store
        staff = store.list("staff")
        scope = BoardScope.of(viewer.scope, staff)
        queues = [q for q in store.list("queues") if scope.sees_queue(q.id)]
        visible_groups = {s.work_group for s in staff if scope.sees_agent(s.employee_no) and s.work_group}
        groups = [g for g in store.list("work_groups") if g.id in visible_groups]
        departments = [d for d in store.list("departments") if d.id in {g.department for g in groups}]
        zh = viewer.language == "zh_CN"
        reasons = {r.code: (r.name_zh if zh else r.name) for r in store.list("pause_reasons")}
        chosen = {name: str(request.args.get(name) or "") for name in ("queue", "group", "department")}
        labels: dict[str, Any] = {"states": {k: _(v) for k, v in STATE_LABELS.items()}, "reasons": reasons,
                                  "queues": {q.id: q.name for q in queues}}
        return render(ui, request, "wallboard/wallboard.html", viewer=viewer, queues=queues, groups=groups,
                      departments=departments, chosen=chosen, tv=request.args.get("tv") == "1",
                      labels=json.dumps(labels, ensure_ascii=False),
                      thresholds=json.dumps(_thresholds(ui)), states=[(k, _(v)) for k, v in STATE_LABELS.items()])

    bp.add_route(wallboard, "/live/wallboard", methods=["GET"], name="wallboard_page")
    return bp
