"""The phones page (`/admin/phones`): the inventory (MAC → extension, vendor, model, line keys), each phone's
provisioning state (token revoked, password in step with its extension, last file fetched), the files each
vendor asks for and the templates they come from, and a form to add a phone. Every change goes through
`/api/v1/phones`."""

from __future__ import annotations

import json

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from provisioning.phones.models import KeyKind, Vendor
from provisioning.phones.render import COMMON_FILES, phone_files
from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of
from web_ui.pages.setup_pages import provisioning_of

VENDOR_NAMES = {Vendor.YEALINK: "Yealink", Vendor.GRANDSTREAM: "Grandstream", Vendor.POLYCOM: "Polycom",
                Vendor.GENERIC: N_("Generic SIP phone")}
KEY_NAMES = {KeyKind.BLF: N_("Busy lamp"), KeyKind.LOGIN: N_("Agent log-in"), KeyKind.LOGOUT: N_("Agent log-out"),
             KeyKind.PAUSE: N_("Pause"), KeyKind.UNPAUSE: N_("Ready"), KeyKind.SPEED_DIAL: N_("Speed dial")}
EXAMPLE_KEYS = [{"kind": "blf", "value": "1002", "label": "1002"}, {"kind": "login"}, {"kind": "pause"}]
MAC_PLACEHOLDER = "<mac>"
SAMPLE_MAC = "f" * 12  # not all zeros: that is the common files' name


def templates() -> list[tuple[str, list[tuple[str, str]]]]:
    """Per vendor: (file name, template) of the common file and of a phone's own files."""
    out = []
    for vendor in Vendor:
        files = [(name, template) for name, (v, template) in COMMON_FILES.items() if v is vendor]
        files += [(n.replace(SAMPLE_MAC, MAC_PLACEHOLDER), t)
                  for n, t in sorted(phone_files(vendor, SAMPLE_MAC).items())]
        out.append((vendor.value, files))
    return out


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("phone_pages", url_prefix="")
    vendor_files = templates()

    async def phones_page(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        phones = provisioning_of(ui).phones
        _ = ui.languages.gettext(viewer.language)
        return render(ui, request, "phones/phones.html", viewer=viewer, phones=phones.listing(),
                      vendors=[(v.value, _(VENDOR_NAMES[v])) for v in Vendor],
                      vendor_names={v.value: _(n) for v, n in VENDOR_NAMES.items()},
                      key_names={k.value: _(n) for k, n in KEY_NAMES.items()}, vendor_files=vendor_files,
                      example_keys=json.dumps(EXAMPLE_KEYS), tftp=phones.tftp_port or None,
                      https_port=phones.https_port)

    bp.add_route(phones_page, "/admin/phones", methods=["GET"], name="phones_page")
    return bp
