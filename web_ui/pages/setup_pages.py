"""The first-boot wizard in the browser (`/setup/wizard`): after the one-time token has set the admin password
(`/setup`) and the admin has signed in, the box's own settings in one page: network (applied with the
confirm-or-revert countdown), host name, time zone and NTP, the SIP domain, and the cards the drivers' HAL
detects. Each step is saved through its own API route, so the page can be run again at any time from the
menu and saving the same values twice changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.errors import NotFound
from web_ui.i18n import N_
from web_ui.pages.context import PageRedirect, WebUi, render, viewer_of

if TYPE_CHECKING:
    from provisioning.builder import Provisioning

WIZARD = "/setup/wizard"
CONFIRM_SECONDS = 90


def provisioning_of(ui: WebUi) -> Provisioning:
    prov = getattr(ui, "provisioning", None)
    if prov is None:
        raise NotFound(N_("First-boot set-up"), "provisioning")
    return prov  # type: ignore[no-any-return]


def physical_links(live: dict[str, Any]) -> list[dict[str, Any]]:
    """Ports an installer can set: no loopback, no VLANs or other virtual links made on top of them."""
    return [link for link in live.get("links", [])
            if link.get("name") != "lo" and link.get("kind") in ("", "veth") and link.get("mac")]


def interface_form(state: dict[str, Any]) -> dict[str, Any]:
    """The values the wizard's network step starts from: the saved settings of the first port, else its
    live addresses."""
    links = physical_links(state.get("live", {}))
    saved = (state.get("saved") or {}).get("interfaces") or []
    dns = (state.get("saved") or {}).get("dns") or []
    if saved:
        first = saved[0]
        return {"name": first["name"], "dhcp": first["dhcp"], "address": (first["addresses"] or [""])[0],
                "gateway": first.get("gateway") or "", "dns": dns}
    if links:
        global_addresses = [a for a in links[0]["addresses"] if not a.startswith("fe80:")]
        gateway = next((r["gateway"] for r in state.get("live", {}).get("routes", [])
                        if r["interface"] == links[0]["name"] and r["destination"] == "0.0.0.0/0"
                        and r.get("gateway")), "")
        return {"name": links[0]["name"], "dhcp": not global_addresses,
                "address": (global_addresses or [""])[0], "gateway": gateway, "dns": dns}
    return {"name": "", "dhcp": True, "address": "", "gateway": "", "dns": dns}


def detected_cards(ui: WebUi, summary: dict[str, Any]) -> dict[str, Any]:
    """The cards and their ports: the hardware service's view when the drivers run in this box (the cards
    they opened, with model, spans and ports, then the candidates nobody uses), else the HAL's discovery."""
    hardware = getattr(ui, "hardware", None)
    if hardware is None:
        cards: dict[str, Any] = summary["cards"]
        return {**cards, "cards": [{**c, "driver": "", "model": "", "state": "detected", "spans": 0, "ports": 0}
                                   for c in cards.get("cards", [])], "hardware": False}
    return {"available": True, "hardware": True, "cards": [
        {"description": c.model or c.detail or c.path, "backend": c.backend, "path": c.path, "driver": c.driver,
         "model": c.model, "state": c.state, "spans": c.spans, "ports": c.ports} for c in hardware.cards()]}


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("setup_pages", url_prefix="")
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))

    async def wizard(request: Request) -> HTTPResponse:
        if ui.auth.setup_required:
            raise PageRedirect("/setup")  # the password first, with the console's token
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        prov = provisioning_of(ui)
        summary = prov.system.summary(ui.auth.setup_required)
        state = await prov.network.state()
        return render(ui, request, "setup/wizard.html", viewer=viewer, summary=summary, network=state,
                      cards=detected_cards(ui, summary),
                      links=physical_links(state["live"]), iface=interface_form(state), zones=zones,
                      confirm_seconds=CONFIRM_SECONDS, pending=state["pending"])

    bp.add_route(wizard, WIZARD, methods=["GET"], name="setup_wizard")
    return bp
