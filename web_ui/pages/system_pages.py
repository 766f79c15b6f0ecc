"""Settings, the audit log, the health of every service, and the version with its licences."""

from __future__ import annotations

import json
from importlib import metadata

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.configuration.settings import GlobalSettings
from appliance.domain.validation import dump, json_schema
from appliance.health import Status
from web_ui.forms import build_fields
from web_ui.i18n import N_
from web_ui.labels import ACTION_LABELS, KIND_TITLES
from web_ui.pages.context import WebUi, render, viewer_of

# The Python packages the box runs on, shown with their licences on the about page.
PYTHON_PACKAGES = ("sanic", "jinja2", "babel", "pydantic", "tinydb", "pyroute2", "pyserial", "apscheduler",
                   "psutil", "pysnmp", "numpy", "httpx", "cryptography", "uvloop")
AUDIT_PAGE = 50


def _python_licenses() -> list[tuple[str, str, str]]:
    out = []
    for name in PYTHON_PACKAGES:
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            continue
        licence = meta["License-Expression"] or meta["License"] or ""
        if not licence or len(licence) > 40:
            classifiers = [c.rsplit("::", 1)[-1].strip() for c in meta.get_all("Classifier") or []
                           if c.startswith("License ::")]
            licence = ", ".join(classifiers) or licence[:40]
        out.append((name, meta["Version"] or "", licence))
    return out


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("system_pages", url_prefix="")
    python_licenses = _python_licenses()  # read once: package metadata does not change while running
    settings_schema = json_schema(GlobalSettings)

    async def health(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request)
        services = sorted(ui.health(), key=lambda h: h.name)
        overall = "ok" if all(s.status == Status.OK for s in services) else "degraded"
        return render(ui, request, "health.html", viewer=viewer, services=services, overall=overall)

    async def about(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request)
        return render(ui, request, "about.html", viewer=viewer, npm=ui.assets.licenses, python=python_licenses)

    async def settings(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        values = dump(GlobalSettings, ui.config.settings())
        fields = build_fields(None, settings_schema, {}, values, {}, _,
                              editing=False, readonly=False)
        return render(ui, request, "settings.html", viewer=viewer, fields=fields)

    async def audit(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        kind = request.args.get("kind") or None
        actor = (request.args.get("actor") or "").strip() or None
        try:
            offset = max(0, int(request.args.get("offset", "0")))
        except ValueError:
            offset = 0
        page = ui.config.records.audit(kind=kind, actor=actor, offset=offset, limit=AUDIT_PAGE)
        _ = ui.languages.gettext(viewer.language)
        # what the audit log names besides the configuration's kinds: (the filter's word, one entry's)
        audited = KIND_TITLES | {"settings": (N_("Settings"), N_("Settings")),
                                 "customer": (N_("Customers"), N_("Customer")),
                                 "customer_field": (N_("Custom customer fields"), N_("Custom customer field"))}
        titles = {k: t[1] for k, t in audited.items()} | {"config": N_("Configuration")}
        entries = [(e, _(ACTION_LABELS[e.action]) if e.action in ACTION_LABELS else e.action,
                    _(titles[e.kind]) if e.kind in titles else e.kind,
                    json.dumps(e.before, ensure_ascii=False, indent=1) if e.before else "",
                    json.dumps(e.after, ensure_ascii=False, indent=1) if e.after else "") for e in page.items]
        kinds = [(k, t[0]) for k, t in audited.items()]
        return render(ui, request, "audit.html", viewer=viewer, entries=entries, total=page.total, offset=offset,
                      limit=AUDIT_PAGE, kind=kind or "", actor=actor or "", kinds=kinds)

    bp.add_route(health, "/system/health", methods=["GET"], name="health_page")
    bp.add_route(about, "/system/about", methods=["GET"], name="about_page")
    bp.add_route(settings, "/admin/settings", methods=["GET"], name="settings_page")
    bp.add_route(audit, "/admin/audit", methods=["GET"], name="audit_page")
    return bp

