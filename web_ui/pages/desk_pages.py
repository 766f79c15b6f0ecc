"""The agent desk (`/desk`, 座席工作台): where an agent works all day.

Sign in at a phone or with none (monitor only, seed 004 座席登录方式), set idle, busy with a reason or end
wrap-up; when the phone rings the customer pops (seed 004 来电弹屏) from the customers API by the caller's
number, with previous calls, service records and the IVR path the caller took, or a new-customer form for
an unknown number; the call is handled with the call API (hold, transfers, consultation, 3-way, hang-up,
intended customer), notes typed during the call are kept with it on the server so they follow a transfer,
and a service record is saved with the call. `desk.js` keeps the page live over the event stream and reads
the agent's state and call again from the API whenever the stream (re)connects.

The page carries only what does not change during a shift: who the agent is, their phone, the pause
reasons, and the queues, agents and IVR flows a call can be transferred to.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.calls.http import ACTING
from appliance.domain import models as m
from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of
from web_ui.pages.wallboard_pages import STATE_LABELS

SERVICE_TYPES = (("enquiry", N_("Enquiry")), ("complaint", N_("Complaint")), ("repair", N_("Repair")),
                 ("sales", N_("Sales")), ("other", N_("Other")))
SERVICE_RESULTS = (("resolved", N_("Resolved")), ("follow_up", N_("Follow-up needed")),
                   ("escalated", N_("Escalated")), ("unresolved", N_("Unresolved")))
PHASES = {"ringing": N_("Ringing"), "answered": N_("Answered"), "connected": N_("Connected"),
          "queued": N_("Queued"), "ivr": N_("In the IVR"), "ended": N_("Ended"), "routing": N_("Connecting")}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("desk_pages", url_prefix="")

    async def desk(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, ACTING)
        _ = ui.languages.gettext(viewer.language)
        store = ui.config.store
        me = store.find("staff", viewer.session.staff) if viewer.session.staff else None
        if me is None or me.status != m.StaffStatus.ACTIVE:
            return render(ui, request, "desk/unlinked.html", viewer=viewer)
        zh = viewer.language == "zh_CN"
        reasons = [(r.code, r.name_zh if zh else r.name) for r in store.list("pause_reasons")]
        agents = [(s.employee_no, s.name) for s in store.list("staff")
                  if s.status == m.StaffStatus.ACTIVE and s.role in (m.Role.AGENT, m.Role.SUPERVISOR)
                  and s.employee_no != me.employee_no]
        queues = [(q.id, q.name) for q in store.list("queues")]
        mine = [q.id for q in store.list("queues") if me.employee_no in q.members]
        flows = [(f.name, f.title or f.name) for f in store.list("ivr_flows")]
        labels: dict[str, Any] = {
            "states": {k: _(v) for k, v in STATE_LABELS.items()}, "reasons": dict(reasons),
            "phases": {k: _(v) for k, v in PHASES.items()}, "queues": dict(queues),
            "agents": {**dict(agents), me.employee_no: me.name},
            "types": {k: _(v) for k, v in SERVICE_TYPES}, "results": {k: _(v) for k, v in SERVICE_RESULTS},
            "account_manager": _("Account manager"),
        }
        return render(ui, request, "desk/desk.html", viewer=viewer, me=me, reasons=reasons, agents=agents,
                      queues=queues, flows=flows, my_queues=",".join(mine), types=[(k, _(v)) for k, v in SERVICE_TYPES],
                      results=[(k, _(v)) for k, v in SERVICE_RESULTS],
                      labels=json.dumps(labels, ensure_ascii=False))

    bp.add_route(desk, "/desk", methods=["GET"], name="desk_page")
    return bp
