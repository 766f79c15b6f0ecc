"""systemd-networkd files for the settings: what holds after a reboot.

On the image systemd-networkd reads these at boot (and runs DHCP: no home-made client); the appliance also
reads them back (`load`) to know what was confirmed and to apply it through netlink where networkd is not
running. Only files named `10-appliance-*` are ours; others are left alone. Formats: systemd.network(5) and
systemd.netdev(5).
"""

from __future__ import annotations

import os
from pathlib import Path

from provisioning.network.models import Interface, NetworkSettings, Route, Vlan

PREFIX = "10-appliance-"


def render(settings: NetworkSettings) -> dict[str, str]:
    """File name → contents."""
    files: dict[str, str] = {}
    for iface in settings.interfaces:
        lines = ["[Match]", f"Name={iface.name}", "", "[Network]"]
        lines += _addressing(iface.dhcp, iface.addresses)
        if iface.gateway:
            lines.append(f"Gateway={iface.gateway}")
        lines += [f"DNS={d}" for d in settings.dns]
        lines += [f"VLAN={v.ifname(iface.name)}" for v in iface.vlans]
        lines += _routes(settings.routes, iface.name)
        files[f"{PREFIX}{iface.name}.network"] = "\n".join(lines) + "\n"
        for vlan in iface.vlans:
            name = vlan.ifname(iface.name)
            files[f"{PREFIX}{name}.netdev"] = (
                f"[NetDev]\nName={name}\nKind=vlan\n\n[VLAN]\nId={vlan.id}\n")
            vl = ["[Match]", f"Name={name}", "", "[Network]", *_addressing(vlan.dhcp, vlan.addresses)]
            vl += _routes(settings.routes, name)
            files[f"{PREFIX}{name}.network"] = "\n".join(vl) + "\n"
    return files


def _addressing(dhcp: bool, addresses: tuple[str, ...]) -> list[str]:
    return (["DHCP=yes"] if dhcp else []) + [f"Address={a}" for a in addresses]


def _routes(routes: tuple[Route, ...], name: str) -> list[str]:
    out: list[str] = []
    for r in routes:
        if r.interface == name:
            out += ["", "[Route]", f"Destination={r.destination}", f"Gateway={r.gateway}"]
    return out


def write(directory: Path, settings: NetworkSettings) -> list[Path]:
    """Replace our files in `directory` atomically, one by one (temp file, fsync, rename), and drop stale ones."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = render(settings)
    written: list[Path] = []
    for name, text in wanted.items():
        path = directory / name
        tmp = directory / f".{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        written.append(path)
    for old in directory.glob(f"{PREFIX}*"):
        if old.name not in wanted:
            old.unlink()
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return written


def _sections(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """systemd's INI dialect: repeated sections ([Route]) and repeated keys (Address=) are both meaningful,
    which `configparser` cannot represent."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            out.append((line[1:-1], []))
        elif "=" in line and out:
            key, value = line.split("=", 1)
            out[-1][1].append((key.strip(), value.strip()))
    return out


def load(directory: Path) -> NetworkSettings | None:
    """The settings our files describe, or None when there are none (first boot)."""
    networks: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {}
    vlan_ids: dict[str, int] = {}
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob(f"{PREFIX}*")):
        sections = _sections(path.read_text(encoding="utf-8"))
        if path.suffix == ".netdev":
            name = next((v for s, kv in sections if s == "NetDev" for k, v in kv if k == "Name"), "")
            vid = next((v for s, kv in sections if s == "VLAN" for k, v in kv if k == "Id"), "")
            if name and vid.isdigit():
                vlan_ids[name] = int(vid)
        elif path.suffix == ".network":
            name = next((v for s, kv in sections if s == "Match" for k, v in kv if k == "Name"), "")
            if name:
                networks[name] = sections
    if not networks:
        return None
    interfaces: list[Interface] = []
    dns: list[str] = []
    routes: list[Route] = []
    for name, sections in networks.items():
        for section, kv in sections:
            if section == "Route":
                d = dict(kv)
                routes.append(Route(d.get("Destination", ""), d.get("Gateway", ""), name))
            elif section == "Network":
                dns += [v for k, v in kv if k == "DNS" and v not in dns]
    for name, sections in networks.items():
        if name in vlan_ids:
            continue
        net = [kv for s, kvs in sections if s == "Network" for kv in kvs]
        vlans = []
        for vname in (v for k, v in net if k == "VLAN"):
            vnet = [kv for s, kvs in networks.get(vname, []) if s == "Network" for kv in kvs]
            vlans.append(Vlan(vlan_ids.get(vname, int(vname.rsplit(".", 1)[-1])), ("DHCP", "yes") in vnet,
                              tuple(v for k, v in vnet if k == "Address")))
        interfaces.append(Interface(
            name, ("DHCP", "yes") in net, tuple(v for k, v in net if k == "Address"),
            next((v for k, v in net if k == "Gateway"), None), tuple(vlans)))
    return NetworkSettings(tuple(interfaces), tuple(dns), tuple(routes))
