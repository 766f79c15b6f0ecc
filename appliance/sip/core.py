"""The sans-IO SIP engine: user agent core, registrar, digest server, trunks and B2BUA legs.

`SipCore` is the façade: it takes bytes, commands and time in, hands packets and events out, and routes each
input to the part that implements it — all of them share one `context.CoreContext`:

    request_checks   RFC 3261 §8.2 checks in order (405, 416, 420, 415, 406; 483), capabilities, §18.2 routing
    authentication   admission (rate limit, blocks); digest auth, §22 with RFC 8760
    register_handler the registrar's REGISTER, §10.3 with RFC 3581
    uas / uac        inbound / outbound INVITE, CANCEL, 2xx retransmission until ACK (§13, §9); RFC 3262
    forking          parallel forking to several contacts of an extension (after §16.7)
    in_dialog        BYE, re-INVITE, UPDATE (RFC 3311), INFO DTMF, REFER + NOTIFY (RFC 3515, 3420, 3891)
    talk             answering a ringing phone remotely (BroadSoft talk event: NOTIFY in the early dialog)
    session_timers   RFC 4028          trunk_registration   §10.2 towards carriers
    qualify          OPTIONS keep-alives to registered contacts
    timers           the core's own deadlines (the transaction timers are in `transaction`)

Shape (like h11): nothing here touches a socket or a clock.

    core.receive(data, Address(transport, ip, port), now)      # bytes in
    core.answer(leg_id, sdp, now) ...                          # commands in (see the package docstring)
    packets, events = core.drain()                             # (bytes, Address) and Event objects out
    core.next_deadline() / core.handle_timeout(now)            # timers as deadlines

Malformed requests are answered (400, 505, ...) and counted; malformed responses are dropped; nothing a
peer sends can raise out of `receive` (a bug is caught, logged and answered with 500).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import replace as dc_replace

from appliance.events import Event
from appliance.sip import events as ev
from appliance.sip import request_checks as checks
from appliance.sip.authentication import Authenticator
from appliance.sip.context import CoreContext
from appliance.sip.dialog import Leg, LegState
from appliance.sip.digest import CredentialSource, DigestServer
from appliance.sip.errors import RemoteProtocolError, SipParseError
from appliance.sip.in_dialog import InDialog
from appliance.sip.message import SipMessage, make_response, reason_for
from appliance.sip.models import SipConfig, TrunkConfig
from appliance.sip.parser import parse
from appliance.sip.qualify import Probe, Qualifier
from appliance.sip.register_handler import handle_register
from appliance.sip.registrar import Registrar
from appliance.sip.security import Block, Guard, SecurityPolicy
from appliance.sip.session_timers import SessionTimers
from appliance.sip.talk import RemoteAnswer
from appliance.sip.timers import TimerKey
from appliance.sip.transaction import Address, Transaction, TransactionLayer, TransactionUser
from appliance.sip.trunk_registration import TrunkRegistration, TrunkRegistrations
from appliance.sip.uac import OutgoingCalls
from appliance.sip.uas import IncomingCalls

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 5.0  # registrar expiry and forgetting ended legs
KEEPALIVES = (b"\r\n\r\n", b"\r\n", b"\n")  # RFC 5626 §3.5.1
RETRY_AFTER = 10  # seconds a source over its per-source bound is asked to wait (503)


class SipCore(TransactionUser):
    def __init__(
        self,
        config: SipConfig,
        credentials: CredentialSource,
        registrar: Registrar | None = None,
        secret: bytes | None = None,
    ) -> None:
        self.registrar = registrar or Registrar(config.min_expires, config.max_expires, config.max_expires)
        self.digest = DigestServer(config.realm, credentials, secret or secrets.token_bytes(32),
                                   config.nonce_ttl, config.auth_algorithms)
        self.guard = Guard(config.security)
        self.ctx = ctx = CoreContext(config, self)
        self.auth = Authenticator(ctx, self.digest, self.guard)
        self.sessions = SessionTimers(ctx)
        self.uas = IncomingCalls(ctx, self.auth, self.sessions)
        self.uac = OutgoingCalls(ctx, self.registrar, self.sessions)
        self.in_dialog = InDialog(ctx, self.sessions, self.uas)
        self.talk = RemoteAnswer(ctx)
        self.trunks = TrunkRegistrations(ctx)
        self.qualify = Qualifier(ctx, self.registrar)
        self.on_bug: Callable[[BaseException], None] | None = None

    # -- the shared state, as callers see it
    @property
    def config(self) -> SipConfig:
        return self.ctx.config

    @config.setter
    def config(self, config: SipConfig) -> None:
        self.ctx.config = config

    @property
    def tx(self) -> TransactionLayer:
        return self.ctx.tx

    @property
    def legs(self) -> dict[str, Leg]:
        return self.ctx.legs

    @property
    def dialogs(self) -> dict[tuple[str, str, str], Leg]:
        return self.ctx.dialogs

    @property
    def stats(self) -> dict[str, int]:
        """Counters since start-up: messages received and sent, bad_requests (answered 4xx/5xx),
        dropped_responses, protocol_violations (malformed messages of either kind), auth_failures,
        rate_limited, blocked."""
        return self.ctx.stats

    def gauges(self, now: float) -> dict[str, float]:
        """What is in use now (for health): registered contacts, legs, transactions, trunk registrations."""
        live = [b for bindings in self.registrar.bindings.values() for b in bindings if b.expires_at > now]
        legs = [lg for lg in self.legs.values() if lg.state is not LegState.ENDED]
        return {
            "registrations": len(live),
            "contacts_unreachable": sum(not b.reachable for b in live),
            "legs_active": len(legs),
            "legs_connected": sum(lg.state is LegState.CONNECTED for lg in legs),
            "transactions_active": len(self.tx.clients) + len(self.tx.servers),
            "trunks_configured": len(self.config.trunks),
            "trunks_registering": len(self.trunk_regs),
            "trunks_registered": sum(reg.registered for reg in self.trunk_regs.values()),
        }

    @property
    def trunk_regs(self) -> dict[str, TrunkRegistration]:
        return self.trunks.regs

    @property
    def unregistering(self) -> set[str]:
        """Call-IDs of trunk un-REGISTERs not answered yet."""
        return self.trunks.unregistering

    # ==================================================================================================
    # plumbing

    def set_local_address(self, transport: str, host: str, port: int) -> None:
        """The shell tells the core where each transport listens (used in Via and Contact)."""
        self.ctx.local[transport] = (host, port)

    def start(self, now: float) -> None:
        """Begin periodic work: trunk registrations, registrar expiry and qualify."""
        self.trunks.start(now)
        self.ctx.timers.set(("housekeeping", ""), now + 1.0)
        if self.config.qualify_interval > 0:
            self.ctx.timers.set(("qualify", ""), now + self.config.qualify_interval)

    def drain(self) -> tuple[list[tuple[bytes, Address]], list[Event]]:
        return self.ctx.drain()

    def next_deadline(self) -> float | None:
        t = self.ctx.tx.next_deadline()
        mine = self.ctx.timers.next_deadline()
        if t is None:
            return mine
        return t if mine is None else min(t, mine)

    def handle_timeout(self, now: float) -> None:
        self.ctx.tx.handle_timeout(now)
        while (key := self.ctx.timers.pop_due(now)) is not None:
            try:
                self._on_timer(key, now)
            except Exception as e:  # a bug in one timer must not stop the others
                self._bug(e)
        self._run_pending_hangups(now)

    def _on_timer(self, key: TimerKey, now: float) -> None:
        kind, name = key
        if kind == "2xx":
            self.uas.retransmit_2xx(name, now)
        elif kind == "rel":
            self.uas.retransmit_rel(name, now)
        elif kind == "session":
            self.sessions.on_timer(name, now)
        elif kind == "ring":
            self._ring_timeout(name, now)
        elif kind == "trunk":
            self.trunks.on_timer(name, now)
        elif kind == "housekeeping":
            self.auth.sweep(now)
            for aor, contact in self.registrar.expire(now):
                self.ctx.emit(ev.RegistrationChanged(extension=aor, contact=contact, expires=0, source=""))
            for lid in [lid for lid, lg in self.legs.items() if lg.state is LegState.ENDED]:
                self.ctx.forget(self.legs[lid])
            self.ctx.timers.set(("housekeeping", ""), now + HOUSEKEEPING_EVERY)
        elif kind == "qualify":
            self.qualify.run(now)
            self.ctx.timers.set(("qualify", ""), now + self.config.qualify_interval)
        elif kind == "forget":
            leg = self.legs.get(name)
            if leg is not None:
                self.ctx.forget(leg)

    def _ring_timeout(self, leg_id: str, now: float) -> None:
        leg = self.legs.get(leg_id)
        if leg is not None and leg.state in (LegState.IN_NEW, LegState.IN_EARLY):
            self.uas.reject(leg_id, 480, now)
        elif leg is not None and leg.state in (LegState.OUT_CALLING, LegState.OUT_EARLY):
            self.uac.cancel(leg, now)
            self.ctx.end(leg, "no_answer", 408, now, "timeout")

    def _run_pending_hangups(self, now: float) -> None:
        """Losing fork branches are hung up once the input that made them lose is handled."""
        pending = self.ctx.forks.pending_hangups
        while pending:
            self.hangup(pending.pop(), now)

    def _bug(self, e: BaseException) -> None:
        log.exception("SIP core bug: %s", e)
        if self.on_bug is not None:
            self.on_bug(e)

    def transport_error(self, dest: Address, now: float) -> None:
        """The shell could not deliver to `dest` (connect refused, ICMP unreachable on a connected socket)."""
        for tx in [t for t in self.tx.clients.values() if t.dest == dest]:
            self.tx.transport_error(tx, now)

    # ==================================================================================================
    # input

    def receive(self, data: bytes, source: Address, now: float) -> None:
        self.stats["received"] += 1
        if data in KEEPALIVES:
            return
        if not data.startswith(b"SIP/") and not self.auth.admit(source, now):
            return  # checked before parsing: a flood of garbage costs no more than a flood of requests
        try:
            msg = parse(data, stream=source.transport != "UDP")
        except SipParseError as e:
            self._malformed(e, source)
            return
        try:
            if msg.method is None:
                self._on_response(msg, now)
            else:
                self._on_request(msg, source, now)
        except SipParseError as e:
            # a header we looked at only now turned out malformed
            self._malformed(e, source, msg)
        except RemoteProtocolError as e:
            if msg.method is not None and msg.method != "ACK":
                self._send_stateless(msg, source, e.status)
        except Exception as e:
            self._bug(e)
            if msg.method is not None and msg.method != "ACK":
                self._send_stateless(msg, source, 500)
        self._run_pending_hangups(now)

    def _malformed(self, e: SipParseError, source: Address, msg: SipMessage | None = None) -> None:
        m = msg or e.message
        src = f"{source.host}:{source.port}"
        self.stats["protocol_violations"] += 1
        if m is None or m.method is None:
            self.stats["dropped_responses"] += 1
            self.ctx.emit(ev.ProtocolViolation(source=src, reason=str(e), status=0))
            return
        self.stats["bad_requests"] += 1
        self.ctx.emit(ev.ProtocolViolation(source=src, reason=str(e), status=e.status))
        resp = checks.malformed_answer(e, m, self.config.realm)
        if resp is not None:
            self.ctx.queue(resp.serialize(), source)

    def _send_stateless(self, req: SipMessage, source: Address, status: int,
                        extra: list[tuple[str, str]] | None = None) -> None:
        resp = make_response(req, status, reason_for(status), self.ctx.new_id("t") if status >= 200 else None)
        resp.headers.extend(extra or ())
        self.ctx.queue(resp.serialize(), checks.response_dest(req, source))

    def _on_request(self, req: SipMessage, source: Address, now: float) -> None:
        ctx = self.ctx
        method = req.method or ""
        checks.add_received(req, source)
        stx = self.tx.find_server(req)
        if stx is not None:
            self.tx.receive_retransmission(stx, req, now)
            return
        if method == "ACK":
            self.uas.on_ack(req)
            return
        if method == "CANCEL":
            self.uas.on_cancel(req, source, now)
            return
        if self.auth.over_limit(method, source, now):
            # §21.5.4: 503 with Retry-After, sent statelessly so the refusal itself holds nothing
            self._send_stateless(req, source, 503, [("retry-after", str(RETRY_AFTER))])
            return
        stx = self.tx.new_server(req, checks.response_dest(req, source), now)
        status, extra = checks.inspect(req)
        if status:
            self.tx.reply(stx, status, now, ctx.new_id("t"), extra)
            return
        if req.to.tag:
            self.in_dialog.on_request(req, stx, now)
        elif method == "REGISTER":
            handle_register(ctx, self.auth, self.registrar, req, stx, source, now)
        elif method == "OPTIONS":
            self.tx.reply(stx, 200, now, ctx.new_id("t"), checks.capabilities(self.config.user_agent))
        elif method == "INVITE":
            self.uas.on_invite(req, stx, source, now)
        elif method in checks.DIALOG_METHODS:
            self.tx.reply(stx, 481, now, ctx.new_id("t"))
        else:
            self.tx.reply(stx, 405, now, ctx.new_id("t"), [("allow", checks.ALLOW_HEADER)])

    def _on_response(self, resp: SipMessage, now: float) -> None:
        if resp.status >= 700:
            self.stats["dropped_responses"] += 1
            return
        if self.tx.receive_response(resp, now):
            return
        # a 2xx retransmission after the INVITE transaction ended: re-ACK (§13.2.2.4)
        if 200 <= resp.status < 300 and resp.cseq[1] == "INVITE":
            leg = self.dialogs.get((resp.call_id, resp.from_.tag or "", resp.to.tag or ""))
            if leg is not None and leg.dialog is not None:
                self.ctx.send_ack(leg, resp.cseq[0])
                return
        self.stats["dropped_responses"] += 1

    # -- what the transaction layer reports (TransactionUser)
    def on_response(self, tx: Transaction, response: SipMessage, now: float) -> None:
        owner = tx.owner
        if isinstance(owner, Leg):
            if tx is owner.talk_tx:
                self.talk.on_response(owner, tx, response)
            elif tx.request.method != "INVITE":
                self.in_dialog.on_response(owner, tx, response, now)
            elif tx is owner.client_tx:
                self.uac.on_invite_response(owner, tx, response, now)
            else:
                self.in_dialog.on_reinvite_response(owner, tx, response, now)
        elif isinstance(owner, TrunkRegistration):
            self.trunks.on_response(owner, tx, response, now)
        elif isinstance(owner, Probe):
            self.qualify.done(owner, True, now)

    def on_timeout(self, tx: Transaction, now: float) -> None:
        owner = tx.owner
        if tx.server:
            if tx.request.method == "INVITE":
                self.uas.on_invite_timeout(tx, now)
            return
        # §8.1.3.1: a transport failure is reported like a 503, a timer expiry like a 408
        cause, status = ("transport_error", 503) if tx.transport_failed else ("timeout", 408)
        if isinstance(owner, Leg):
            if tx is owner.talk_tx:
                self.talk.on_timeout(owner, status)
            elif tx.request.method == "INVITE" and tx is owner.client_tx:
                if owner.state in (LegState.OUT_CALLING, LegState.OUT_EARLY):
                    self.ctx.end(owner, cause, status, now, "timeout")
            elif tx.request.method in ("INVITE", "UPDATE", "BYE") and owner.state is LegState.CONNECTED:
                # the far end no longer answers in-dialog requests: the call is dead (§12.2.1.2)
                self.ctx.terminate_dialog(owner, cause, status, now)
        elif isinstance(owner, TrunkRegistration):
            self.trunks.on_timeout(owner, tx, status, now)
        elif isinstance(owner, Probe):
            self.qualify.done(owner, False, now)

    # ==================================================================================================
    # B2BUA commands (see the package docstring)

    def create_leg(
        self, now: float, *, callee: str, sdp_offer: bytes, caller: str, caller_name: str | None = None,
        extension: str | None = None, trunk: str | None = None, uri: str | None = None,
        replaces: str | None = None, extra_headers: list[tuple[str, str]] | None = None,
    ) -> str:
        """Start an outbound leg. Exactly one of: `extension` (call its registered contacts, forking when
        there are several), `trunk` (call `callee` through the named trunk), `uri` (call a SIP URI directly,
        sent to its host). Returns the leg id; the outcome comes as LegProgress / LegAnswered / LegEnded
        events. Raises LocalProtocolError when the extension is not registered or the trunk is unknown."""
        return self.uac.create_leg(now, callee=callee, sdp_offer=sdp_offer, caller=caller, caller_name=caller_name,
                                   extension=extension, trunk=trunk, uri=uri, replaces=replaces,
                                   extra_headers=extra_headers)

    def progress(self, leg_id: str, sdp: bytes | None, now: float, status: int = 183) -> None:
        """Send 180 (sdp None) or 183 with early media. Reliable (100rel) when the caller supports it."""
        self.uas.progress(leg_id, sdp, now, status)

    def answer(self, leg_id: str, sdp: bytes, now: float) -> None:
        """Answer an inbound leg with our SDP (an answer to its offer, or our offer if it had none)."""
        self.uas.answer(leg_id, sdp, now)

    def reject(self, leg_id: str, status: int, now: float) -> None:
        """Refuse an inbound leg (486 busy, 480 unavailable, 404, 603 ...)."""
        self.uas.reject(leg_id, status, now)

    def hangup(self, leg_id: str, now: float) -> None:
        """End a leg in whatever state: BYE when connected, CANCEL when calling, 480 when not answered yet.
        Hanging up an ended leg does nothing."""
        if self.ctx.forks.hangup_unanswered(leg_id, lambda b: self.hangup(b, now), self.ctx.emit):
            return
        leg = self.legs.get(self.ctx.forks.target(leg_id))
        if leg is None or leg.state is LegState.ENDED:
            return
        if leg.state in (LegState.IN_NEW, LegState.IN_EARLY):
            self.uas.reject(leg.leg_id, 480, now)
            return
        if leg.state in (LegState.OUT_CALLING, LegState.OUT_EARLY):
            self.uac.cancel(leg, now)
            self.ctx.end(leg, "hangup_local", 0, now, "hangup")
            return
        self.ctx.terminate_dialog(leg, "hangup_local", 0, now)

    def hold(self, leg_id: str, now: float) -> None:
        """re-INVITE with sendonly (or inactive when the far end holds us too)."""
        self.in_dialog.hold(leg_id, now)

    def unhold(self, leg_id: str, now: float) -> None:
        self.in_dialog.unhold(leg_id, now)

    def send_dtmf(self, leg_id: str, digit: str, now: float, duration_ms: int = 160) -> None:
        """DTMF via SIP INFO (application/dtmf-relay), for peers that do not take RFC 4733 events."""
        self.in_dialog.send_dtmf(leg_id, digit, now, duration_ms)

    def refer(self, leg_id: str, target_uri: str, now: float, replaces_leg: str | None = None) -> None:
        """Ask the far end of `leg_id` to call `target_uri` (blind), or with `replaces_leg` to replace our
        other leg's dialog with it (attended transfer, RFC 3891). Progress arrives as TransferProgress."""
        self.in_dialog.refer(leg_id, target_uri, now, replaces_leg)

    def transfer_progress(self, leg_id: str, status: int, now: float) -> None:
        """Report how a transfer the far end asked for is going (NOTIFY with message/sipfrag)."""
        self.in_dialog.transfer_progress(leg_id, status, now)

    def remote_answer(self, leg_id: str, now: float) -> None:
        """Ask the ringing phone of an outbound leg to answer (the BroadSoft talk event, see `talk`); the
        outcome comes as RemoteAnswerResult, then LegAnswered. LocalProtocolError when the leg does not ring
        or its phone did not offer it."""
        self.talk.answer(leg_id, now)

    def leg_info(self, leg_id: str) -> Leg:
        """The state of a leg (for a forked leg: the answering branch, or the first one while ringing)."""
        return self.ctx.leg(leg_id)

    # ==================================================================================================
    # sources blocked for failed authentications (the admin's view)

    def blocks(self, now: float) -> list[Block]:
        """The sources refused now (the expired ones are reported first)."""
        self.auth.sweep(now)
        return self.guard.blocks(now)

    def lift_block(self, source: str, now: float) -> Block | None:
        """Hear `source` again at once (an `AuthUnblocked` event follows); None when it was not blocked."""
        self.auth.sweep(now)  # a block that already ran out is reported as expired, not as lifted
        block = self.guard.lift(source)
        if block is not None and block.until > now:
            self.ctx.emit(ev.AuthUnblocked(source=source, reason="lifted"))
            return block
        return None

    def set_security(self, policy: SecurityPolicy) -> None:
        """New thresholds; blocks in force keep their end, and the counts gathered so far stay."""
        self.guard.policy = policy
        self.config = dc_replace(self.config, security=policy)

    # ==================================================================================================
    # trunks

    def set_trunks(self, trunks: tuple[TrunkConfig, ...], now: float) -> None:
        """Apply a new trunk list while running: new registering trunks register at once; a trunk that is gone,
        no longer registers, or whose registration settings changed is un-registered (Expires: 0, RFC 3261
        §10.2.2) so the carrier stops sending its calls to a binding nobody keeps; a changed one then
        registers afresh. Unchanged trunks keep their registration and refresh timer."""
        self.config = dc_replace(self.config, trunks=trunks)
        self.trunks.apply(trunks, now)

    def unregister_trunks(self, now: float) -> None:
        """At shutdown: remove every trunk's binding (Expires: 0). The configured trunks stay, so a start()
        registers them again."""
        self.trunks.unregister_all(now)
