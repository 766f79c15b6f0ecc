"""System → Hardware (`/system/hardware`): the telephony cards, E1 spans with their alarms, counters and
B-channels, and analog ports, read from the hardware service; the live part (`/system/hardware/live`) is
fetched again by htmx every few seconds. Admins put a span into a loopback through
`POST /api/v1/hardware/spans/{span}/loopback`, from the browser."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from drivers.hardware.models import LOOPBACKS, HardwareStatus
from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of

REFRESH_S = 2
ALARM_LABELS = {"los": N_("Loss of signal (LOS)"), "ais": N_("Alarm indication signal (AIS)"),
                "lof": N_("Loss of frame alignment (LOF)"), "lomf": N_("Loss of CRC-4 multiframe"),
                "rai": N_("Remote alarm indication (RAI)")}
SEVERITY_LABELS = {"red": N_("Red: out of service"), "yellow": N_("Yellow: the far end reports a fault"),
                   "minor": N_("Minor")}
STATE_LABELS = {"up": N_("Up"), "down": N_("Out of service"), "detected": N_("Found, not configured"), "idle": N_("Idle"),
                "in_use": N_("In use"), "blocked": N_("Blocked"), "ringing": N_("Ringing"),
                "off_hook": N_("Off hook"), "in_call": N_("In a call"), "faulted": N_("Faulted"),
                "unknown": N_("Unknown")}
LOOPBACK_LABELS = {"none": N_("None"), "local": N_("Local (our transmitter to our receiver)"),
                   "remote": N_("Remote (the line's signal back to the far end)"),
                   "payload": N_("Payload (the timeslots back, framing regenerated)")}
DRIVER_LABELS = {"e1": N_("E1/PRI"), "analog": N_("Analog"), "": N_("Not configured")}
KIND_LABELS = {"fxo": N_("FXO line"), "fxs": N_("FXS phone")}
ROLE_LABELS = {"user": N_("User side"), "network": N_("Network side")}
COUNTER_LABELS = {"crc4_errors": N_("CRC-4 errors"), "ebits": N_("E-bits"), "slips": N_("Slips"),
                  "bpv": N_("Bipolar violations"), "fas_errors": N_("Frame alignment errors"),
                  "hdlc_aborts": N_("HDLC aborts"), "hdlc_bad_fcs": N_("HDLC bad FCS"),
                  "bearer_lost": N_("Bearer frames lost")}
BADGE = {"up": "ok", "idle": "ok", "in_use": "ok", "in_call": "ok", "down": "down", "faulted": "down",
         "blocked": "down", "red": "down", "yellow": "degraded", "minor": "degraded"}


def _view(ui: WebUi) -> HardwareStatus:
    if ui.hardware is None:
        return HardwareStatus(at=0.0, running=True)
    return ui.hardware.status()


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("hardware_pages", url_prefix="")
    labels = {"alarms": ALARM_LABELS, "severity": SEVERITY_LABELS, "state": STATE_LABELS,
              "loopback": LOOPBACK_LABELS, "driver": DRIVER_LABELS, "kind": KIND_LABELS, "role": ROLE_LABELS,
              "counters": COUNTER_LABELS, "badge": BADGE}

    async def page(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        return render(ui, request, "hardware/hardware.html", viewer=viewer, hw=_view(ui), labels=labels,
                      loopbacks=LOOPBACKS, refresh_s=REFRESH_S)

    async def live(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        return render(ui, request, "hardware/_live.html", viewer=viewer, hw=_view(ui), labels=labels)

    bp.add_route(page, "/system/hardware", methods=["GET"], name="hardware_page")
    bp.add_route(live, "/system/hardware/live", methods=["GET"], name="hardware_live")
    return bp
