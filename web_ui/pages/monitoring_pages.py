"""The monitoring pages under "System": the alarm table (active alarms, then the history of cleared ones;
its tables refreshed in place every few seconds from `/system/alarms/live`),
the box's resources (CPU, load, memory, swap, disks, temperatures, open files, time sync), the alarm
thresholds, and the SNMP settings.

The pages read the monitor and the SNMP service directly (the same objects the API answers from); every
change is made by the browser through `PATCH /api/v1/monitoring/thresholds` and `PUT /api/v1/snmp/settings`.
SNMP secrets (communities, v3 keys, trap communities) are never put in a page: the settings are shown as the
API shows them, masked, and a masked value sent back keeps the stored one.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.domain.models import Role
from appliance.snmp.http import public_view
from appliance.snmp.models import AUTH_PROTOCOLS, PRIV_PROTOCOLS
from appliance.snmp.service import SETTINGS_KEY as SNMP_KEY
from web_ui.i18n import N_
from web_ui.pages.context import PageForbidden, WebUi, render, viewer_of

READ = frozenset({Role.ADMIN, Role.SUPERVISOR})
HISTORY_ROWS = 200
REFRESH_S = 5  # the monitor samples every 5 s: the open alarms page follows at that pace

SEVERITY_LABELS: dict[str, str] = {"critical": N_("Critical"), "major": N_("Major"), "minor": N_("Minor"),
                                   "warning": N_("Warning")}
# The badge colour of each severity (the console's existing badge styles).
SEVERITY_BADGE = {"critical": "down", "major": "down", "minor": "degraded", "warning": "degraded"}

# Alarm and threshold name -> what it means, in words.
ALARM_LABELS: dict[str, str] = {
    "cpu_high": N_("CPU usage high"),
    "load_high": N_("Load average high"),
    "memory_high": N_("Memory usage high"),
    "swap_high": N_("Swap usage high"),
    "disk_high": N_("Disk usage high"),
    "data_disk_full": N_("Data disk full"),
    "temperature_high": N_("Temperature high"),
    "open_files_high": N_("Too many open files"),
    "media_ticks_late_rate": N_("Media engine running late"),
    "queue_waiting_high": N_("Too many callers waiting in a queue"),
    "queue_wait_long": N_("A caller has waited too long"),
    "queue_service_level_low": N_("Queue service level below target"),
    "trunk_unregistered": N_("Trunk registration lost"),
    "recording_stopped": N_("Recording stopped"),
    "records_write_failed": N_("Record store cannot write"),
    "backup_failed": N_("Backup failed"),
    "service_down": N_("Service down"),
    "span_alarm": N_("E1 span alarm"),
    "port_fault": N_("Analog port fault"),
    "brute_force_blocked": N_("Sign-in attempts blocked"),
    "account_under_attack": N_("Account under attack"),
}
# What each threshold's levels measure.
THRESHOLD_UNITS: dict[str, str] = {
    "cpu_high": "%", "memory_high": "%", "swap_high": "%", "disk_high": "%", "data_disk_full": "%",
    "temperature_high": "°C", "queue_wait_long": N_("s"), "queue_service_level_low": N_("% below 100"),
}
NTP_LABELS = {True: N_("Synchronized"), False: N_("Not synchronized"), None: N_("Unknown (no NTP daemon)")}


def _monitoring(ui: WebUi) -> Any:
    if ui.monitoring is None:
        raise PageForbidden()  # built without monitoring: nothing to show
    return ui.monitoring


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("monitoring_pages", url_prefix="")

    def alarm_page(request: Request, template: str) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ)
        _ = ui.languages.gettext(viewer.language)
        rows = _monitoring(ui).monitor.table.rows()
        rank = list(SEVERITY_LABELS)
        active = sorted((a for a in rows if a.active), key=lambda a: (rank.index(a.severity.value), -a.raised_at))
        history = sorted((a for a in rows if not a.active), key=lambda a: -(a.cleared_at or 0.0))[:HISTORY_ROWS]
        names = {k: _(v) for k, v in ALARM_LABELS.items()}
        return render(ui, request, template, viewer=viewer, active=active, history=history, names=names,
                      severities={k: _(v) for k, v in SEVERITY_LABELS.items()}, badges=SEVERITY_BADGE,
                      total=len(rows), refresh_s=REFRESH_S)

    async def alarms(request: Request) -> HTTPResponse:
        return alarm_page(request, "monitoring/alarms.html")

    async def alarms_live(request: Request) -> HTTPResponse:
        """The tables alone, swapped into the open page every few seconds (htmx)."""
        return alarm_page(request, "monitoring/_alarms_live.html")

    async def resources(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ)
        _ = ui.languages.gettext(viewer.language)
        m = _monitoring(ui).monitor
        return render(ui, request, "monitoring/resources.html", viewer=viewer, sample=m.sample,
                      ntp=_(NTP_LABELS[m.sample.ntp_synced]) if m.sample else "", queues=m.queue_figures(),
                      today=m.today)

    async def thresholds(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ)
        _ = ui.languages.gettext(viewer.language)
        rows = [(t, _(ALARM_LABELS.get(t.name, t.name)), _(THRESHOLD_UNITS[t.name]) if t.name in THRESHOLD_UNITS else "")
                for t in _monitoring(ui).monitor.thresholds().values()]
        return render(ui, request, "monitoring/thresholds.html", viewer=viewer, rows=rows,
                      severities=[(k, _(v)) for k, v in SEVERITY_LABELS.items()])

    async def snmp(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        service = _monitoring(ui).snmp
        shown = public_view(service.store.settings.get(SNMP_KEY, {}) or {})
        def rows(key: str) -> list[dict[str, Any]]:  # each with the place it is shown at (see `_row_list.html`)
            return [{**(e if isinstance(e, dict) else {"name": e}), "ref": i} for i, e in enumerate(shown.get(key, []))]

        return render(ui, request, "monitoring/snmp.html", viewer=viewer, settings=shown,
                      engine_id=service.engine_id, listening=service.listening(), failure=service.failure,
                      communities=rows("communities"), users=rows("users"),
                      receivers=rows("trap_receivers"), columns=_snmp_columns(_),
                      networks="\n".join(shown.get("allowed_networks", ["127.0.0.0/8", "::1/128"])))

    bp.add_route(alarms, "/system/alarms", methods=["GET"], name="alarms_page")
    bp.add_route(alarms_live, "/system/alarms/live", methods=["GET"], name="alarms_live")
    bp.add_route(resources, "/system/resources", methods=["GET"], name="resources_page")
    bp.add_route(thresholds, "/system/thresholds", methods=["GET"], name="thresholds_page")
    bp.add_route(snmp, "/system/snmp", methods=["GET"], name="snmp_page")
    return bp


def _snmp_columns(_: Any) -> dict[str, list[dict[str, Any]]]:
    """The row editors' columns: communities, v3 users and trap receivers, each control typed for the API."""
    networks = {"key": "networks", "label": _("Networks"), "kind": "list", "type": "list",
                "placeholder": _("all allowed")}
    return {
        "communities": [{"key": "name", "label": _("Community"), "kind": "password"}, networks],
        "users": [
            {"key": "name", "label": _("User"), "kind": "text"},
            {"key": "auth_protocol", "label": _("Authentication"), "kind": "select",
             "options": [(p, p.upper()) for p in AUTH_PROTOCOLS]},
            {"key": "auth_key", "label": _("Authentication key"), "kind": "password"},
            {"key": "priv_protocol", "label": _("Privacy"), "kind": "select",
             "options": [(p, p.upper()) for p in PRIV_PROTOCOLS]},
            {"key": "priv_key", "label": _("Privacy key"), "kind": "password"},
            networks,
        ],
        "receivers": [
            {"key": "host", "label": _("Host"), "kind": "text"},
            {"key": "port", "label": _("Port"), "kind": "number", "type": "integer", "step": 1, "min": 1,
             "max": 65535},
            {"key": "version", "label": _("Version"), "kind": "select", "options": [("v2c", "v2c"), ("v3", "v3")]},
            {"key": "community", "label": _("Community (v2c)"), "kind": "password"},
            {"key": "user", "label": _("User (v3)"), "kind": "text"},
            {"key": "inform", "label": _("Inform"), "kind": "checkbox", "type": "boolean"},
            {"key": "retries", "label": _("Retries"), "kind": "number", "type": "integer", "step": 1, "min": 0,
             "max": 10},
            {"key": "timeout", "label": _("Time-out (s)"), "kind": "number", "type": "number", "min": 0.1,
             "max": 60},
        ],
    }
