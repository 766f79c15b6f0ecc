"""The registrar's handling of REGISTER (RFC 3261 §10.3).

Steps 1-8 of §10.3: the request is authenticated (401 challenge, the same 403 for every failure) and its
address-of-record must be the extension it authenticated as (§10.3 step 3); then `registrar.Registrar`
applies the Contacts (with `*` removal, Expires, 423 with Min-Expires) and the 200 lists every current binding
with its remaining time (step 8). Each change is published as `RegistrationChanged`.
"""

from __future__ import annotations

from appliance.sip import events as ev
from appliance.sip.authentication import Authenticator
from appliance.sip.context import CoreContext
from appliance.sip.message import SipMessage
from appliance.sip.registrar import RegisterRejected, Registrar
from appliance.sip.transaction import Address, Transaction


def handle_register(ctx: CoreContext, auth: Authenticator, registrar: Registrar, req: SipMessage,
                    stx: Transaction, source: Address, now: float) -> None:
    ext = auth.authenticate(req, stx, source, now, proxy=False)
    if ext is None:
        return
    aor = req.to.parsed_uri().user_unescaped or ""
    if aor != ext:
        auth.refuse(req, stx, source, ext, now)
        return
    star = False
    contacts: list[tuple[str, dict[str, str]]] = []
    for na in req.contacts:
        if na.uri == "*":
            star = True
        else:
            contacts.append((na.uri, na.params))
    exp_text = req.get("expires")
    expires = int(exp_text) if exp_text is not None else None
    try:
        current, changes = registrar.update(
            ext, contacts, star, expires, req.call_id, req.cseq[0], source, req.get("user-agent") or "", now)
    except RegisterRejected as e:
        extra = [("min-expires", str(e.min_expires))] if e.min_expires else None
        ctx.tx.reply(stx, e.status, now, ctx.new_id("t"), extra)
        return
    src = f"{source.host}:{source.port}"
    for contact, exp in changes:
        ctx.emit(ev.RegistrationChanged(extension=ext, contact=contact, expires=exp, source=src))
    extra = [("contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))}") for b in current]
    ctx.tx.reply(stx, 200, now, ctx.new_id("t"), extra)
