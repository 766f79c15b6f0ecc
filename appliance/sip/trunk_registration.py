"""Registration of the appliance at its SIP trunks (the UAC side of RFC 3261 §10.2).

Each registering trunk keeps one Call-ID and a rising CSeq (§10.2.4); a 401/407 is answered once with the
trunk's credentials (§22.2), a 423 raises the interval to the registrar's Min-Expires (§10.2.8), a success is
refreshed at half the granted interval and never later than 30 s before it ends, a failure is retried with
exponential back-off (30 s doubling to 10 minutes). A trunk removed, no longer registering or with changed
registration settings is un-registered (Expires: 0, §10.2.2) so the carrier stops sending its calls to a
binding nobody keeps; the un-REGISTER is not retried, since a binding the carrier kept expires by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import replace as dc_replace

from appliance.sip import events as ev
from appliance.sip.context import CoreContext
from appliance.sip.digest import DigestClient
from appliance.sip.header_values import parse_name_addr
from appliance.sip.message import SipMessage
from appliance.sip.models import TrunkConfig
from appliance.sip.transaction import Address, Transaction

log = logging.getLogger(__name__)

BACKOFF_FIRST = 30.0
BACKOFF_MAX = 600.0


@dataclass(eq=False)
class TrunkRegistration:
    """Outbound registration to one trunk: refresh before expiry, exponential back-off on failure."""

    trunk: TrunkConfig
    call_id: str
    tag: str
    cseq: int = 0
    registered: bool = False
    backoff: float = 0.0
    auth: DigestClient | None = None
    tried_auth: bool = False
    removing: bool = False  # the trunk was deleted or changed: an un-REGISTER (Expires: 0) is under way
    configured_expires: int = 0  # as configured (a registrar's 423 may raise `trunk.register_expires`)


class TrunkRegistrations:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx
        self.regs: dict[str, TrunkRegistration] = {}
        self.unregistering: set[str] = set()  # Call-IDs of trunk un-REGISTERs not answered yet

    def start(self, now: float) -> None:
        for t in self._ctx.config.trunks:
            if t.register and t.username:
                self._start(t, now)

    def apply(self, trunks: tuple[TrunkConfig, ...], now: float) -> None:
        """A new trunk list: see `SipCore.set_trunks`."""
        wanted = {t.name: t for t in trunks if t.register and t.username}
        for name, reg in list(self.regs.items()):
            new = wanted.get(name)
            if new is not None and _same_registration(reg, new):
                reg.trunk = _with_expires(new, reg.trunk.register_expires)  # a 423 may have raised it
                continue
            self._drop(name, reg, now)
        for name, t in wanted.items():
            if name not in self.regs:
                self._start(t, now)

    def unregister_all(self, now: float) -> None:
        for name, reg in list(self.regs.items()):
            self._drop(name, reg, now)

    def _start(self, t: TrunkConfig, now: float) -> None:
        ctx = self._ctx
        reg = TrunkRegistration(t, ctx.new_id("reg"), ctx.new_id("t"), configured_expires=t.register_expires)
        reg.auth = DigestClient(t.auth_username or t.username or "", t.password or "", ctx.prefix.encode())
        self.regs[t.name] = reg
        ctx.timers.set(("trunk", t.name), now)

    def _drop(self, name: str, reg: TrunkRegistration, now: float) -> None:
        del self.regs[name]
        self._ctx.timers.clear(("trunk", name))
        reg.removing = True
        if reg.cseq == 0:
            return  # nothing was ever sent: there is no binding to remove
        self.unregistering.add(reg.call_id)
        self._register(reg, now)

    def on_timer(self, name: str, now: float) -> None:
        reg = self.regs.get(name)
        if reg is not None:
            self._register(reg, now)

    def _register(self, reg: TrunkRegistration, now: float, authorization: tuple[str, str] | None = None) -> None:
        ctx = self._ctx
        t = reg.trunk
        reg.cseq += 1
        dest = Address(t.transport, t.host, t.port)
        aor = f"sip:{t.username}@{t.from_domain or t.host}"
        headers: list[tuple[str, str]] = [
            ("via", ctx.via(t.transport)), ("max-forwards", "70"), ("from", f"<{aor}>;tag={reg.tag}"),
            ("to", f"<{aor}>"), ("call-id", reg.call_id), ("cseq", f"{reg.cseq} REGISTER"),
            ("contact", ctx.contact(t.transport, t.username or "appliance")),
            ("expires", "0" if reg.removing else str(t.register_expires)), ("user-agent", ctx.config.user_agent),
        ]
        if authorization is not None:
            headers.append(authorization)
        else:
            reg.tried_auth = False
        req = SipMessage("REGISTER", f"sip:{t.from_domain or t.host}", headers=headers)
        ctx.tx.send_request(req, dest, now, reg)

    def on_response(self, reg: TrunkRegistration, tx: Transaction, resp: SipMessage, now: float) -> None:
        if resp.status < 200:
            return
        if tx.request.cseq[0] != reg.cseq:
            return  # the answer to a REGISTER that an un-REGISTER has overtaken
        if resp.status in (401, 407) and not reg.tried_auth and reg.auth is not None:
            authorization = reg.auth.answer(resp, "REGISTER", tx.request.uri)
            if authorization is not None:
                reg.tried_auth = True
                self._register(reg, now, authorization)
                return
        if reg.removing:
            self._unregistered(reg, resp.status)
            return
        if 200 <= resp.status < 300:
            self._registered(reg, resp, now)
            return
        if resp.status == 423:
            mn = resp.get("min-expires")
            if mn and mn.isdigit():
                reg.trunk = _with_expires(reg.trunk, int(mn))
                self._ctx.timers.set(("trunk", reg.trunk.name), now)
                return
        self._failed(reg, resp.status, now)

    def on_timeout(self, reg: TrunkRegistration, tx: Transaction, status: int, now: float) -> None:
        if tx.request.cseq[0] == reg.cseq:  # not an overtaken one
            self._failed(reg, status, now)

    def _registered(self, reg: TrunkRegistration, resp: SipMessage, now: float) -> None:
        expires = reg.trunk.register_expires
        for c in resp.get_all("contact"):
            na = parse_name_addr(c)
            if "expires" in na.params and na.params["expires"].isdigit():
                expires = int(na.params["expires"])
        exp_hdr = resp.get("expires") or ""
        if exp_hdr.isdigit():
            expires = int(exp_hdr)
        reg.backoff = 0.0
        if not reg.registered:
            self._ctx.emit(ev.TrunkRegistrationChanged(trunk=reg.trunk.name, registered=True, status=resp.status))
        reg.registered = True
        refresh = max(5.0, min(expires / 2, expires - 30))
        self._ctx.timers.set(("trunk", reg.trunk.name), now + refresh)

    def _unregistered(self, reg: TrunkRegistration, status: int) -> None:
        """The un-REGISTER is answered (or timed out): the registration is over."""
        self.unregistering.discard(reg.call_id)
        if reg.registered:
            reg.registered = False
            self._ctx.emit(ev.TrunkRegistrationChanged(trunk=reg.trunk.name, registered=False, status=status))

    def _failed(self, reg: TrunkRegistration, status: int, now: float) -> None:
        if reg.removing:
            self._unregistered(reg, status)
            return
        reg.backoff = min(max(reg.backoff * 2, BACKOFF_FIRST), BACKOFF_MAX)
        was = reg.registered
        reg.registered = False
        self._ctx.emit(ev.TrunkRegistrationChanged(trunk=reg.trunk.name, registered=False, status=status,
                                                   retry_in=reg.backoff))
        if was:
            log.warning("SIP trunk %s lost its registration (%d)", reg.trunk.name, status)
        self._ctx.timers.set(("trunk", reg.trunk.name), now + reg.backoff)


def _with_expires(t: TrunkConfig, expires: int) -> TrunkConfig:
    return dc_replace(t, register_expires=expires)


def _same_registration(reg: TrunkRegistration, new: TrunkConfig) -> bool:
    """Whether a trunk's edit leaves its registration as it is (caller-ID rules, IP networks ... do not
    touch it)."""
    keys = ("host", "port", "transport", "username", "password", "auth_username", "from_domain")
    return reg.configured_expires == new.register_expires and all(
        getattr(reg.trunk, k) == getattr(new, k) for k in keys)
