"""System → Firmware: the running version, both root slots as RAUC reports them, uploading a bundle and
following its installation, rebooting, and factory reset behind a typed confirmation.

The page reads the firmware service (the object the API answers from); the browser uploads and acts through
`/api/v1/firmware/*` (firmware.js for the upload and its progress; app.js for the reset form's field errors).
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.firmware.service import RESET_WORD
from web_ui.i18n import N_
from web_ui.pages.context import PageForbidden, WebUi, render, viewer_of

SLOT_STATES = {"booted": N_("Running"), "active": N_("Active"), "inactive": N_("Standby")}
# RAUC's boot status of a slot: whether GRUB may boot it (marked good, or a new install with its tries left).
BOOT_STATUS = {"good": N_("Bootable"), "bad": N_("Not bootable"), "": N_("Unknown")}
BOOT_BADGE = {"good": "ok", "bad": "degraded", "": "starting"}
INSTALL_STATES = {"idle": N_("No update installed since the box started"), "running": N_("Installing"),
                  "succeeded": N_("Installed"), "failed": N_("Failed")}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("firmware_pages", url_prefix="")

    async def firmware(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        if ui.firmware is None:
            raise PageForbidden()
        _ = ui.languages.gettext(viewer.language)
        current = await ui.firmware.status()
        return render(ui, request, "firmware/firmware.html", viewer=viewer, fw=current,
                      progress=ui.firmware.progress(), reset_word=RESET_WORD,
                      slot_states={k: _(v) for k, v in SLOT_STATES.items()},
                      boot_status={k: _(v) for k, v in BOOT_STATUS.items()}, boot_badge=BOOT_BADGE,
                      install_states={k: _(v) for k, v in INSTALL_STATES.items()})

    bp.add_route(firmware, "/system/firmware", methods=["GET"], name="firmware_page")
    return bp
