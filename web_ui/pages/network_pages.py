"""The network page (`/admin/network`): the live links, addresses, VLANs and routes read back through netlink,
the saved settings, and an editor for all of them (ports, VLANs, DNS, static routes: rows, not JSON) applied through
`POST /api/v1/network/apply` with the confirm-or-revert countdown."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from web_ui.pages.context import WebUi, render, viewer_of
from web_ui.pages.setup_pages import CONFIRM_SECONDS, provisioning_of

EXAMPLE: dict[str, Any] = {"interfaces": [{"name": "eth0", "dhcp": False, "addresses": ["192.168.1.10/24"],
                           "gateway": "192.168.1.1", "vlans": [{"id": 20, "dhcp": False,
                                                                "addresses": ["10.20.0.1/24"]}]}],
           "dns": ["192.168.1.1"], "routes": [{"destination": "10.30.0.0/16", "gateway": "10.20.0.254",
                                               "interface": "eth0.20"}]}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("network_pages", url_prefix="")

    async def network_page(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        state = await provisioning_of(ui).network.state()
        links = [link for link in state["live"]["links"] if link["name"] != "lo"]
        settings = state["saved"] or EXAMPLE
        interfaces = [{k: i[k] for k in ("name", "dhcp", "addresses", "gateway")} for i in settings["interfaces"]]
        vlans = [{"interface": i["name"], **v} for i in settings["interfaces"] for v in i.get("vlans", [])]
        return render(ui, request, "network/network.html", viewer=viewer, network=state, links=links,
                      routes=state["live"]["routes"], interfaces=interfaces, vlans=vlans,
                      routes_saved=settings.get("routes", []), dns=settings.get("dns", []),
                      columns=_columns(_), example=not state["saved"], confirm_seconds=CONFIRM_SECONDS,
                      pending=state["pending"])

    bp.add_route(network_page, "/admin/network", methods=["GET"], name="network_page")
    return bp


def _columns(_: Any) -> dict[str, list[dict[str, Any]]]:
    """The row editors' columns; network.js nests each VLAN row under the port it names."""
    addresses = {"key": "addresses", "label": _("Addresses"), "kind": "list", "type": "list",
                 "placeholder": "192.168.1.10/24"}
    dhcp = {"key": "dhcp", "label": _("DHCP"), "kind": "checkbox", "type": "boolean"}
    return {
        "interfaces": [{"key": "name", "label": _("Port"), "kind": "text", "placeholder": "eth0"}, dhcp, addresses,
                       {"key": "gateway", "label": _("Gateway"), "kind": "text"}],
        "vlans": [{"key": "interface", "label": _("On port"), "kind": "text", "placeholder": "eth0"},
                  {"key": "id", "label": _("VLAN ID"), "kind": "number", "type": "integer", "step": 1, "min": 1,
                   "max": 4094}, dhcp, addresses],
        "routes": [{"key": "destination", "label": _("Destination"), "kind": "text", "placeholder": "10.30.0.0/16"},
                   {"key": "gateway", "label": _("Gateway"), "kind": "text"},
                   {"key": "interface", "label": _("Interface"), "kind": "text", "placeholder": "eth0.20"}],
    }
