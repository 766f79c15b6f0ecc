"""Network settings against real interfaces: a box namespace and a LAN namespace joined by a veth pair."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from appliance.errors import ValidationFailed
from provisioning.errors import ConfirmFromNewAddress, NetworkError
from provisioning.network import networkd
from provisioning.network.http import make_blueprint
from provisioning.network.models import parse_settings
from provisioning.network.netlink import Netlink
from provisioning.network.service import PENDING_MARKER, NetworkService
from tests.provisioning.api import start_api
from tests.provisioning.conftest import BOX_ADDR, Lan
from tests.provisioning.netns import kernel_has_vlan


def service(lan: Lan, directory: Path) -> NetworkService:
    return NetworkService(directory, Netlink(lan.box.name), managed=True, confirm_seconds=5.0)


def moved(address: str, *, gateway: str | None = "10.77.0.1", routes: list[dict[str, str]] | None = None,
          vlans: list[dict[str, object]] | None = None) -> dict[str, object]:
    iface: dict[str, object] = {"name": "eth0", "addresses": [address], "gateway": gateway}
    if vlans:
        iface["vlans"] = vlans
    return {"interfaces": [iface], "dns": ["10.77.0.53"], "routes": routes or []}


async def test_static_address_gateway_and_route_are_live_and_saved(lan: Lan, tmp_path: Path) -> None:
    net = service(lan, tmp_path / "networkd")
    settings = parse_settings(moved("10.77.0.9/24", routes=[
        {"destination": "10.88.0.0/16", "gateway": "10.77.0.254", "interface": "eth0"}]))
    pending = await net.apply(settings, 30)
    # iproute2, not our own reader, says what the kernel has now
    assert lan.box.addresses("eth0") == ["10.77.0.9/24"]
    routes = {(r["dst"], r.get("gateway")) for r in lan.box.routes()}
    assert ("default", "10.77.0.1") in routes and ("10.88.0.0/16", "10.77.0.254") in routes
    assert lan.lan.ping("10.77.0.9")
    await net.confirm(pending["change_id"], "127.0.0.1")  # from the box's own console
    text = (tmp_path / "networkd" / "10-appliance-eth0.network").read_text()
    assert "Address=10.77.0.9/24" in text and "Gateway=10.77.0.1" in text and "Destination=10.88.0.0/16" in text
    assert "DNS=10.77.0.53" in text
    assert not (tmp_path / "networkd" / PENDING_MARKER).exists()
    state = await net.state()
    eth0 = next(link for link in state["live"]["links"] if link["name"] == "eth0")
    assert "10.77.0.9/24" in eth0["addresses"] and eth0["up"]
    assert state["saved"]["interfaces"][0]["addresses"] == ["10.77.0.9/24"]
    await net.stop()


async def test_unconfirmed_change_is_reverted_in_time(lan: Lan, tmp_path: Path) -> None:
    net = service(lan, tmp_path / "networkd")
    loop = asyncio.get_running_loop()
    pending = await net.apply(parse_settings(moved("10.77.0.3/24", routes=[
        {"destination": "10.99.0.0/16", "gateway": "10.77.0.254", "interface": "eth0"}])), 1.5)
    applied_at = loop.time()
    assert lan.box.addresses("eth0") == ["10.77.0.3/24"]
    assert not lan.lan.ping("10.77.0.2")
    while lan.box.addresses("eth0") != [BOX_ADDR] or net.pending() is not None:
        assert loop.time() - applied_at < 3.0, "not reverted in time"
        await asyncio.sleep(0.1)
    assert loop.time() - applied_at >= 1.4
    assert not any(r["dst"] == "10.99.0.0/16" for r in lan.box.routes())
    assert lan.lan.ping("10.77.0.2")
    assert net.pending() is None
    assert networkd.load(tmp_path / "networkd") is None  # nothing was saved before, nothing is now
    with pytest.raises(Exception, match="no network change"):
        await net.confirm(pending["change_id"], "127.0.0.1")
    assert net.health().counters["reverted"] == 1


async def test_confirm_only_from_the_new_address(lan: Lan, tmp_path: Path) -> None:
    net = service(lan, tmp_path / "networkd")
    pending = await net.apply(parse_settings(moved("10.77.0.4/24")), 10)
    with pytest.raises(ConfirmFromNewAddress):
        await net.confirm(pending["change_id"], "10.77.0.2")
    await net.confirm(pending["change_id"], "10.77.0.4")
    assert net.pending() is None


@pytest.mark.slow
async def test_confirmed_over_http_from_the_new_address_is_kept(lan: Lan, tmp_path: Path, core: object) -> None:
    net = service(lan, tmp_path / "networkd")
    sock = lan.box.socket(socket.AF_INET, socket.SOCK_STREAM, ("0.0.0.0", 0))
    api = await start_api(core, lambda a: [make_blueprint(a, net)], sock)
    try:
        def curl(ns_argv: list[str], url: str, body: object = None, wait: float = 3) -> list[str]:
            cmd = [*ns_argv, "curl", "-s", "-m", str(wait), "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
                   "-H", f"Authorization: Bearer {api.token}", "-H", "Content-Type: application/json", url]
            return [*cmd, "-d", json.dumps(body)] if body is not None else cmd

        async def run(argv: list[str]) -> tuple[int, str]:
            proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            body, _, code = out.decode().rpartition("\n")
            return int(code or 0), body

        # The installer's laptop on the LAN sends the change to the box's current address.
        code, body = await run(curl(lan.lan.argv(), f"http://10.77.0.2:{api.port}/api/v1/network/apply",
                                    {"settings": moved("10.77.0.5/24"), "confirm_seconds": 4}))
        assert code == 202, body
        change = json.loads(body)["change_id"]
        await asyncio.sleep(json.loads(body)["applies_in"] + 0.3)
        # the old address is gone: a confirmation cannot even reach it
        code, _ = await run(curl(lan.lan.argv(), f"http://10.77.0.2:{api.port}/api/v1/network/changes/{change}/confirm",
                                 wait=1))
        assert code == 0
        code, body = await run(curl(lan.lan.argv(), f"http://10.77.0.5:{api.port}/api/v1/network/changes/{change}/confirm"))
        assert code == 200, body
        await asyncio.sleep(4)  # past the window: kept
        assert lan.box.addresses("eth0") == ["10.77.0.5/24"]
        saved = networkd.load(tmp_path / "networkd")
        assert saved is not None and saved.interfaces[0].addresses == ("10.77.0.5/24",)
        # a bad request names the field
        code, body = await run(curl(lan.lan.argv(), f"http://10.77.0.5:{api.port}/api/v1/network/apply",
                                    {"settings": {"interfaces": [{"name": "eth0", "addresses": ["10.1.1.1"]}]}}))
        assert code == 422 and "interfaces.0.addresses.0" in body
    finally:
        await api.stop()
        await net.stop()


async def test_saved_settings_come_back_when_the_network_service_restarts(lan: Lan, tmp_path: Path) -> None:
    directory = tmp_path / "networkd"
    first = service(lan, directory)
    change = await first.apply(parse_settings(moved("10.77.0.6/24", routes=[
        {"destination": "10.66.0.0/16", "gateway": "10.77.0.254", "interface": "eth0"}])), 30)
    await first.confirm(change["change_id"], "127.0.0.1")
    # the network restarts: the kernel forgets everything
    lan.box.ip("addr", "flush", "dev", "eth0")
    lan.box.ip("route", "flush", "dev", "eth0")
    assert lan.box.addresses("eth0") == []
    second = service(lan, directory)
    await second.start()
    assert lan.box.addresses("eth0") == ["10.77.0.6/24"]
    routes = {(r["dst"], r.get("gateway")) for r in lan.box.routes()}
    assert ("default", "10.77.0.1") in routes and ("10.66.0.0/16", "10.77.0.254") in routes
    # then an unconfirmed change, and the box reboots inside the window: the confirmed settings come back
    await second.apply(parse_settings(moved("10.77.0.7/24")), 30)
    assert (directory / PENDING_MARKER).exists()
    second._pending = None  # the power is cut: no revert runs
    lan.box.ip("addr", "flush", "dev", "eth0")
    third = service(lan, directory)
    await third.start()
    assert lan.box.addresses("eth0") == ["10.77.0.6/24"]
    assert not (directory / PENDING_MARKER).exists()


async def test_vlan_on_the_phone_network(lan: Lan, tmp_path: Path) -> None:
    net = service(lan, tmp_path / "networkd")
    settings = parse_settings(moved(BOX_ADDR, vlans=[{"id": 20, "addresses": ["10.20.0.2/24"]}], routes=[
        {"destination": "10.21.0.0/16", "gateway": "10.20.0.1", "interface": "eth0.20"}]))
    files = networkd.render(settings)
    assert "VLAN=eth0.20" in files["10-appliance-eth0.network"]
    assert "Kind=vlan" in files["10-appliance-eth0.20.netdev"] and "Id=20" in files["10-appliance-eth0.20.netdev"]
    if not kernel_has_vlan(lan.box):
        # This kernel has no 802.1Q: the refusal names the field and nothing of the change is left behind.
        with pytest.raises(NetworkError) as refused:
            await net.apply(settings, 30)
        assert refused.value.details["field"] == "interfaces.0.vlans.0.id"
        assert lan.box.addresses("eth0") == [BOX_ADDR] and net.pending() is None
        assert networkd.load(tmp_path / "networkd") is None
        pytest.skip("the kernel has no 802.1Q support; the live VLAN part cannot run here")
    change = await net.apply(settings, 30)
    vlan = lan.box.ipj("-d", "link", "show", "eth0.20")[0]
    assert vlan["linkinfo"]["info_data"]["id"] == 20
    assert lan.box.addresses("eth0.20") == ["10.20.0.2/24"]
    await net.confirm(change["change_id"], "127.0.0.1")
    saved = networkd.load(tmp_path / "networkd")
    assert saved == settings


def test_validation_names_each_field() -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_settings({"interfaces": [{"name": "eth0", "addresses": ["300.1.1.1/24"], "gateway": "x",
                                        "vlans": [{"id": 5000}]}],
                        "dns": ["nope"], "routes": [{"destination": "10.0.0.0/8", "gateway": "10.0.0.1",
                                                     "interface": "eth9"}]})
    fields = {e.field for e in failed.value.errors}
    assert fields == {"interfaces.0.addresses.0", "interfaces.0.gateway", "interfaces.0.vlans.0.id", "dns.0",
                      "routes.0.interface"}


def test_networkd_files_round_trip(tmp_path: Path) -> None:
    settings = parse_settings({
        "interfaces": [{"name": "eth0", "addresses": ["192.168.1.10/24", "2001:db8::10/64"], "gateway": "192.168.1.1",
                        "vlans": [{"id": 100, "dhcp": True}, {"id": 200, "addresses": ["10.2.0.1/24"]}]},
                       {"name": "eth1", "dhcp": True}],
        "dns": ["192.168.1.1", "223.5.5.5"],
        "routes": [{"destination": "172.16.0.0/12", "gateway": "10.2.0.254", "interface": "eth0.200"}]})
    networkd.write(tmp_path, settings)
    (tmp_path / "50-other.network").write_text("[Match]\nName=wlan0\n")
    assert networkd.load(tmp_path) == settings
    networkd.write(tmp_path, parse_settings({"interfaces": [{"name": "eth1", "dhcp": True}]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["10-appliance-eth1.network", "50-other.network"]


async def test_networkd_is_told_to_reload_after_each_change_and_revert(lan: Lan, tmp_path: Path) -> None:
    """On the image systemd-networkd runs beside the appliance (it owns DHCP and hands DNS to the resolver):
    after the files change, `networkctl reload` makes it take them. networkd needs systemd and the system bus,
    which this machine's test run has not; a stand-in on the command's place records each call with the
    files as networkd would read them at that moment."""
    calls = tmp_path / "calls.txt"
    files = tmp_path / "networkd"
    stand_in = tmp_path / "networkctl"
    stand_in.write_text(f"#!/bin/sh\necho \"$*: $(cat {files}/10-appliance-eth0.network 2>/dev/null "
                        f"| grep Address= | tr '\\n' ' ')\" >> {calls}\n")
    stand_in.chmod(0o755)
    net = NetworkService(files, Netlink(lan.box.name), managed=True, networkctl=str(stand_in))
    pending = await net.apply(parse_settings(moved("10.77.0.9/24")), 1.0)
    assert calls.read_text().splitlines() == ["reload: Address=10.77.0.9/24 "]
    while net.pending() is not None:  # not confirmed: reverted by the timer
        await asyncio.sleep(0.1)
    assert pending["change_id"]
    # the revert wrote no file of ours (there was none before) and networkd was told again
    assert calls.read_text().splitlines() == ["reload: Address=10.77.0.9/24 ", "reload: "]
    assert lan.box.addresses("eth0") == [BOX_ADDR]
    await net.stop()
