"""Who may talk to the core: admission of a source, and digest authentication of its requests.

Admission: requests beyond the source's rate are dropped before parsing (one `RateLimited` event per source
every ten seconds), and blocked sources are not heard. Authentication (RFC 3261 §22.1-§22.4, RFC 8760 for
SHA-256): a 401/407 challenge, then a digest checked by `digest.DigestServer`; every failure — unknown user,
wrong password, blocked extension — gets the same 403 (§22.4 leaves the answer to us; telling them apart
would let a scanner enumerate extensions), and failures per source and per extension lead to a block.
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

    def admit(self, source: Address, now: float) -> bool:
        guard, stats = self._guard, self._ctx.stats
        if not guard.allow(source.host, now):
            stats["rate_limited"] += 1
            if now - self._limited_at.get(source.host, -1e9) > RATE_LIMITED_EVERY:
                self._limited_at[source.host] = now
                self._ctx.emit(ev.RateLimited(source=source.host))
            return False
        if guard.is_blocked("source", source.host, now):
            stats["blocked"] += 1
            return False
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
            self._guard.success("source", source.host)
            self._guard.success("extension", result.extension)
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
        reported (`ExtensionUnderAttack`, once per window), while the phone with the right password keeps
        registering."""
        ctx = self._ctx
        ctx.tx.reply(stx, 403, now, ctx.new_id("t"))
        ctx.stats["auth_failures"] += 1
        ctx.emit(ev.AuthFailed(source=source.host, username=user, method=req.method or ""))
        n = self._guard.failure("source", source.host, now)
        if n is not None:
            secs = self._guard.policy.block_seconds
            log.warning("SIP: source %s blocked for %.0f s after %d failed authentications", source.host, secs, n)
            ctx.emit(ev.AuthBlocked(kind="source", key=source.host, seconds=secs, failures=n))
        if user:
            n = self._guard.failure("extension", user, now)
            if n is not None:
                log.warning("SIP: extension %s had %d failed authentications within %.0f s (the sources are "
                            "blocked; the extension is not)", user, n, self._guard.policy.window)
                ctx.emit(ev.ExtensionUnderAttack(extension=user, failures=n))


def _auth_username(values: list[str]) -> str:
    for v in values:
        _, p = parse_auth_params(v)
        if "username" in p:
            return p["username"]
    return ""
