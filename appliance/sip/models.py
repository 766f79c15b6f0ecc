"""Configuration of the SIP engine (frozen dataclasses the composition root builds from the store)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from appliance.sip.digest import IPNetwork
from appliance.sip.sdp import MediaCapabilities
from appliance.sip.security import SecurityPolicy


@dataclass(frozen=True, slots=True)
class CallerIdRule:
    """Rewrite a number: when it starts with `match_prefix`, drop `strip` leading digits and put `prepend`
    in front. The first matching rule of a list wins."""

    match_prefix: str = ""
    strip: int = 0
    prepend: str = ""

    def apply(self, number: str) -> str | None:
        if not number.startswith(self.match_prefix):
            return None
        return self.prepend + number[self.strip:]


def apply_rules(rules: tuple[CallerIdRule, ...], number: str) -> str:
    for r in rules:
        out = r.apply(number)
        if out is not None:
            return out
    return number


@dataclass(frozen=True, slots=True)
class TrunkConfig:
    """A carrier connection. With `register` the appliance registers to it (digest with username/password,
    injected by the store at run time). `ip_networks`: INVITEs from these are accepted as this trunk without
    digest (IP-authenticated trunk)."""

    name: str
    host: str
    port: int = 5060
    transport: str = "UDP"
    username: str | None = None
    password: str | None = None
    auth_username: str | None = None
    register: bool = False
    register_expires: int = 600
    ip_networks: tuple[IPNetwork, ...] = ()
    inbound_caller_id: tuple[CallerIdRule, ...] = ()
    outbound_caller_id: tuple[CallerIdRule, ...] = ()
    from_domain: str | None = None

    def accepts(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in n for n in self.ip_networks)


@dataclass(frozen=True, slots=True)
class SipConfig:
    realm: str = "appliance"
    listen_host: str = "0.0.0.0"
    udp_port: int | None = 5060
    udp_shared_with_pnp: bool = False  # the phones' plug-and-play listener binds the same UDP port (224.0.1.75)
    tcp_port: int | None = 5060
    tls_port: int | None = 5061
    advertised_host: str | None = None  # what goes in Via/Contact when listen_host is 0.0.0.0
    tls_cert: str | None = None  # PEM paths; when None a self-signed pair is made in the data directory
    tls_key: str | None = None
    trunks: tuple[TrunkConfig, ...] = ()
    security: SecurityPolicy = field(default_factory=SecurityPolicy)
    # Digest algorithms offered, most preferred first (RFC 8760). MD5 only by default: SIPp 3.6 and baresip 1.0
    # (and many deployed phones) fail outright when any challenge names SHA-256 instead of skipping it.
    auth_algorithms: tuple[str, ...] = ("MD5",)
    nonce_ttl: float = 300.0
    min_expires: int = 60
    max_expires: int = 3600
    session_expires: int = 1800
    min_se: int = 90
    qualify_interval: float = 60.0
    ring_timeout: float = 120.0
    user_agent: str = "callcenter-appliance"
    media: MediaCapabilities = field(default_factory=MediaCapabilities)
