"""Qualify: OPTIONS keep-alives to every registered contact (RFC 3261 §11, used as a reachability probe).

Every `qualify_interval` each live binding gets one OPTIONS at the address its REGISTER came from (so the
NAT binding on the way stays open too); any response counts as reachable, a transaction timeout as a lost
probe. Two lost probes in a row mark the contact unreachable — one lost datagram is not enough to call a
phone dead. Changes are published as `ContactReachability`; outbound legs to an extension prefer reachable
contacts.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.sip import events as ev
from appliance.sip.context import CoreContext
from appliance.sip.message import SipMessage
from appliance.sip.registrar import Binding, Registrar

LOST_PROBES_UNREACHABLE = 2


@dataclass(eq=False)
class Probe:
    """An OPTIONS qualify in flight."""

    aor: str
    binding: Binding
    sent_at: float


class Qualifier:
    def __init__(self, ctx: CoreContext, registrar: Registrar) -> None:
        self._ctx = ctx
        self._registrar = registrar
        self._probes: dict[str, Probe] = {}

    def run(self, now: float) -> None:
        ctx = self._ctx
        for aor, bindings in list(self._registrar.bindings.items()):
            for b in bindings:
                key = f"{aor}|{b.contact}"
                if key in self._probes or b.expires_at <= now:
                    continue
                probe = Probe(aor, b, now)
                self._probes[key] = probe
                headers: list[tuple[str, str]] = [
                    ("via", ctx.via(b.source.transport)), ("max-forwards", "70"),
                    ("from", f"<sip:appliance@{ctx.config.realm}>;tag={ctx.new_id('t')}"),
                    ("to", f"<{b.contact}>"), ("call-id", ctx.new_id("q")), ("cseq", "1 OPTIONS"),
                ]
                ctx.tx.send_request(SipMessage("OPTIONS", b.contact, headers=headers), b.source, now, probe)

    def done(self, probe: Probe, ok: bool, now: float) -> None:
        b = probe.binding
        self._probes.pop(f"{probe.aor}|{b.contact}", None)
        if ok:
            b.probe_failures = 0
        else:
            b.probe_failures += 1
        reachable = ok or b.probe_failures < LOST_PROBES_UNREACHABLE
        if reachable != b.reachable:
            b.reachable = reachable
            self._ctx.emit(ev.ContactReachability(extension=probe.aor, contact=b.contact, reachable=reachable,
                                                  rtt_ms=(now - probe.sent_at) * 1000 if ok else None))
