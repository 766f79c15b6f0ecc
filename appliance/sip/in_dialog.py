"""Requests inside an established dialog, received and sent, and the answers to the ones we send.

RFC 3261 §12.2 (matching by Call-ID and tags, 481 for an unknown dialog, 500 for a CSeq that goes back,
§12.2.2), §14 (re-INVITE: 491 on glare, §14.2; the remote target refreshed, §12.2.2; an offerless re-INVITE
answered with our offer and the answer taken from the ACK), §15 (BYE, also on an early dialog: the INVITE
then gets 487), RFC 3311 (UPDATE), RFC 3262 §7.2 (PRACK), SIP INFO with DTMF (application/dtmf-relay),
RFC 3515 with RFC 3420 (REFER answered 202 and reported with NOTIFY message/sipfrag; Refer-Sub: false honoured,
RFC 4488) and RFC 3891 (Replaces in a Refer-To names our other leg, for an attended transfer).

Media is anchored in the appliance, so a session change from the far end (hold, unhold, new codec) is
answered here from our own last description and reported to call control as `LegMediaChanged`.
"""

from __future__ import annotations

from urllib.parse import quote as urlquote

from appliance.sip import events as ev
from appliance.sip.bodies import (
    DTMF_DIGITS,
    INFO_DTMF_TYPES,
    direction,
    dtmf_relay,
    parse_dtmf,
    sdp_part,
    sipfrag_status,
)
from appliance.sip.context import CoreContext
from appliance.sip.dialog import Leg, LegState, contact_target, step
from appliance.sip.errors import LocalProtocolError, SipParseError
from appliance.sip.header_values import parse_name_addr, parse_uri
from appliance.sip.message import SipMessage, reason_for
from appliance.sip.request_checks import ALLOW_HEADER, capabilities
from appliance.sip.sdes import carry_crypto
from appliance.sip.sdp import NotAcceptable, answer, parse_sdp, render, with_direction
from appliance.sip.session_timers import SessionTimers
from appliance.sip.syntax import unescape
from appliance.sip.transaction import Transaction
from appliance.sip.uas import IncomingCalls


class InDialog:
    def __init__(self, ctx: CoreContext, sessions: SessionTimers, uas: IncomingCalls) -> None:
        self._ctx = ctx
        self._sessions = sessions
        self._uas = uas  # our 2xx to a re-INVITE is retransmitted like the first one

    # -- requests from the far end
    def on_request(self, req: SipMessage, stx: Transaction, now: float) -> None:
        ctx = self._ctx
        method = req.method or ""
        leg = ctx.dialogs.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
        if leg is None and method == "PRACK":
            leg = ctx.legs_by_invite.get((req.call_id, req.to.tag or ""))
        if leg is None or leg.state is LegState.ENDED:
            ctx.tx.reply(stx, 481, now)
            return
        d = leg.dialog
        cseq = req.cseq[0]
        if d is not None:
            if d.remote_cseq is not None and cseq < d.remote_cseq and method != "ACK":
                ctx.tx.reply(stx, 500, now, None, [("retry-after", "1")])
                return
            d.remote_cseq = cseq
        if method == "BYE":
            ctx.tx.reply(stx, 200, now)
            if leg.server_tx is not None and leg.state in (LegState.IN_NEW, LegState.IN_EARLY):
                # BYE on an early dialog (§15): the INVITE is then answered 487
                ctx.tx.reply(leg.server_tx, 487, now, leg.local_tag)
                ctx.end(leg, "cancelled", 487, now, "cancelled")
            else:
                ctx.end(leg, "hangup_remote", 0, now, "bye")
        elif method in ("INVITE", "UPDATE"):
            self._on_reinvite(leg, req, stx, now)
        elif method == "INFO":
            self._on_info(leg, req, stx, now)
        elif method == "REFER":
            self._on_refer(leg, req, stx, now)
        elif method == "NOTIFY":
            ctx.tx.reply(stx, 200, now)
            status = sipfrag_status(req.body)
            if status:
                ctx.emit(ev.TransferProgress(leg_id=leg.leg_id, status=status))
        elif method == "PRACK":
            ctx.tx.reply(stx, 200, now)
            leg.pending_rel = b""
            ctx.timers.clear(("rel", leg.leg_id))
        elif method == "OPTIONS":
            ctx.tx.reply(stx, 200, now, None, capabilities(ctx.config.user_agent))
        else:
            ctx.tx.reply(stx, 405, now, None, [("allow", ALLOW_HEADER)])

    def _on_reinvite(self, leg: Leg, req: SipMessage, stx: Transaction, now: float) -> None:
        ctx = self._ctx
        if leg.state is not LegState.CONNECTED and req.method == "INVITE":
            ctx.tx.reply(stx, 491, now)
            return
        if req.method == "INVITE" and (leg.reinvite_tx is not None or (not leg.acked and leg.inbound)):
            ctx.tx.reply(stx, 491, now)  # glare (§14.2)
            return
        d = leg.dialog
        if d is not None:
            target = contact_target(req)
            if target:
                d.remote_target = target  # target refresh (§12.2.2)
        self._sessions.refreshed_by_request(leg, req, now)
        body = b""
        offer = sdp_part(req) if req.body else b""
        if offer:
            try:
                sd = parse_sdp(offer)
                mine = parse_sdp(leg.local_sdp) if leg.local_sdp else None
            except NotAcceptable:
                ctx.tx.reply(stx, 488, now)
                return
            if mine is not None and mine.audio is not None:
                leg.sdp_version += 1
                try:
                    ans = carry_crypto(answer(sd, mine.address, mine.audio.port, mine.session_id, ctx.config.media,
                                              version=max(leg.sdp_version, mine.version + 1)), mine, sd)
                except NotAcceptable:
                    ctx.tx.reply(stx, 488, now)
                    return
                body = render(ans)
                leg.local_sdp = body
            leg.remote_sdp = offer
            ctx.emit(ev.LegMediaChanged(leg_id=leg.leg_id, sdp=offer, direction=sd.direction))
        elif leg.local_sdp and req.method == "INVITE":
            body = leg.local_sdp  # offerless re-INVITE: we offer in the 200, peer answers in the ACK
        extra = [("contact", ctx.contact(leg.dest.transport)), ("supported", "100rel, timer")]
        extra += self._sessions.response_headers(leg)
        if body:
            extra.append(("content-type", "application/sdp"))
        resp = ctx.tx.reply(stx, 200, now, None, extra, body)
        if req.method == "INVITE":
            leg.acked = False
            self._uas.start_2xx(leg, resp, now)

    def _on_info(self, leg: Leg, req: SipMessage, stx: Transaction, now: float) -> None:
        ctx = self._ctx
        ctype = req.content_type
        if ctype not in INFO_DTMF_TYPES:
            ctx.tx.reply(stx, 415 if req.body else 200, now, None, [("accept", ", ".join(INFO_DTMF_TYPES))])
            return
        digit, duration = parse_dtmf(req.body, ctype)
        if digit is None:
            ctx.tx.reply(stx, 400, now)
            return
        ctx.tx.reply(stx, 200, now)
        if step(leg.state, "dtmf") is not None:
            ctx.emit(ev.DtmfReceived(leg_id=leg.leg_id, digit=digit, duration_ms=duration))

    def _on_refer(self, leg: Leg, req: SipMessage, stx: Transaction, now: float) -> None:
        ctx = self._ctx
        targets = req.get_all("refer-to")
        if len(targets) != 1 or leg.state is not LegState.CONNECTED:
            ctx.tx.reply(stx, 400 if len(targets) != 1 else 603, now)
            return
        na = parse_name_addr(targets[0])
        uri_text, _, hdrs = na.uri.partition("?")
        replaces = None
        for h in hdrs.split("&"):
            name, _, val = h.partition("=")
            if name.lower() == "replaces":
                replaces = unescape(val)
        replaces_leg = ctx.find_replaced(replaces) if replaces else None
        ctx.tx.reply(stx, 202, now)
        leg.refer_cseq = req.cseq[0]
        leg.refer_subscribed = (req.get("refer-sub") or "true").lower() != "false"
        if leg.refer_subscribed:
            self._notify_sipfrag(leg, 100, now)
        try:
            target_user = parse_uri(uri_text).user_unescaped
        except SipParseError:
            target_user = None
        ctx.emit(ev.TransferRequested(leg_id=leg.leg_id, target=uri_text, target_user=target_user,
                                      replaces_leg=replaces_leg, replaces=replaces))

    def _notify_sipfrag(self, leg: Leg, status: int, now: float) -> None:
        final = status >= 200
        state = "terminated;reason=noresource" if final else "active;expires=60"
        body = f"SIP/2.0 {status} {reason_for(status)}\r\n".encode()
        self._ctx.dialog_request(leg, "NOTIFY", now, [
            ("event", f"refer;id={leg.refer_cseq}" if leg.refer_cseq else "refer"),
            ("subscription-state", state), ("content-type", "message/sipfrag;version=2.0")], body)

    # -- answers to the requests we sent
    def on_reinvite_response(self, leg: Leg, tx: Transaction, resp: SipMessage, now: float) -> None:
        """A response to our re-INVITE (hold/unhold, session refresh)."""
        ctx = self._ctx
        status = resp.status
        if 200 <= status < 300:
            ctx.send_ack(leg, tx.request.cseq[0])
            if resp.body:
                leg.remote_sdp = sdp_part(resp)
            self._sessions.refreshed_by_response(leg, resp, now)
        if status >= 200:
            leg.reinvite_tx = None
        if status == 481 or status == 408:
            ctx.terminate_dialog(leg, "failed", status, now)

    def on_response(self, leg: Leg, tx: Transaction, resp: SipMessage, now: float) -> None:
        """A response to a non-INVITE request we sent in the dialog."""
        method = tx.request.method
        if method == "BYE":
            pass
        elif method == "REFER" and resp.status >= 300:
            self._ctx.emit(ev.TransferProgress(leg_id=leg.leg_id, status=resp.status))
        elif method == "UPDATE" and 200 <= resp.status < 300:
            self._sessions.refreshed_by_response(leg, resp, now)
        elif resp.status == 481 and leg.state is LegState.CONNECTED:
            self._ctx.terminate_dialog(leg, "failed", 481, now)  # the dialog is gone at the far end (§12.2.1.2)

    # -- commands from call control
    def hold(self, leg_id: str, now: float) -> None:
        self._reinvite_direction(leg_id, True, now)

    def unhold(self, leg_id: str, now: float) -> None:
        self._reinvite_direction(leg_id, False, now)

    def _reinvite_direction(self, leg_id: str, hold: bool, now: float) -> None:
        ctx = self._ctx
        leg = ctx.leg(leg_id)
        ctx.move_checked(leg, "hold" if hold else "unhold")
        if not leg.local_sdp:
            raise LocalProtocolError("no session to put on hold")
        if leg.reinvite_tx is not None:
            raise LocalProtocolError("a re-INVITE is already in progress (try again when it ends)")
        sd = parse_sdp(leg.local_sdp)
        remote_dir = direction(leg.remote_sdp) if leg.remote_sdp else "sendrecv"
        if hold:
            new_dir = "inactive" if remote_dir in ("sendonly", "inactive") else "sendonly"
        else:
            new_dir = "recvonly" if remote_dir == "sendonly" else "sendrecv"
        leg.sdp_version = max(leg.sdp_version, sd.version) + 1
        body = render(with_direction(sd, new_dir, leg.sdp_version))
        leg.local_sdp = body
        leg.held = hold
        leg.reinvite_tx = ctx.dialog_request(leg, "INVITE", now, [("content-type", "application/sdp")], body)

    def send_dtmf(self, leg_id: str, digit: str, now: float, duration_ms: int = 160) -> None:
        if len(digit) != 1 or digit.upper() not in DTMF_DIGITS:
            raise LocalProtocolError(f"not a DTMF digit: {digit!r}")
        ctx = self._ctx
        leg = ctx.leg(leg_id)
        ctx.move_checked(leg, "dtmf")
        ctx.dialog_request(leg, "INFO", now, [("content-type", "application/dtmf-relay")],
                           dtmf_relay(digit, duration_ms))

    def refer(self, leg_id: str, target_uri: str, now: float, replaces_leg: str | None = None) -> None:
        ctx = self._ctx
        leg = ctx.leg(leg_id)
        ctx.move_checked(leg, "refer")
        target = target_uri
        if replaces_leg is not None:
            other = ctx.leg(replaces_leg)
            od = other.dialog
            if od is None:
                raise LocalProtocolError("the leg to replace has no dialog")
            # The transfer target receives this Replaces and must find its own dialog with us: seen from
            # the target, "to-tag" is its local tag (our remote tag) and "from-tag" ours (RFC 3891 §3).
            rep = f"{od.call_id};to-tag={od.remote_tag};from-tag={od.local_tag}"
            target = f"{target_uri}?Replaces={urlquote(rep, safe='')}"
        ctx.dialog_request(leg, "REFER", now, [("refer-to", f"<{target}>"),
                                               ("referred-by", ctx.contact(leg.dest.transport))])

    def transfer_progress(self, leg_id: str, status: int, now: float) -> None:
        ctx = self._ctx
        leg = ctx.leg(leg_id)
        if leg.state is LegState.ENDED or not leg.refer_subscribed:
            return
        ctx.move_checked(leg, "transfer_progress")
        self._notify_sipfrag(leg, status, now)
        if status >= 200:
            leg.refer_subscribed = False
