"""The kernel side of network settings, through pyroute2 (rtnetlink): read the live state, capture what a
change would replace, and apply settings. Blocking calls: the service runs them on a worker thread.

Routes this module adds carry protocol "static" (RTPROT_STATIC, rtnetlink(7)); on apply, gateway routes on
the managed links that are not in the settings are removed, connected (kernel) routes are left to the kernel.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from provisioning.errors import NetworkError
from provisioning.network.models import Interface, NetworkSettings, Route, Vlan

RTPROT_KERNEL = 2
RTPROT_STATIC = 4
IFA_F_PERMANENT = 0x80
MAIN_TABLE = 254
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"  # where iproute2 names namespaces


class Netlink:
    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns  # a named namespace (tests); None: this process's own

    @contextlib.contextmanager
    def _ipr(self) -> Iterator[IPRoute]:
        if not self.netns:
            with IPRoute() as ip:
                yield ip
            return
        # pyroute2's own netns support forks a child, which inherits the appliance's signal wake-up pipe:
        # the SIGTERM pyroute2 sends its child reached the parent's loop as its own. Instead this worker
        # thread enters the namespace (setns(2) moves the calling thread only), opens the netlink socket
        # there, and comes back once the work is done.
        with _thread_in_netns(self.netns), IPRoute() as ip:
            yield ip

    # ---- reading ---------------------------------------------------------------------------------------

    def live(self) -> dict[str, Any]:
        """Links with their addresses, and the main table's routes, as read from the kernel."""
        with self._ipr() as ip:
            links = list(ip.get_links())
            names = {int(link["index"]): str(link.get("IFLA_IFNAME")) for link in links}
            out_links = []
            for link in links:
                idx = int(link["index"])
                addrs = [_cidr(a) for a in ip.get_addr(index=idx)]
                kind = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
                entry: dict[str, Any] = {
                    "name": names[idx], "index": idx, "kind": kind or "", "mac": link.get("IFLA_ADDRESS") or "",
                    "mtu": link.get("IFLA_MTU"), "state": str(link.get("IFLA_OPERSTATE") or ""),
                    "up": bool(link["flags"] & 1), "addresses": addrs,
                }
                if kind == "vlan":
                    entry["vlan_id"] = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_VLAN_ID")
                    entry["parent"] = names.get(int(link.get("IFLA_LINK") or 0), "")
                out_links.append(entry)
            routes = [
                {"destination": _dst(r), "gateway": r.get("RTA_GATEWAY"), "interface": names.get(r.get("RTA_OIF"), ""),
                 "protocol": int(r["proto"])}
                for family in (socket.AF_INET, socket.AF_INET6)
                for r in ip.get_routes(family=family, table=MAIN_TABLE)
                if r.get("RTA_OIF") in names
            ]
        return {"links": out_links, "routes": routes}

    def addresses_on(self, names: list[str]) -> list[str]:
        """Addresses (without prefix) live on the named links."""
        with self._ipr() as ip:
            out: list[str] = []
            for name in names:
                found = ip.link_lookup(ifname=name)
                if found:
                    out += [_cidr(a).split("/")[0] for a in ip.get_addr(index=found[0])]
            return out

    def capture(self, names: list[str]) -> NetworkSettings:
        """What is live now on the named interfaces, as settings: what a revert puts back."""
        with self._ipr() as ip:
            links = {str(link.get("IFLA_IFNAME")): link for link in ip.get_links()}
            routes = [r for f in (socket.AF_INET, socket.AF_INET6) for r in ip.get_routes(family=f, table=MAIN_TABLE)]
            interfaces: list[Interface] = []
            extra: list[Route] = []
            by_index = {int(link["index"]): n for n, link in links.items()}
            for name in names:
                link = links.get(name)
                if link is None or link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "vlan":
                    continue
                idx = int(link["index"])
                vlans = []
                for vname, vlink in links.items():
                    if (vlink.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "vlan"
                            and int(vlink.get("IFLA_LINK") or 0) == idx):
                        vid = int(vlink.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_VLAN_ID"))
                        vlans.append(Vlan(vid, False, tuple(_global(ip, int(vlink["index"])))))
                        extra += _gateway_routes(routes, int(vlink["index"]), vname)
                gateway = next((str(r.get("RTA_GATEWAY")) for r in routes
                                if r.get("RTA_OIF") == idx and r["dst_len"] == 0 and r.get("RTA_GATEWAY")), None)
                interfaces.append(Interface(name, False, tuple(_global(ip, idx)), gateway, tuple(vlans)))
                extra += _gateway_routes(routes, idx, by_index[idx])
        return NetworkSettings(tuple(interfaces), (), tuple(extra))

    # ---- applying --------------------------------------------------------------------------------------

    def apply(self, settings: NetworkSettings) -> None:
        with self._ipr() as ip:
            for n, iface in enumerate(settings.interfaces):
                idx = _index(ip, iface.name, f"interfaces.{n}.name")
                ip.link("set", index=idx, state="up")
                self._addresses(ip, idx, iface.dhcp, iface.addresses)
                wanted = {v.ifname(iface.name) for v in iface.vlans}
                for link in ip.get_links():
                    if (link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "vlan"
                            and int(link.get("IFLA_LINK") or 0) == idx and link.get("IFLA_IFNAME") not in wanted):
                        ip.link("del", index=int(link["index"]))
                for k, vlan in enumerate(iface.vlans):
                    vname = vlan.ifname(iface.name)
                    found = ip.link_lookup(ifname=vname)
                    if not found:
                        try:
                            ip.link("add", ifname=vname, kind="vlan", link=idx, vlan_id=vlan.id)
                        except NetlinkError as exc:
                            raise NetworkError(
                                f"the kernel refused VLAN {vlan.id} on {iface.name}: {exc.args[-1]}",
                                f"内核拒绝在 {iface.name} 上创建 VLAN {vlan.id}: {exc.args[-1]}",
                                field=f"interfaces.{n}.vlans.{k}.id") from None
                        found = ip.link_lookup(ifname=vname)
                    ip.link("set", index=found[0], state="up")
                    self._addresses(ip, found[0], vlan.dhcp, vlan.addresses)
            self._routes(ip, settings)

    @staticmethod
    def _addresses(ip: IPRoute, idx: int, dhcp: bool, addresses: tuple[str, ...]) -> None:
        wanted = {str(ipaddress.ip_interface(a)) for a in addresses}
        for a in ip.get_addr(index=idx):
            cidr = _cidr(a)
            if ipaddress.ip_interface(cidr).ip.is_link_local or cidr in wanted:
                continue
            if dhcp and not a.get("IFA_FLAGS", 0) & IFA_F_PERMANENT:
                continue  # a lease: the DHCP client (systemd-networkd) owns it
            addr, plen = cidr.split("/")
            ip.addr("del", index=idx, address=addr, prefixlen=int(plen))
        have = {_cidr(a) for a in ip.get_addr(index=idx)}
        for cidr in wanted - have:
            addr, plen = cidr.split("/")
            try:
                ip.addr("add", index=idx, address=addr, prefixlen=int(plen))
            except NetlinkError as exc:
                raise NetworkError(f"the kernel refused address {cidr}: {exc.args[-1]}",
                                   f"内核拒绝地址 {cidr}: {exc.args[-1]}") from None

    @staticmethod
    def _routes(ip: IPRoute, settings: NetworkSettings) -> None:
        managed: dict[int, str] = {}
        for name in settings.names():
            found = ip.link_lookup(ifname=name)
            if found:
                managed[found[0]] = name
        wanted: set[tuple[str, str, int]] = set()
        for iface in settings.interfaces:
            if iface.gateway:
                default = "0.0.0.0/0" if ipaddress.ip_address(iface.gateway).version == 4 else "::/0"
                wanted.add((default, iface.gateway, ip.link_lookup(ifname=iface.name)[0]))
        for r in settings.routes:
            wanted.add((r.destination, r.gateway, ip.link_lookup(ifname=r.interface)[0]))
        for family in (socket.AF_INET, socket.AF_INET6):
            for r in ip.get_routes(family=family, table=MAIN_TABLE):
                oif, gw = r.get("RTA_OIF"), r.get("RTA_GATEWAY")
                if oif in managed and gw and (_dst(r), gw, oif) not in wanted:
                    ip.route("del", dst=_dst(r), gateway=gw, oif=oif, table=MAIN_TABLE)
        for dst, gw, oif in sorted(wanted):
            try:
                ip.route("replace", dst=dst, gateway=gw, oif=oif, proto=RTPROT_STATIC, table=MAIN_TABLE)
            except NetlinkError as exc:
                raise NetworkError(f"the kernel refused the route to {dst} via {gw}: {exc.args[-1]}",
                                   f"内核拒绝经 {gw} 到 {dst} 的路由: {exc.args[-1]}", field="routes") from None


def _index(ip: IPRoute, name: str, field: str) -> int:
    found = ip.link_lookup(ifname=name)
    if not found:
        raise NetworkError(f"there is no interface {name}", f"没有接口 {name}", field=field)
    return int(found[0])


def _cidr(a: Any) -> str:
    addr = a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")
    return str(ipaddress.ip_interface(f"{addr}/{a['prefixlen']}"))


def _global(ip: IPRoute, idx: int) -> list[str]:
    return [c for c in (_cidr(a) for a in ip.get_addr(index=idx)) if not ipaddress.ip_interface(c).ip.is_link_local]


def _dst(r: Any) -> str:
    dst = r.get("RTA_DST")
    if dst is None:
        return "0.0.0.0/0" if r["family"] == socket.AF_INET else "::/0"
    return f"{dst}/{r['dst_len']}"


def _gateway_routes(routes: list[Any], idx: int, name: str) -> list[Route]:
    return [Route(_dst(r), str(r.get("RTA_GATEWAY")), name) for r in routes
            if r.get("RTA_OIF") == idx and r["dst_len"] > 0 and r.get("RTA_GATEWAY")]


@contextlib.contextmanager
def _thread_in_netns(name: str) -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise NetworkError(f"cannot enter network namespace {name}: {os.strerror(err)}",
                                   f"无法进入网络命名空间 {name}: {os.strerror(err)}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:  # a thread left in the wrong namespace must not run on
                os.abort()
    finally:
        os.close(own)

