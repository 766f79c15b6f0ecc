"""Network settings as frozen values, and their validation at the edge (the API and the console)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from appliance.errors import FieldError, ValidationFailed

IFNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,14}$")  # the kernel's IFNAMSIZ is 16 with the NUL


@dataclass(frozen=True, slots=True)
class Vlan:
    id: int
    dhcp: bool = False
    addresses: tuple[str, ...] = ()  # CIDR, normalised ("192.168.10.2/24")

    def ifname(self, parent: str) -> str:
        return f"{parent}.{self.id}"


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    dhcp: bool = False
    addresses: tuple[str, ...] = ()
    gateway: str | None = None
    vlans: tuple[Vlan, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    destination: str  # a network in CIDR form
    gateway: str
    interface: str


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    interfaces: tuple[Interface, ...] = ()
    dns: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()

    def names(self) -> list[str]:
        """Every link these settings own: interfaces and their VLANs."""
        out: list[str] = []
        for i in self.interfaces:
            out.append(i.name)
            out += [v.ifname(i.name) for v in i.vlans]
        return out

    def static_addresses(self) -> list[str]:
        out: list[str] = []
        for i in self.interfaces:
            out += [a.split("/")[0] for a in i.addresses]
            for v in i.vlans:
                out += [a.split("/")[0] for a in v.addresses]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "interfaces": [
                {"name": i.name, "dhcp": i.dhcp, "addresses": list(i.addresses), "gateway": i.gateway,
                 "vlans": [{"id": v.id, "dhcp": v.dhcp, "addresses": list(v.addresses)} for v in i.vlans]}
                for i in self.interfaces
            ],
            "dns": list(self.dns),
            "routes": [{"destination": r.destination, "gateway": r.gateway, "interface": r.interface}
                       for r in self.routes],
        }


class _Collector:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, rule: str, message: str, message_zh: str) -> None:
        self.errors.append(FieldError(field, rule, f"{field}: {message}", f"{field}: {message_zh}"))

    def address(self, field: str, raw: Any) -> str | None:
        try:
            iface = ipaddress.ip_interface(str(raw))
        except ValueError:
            self.add(field, "cidr", "an address with its prefix, e.g. 192.168.1.10/24", "应为带前缀的地址,如 192.168.1.10/24")
            return None
        if "/" not in str(raw):
            self.add(field, "cidr", "the prefix length is missing (e.g. /24)", "缺少前缀长度(如 /24)")
            return None
        if iface.ip.is_loopback or iface.ip.is_multicast or iface.ip.is_unspecified:
            self.add(field, "unicast", "a unicast address", "应为单播地址")
            return None
        return str(iface)

    def ip(self, field: str, raw: Any) -> str | None:
        try:
            return str(ipaddress.ip_address(str(raw)))
        except ValueError:
            self.add(field, "ip", "an IP address", "应为 IP 地址")
            return None


def _list(c: _Collector, field: str, raw: Any) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        c.add(field, "type", "a list", "应为列表")
        return []
    return raw


def _bool(c: _Collector, field: str, raw: Any) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        c.add(field, "type", "true or false", "应为 true 或 false")
        return False
    return raw


def parse_settings(data: Any) -> NetworkSettings:
    """Validate a JSON document into `NetworkSettings`; every broken rule is named by its field path."""
    c = _Collector()
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "type", "an object", "应为对象")], "network settings")
    interfaces: list[Interface] = []
    seen: set[str] = set()
    for n, raw in enumerate(_list(c, "interfaces", data.get("interfaces"))):
        f = f"interfaces.{n}"
        if not isinstance(raw, dict):
            c.add(f, "type", "an object", "应为对象")
            continue
        name = str(raw.get("name", ""))
        if not IFNAME.match(name):
            c.add(f"{f}.name", "ifname", "an interface name such as eth0", "应为接口名,如 eth0")
        elif name in seen:
            c.add(f"{f}.name", "unique", "named twice", "重复")
        seen.add(name)
        dhcp = _bool(c, f"{f}.dhcp", raw.get("dhcp"))
        addrs = [c.address(f"{f}.addresses.{k}", a) for k, a in enumerate(_list(c, f"{f}.addresses", raw.get("addresses")))]
        if not dhcp and not addrs:
            c.add(f"{f}.addresses", "required", "a static interface needs an address (or dhcp: true)",
                  "静态接口需要地址(或 dhcp: true)")
        gateway = c.ip(f"{f}.gateway", raw["gateway"]) if raw.get("gateway") else None
        vlans: list[Vlan] = []
        vids: set[int] = set()
        for k, rv in enumerate(_list(c, f"{f}.vlans", raw.get("vlans"))):
            vf = f"{f}.vlans.{k}"
            if not isinstance(rv, dict):
                c.add(vf, "type", "an object", "应为对象")
                continue
            vid = rv.get("id")
            if not isinstance(vid, int) or isinstance(vid, bool) or not 1 <= vid <= 4094:
                c.add(f"{vf}.id", "range", "a VLAN id from 1 to 4094", "VLAN 号应为 1 到 4094")
                continue
            if vid in vids:
                c.add(f"{vf}.id", "unique", "VLAN named twice", "VLAN 重复")
            vids.add(vid)
            vdhcp = _bool(c, f"{vf}.dhcp", rv.get("dhcp"))
            vaddrs = [c.address(f"{vf}.addresses.{j}", a)
                      for j, a in enumerate(_list(c, f"{vf}.addresses", rv.get("addresses")))]
            if len(f"{name}.{vid}") > 15:
                c.add(f"{vf}.id", "ifname", "interface name plus VLAN id longer than 15 characters",
                      "接口名加 VLAN 号超过 15 个字符")
            vlans.append(Vlan(vid, vdhcp, tuple(a for a in vaddrs if a)))
        interfaces.append(Interface(name, dhcp, tuple(a for a in addrs if a), gateway, tuple(vlans)))
    dns = [c.ip(f"dns.{k}", d) for k, d in enumerate(_list(c, "dns", data.get("dns")))]
    links = {i.name for i in interfaces} | {v.ifname(i.name) for i in interfaces for v in i.vlans}
    routes: list[Route] = []
    for k, rr in enumerate(_list(c, "routes", data.get("routes"))):
        rf = f"routes.{k}"
        if not isinstance(rr, dict):
            c.add(rf, "type", "an object", "应为对象")
            continue
        try:
            dest = str(ipaddress.ip_network(str(rr.get("destination", "")), strict=False))
        except ValueError:
            c.add(f"{rf}.destination", "network", "a network such as 10.20.0.0/16", "应为网段,如 10.20.0.0/16")
            dest = ""
        gw = c.ip(f"{rf}.gateway", rr.get("gateway", ""))
        via = str(rr.get("interface", ""))
        if via not in links:
            c.add(f"{rf}.interface", "known", "one of the interfaces (or VLANs) in these settings",
                  "应为本设置中的接口(或 VLAN)")
        if dest and gw:
            routes.append(Route(dest, gw, via))
    if c.errors:
        raise ValidationFailed(c.errors, "network settings")
    return NetworkSettings(tuple(interfaces), tuple(d for d in dns if d), tuple(routes))
