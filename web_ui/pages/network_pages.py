"""The network page (`/admin/network`): the live links, addresses, VLANs and routes read back through netlink,
the saved settings, and an editor for all of them (interfaces, VLANs, DNS, static routes) applied through
`POST /api/v1/network/apply` with the confirm-or-revert countdown."""

from __future__ import annotations

import json

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from web_ui.pages.context import WebUi, render, viewer_of
from web_ui.pages.setup_pages import CONFIRM_SECONDS, provisioning_of

EXAMPLE = {"interfaces": [{"name": "eth0", "dhcp": False, "addresses": ["192.168.1.10/24"],
                           "gateway": "192.168.1.1", "vlans": [{"id": 20, "dhcp": False,
                                                                "addresses": ["10.20.0.1/24"]}]}],
           "dns": ["192.168.1.1"], "routes": [{"destination": "10.30.0.0/16", "gateway": "10.20.0.254",
                                               "interface": "eth0.20"}]}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("network_pages", url_prefix="")

    async def network_page(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        state = await provisioning_of(ui).network.state()
        links = [link for link in state["live"]["links"] if link["name"] != "lo"]
        settings = state["saved"] or EXAMPLE
        return render(ui, request, "network/network.html", viewer=viewer, network=state, links=links,
                      routes=state["live"]["routes"], settings=json.dumps(settings, indent=2),
                      example=not state["saved"], confirm_seconds=CONFIRM_SECONDS, pending=state["pending"])

    bp.add_route(network_page, "/admin/network", methods=["GET"], name="network_page")
    return bp
