"""The UAC side of a call: outbound legs to an extension, through a trunk, or to a SIP URI.

RFC 3261 §13.2 (the INVITE and its responses: early dialogs from 1xx with a To tag, the dialog confirmed by
the 2xx with its route set reversed from Record-Route, §12.1.2, the ACK of the 2xx sent by us and re-sent for
a retransmitted 2xx, §13.2.2.4), §9.1 (CANCEL, only after a provisional response), §22.2 (401/407 answered once
with the trunk's credentials), §8.1.3.1 (a transport failure reported like a 503). RFC 3262 §4 (PRACK for a
reliable provisional response). An extension with several reachable contacts is forked (see `forking`); each
contact is called at the address its REGISTER came from (NAT-safe).
"""

from __future__ import annotations

from appliance.sip import events as ev
from appliance.sip.bodies import sdp_part
from appliance.sip.context import CoreContext
from appliance.sip.dialog import Dialog, Leg, LegState, contact_target, strip_tag
from appliance.sip.digest import DigestClient
from appliance.sip.errors import LocalProtocolError
from appliance.sip.header_values import parse_uri
from appliance.sip.message import SipMessage
from appliance.sip.models import apply_rules
from appliance.sip.registrar import Registrar
from appliance.sip.request_checks import ALLOW_HEADER
from appliance.sip.session_timers import SessionTimers
from appliance.sip.talk import allowed_events
from appliance.sip.transaction import Address, Transaction


class OutgoingCalls:
    def __init__(self, ctx: CoreContext, registrar: Registrar, sessions: SessionTimers) -> None:
        self._ctx = ctx
        self._registrar = registrar
        self._sessions = sessions

    def create_leg(
        self, now: float, *, callee: str, sdp_offer: bytes, caller: str, caller_name: str | None = None,
        extension: str | None = None, trunk: str | None = None, uri: str | None = None,
        replaces: str | None = None, extra_headers: list[tuple[str, str]] | None = None,
    ) -> str:
        ctx = self._ctx
        leg_id = ctx.new_id("leg")
        from_user = caller
        domain = ctx.config.realm
        disp = f'"{caller_name}" ' if caller_name else ""
        if extension is not None:
            bindings = [b for b in self._registrar.lookup(extension, now) if b.reachable] or \
                self._registrar.lookup(extension, now)
            if not bindings:
                raise LocalProtocolError(f"extension {extension} is not registered")
            # several contacts: one branch each, under a fork group whose id call control gets
            g = ctx.forks.start(ctx.new_id("leg")) if len(bindings) > 1 else None
            for b in bindings:
                branch = leg_id
                if g is not None:
                    branch = ctx.new_id("leg")
                    ctx.forks.add_branch(g, branch)
                self._send_invite(now, branch, b.contact, b.source, from_hdr=f"{disp}<sip:{caller}@{domain}>",
                                  to_hdr=f"<sip:{callee}@{domain}>", sdp_offer=sdp_offer, replaces=replaces,
                                  extra_headers=extra_headers, extension=extension)
            return leg_id if g is None else g.main
        if trunk is not None:
            t = next((x for x in ctx.config.trunks if x.name == trunk), None)
            if t is None:
                raise LocalProtocolError(f"unknown trunk {trunk}")
            target_uri = f"sip:{callee}@{t.host}:{t.port}"
            dest = Address(t.transport, t.host, t.port)
            from_user = apply_rules(t.outbound_caller_id, caller)
            domain = t.from_domain or t.host
        elif uri is not None:
            u = parse_uri(uri)
            host, port = u.host_port()
            tp = u.params.get("transport", "udp").upper()
            target_uri, dest = uri, Address("TLS" if u.scheme == "sips" else tp, host, port)
        else:
            raise LocalProtocolError("create_leg needs extension, trunk or uri")
        to_hdr = f"<sip:{callee}@{domain}>" if uri is None else f"<{uri}>"
        self._send_invite(now, leg_id, target_uri, dest, from_hdr=f"{disp}<sip:{from_user}@{domain}>",
                          to_hdr=to_hdr, sdp_offer=sdp_offer, replaces=replaces, extra_headers=extra_headers,
                          extension=extension, trunk=trunk)
        return leg_id

    def _send_invite(self, now: float, leg_id: str, target_uri: str, dest: Address, *, from_hdr: str, to_hdr: str,
                     sdp_offer: bytes, replaces: str | None, extra_headers: list[tuple[str, str]] | None,
                     extension: str | None = None, trunk: str | None = None) -> None:
        """The initial INVITE of an outbound leg or of one fork branch: one place builds its headers, so a
        single call and a forked one cannot drift apart. The leg is tracked from here on."""
        ctx = self._ctx
        cfg = ctx.config
        call_id = ctx.new_id("c") + "@" + (ctx.local.get("UDP", ("appliance", 0))[0])
        tag = ctx.new_id("t")
        headers: list[tuple[str, str]] = [
            ("via", ctx.via(dest.transport)), ("max-forwards", "70"), ("from", f"{from_hdr};tag={tag}"),
            ("to", to_hdr), ("call-id", call_id), ("cseq", "1 INVITE"), ("contact", ctx.contact(dest.transport)),
            ("allow", ALLOW_HEADER), ("supported", "100rel, timer, replaces"), ("user-agent", cfg.user_agent),
        ]
        if cfg.session_expires:
            headers.append(("session-expires", str(cfg.session_expires)))
        if replaces:
            headers.append(("replaces", replaces))
        if extra_headers:
            headers += extra_headers
        if sdp_offer:
            headers.append(("content-type", "application/sdp"))
        req = SipMessage("INVITE", target_uri, headers=headers, body=sdp_offer)
        leg = Leg(leg_id, False, LegState.OUT_CALLING, call_id, tag, dest, req, extension=extension, trunk=trunk)
        leg.local_sdp = sdp_offer
        ctx.legs[leg_id] = leg
        ctx.legs_by_invite[(call_id, tag)] = leg
        leg.client_tx = ctx.tx.send_request(req, dest, now, leg)
        ctx.timers.set(("ring", leg_id), now + cfg.ring_timeout)

    def cancel(self, leg: Leg, now: float) -> None:
        client_tx = leg.client_tx
        if client_tx is None:
            return
        if not leg.got_provisional:
            leg.cancel_wanted = True  # §9.1: CANCEL only after a provisional response
            return
        inv = client_tx.request
        headers = [("via", inv.get_all("via")[0])]
        headers += [(k, v) for k, v in inv.headers if k in ("from", "to", "call-id", "route", "max-forwards")]
        headers.append(("cseq", f"{inv.cseq[0]} CANCEL"))
        self._ctx.tx.send_request(SipMessage("CANCEL", inv.uri, headers=headers), client_tx.dest, now, None)

    def on_invite_response(self, leg: Leg, tx: Transaction, resp: SipMessage, now: float) -> None:
        """A response to the leg's initial INVITE (re-INVITEs are `InDialog`'s)."""
        ctx = self._ctx
        status = resp.status
        if status < 200:
            if status == 100:
                return
            leg.got_provisional = True
            if leg.cancel_wanted:
                self.cancel(leg, now)
                return
            self._early_dialog(leg, resp)
            if leg.state is LegState.ENDED:
                return
            if "100rel" in resp.option_tags("require") and resp.get("rseq"):
                rseq = resp.get("rseq") or "0"
                ctx.dialog_request(leg, "PRACK", now, [("rack", f"{rseq} {resp.cseq[0]} INVITE")])
            ctx.move(leg, "provisional")
            sdp = sdp_part(resp) if resp.body else b""
            if sdp:
                leg.remote_sdp = sdp
            d = leg.dialog
            if d is not None and d.remote_tag == (resp.to.tag or "") and resp.get("allow-events") is not None:
                leg.peer_events = allowed_events(resp)  # of the early dialog we follow (what `talk` needs)
            ctx.emit(ev.LegProgress(leg_id=leg.leg_id, status=status, sdp=sdp,
                                    allow_events=tuple(sorted(leg.peer_events))))
            return
        if 200 <= status < 300:
            first = leg.dialog is None or leg.dialog.remote_tag != (resp.to.tag or "")
            self._early_dialog(leg, resp, confirm=True)
            ctx.send_ack(leg, tx.request.cseq[0])
            if leg.state is LegState.ENDED or (not first and leg.state is LegState.CONNECTED):
                if leg.state is LegState.ENDED:
                    ctx.dialog_request(leg, "BYE", now)  # answered after we gave up: end it properly
                return
            ctx.timers.clear(("ring", leg.leg_id))
            ctx.move(leg, "accepted")
            if resp.body:
                leg.remote_sdp = sdp_part(resp)
            leg.peer_allows = {m.strip().upper() for m in resp.get_all("allow")}
            self._sessions.from_response(leg, resp, now)
            ctx.emit(ev.LegAnswered(leg_id=leg.leg_id, sdp=leg.remote_sdp))
            return
        if status in (401, 407) and leg.auth_attempts == 0 and leg.trunk is not None:
            t = next((x for x in ctx.config.trunks if x.name == leg.trunk), None)
            if t is not None and t.username:
                client = DigestClient(t.auth_username or t.username, t.password or "", ctx.prefix.encode())
                authorization = client.answer(resp, "INVITE", tx.request.uri)
                if authorization is not None:
                    leg.auth_attempts += 1
                    self._resend_invite(leg, tx.request, authorization, now)
                    return
        if leg.state is not LegState.ENDED:
            cause = "cancelled" if status == 487 else "rejected"
            ctx.end(leg, cause, status, now, "failed")

    def _resend_invite(self, leg: Leg, old: SipMessage, authorization: tuple[str, str], now: float) -> None:
        """The INVITE again with credentials: a new branch and CSeq, the rest as before (§22.2)."""
        ctx = self._ctx
        leg.local_cseq_used += 1
        headers: list[tuple[str, str]] = []
        for k, v in old.headers:
            if k == "via":
                headers.append((k, ctx.via(leg.dest.transport)))
            elif k == "cseq":
                headers.append((k, f"{leg.local_cseq_used} INVITE"))
            elif k not in ("authorization", "proxy-authorization"):
                headers.append((k, v))
        headers.append(authorization)
        req = SipMessage("INVITE", old.uri, headers=headers, body=old.body)
        leg.invite = req
        leg.client_tx = ctx.tx.send_request(req, leg.dest, now, leg)

    def _early_dialog(self, leg: Leg, resp: SipMessage, confirm: bool = False) -> None:
        tag = resp.to.tag
        if not tag:
            return
        d = leg.dialog
        if d is not None and d.remote_tag == tag:
            if confirm:
                d.route_set = list(reversed(resp.get_all("record-route")))
                target = contact_target(resp)
                if target:
                    d.remote_target = target
            return
        if d is not None:
            if d.remote_tag and not confirm:
                return  # a second early dialog (forking downstream): we follow the first only
            self._ctx.dialogs.pop(d.key, None)
        inv = leg.invite
        d = Dialog(leg.call_id, leg.local_tag, tag, strip_tag(inv.get("from") or ""), strip_tag(resp.get("to") or ""),
                   contact_target(resp) or inv.uri, list(reversed(resp.get_all("record-route"))), inv.cseq[0], None,
                   leg.dest)
        leg.dialog = d
        self._ctx.dialogs[d.key] = leg
