"""SNMP settings (the `snmp` setting of the configuration store), validated once here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from appliance.errors import FieldError, ValidationFailed
from appliance.snmp.mib import PLACEHOLDER_PEN

AUTH_PROTOCOLS = ("sha256", "sha384", "sha512", "sha224", "sha")
PRIV_PROTOCOLS = ("aes128", "aes192", "aes256")
WELL_KNOWN_COMMUNITIES = frozenset({"public", "private"})  # every scanner tries them


def _in(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(n) for n in networks)


@dataclass(frozen=True, slots=True)
class Community:
    name: str
    networks: tuple[str, ...] = ()  # sources it may be used from (within allowed_networks); empty: all of those


@dataclass(frozen=True, slots=True)
class V3User:
    name: str
    auth_key: str
    priv_key: str
    auth_protocol: str = "sha256"
    priv_protocol: str = "aes128"
    networks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TrapReceiver:
    host: str
    port: int = 162
    version: str = "v2c"  # v2c | v3
    community: str = ""  # v2c
    user: str = ""  # v3: one of `users`
    inform: bool = False  # acknowledged and retried
    retries: int = 3
    timeout: float = 2.0


@dataclass(frozen=True, slots=True)
class SnmpSettings:
    enterprise_number: int = PLACEHOLDER_PEN
    communities: tuple[Community, ...] = ()  # read-only v2c; none: v2c is off
    users: tuple[V3User, ...] = ()
    allowed_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    trap_receivers: tuple[TrapReceiver, ...] = ()
    heartbeat_interval: float = 300.0  # seconds; 0: no heartbeat
    contact: str = ""
    location: str = ""

    def user(self, name: str) -> V3User | None:
        return next((u for u in self.users if u.name == name), None)

    def allows(self, address: str) -> bool:
        return _in(address, self.allowed_networks)

    def admits(self, address: str, principal: tuple[str, str] | None) -> bool:
        """A request from `address` naming `principal` (("community" | "user", name)) may be answered."""
        if not self.allows(address):
            return False
        networks: tuple[str, ...] = ()
        if principal is not None and principal[0] == "community":
            networks = next((c.networks for c in self.communities if c.name == principal[1]), ())
        elif principal is not None:
            user = self.user(principal[1])
            networks = user.networks if user is not None else ()
        return not networks or _in(address, networks)


def _str(raw: dict[str, Any], key: str, where: str, problems: list[FieldError], default: str = "",
         min_len: int = 0) -> str:
    v = raw.get(key, default)
    if not isinstance(v, str) or len(v) < min_len or len(v) > 255:
        rule = f"a text of {min_len} to 255 characters"
        problems.append(FieldError(f"{where}{key}", "string", f"{where}{key}: {rule}",
                                   f"{where}{key}: 应为 {min_len} 到 255 个字符的文本"))
        return default
    return v


def _networks(raw: Any, where: str, problems: list[FieldError]) -> tuple[str, ...]:
    out = []
    if not isinstance(raw, list):
        problems.append(FieldError(where, "type", f"{where}: a list of networks", f"{where}: 应为网络列表"))
        return ()
    for i, n in enumerate(raw):
        try:
            out.append(str(ipaddress.ip_network(n, strict=False)))
        except (TypeError, ValueError):
            problems.append(FieldError(f"{where}.{i}", "network", f"{where}.{i}: a network like 10.0.0.0/8",
                                       f"{where}.{i}: 应为网络,如 10.0.0.0/8"))
    return tuple(out)


def parse_settings(raw: Any) -> SnmpSettings:
    if raw is None:
        return SnmpSettings()
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError("snmp", "type", "snmp: an object", "snmp: 应为对象")])
    p: list[FieldError] = []
    pen = raw.get("enterprise_number", PLACEHOLDER_PEN)
    if isinstance(pen, bool) or not isinstance(pen, int) or not 1 <= pen <= 4294967295:
        p.append(FieldError("enterprise_number", "range", "enterprise_number: an IANA enterprise number",
                            "enterprise_number: 应为 IANA 企业号"))
        pen = PLACEHOLDER_PEN
    communities = []
    for i, c in enumerate(raw.get("communities", []) or []):
        networks: tuple[str, ...] = ()
        where = f"communities.{i}"  # a bare name, or the name of a {"name", "networks"} entry
        if isinstance(c, dict):
            networks = _networks(c.get("networks", []), f"communities.{i}.networks", p)
            c, where = c.get("name"), f"communities.{i}.name"
        if not isinstance(c, str) or not 1 <= len(c) <= 64:
            p.append(FieldError(where, "string", f"{where}: 1 to 64 characters", f"{where}: 应为 1 到 64 个字符"))
        elif c.lower() in WELL_KNOWN_COMMUNITIES:
            p.append(FieldError(where, "weak", f"{where}: {c!r} is the first name scanners try",
                                f"{where}: {c!r} 是扫描器最先尝试的名字"))
        else:
            communities.append(Community(c, networks))
    users = []
    for i, u in enumerate(raw.get("users", []) or []):
        w = f"users.{i}."
        if not isinstance(u, dict):
            p.append(FieldError(f"users.{i}", "type", f"users.{i}: an object", f"users.{i}: 应为对象"))
            continue
        name = _str(u, "name", w, p, min_len=1)
        auth_key = _str(u, "auth_key", w, p, min_len=8)  # RFC 3414: passphrases of at least 8 octets
        priv_key = _str(u, "priv_key", w, p, min_len=8)
        ap = u.get("auth_protocol", "sha256")
        pp = u.get("priv_protocol", "aes128")
        if ap not in AUTH_PROTOCOLS:
            p.append(FieldError(f"{w}auth_protocol", "enum", f"{w}auth_protocol: one of {', '.join(AUTH_PROTOCOLS)}",
                                f"{w}auth_protocol: 应为 {', '.join(AUTH_PROTOCOLS)} 之一"))
        if pp not in PRIV_PROTOCOLS:
            p.append(FieldError(f"{w}priv_protocol", "enum", f"{w}priv_protocol: one of {', '.join(PRIV_PROTOCOLS)}",
                                f"{w}priv_protocol: 应为 {', '.join(PRIV_PROTOCOLS)} 之一"))
        users.append(V3User(name, auth_key, priv_key, str(ap), str(pp),
                            _networks(u.get("networks", []), f"{w}networks", p)))
    networks = _networks(raw.get("allowed_networks", ["127.0.0.0/8", "::1/128"]), "allowed_networks", p)
    receivers = []
    user_names = {u.name for u in users}
    for i, r in enumerate(raw.get("trap_receivers", []) or []):
        w = f"trap_receivers.{i}."
        if not isinstance(r, dict):
            p.append(FieldError(f"trap_receivers.{i}", "type", "an object", "应为对象"))
            continue
        host = _str(r, "host", w, p, min_len=1)
        port, retries, timeout = r.get("port", 162), r.get("retries", 3), r.get("timeout", 2.0)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            p.append(FieldError(f"{w}port", "range", f"{w}port: 1-65535", f"{w}port: 1-65535"))
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            p.append(FieldError(f"{w}retries", "range", f"{w}retries: 0-10", f"{w}retries: 0-10"))
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= timeout <= 60:
            p.append(FieldError(f"{w}timeout", "range", f"{w}timeout: 0.1 to 60 seconds", f"{w}timeout: 0.1 到 60 秒"))
        version = r.get("version", "v2c")
        community, user = str(r.get("community", "")), str(r.get("user", ""))
        if version == "v2c" and not community:
            p.append(FieldError(f"{w}community", "required", f"{w}community: required for v2c", f"{w}community: v2c 必填"))
        elif version == "v3" and user not in user_names:
            p.append(FieldError(f"{w}user", "reference", f"{w}user: one of the v3 users", f"{w}user: 应为已配置的 v3 用户"))
        elif version not in ("v2c", "v3"):
            p.append(FieldError(f"{w}version", "enum", f"{w}version: v2c or v3", f"{w}version: v2c 或 v3"))
        receivers.append(TrapReceiver(host, port if isinstance(port, int) else 162, str(version), community, user,
                                      bool(r.get("inform", False)), retries if isinstance(retries, int) else 3,
                                      float(timeout) if isinstance(timeout, int | float) else 2.0))
    hb = raw.get("heartbeat_interval", 300.0)
    if isinstance(hb, bool) or not isinstance(hb, int | float) or not (hb == 0 or 1 <= hb <= 86400):
        p.append(FieldError("heartbeat_interval", "range", "heartbeat_interval: 0 (off) or 1 to 86400 seconds",
                            "heartbeat_interval: 0(关闭)或 1 到 86400 秒"))
        hb = 300.0
    contact = _str(raw, "contact", "", p)
    location = _str(raw, "location", "", p)
    if p:
        raise ValidationFailed(p, "snmp")
    return SnmpSettings(int(pen), tuple(communities), tuple(users), tuple(networks), tuple(receivers), float(hb),
                        contact, location)
