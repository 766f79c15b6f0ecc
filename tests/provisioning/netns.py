"""Network namespaces and veth pairs made by a test (root is needed), and sockets opened inside them."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import netns as pr_netns

_COUNTER = itertools.count()


def can_make_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 100000}x{next(_COUNTER)}"


@dataclass
class Namespace:
    name: str
    made: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, prefix: str) -> Namespace:
        name = unique(prefix)
        subprocess.run(["ip", "netns", "add", name], check=True)
        ns = cls(name)
        ns.ip("link", "set", "lo", "up")
        return ns

    def ip(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["ip", "-n", self.name, *args], check=check, capture_output=True, text=True).stdout

    def ipj(self, *args: str) -> Any:
        return json.loads(self.ip("-j", *args) or "[]")

    def exec(self, *argv: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True,
                              timeout=timeout)

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def addresses(self, dev: str) -> list[str]:
        out = []
        for link in self.ipj("addr", "show", "dev", dev):
            out += [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a.get("scope") == "global"]
        return out

    def routes(self) -> list[dict[str, Any]]:
        return list(self.ipj("route", "show"))

    def ping(self, address: str) -> bool:
        return self.exec("ping", "-c", "1", "-W", "1", address).returncode == 0

    def socket(self, family: int, kind: int, bind: tuple[str, int]) -> socket.socket:
        sock: socket.socket = in_namespace(self.name, lambda: _bound(family, kind, bind))
        return sock

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)


def _bound(family: int, kind: int, bind: tuple[str, int]) -> socket.socket:
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(bind)
    return s


def in_namespace(name: str, fn: Callable[[], Any]) -> Any:
    """Run `fn` on a thread switched into the namespace (a socket keeps the namespace it was made in)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            pr_netns.setns(name)
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def veth(a: Namespace, a_name: str, b: Namespace, b_name: str) -> None:
    """A veth pair with one end in each namespace, both up."""
    tmp = unique("vt")
    subprocess.run(["ip", "-n", a.name, "link", "add", a_name, "type", "veth", "peer", "name", tmp], check=True)
    subprocess.run(["ip", "-n", a.name, "link", "set", tmp, "netns", b.name], check=True)
    b.ip("link", "set", tmp, "name", b_name)
    a.ip("link", "set", a_name, "up")
    b.ip("link", "set", b_name, "up")


def kernel_has_vlan(ns: Namespace) -> bool:
    probe = subprocess.run(["ip", "-n", ns.name, "link", "add", "link", "lo", "name", "vlprobe", "type", "vlan",
                            "id", "9"], capture_output=True, text=True)
    if probe.returncode == 0:
        ns.ip("link", "del", "vlprobe")
        return True
    return False
