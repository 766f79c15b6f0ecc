"""The first-boot console menu: a plain text menu for a 80x24 serial terminal or the screen.

It is a client of the running box's own API on loopback (the same routes the web wizard uses), so the console
and the web see and change the same things, and the network change confirms itself from the console (the
installer is at the box). Every step shows the current value and keeps it on Enter: the menu can be run
again at any time. Until the admin password is set, only that step is offered (with the one-time setup
token the box wrote for root); afterwards the menu asks for the admin password first.

    python -m provisioning.firstboot.console --api http://127.0.0.1:8080 --data-dir /data
"""

from __future__ import annotations

import argparse
import getpass
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import httpx

from provisioning.firstboot.system import SETUP_TOKEN_FILE

WIDTH = 79
FACTORY_RESET = "/usr/lib/appliance/factory-reset"  # installed by the image; see image_build


class Console:
    def __init__(self, api: str, data_dir: Path, out: TextIO = sys.stdout, confirm_seconds: int = 60) -> None:
        self.http = httpx.Client(base_url=api, timeout=15.0)
        self.data_dir = data_dir
        self.out = out
        self.confirm_seconds = confirm_seconds
        self.token = ""

    # ---- terminal ----------------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        for line in text.split("\n"):
            self.out.write(line[:WIDTH] + "\n")
        self.out.flush()

    def ask(self, prompt: str, default: str = "") -> str:
        shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
        self.out.write(shown[:WIDTH])
        self.out.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.strip() or default

    def secret(self, prompt: str) -> str:
        return getpass.getpass(prompt + ": ")

    def ask_within(self, prompt: str, seconds: float) -> str | None:
        """A line typed within `seconds`, or None."""
        self.out.write(prompt)
        self.out.flush()
        ready, _, _ = select.select([sys.stdin], [], [], seconds)
        return sys.stdin.readline().strip() if ready else None

    # ---- API -------------------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            r = self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return 0, {"message": f"the box does not answer: {exc}"}
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, None

    def show_error(self, data: Any) -> None:
        if isinstance(data, dict):
            fields = data.get("details", {}).get("fields", [])
            self.say("  ! " + str(data.get("message", "failed")))
            for f in fields:
                self.say(f"    - {f.get('message')}")
        else:
            self.say("  ! failed")

    # ---- the menu --------------------------------------------------------------------------------------

    def run(self) -> int:
        self.say("Call-center appliance: set-up / 呼叫中心一体机: 初始设置".center(WIDTH))
        status, data = self.call("GET", "/api/v1/setup")
        if status != 200:
            self.show_error(data)
            return 1
        if data["setup_required"]:
            self.say("The admin password is not set yet. / 尚未设置管理员密码。")
            if not self.set_first_password():
                return 1
        elif not self.log_in():
            return 1
        while True:
            choice = self.menu()
            if choice in ("q", "Q"):
                return 0
            action = self.actions().get(choice)
            if action is None:
                self.say("  ? choose one of the numbers")
                continue
            try:
                action()
            except EOFError:
                return 0

    def actions(self) -> dict[str, Any]:
        return {"1": self.change_password, "2": self.network, "3": self.host_name, "4": self.time,
                "5": self.sip_domain, "6": self.cards, "7": self.show_token, "8": self.network_reset,
                "9": self.factory_reset, "0": self.support_shell}

    def menu(self) -> str:
        _, s = self.call("GET", "/api/v1/setup/system")
        s = s if isinstance(s, dict) else {}
        _, net = self.call("GET", "/api/v1/network")
        cards = s.get("cards", {})
        rows = [
            ("1", "Admin password / 管理员密码", "set" if s.get("admin_password_set") else "NOT SET"),
            ("2", "Network / 网络", _network_line(net)),
            ("3", "Host name / 主机名", str(s.get("host_name", ""))),
            ("4", "Time zone, NTP / 时区", f"{s.get('time_zone', '')}; {' '.join(s.get('ntp_servers', []))}"),
            ("5", "SIP domain / SIP 域", str(s.get("sip_domain", ""))),
            ("6", "Cards and ports / 板卡", f"{len(cards.get('cards', []))} found" if cards.get("available")
             else "no card driver"),
            ("7", "Show the setup token / 设置令牌", ""),
            ("8", "Network reset (DHCP) / 网络重置", ""),
            ("9", "Factory reset / 恢复出厂", ""),
            ("0", "Support shell / 支持终端", ""),
            ("q", "Quit / 退出", ""),
        ]
        self.say("-" * WIDTH)
        for key, label, value in rows:
            self.say(f" {key}  {_pad(label, 34)} {value}")
        return self.ask("Choice / 选择")

    # ---- steps -----------------------------------------------------------------------------------------

    def read_token(self) -> str | None:
        try:
            return (self.data_dir / SETUP_TOKEN_FILE).read_text().strip() or None
        except OSError:
            return None

    def new_password(self) -> str | None:
        for _ in range(3):
            first = self.secret("New admin password (8+ characters) / 新密码")
            if first and first == self.secret("Again / 再次输入"):
                return first
            self.say("  ! the two entries differ / 两次输入不一致")
        return None

    def set_first_password(self) -> bool:
        token = self.read_token()
        if token is None:
            self.say("  ! no setup token: start the appliance service first / 未找到设置令牌")
            return False
        while True:
            password = self.new_password()
            if password is None:
                return False
            status, data = self.call("POST", "/api/v1/setup", {"token": token, "password": password})
            if status == 200:
                self.say("  Admin password set. / 管理员密码已设置。")
                return self.log_in(password)
            self.show_error(data)

    def log_in(self, password: str | None = None) -> bool:
        for _ in range(3):
            pw = password if password is not None else self.secret("Admin password / 管理员密码")
            status, data = self.call("POST", "/api/v1/login", {"name": "admin", "password": pw})
            if status == 200:
                self.token = data["token"]
                return True
            self.show_error(data)
            password = None
        return False

    def change_password(self) -> None:
        password = self.new_password()
        if password is None:
            return
        status, data = self.call("PUT", "/api/v1/users/admin/password", {"password": password})
        self.say("  Changed. / 已修改。" if status in (200, 204) else "")
        if status not in (200, 204):
            self.show_error(data)

    def network(self) -> None:
        _, state = self.call("GET", "/api/v1/network")
        links = [link for link in (state or {}).get("live", {}).get("links", [])
                 if link["name"] != "lo" and link.get("kind") != "vlan"]
        for link in links:
            self.say(f"  {link['name']:<10} {link['mac']:<18} {' '.join(link['addresses'])[:45]}")
        default = links[0]["name"] if links else "eth0"
        name = self.ask("Interface / 接口", default)
        mode = self.ask("d = DHCP, s = static / 静态", "s").lower()
        iface: dict[str, Any] = {"name": name, "dhcp": mode.startswith("d")}
        dns: list[str] = []
        if not iface["dhcp"]:
            iface["addresses"] = [self.ask("Address with prefix, e.g. 192.168.1.10/24 / 地址")]
            gateway = self.ask("Gateway (empty: none) / 网关")
            iface["gateway"] = gateway or None
            dns = self.ask("DNS servers, space-separated / DNS").split()
        status, data = self.call("POST", "/api/v1/network/apply", {
            "settings": {"interfaces": [iface], "dns": dns}, "confirm_seconds": self.confirm_seconds})
        if status != 202:
            self.show_error(data)
            return
        change = data["change_id"]
        time.sleep(float(data.get("applies_in", 0)) + 0.2)
        answer = self.ask_within(
            f"  Applied. Keep it? y/N (reverts in {self.confirm_seconds} s) / 保留? ", self.confirm_seconds - 1)
        if answer is not None and answer.lower().startswith("y"):
            status, data = self.call("POST", f"/api/v1/network/changes/{change}/confirm")
            self.say("  Kept. / 已保留。" if status == 200 else "")
            if status != 200:
                self.show_error(data)
        else:
            self.call("POST", f"/api/v1/network/changes/{change}/revert")
            self.say("\n  Reverted. / 已恢复。")

    def host_name(self) -> None:
        _, s = self.call("GET", "/api/v1/setup/system")
        self.put("/api/v1/system/host-name", {"host_name": self.ask("Host name / 主机名", s.get("host_name", ""))})

    def time(self) -> None:
        _, s = self.call("GET", "/api/v1/setup/system")
        zone = self.ask("Time zone / 时区", s.get("time_zone", "Asia/Shanghai"))
        ntp = self.ask("NTP servers, space-separated / NTP", " ".join(s.get("ntp_servers", []))).split()
        self.put("/api/v1/system/time", {"time_zone": zone, "ntp_servers": ntp})

    def sip_domain(self) -> None:
        _, s = self.call("GET", "/api/v1/setup/system")
        data = self.put("/api/v1/system/sip-domain",
                        {"sip_domain": self.ask("SIP domain / SIP 域", s.get("sip_domain", ""))})
        if data and data.get("restart_required"):
            self.say("  Takes effect when the appliance restarts. / 重启后生效。")
        if data and data.get("passwords_to_set_again"):
            self.say("  Set these extensions' passwords again: " + " ".join(data["passwords_to_set_again"]))

    def put(self, path: str, body: dict[str, Any]) -> Any:
        status, data = self.call("PUT", path, body)
        if status == 200:
            self.say("  Saved. / 已保存。")
            return data
        self.show_error(data)
        return None

    def cards(self) -> None:
        _, data = self.call("GET", "/api/v1/system/cards")
        if not data or not data.get("available"):
            self.say(f"  No card driver: {(data or {}).get('reason', '')} / 未安装板卡驱动")
            return
        if not data["cards"]:
            self.say("  No cards found. / 未发现板卡。")
        for card in data["cards"]:
            self.say("  " + "  ".join(f"{k}={v}" for k, v in card.items()))

    def show_token(self) -> None:
        _, status = self.call("GET", "/api/v1/setup")
        token = self.read_token() if isinstance(status, dict) and status.get("setup_required") else None
        self.say(f"  Setup token / 设置令牌: {token}" if token else "  The admin password is set: no token. / 已设置密码。")

    def network_reset(self) -> None:
        if self.ask("Every interface back to DHCP? yes/no / 全部改为 DHCP?", "no") != "yes":
            return
        _, state = self.call("GET", "/api/v1/network")
        names = [link["name"] for link in (state or {}).get("live", {}).get("links", [])
                 if link["name"] != "lo" and link.get("kind") in ("", "veth")]
        status, data = self.call("POST", "/api/v1/network/apply", {
            "settings": {"interfaces": [{"name": n, "dhcp": True} for n in names]},
            "confirm_seconds": self.confirm_seconds})
        if status == 202:
            self.call("POST", f"/api/v1/network/changes/{data['change_id']}/confirm")
            self.say("  Network reset to DHCP. / 已重置为 DHCP。")
        else:
            self.show_error(data)

    def reauthenticate(self) -> bool:
        status, _ = self.call("POST", "/api/v1/login", {"name": "admin", "password": self.secret("Admin password / 管理员密码")})
        if status != 200:
            self.say("  ! wrong password / 密码错误")
        return status == 200

    def factory_reset(self) -> None:
        hook = os.environ.get("APPLIANCE_FACTORY_RESET", FACTORY_RESET)
        if not Path(hook).exists():
            self.say("  Factory reset is only available on the appliance image. / 仅设备镜像支持。")
            return
        if self.ask("Erase all data and restart? type RESET / 输入 RESET 确认") != "RESET":
            return
        if self.reauthenticate():
            subprocess.run([hook], check=False)

    def support_shell(self) -> None:
        if not self.reauthenticate():
            return
        shell = os.environ.get("SHELL") or shutil.which("bash") or "/bin/sh"
        self.say("  Support shell; type exit to come back. / 输入 exit 返回。")
        subprocess.run([shell], check=False)


def _pad(text: str, width: int) -> str:
    """Pad to a width in terminal columns (a CJK character takes two)."""
    cols = sum(2 if ord(c) > 0x2E80 else 1 for c in text)
    return text + " " * max(0, width - cols)


def _network_line(net: Any) -> str:
    if not isinstance(net, dict):
        return ""
    links = [link for link in net.get("live", {}).get("links", []) if link["name"] != "lo"]
    parts = [f"{link['name']} {' '.join(a for a in link['addresses'] if not a.startswith('fe80'))}" for link in links]
    pending = " (waiting for confirmation)" if net.get("pending") else ""
    return ("; ".join(parts) + pending)[:40]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="First-boot set-up menu")
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--data-dir", type=Path, default=Path("var"))
    parser.add_argument("--confirm-seconds", type=int, default=60)
    args = parser.parse_args(argv)
    try:
        return Console(args.api, args.data_dir, confirm_seconds=args.confirm_seconds).run()
    except (EOFError, KeyboardInterrupt):
        return 0


if __name__ == "__main__":
    sys.exit(main())
