"""The UAS side of a call: an INVITE received becomes an inbound leg that call control answers or refuses.

RFC 3261 §13.3 (processing the INVITE: 100 Trying, provisional and final responses, the dialog created by
the response, §12.1.1), §9.2 (CANCEL: 200 to it, 487 to the INVITE), §13.3.1.4 (the 2xx retransmitted until
the ACK, BYE when none comes within 64*T1) and §17.2.1 (the INVITE's own transaction timing out). Phones are
digest-authenticated with 407, trunks recognised by their source network. RFC 3262 (reliable 18x with early
media: RSeq, retransmission until PRACK, 504 after 64*T1), RFC 4028 §9 (session timer negotiation, 422),
RFC 3891 (an INVITE with Replaces naming a dialog we do not have is refused with 481).
"""

from __future__ import annotations

from appliance.sip import events as ev
from appliance.sip.authentication import Authenticator
from appliance.sip.bodies import direction, sdp_part
from appliance.sip.context import CoreContext
from appliance.sip.dialog import Dialog, Leg, LegState, contact_target, strip_tag
from appliance.sip.errors import LocalProtocolError
from appliance.sip.message import SipMessage
from appliance.sip.models import apply_rules
from appliance.sip.request_checks import ALLOW_HEADER, response_dest
from appliance.sip.sdp import NotAcceptable, parse_sdp
from appliance.sip.session_timers import SessionTimers, requested_interval
from appliance.sip.transaction import T1, T2, Address, Transaction, server_key


class IncomingCalls:
    def __init__(self, ctx: CoreContext, auth: Authenticator, sessions: SessionTimers) -> None:
        self._ctx = ctx
        self._auth = auth
        self._sessions = sessions

    # -- requests from the caller
    def on_invite(self, req: SipMessage, stx: Transaction, source: Address, now: float) -> None:
        ctx = self._ctx
        trunk = next((t for t in ctx.config.trunks if t.accepts(source.host)), None)
        extension: str | None = None
        if trunk is None:
            extension = self._auth.authenticate(req, stx, source, now, proxy=True)
            if extension is None:
                return
        se_val = requested_interval(req)
        if self._sessions.too_small(se_val):
            ctx.tx.reply(stx, 422, now, ctx.new_id("t"), [self._sessions.min_se_header()])
            return
        offer = b""
        if req.body:
            offer = sdp_part(req)
            if offer:
                try:
                    parse_sdp(offer)
                except NotAcceptable:
                    ctx.tx.reply(stx, 488, now, ctx.new_id("t"))
                    return
        leg = Leg(ctx.new_id("leg"), True, LegState.IN_NEW, req.call_id, ctx.new_id("t"), stx.dest, req,
                  server_tx=stx, extension=extension, trunk=trunk.name if trunk else None)
        leg.remote_sdp = offer
        leg.sdp_session = ctx.ids
        leg.peer_supports = req.option_tags("supported") | req.option_tags("require")
        leg.peer_100rel = "100rel" in leg.peer_supports
        leg.peer_allows = {m.strip().upper() for m in req.get_all("allow")}
        self._sessions.negotiate_incoming(leg, req, se_val)
        ctx.add_inbound(leg)
        ctx.legs_by_invite[(req.call_id, leg.local_tag)] = leg
        ctx.tx.reply(stx, 100, now)
        ctx.timers.set(("ring", leg.leg_id), now + ctx.config.ring_timeout)
        frm = req.from_
        caller = frm.parsed_uri().user_unescaped or "" if frm.uri.startswith("sip") else frm.uri
        if trunk is not None:
            caller = apply_rules(trunk.inbound_caller_id, caller)
        ruri = req.request_uri
        callee = ruri.user_unescaped or "" if ruri.is_sip else ruri.opaque or ""
        replaces_leg = None
        rep = req.get("replaces")
        if rep:
            replaces_leg = ctx.find_replaced(rep)
            if replaces_leg is None:
                ctx.end(leg, "failed", 481, now)
                ctx.tx.reply(stx, 481, now, leg.local_tag)
                return
        ctx.emit(ev.IncomingCall(
            leg_id=leg.leg_id, caller=caller, caller_name=frm.display, callee=callee, sdp_offer=offer,
            source=f"{source.host}:{source.port}", transport=source.transport, extension=extension,
            trunk=leg.trunk, call_id=req.call_id, replaces=replaces_leg))

    def on_cancel(self, req: SipMessage, source: Address, now: float) -> None:
        ctx = self._ctx
        stx = ctx.tx.servers.get(server_key(req, "INVITE"))
        cancel_tx = ctx.tx.new_server(req, response_dest(req, source), now)
        if stx is None:
            ctx.tx.reply(cancel_tx, 481, now, ctx.new_id("t"))
            return
        ctx.tx.reply(cancel_tx, 200, now, req.to.tag or ctx.new_id("t"))
        leg = ctx.leg_of_server_invite(stx)
        if leg is not None and leg.state in (LegState.IN_NEW, LegState.IN_EARLY):
            ctx.tx.reply(stx, 487, now, leg.local_tag)
            ctx.end(leg, "cancelled", 487, now, "cancelled")

    def on_ack(self, req: SipMessage) -> None:
        ctx = self._ctx
        leg = ctx.dialogs.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
        if leg is None or leg.acked:
            return
        leg.acked = True
        ctx.timers.clear(("2xx", leg.leg_id))
        if req.body and not leg.remote_sdp:
            leg.remote_sdp = sdp_part(req)
            ctx.emit(ev.LegMediaChanged(leg_id=leg.leg_id, sdp=leg.remote_sdp, direction=direction(leg.remote_sdp)))

    def on_invite_timeout(self, tx: Transaction, now: float) -> None:
        """The INVITE's server transaction timed out (no ACK to a failure response, §17.2.1)."""
        leg = self._ctx.leg_of_server_invite(tx)
        if leg is not None and leg.state is not LegState.ENDED:
            self._ctx.end(leg, "timeout", 408, now, "timeout")

    # -- commands from call control
    def _dialog(self, leg: Leg) -> Dialog:
        if leg.dialog is None:
            req = leg.invite
            target = contact_target(req) or req.from_.uri
            d = Dialog(req.call_id, leg.local_tag, req.from_.tag or "", strip_tag(req.get("to") or ""),
                       strip_tag(req.get("from") or ""), target, req.get_all("record-route"), 0, req.cseq[0],
                       leg.dest, req.uri.startswith("sips:"))
            leg.dialog = d
            self._ctx.dialogs[d.key] = leg
        return leg.dialog

    def _command(self, leg_id: str, command: str) -> tuple[Leg, Transaction]:
        """The inbound leg a command names, moved by it, and the INVITE transaction the command answers."""
        leg = self._ctx.leg(leg_id)
        stx = leg.server_tx
        if stx is None:
            raise LocalProtocolError(f"cannot {command} leg {leg_id}: only inbound legs are answered or "
                                     "rejected (hang up outbound ones)")
        self._ctx.move_checked(leg, command)
        return leg, stx

    def progress(self, leg_id: str, sdp: bytes | None, now: float, status: int = 183) -> None:
        ctx = self._ctx
        leg, stx = self._command(leg_id, "progress")
        self._dialog(leg)
        extra: list[tuple[str, str]] = [("contact", ctx.contact(leg.dest.transport))]
        body = b""
        if sdp:
            leg.local_sdp = body = sdp
            extra.append(("content-type", "application/sdp"))
        reliable = bool(sdp) and leg.peer_100rel
        if reliable:
            leg.rseq += 1
            extra += [("require", "100rel"), ("rseq", str(leg.rseq))]
        resp = ctx.tx.reply(stx, status, now, leg.local_tag, extra, body)
        if reliable:
            leg.pending_rel = resp.serialize()
            leg.rel_interval = T1
            leg.rel_started = now
            ctx.timers.set(("rel", leg.leg_id), now + T1)

    def answer(self, leg_id: str, sdp: bytes, now: float) -> None:
        ctx = self._ctx
        leg, stx = self._command(leg_id, "answer")
        self._dialog(leg)
        ctx.timers.clear(("ring", leg_id))
        leg.pending_rel = b""
        ctx.timers.clear(("rel", leg_id))
        leg.local_sdp = sdp
        extra: list[tuple[str, str]] = [("contact", ctx.contact(leg.dest.transport)),
                                        ("allow", ALLOW_HEADER), ("supported", "100rel, timer, replaces")]
        if leg.session_expires:
            extra += self._sessions.response_headers(leg)
            self._sessions.arm(leg, now)
        if sdp:
            extra.append(("content-type", "application/sdp"))
        resp = ctx.tx.reply(stx, 200, now, leg.local_tag, extra, sdp)
        self.start_2xx(leg, resp, now)
        ctx.emit(ev.LegAnswered(leg_id=leg_id, sdp=sdp))

    def reject(self, leg_id: str, status: int, now: float) -> None:
        if not 300 <= status <= 699:
            raise LocalProtocolError("a rejection needs a 3xx-6xx status")
        ctx = self._ctx
        leg, stx = self._command(leg_id, "reject")
        ctx.tx.reply(stx, status, now, leg.local_tag)
        ctx.end(leg, "rejected", status, now)

    # -- retransmissions the transaction layer does not do
    def start_2xx(self, leg: Leg, resp: SipMessage, now: float) -> None:
        """Retransmit our 2xx to an INVITE or re-INVITE until the ACK (the TU's job, §13.3.1.4)."""
        if leg.dest.reliable:
            leg.acked = True  # reliable transports: no 2xx retransmission (§13.3.1.4); ACK still expected
            return
        leg.final_wire = resp.serialize()
        leg.final_interval = T1
        leg.final_started = now
        leg.acked = False
        self._ctx.timers.set(("2xx", leg.leg_id), now + T1)

    def retransmit_2xx(self, leg_id: str, now: float) -> None:
        ctx = self._ctx
        leg = ctx.legs.get(leg_id)
        if leg is None or leg.acked or leg.state is LegState.ENDED:
            return
        if now - leg.final_started >= 64 * T1:
            # no ACK: the dialog is confirmed and then terminated with BYE (§13.3.1.4)
            ctx.terminate_dialog(leg, "timeout", 408, now)
            return
        ctx.queue(leg.final_wire, leg.dest)
        leg.final_interval = min(leg.final_interval * 2, T2)
        ctx.timers.set(("2xx", leg_id), now + leg.final_interval)

    def retransmit_rel(self, leg_id: str, now: float) -> None:
        ctx = self._ctx
        leg = ctx.legs.get(leg_id)
        if leg is None or not leg.pending_rel or leg.state is not LegState.IN_EARLY:
            return
        if now - leg.rel_started >= 64 * T1:
            self.reject(leg_id, 504, now)  # RFC 3262 §3: no PRACK, reject the INVITE
            return
        ctx.queue(leg.pending_rel, leg.dest)
        leg.rel_interval *= 2
        ctx.timers.set(("rel", leg_id), now + leg.rel_interval)
