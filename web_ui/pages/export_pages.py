"""Reports → Exports and scheduled reports (`/reports/exports`).

Two parts, both driven by `exports.js` through the REST API (so the page shows exactly what the API allows):

- "Export in the background": `POST /api/v1/exports` {source, format, params} starts a job for a report or the
  call records; the page reads `GET /api/v1/exports/{id}` every second while it runs (rows done of rows total)
  and links `GET /api/v1/exports/{id}/file` when it is done. Errors are shown in the viewer's words.
- "Scheduled reports" (admins and QA, as `GET /api/v1/reports/schedules` and the files allow; only admins
  change or run them): the schedules edited as a whole and saved with `PUT`, "run now", and the files made,
  newest first, each with its download link.

Admins, supervisors and QA see the page; agents export from their own report pages.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.domain.models import Role
from appliance.reports.models import Kind
from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of
from web_ui.pages.report_pages import PERIODS, TITLES

ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.QA})
SCHEDULE_READERS = frozenset({Role.ADMIN, Role.QA})  # a scheduled report sees every agent
SCHEDULE_KINDS = (Kind.QUEUES, Kind.AGENT_CALLS, Kind.GROUPS, Kind.AGENT_STATES, Kind.IVR)
EVERY = {"daily": N_("Daily (yesterday)"), "weekly": N_("Weekly (last week)"), "monthly": N_("Monthly (last month)")}
FORMATS = {"xlsx": N_("Excel (.xlsx)"), "csv": N_("CSV")}
STATES = {"queued": N_("Waiting to start"), "running": N_("Running"), "done": N_("Done"), "failed": N_("Failed")}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("export_pages", url_prefix="")

    async def exports(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, ROLES)
        _ = ui.languages.gettext(viewer.language)
        zone = ui.reports.zone() if ui.reports is not None else None
        now = datetime.now(zone)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        sources = [(k.value, _(TITLES[k])) for k in Kind] + [("cdr", _("Call records"))]
        labels = {"sources": dict(sources), "kinds": {k.value: _(TITLES[k]) for k in SCHEDULE_KINDS},
                  "every": {k: _(v) for k, v in EVERY.items()}, "formats": {k: _(v) for k, v in FORMATS.items()},
                  "periods": {p.value: _(v) for p, v in PERIODS.items()},
                  "states": {k: _(v) for k, v in STATES.items()}}
        role = viewer.session.role
        return render(ui, request, "reports/exports.html", viewer=viewer, sources=sources,
                      periods=[(p.value, _(v)) for p, v in PERIODS.items()], formats=list(FORMATS.items()),
                      zone=str(zone) if zone is not None else "",
                      start=today.strftime("%Y-%m-%dT%H:%M"),
                      end=(today + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
                      schedules=role in SCHEDULE_READERS, edit=role is Role.ADMIN,
                      labels=json.dumps(labels, ensure_ascii=False))

    bp.add_route(exports, "/reports/exports", methods=["GET"], name="exports_page")
    return bp
