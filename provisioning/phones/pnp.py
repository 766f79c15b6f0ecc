"""SIP plug-and-play: the ua-profile scheme of Yealink, Snom and Polycom phones (sans-IO).

A phone without a provisioning server sends SUBSCRIBE with `Event: ua-profile` to the multicast group
224.0.1.75 port 5060 (the SIP "all SIP servers" group, RFC 3261 §10.2.6 / IANA), its MAC as the user part of
From. The server answers 200 OK and then sends NOTIFY (RFC 6665 §4.2) with `Content-Type: application/url` and
the provisioning URL as body (the profile delivery framework, draft-ietf-sipping-config-framework §4.1).
A MAC not in the inventory gets nothing (another server on the LAN may own it): the shell logs it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.sip.errors import SipError
from appliance.sip.message import SipMessage, make_response
from appliance.sip.parser import parse
from provisioning.phones.models import normalise_mac

PNP_GROUP = "224.0.1.75"
PNP_PORT = 5060
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Outgoing:
    data: bytes
    to: Address


@dataclass(frozen=True, slots=True)
class PnpResult:
    out: tuple[Outgoing, ...] = ()
    mac: str | None = None
    answered: bool = False
    reason: str = ""  # why nothing was answered


@dataclass
class PnpResponder:
    """`url_for(mac, local_address)` gives the phone's provisioning URL, or None for an unknown MAC."""

    url_for: Callable[[str, str], str | None]
    local_address: Callable[[str], str]  # the box's address facing a phone's address
    cseq: int = 1
    _tags: dict[str, str] = field(default_factory=dict)

    def datagram(self, data: bytes, source: Address) -> PnpResult:
        try:
            msg = parse(data)
        except (SipError, ValueError) as exc:
            return PnpResult(reason=f"not SIP: {exc}")
        if msg.method != "SUBSCRIBE":
            return PnpResult(reason=f"not a SUBSCRIBE ({msg.method or msg.status})")
        event = (msg.get("event") or "").split(";")
        if event[0].strip().lower() != "ua-profile":
            return PnpResult(reason=f"event {event[0].strip()!r} is not ua-profile")
        user = msg.from_.parsed_uri().user_unescaped or ""
        mac = normalise_mac(user.removeprefix("MAC:").removeprefix("mac:"))
        if mac is None:
            return PnpResult(reason=f"no MAC in From ({user!r})")
        local = self.local_address(source[0])
        url = self.url_for(mac, local)
        if url is None:
            return PnpResult(mac=mac, reason="MAC not in the inventory")
        tag = secrets.token_hex(4)
        ok = make_response(msg, 200, "OK", to_tag=tag)
        ok.add("expires", "0")
        ok.add("contact", f"<sip:{_host(local)}:{PNP_PORT}>")
        reply_to = self._reply_address(msg, source)
        notify_to = self._contact_address(msg, reply_to)
        notify = self._notify(msg, tag, local, url)
        return PnpResult((Outgoing(ok.serialize(), reply_to), Outgoing(notify.serialize(), notify_to)), mac, True)

    @staticmethod
    def _reply_address(msg: SipMessage, source: Address) -> Address:
        # RFC 3581: a response goes back to where the request came from (a multicast request included)
        via = msg.vias[0]
        if "rport" in via.params or "received" in via.params:
            return source
        return (via.host.strip("[]") or source[0], via.port or PNP_PORT)

    @staticmethod
    def _contact_address(msg: SipMessage, fallback: Address) -> Address:
        contacts = msg.contacts
        if not contacts:
            return fallback
        host, port = contacts[0].parsed_uri().host_port()
        return (host, port)

    def _notify(self, sub: SipMessage, tag: str, local: str, url: str) -> SipMessage:
        self.cseq += 1
        target = str(sub.contacts[0].uri) if sub.contacts else str(sub.from_.uri)
        event = sub.get("event") or "ua-profile"
        headers = [
            ("via", f"SIP/2.0/UDP {_host(local)}:{PNP_PORT};branch=z9hG4bK{secrets.token_hex(8)};rport"),
            ("max-forwards", "70"),
            ("from", f"{sub.get('to')};tag={tag}"),
            ("to", sub.get("from") or ""),
            ("call-id", sub.call_id),
            ("cseq", f"{self.cseq} NOTIFY"),
            ("contact", f"<sip:{_host(local)}:{PNP_PORT}>"),
            ("event", event),
            ("subscription-state", "terminated;reason=timeout"),
            ("content-type", "application/url"),
        ]
        return SipMessage("NOTIFY", target, headers=headers, body=url.encode())


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
