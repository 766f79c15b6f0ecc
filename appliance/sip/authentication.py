"""Who may talk to the core: admission of a source, and digest authentication of its requests.

Admission: requests beyond the source's rate are dropped before parsing (one `RateLimited` event per source
every ten seconds), and blocked sources are not heard. Authentication (RFC 3261 §22.1-§22.4, RFC 8760 for
SHA-256): a 401/407 challenge, then a digest checked by `digest.DigestServer`; every failure — unknown user,
wrong password — gets the same 403 (§22.4 leaves the answer to us; telling them apart would let a scanner
enumerate extensions). Failures lead to a block of the *source* (`security.Guard`), never of the extension;
blocks that expire are reported by `sweep` (the shell puts them in the audit log).
"""

from __future__ import annotations

import logging

from appliance.sip import events as ev
from appliance.sip.context import CoreContext
from appliance.sip.digest import DigestServer, parse_auth_params
from appliance.sip.message import SipMessage
from appliance.sip.security import Guard
from appliance.sip.transaction import Address, Transaction

log = logging.getLogger(__name__)

RATE_LIMITED_EVERY = 10.0  # seconds between two RateLimited events for one source


class Authenticator:
    def __init__(self, ctx: CoreContext, digest: DigestServer, guard: Guard) -> None:
        self._ctx = ctx
        self._digest = digest
        self._guard = guard
        self._limited_at: dict[str, float] = {}
        self._over_at: dict[str, float] = {}

    def admit(self, source: Address, now: float) -> bool:
        guard, stats = self._guard, self._ctx.stats
        if not guard.allow(source.host, now):
            stats["rate_limited"] += 1
            if now - self._limited_at.get(source.host, -1e9) > RATE_LIMITED_EVERY:
                _note(self._limited_at, source.host, now)
                self._ctx.emit(ev.RateLimited(source=source.host))
            return False
        if guard.is_blocked(source.host, now):
            stats["blocked"] += 1
            return False
        return True

    def over_limit(self, method: str, source: Address, now: float) -> bool:
        """Whether a new request from `source` would take it past what one source may hold: server
        transactions without their final answer, or (an INVITE) inbound calls. Trunks and trusted sources
        are exempt: a carrier sends every call it has from one address."""
        ctx, p, host = self._ctx, self._guard.policy, source.host
        over = ctx.tx.pending.get(host, 0) >= p.max_pending_per_source or (
            method == "INVITE" and ctx.inbound_by_source.get(host, 0) >= p.max_dialogs_per_source)
        if not over or self._guard.exempt(host) or any(t.accepts(host) for t in ctx.config.trunks):
            return False
        ctx.stats["over_limit"] += 1
        if now - self._over_at.get(host, -1e9) > RATE_LIMITED_EVERY:
            _note(self._over_at, host, now)
            log.warning("SIP: %s holds %d unanswered transactions and %d calls: refused with 503", host,
                        ctx.tx.pending.get(host, 0), ctx.inbound_by_source.get(host, 0))
        return True

    def authenticate(self, req: SipMessage, stx: Transaction, source: Address, now: float,
                     proxy: bool) -> str | None:
        """The extension a request is authenticated as; None when it is not, after answering the challenge
        or the refusal itself."""
        ctx = self._ctx
        hdr = "proxy-authorization" if proxy else "authorization"
        values = req.get_all(hdr)
        result = self._digest.check(req.method or "", values, source.host, now) if values else None
        if result is not None and result.status == 0 and result.extension is not None:
            self._guard.success(source.host, result.extension, now)
            return result.extension
        if result is not None and result.status == 403:
            self.refuse(req, stx, source, _auth_username(values), now)
            return None
        stale = result is not None and result.stale
        challenge_hdr = "proxy-authenticate" if proxy else "www-authenticate"
        extra = [(challenge_hdr, c) for c in self._digest.challenges(now, stale)]
        ctx.tx.reply(stx, 407 if proxy else 401, now, ctx.new_id("t"), extra)
        return None

    def refuse(self, req: SipMessage, stx: Transaction, source: Address, user: str, now: float) -> None:
        """403, whatever went wrong; the failure counts towards blocking the *source*.

        An extension is never blocked: that would let anyone who reaches the SIP port take every agent's phone
        out of service with a few wrong passwords. Failures against one extension from many sources are
        reported (`ExtensionUnderAttack`, once per window) and get each new source blocked at its first
        failure, while the phone with the right password keeps registering."""
        ctx = self._ctx
        ctx.tx.reply(stx, 403, now, ctx.new_id("t"))
        ctx.stats["auth_failures"] += 1
        ctx.emit(ev.AuthFailed(source=source.host, username=user, method=req.method or ""))
        outcome = self._guard.failure(source.host, user, now)
        if outcome.attack is not None:
            a = outcome.attack
            log.warning("SIP: extension %s attacked from %d sources (%d failed authentications within %.0f s); "
                        "the extension stays in service, new sources are blocked at their first failure",
                        a.extension, len(a.sources), a.failures, self._guard.policy.window)
            ctx.emit(ev.ExtensionUnderAttack(extension=a.extension, failures=a.failures, sources=list(a.sources)))
        if outcome.block is not None:
            b = outcome.block
            log.warning("SIP: source %s blocked for %.0f s after %d failed authentications%s", b.source, b.seconds,
                        b.failures, f" (during an attack on {b.extension})" if b.reason == "attack" else "")
            ctx.emit(ev.AuthBlocked(kind="source", key=b.source, seconds=b.seconds, failures=b.failures,
                                    reason=b.reason, extension=b.extension))

    def sweep(self, now: float) -> None:
        """Report the blocks whose time ran out."""
        for b in self._guard.expired(now):
            log.info("SIP: the block of source %s expired", b.source)
            self._ctx.emit(ev.AuthUnblocked(source=b.source, reason="expired"))


def _note(table: dict[str, float], host: str, now: float) -> None:
    if len(table) >= 10_000:  # a flood from made-up addresses must not grow this without end
        table.clear()
    table[host] = now


def _auth_username(values: list[str]) -> str:
    for v in values:
        _, p = parse_auth_params(v)
        if "username" in p:
            return p["username"]
    return ""
