"""The sans-IO SIP engine: user agent core, registrar, digest server, trunks and B2BUA legs.

Implements the UAS/UAC cores of RFC 3261 §8 (request inspection in the order of §8.2: method 405, URI scheme
416, Require 420, Content-Type 415, Accept 406; Max-Forwards 483), §12-§15 (dialogs, re-INVITE, CANCEL, BYE,
2xx retransmission until ACK), §10 with RFC 3581 (registrar with received/rport), §22 with RFC 8760 (digest),
RFC 3262 (100rel/PRACK), RFC 3311 (UPDATE), RFC 4028 (session timers), RFC 3515 + RFC 3420 (REFER with
NOTIFY message/sipfrag), RFC 3891 (Replaces), SIP INFO DTMF (application/dtmf-relay) and OPTIONS qualify.

Shape (like h11): nothing here touches a socket or a clock.

    core.receive(data, Address(transport, ip, port), now)      # bytes in
    core.answer(leg_id, sdp, now) ...                          # commands in (see the package docstring)
    packets, events = core.drain()                             # (bytes, Address) and Event objects out
    core.next_deadline() / core.handle_timeout(now)            # timers as deadlines

Malformed requests are answered (400, 505, ...) and counted; malformed responses are dropped; nothing a
peer sends can raise out of `receive` (a bug is caught, logged and answered with 500).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from urllib.parse import quote as urlquote

from appliance.events import Event
from appliance.sip import events as ev
from appliance.sip.dialog import Dialog, Leg, LegState, step
from appliance.sip.digest import CredentialSource, DigestClient, DigestServer, parse_auth_params
from appliance.sip.errors import LocalProtocolError, RemoteProtocolError, SipParseError, UnknownLeg
from appliance.sip.message import (
    SipMessage,
    make_response,
    parse,
    parse_name_addr,
    parse_uri,
    reason_for,
    split_commas,
    unescape,
)
from appliance.sip.models import SipConfig, TrunkConfig, apply_rules
from appliance.sip.registrar import Binding, RegisterRejected, Registrar
from appliance.sip.sdp import NotAcceptable, answer, parse_sdp, render, with_direction
from appliance.sip.security import Guard
from appliance.sip.transaction import (
    T1,
    T2,
    Address,
    Transaction,
    TransactionLayer,
    TransactionUser,
    server_key,
)

log = logging.getLogger(__name__)

ALLOWED = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK", "REFER",
           "NOTIFY")
ALLOW_HEADER = ", ".join(ALLOWED)
SUPPORTED = frozenset({"100rel", "timer", "replaces", "norefersub", "path", "outbound"})
DIALOG_METHODS = frozenset({"BYE", "INFO", "UPDATE", "PRACK", "REFER", "NOTIFY"})
INFO_DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")


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


@dataclass(eq=False)
class ForkGroup:
    """One outbound leg to an extension with several contacts: every contact rings (parallel forking, as
    §16.7 describes for a proxy); the first to answer wins and the others are cancelled. Call control sees
    only `main`; events of the branches are re-labelled, commands go to the winner."""

    main: str
    branches: list[str]
    winner: str | None = None
    statuses: list[int] | None = None
    done: bool = False


@dataclass(eq=False)
class Probe:
    """An OPTIONS qualify in flight."""

    aor: str
    binding: Binding
    sent_at: float


class SipCore(TransactionUser):
    def __init__(
        self,
        config: SipConfig,
        credentials: CredentialSource,
        registrar: Registrar | None = None,
        secret: bytes | None = None,
    ) -> None:
        self.config = config
        self.registrar = registrar or Registrar(config.min_expires, config.max_expires, config.max_expires)
        self.digest = DigestServer(config.realm, credentials, secret or secrets.token_bytes(32),
                                   config.nonce_ttl, config.auth_algorithms)
        self.guard = Guard(config.security)
        self.tx = TransactionLayer(self, self._queue)
        self.legs: dict[str, Leg] = {}
        self.dialogs: dict[tuple[str, str, str], Leg] = {}
        self._legs_by_invite: dict[tuple[str, str], Leg] = {}  # (call-id, our tag) before a dialog exists
        self._out: list[tuple[bytes, Address]] = []
        self._events: list[Event] = []
        self._timers: list[tuple[float, int, tuple[str, str]]] = []
        self._timer_at: dict[tuple[str, str], float] = {}
        self._seq = 0
        self._prefix = secrets.token_hex(4)
        self._ids = 0
        self.local: dict[str, tuple[str, int]] = {}
        self.trunk_regs: dict[str, TrunkRegistration] = {}
        self.unregistering: set[str] = set()  # Call-IDs of trunk un-REGISTERs not answered yet
        self._probes: dict[str, Probe] = {}
        self._groups: dict[str, ForkGroup] = {}  # main leg id -> group
        self._fork_of: dict[str, ForkGroup] = {}  # branch leg id -> group
        self._pending_hangups: list[str] = []  # losing branches, ended once the current input is handled
        self._limited_at: dict[str, float] = {}
        self.stats: dict[str, int] = {"received": 0, "bad_requests": 0, "dropped_responses": 0, "sent": 0,
                                      "rate_limited": 0, "blocked": 0}
        self.on_bug: Callable[[BaseException], None] | None = None

    # ==================================================================================================
    # plumbing

    def set_local_address(self, transport: str, host: str, port: int) -> None:
        """The shell tells the core where each transport listens (used in Via and Contact)."""
        self.local[transport] = (host, port)

    def start(self, now: float) -> None:
        """Begin periodic work: trunk registrations, registrar expiry and qualify."""
        for t in self.config.trunks:
            if t.register and t.username:
                self._start_trunk_registration(t, now)
        self._set_timer(("housekeeping", ""), now + 1.0)
        if self.config.qualify_interval > 0:
            self._set_timer(("qualify", ""), now + self.config.qualify_interval)

    def drain(self) -> tuple[list[tuple[bytes, Address]], list[Event]]:
        out, evs = self._out, self._events
        self._out, self._events = [], []
        return out, evs

    def _queue(self, data: bytes, dest: Address) -> None:
        self.stats["sent"] += 1
        self._out.append((data, dest))

    def _emit(self, event: Event) -> None:
        leg_id = getattr(event, "leg_id", None)
        if leg_id is not None and leg_id in self._fork_of:
            self._fork_event(self._fork_of[leg_id], leg_id, event)
            return
        self._events.append(event)

    def _fork_event(self, g: ForkGroup, branch: str, event: Event) -> None:
        if g.done and branch != g.winner:
            return
        if isinstance(event, ev.LegAnswered):
            if g.winner is not None:
                return
            g.winner = branch
            for other in g.branches:
                if other != branch:
                    self._hangup_branch(other)
        elif isinstance(event, ev.LegEnded):
            if branch != g.winner:
                if g.winner is not None:
                    return
                g.statuses = [*(g.statuses or []), event.status]
                if any(b in self.legs and self.legs[b].state is not LegState.ENDED for b in g.branches):
                    return  # others still ringing
                g.done = True
                event = ev.LegEnded(leg_id=g.main, cause=event.cause, status=_best_status(g.statuses))
                self._events.append(event)
                return
            g.done = True
        elif g.winner is not None and (isinstance(event, ev.LegProgress) or branch != g.winner):
            return  # after the answer only the winner speaks, and no more ringing
        self._events.append(dc_replace(event, leg_id=g.main))  # type: ignore[call-arg]

    def _hangup_branch(self, branch: str) -> None:
        leg = self.legs.get(branch)
        if leg is not None and leg.state is not LegState.ENDED:
            self._pending_hangups.append(branch)

    def _new_id(self, kind: str) -> str:
        self._ids += 1
        return f"{kind}{self._prefix}{self._ids:x}"

    def _set_timer(self, key: tuple[str, str], at: float) -> None:
        self._timer_at[key] = at
        self._seq += 1
        heapq.heappush(self._timers, (at, self._seq, key))
        self._compact_timers()

    def _clear_timer(self, key: tuple[str, str]) -> None:
        self._timer_at.pop(key, None)
        self._compact_timers()

    def _compact_timers(self) -> None:
        """Cleared and replaced timers stay in the heap until they fall due — for a session timer, half an
        hour. Under steady load that is memory growing with the call rate, so once stale entries outnumber
        live ones the heap is rebuilt (amortised O(1) per timer operation)."""
        heap = self._timers
        if len(heap) > 2 * len(self._timer_at) + 1024:
            live = self._timer_at
            self._timers = [e for e in heap if live.get(e[2]) == e[0]]
            heapq.heapify(self._timers)

    def next_deadline(self) -> float | None:
        t = self.tx.next_deadline()
        while self._timers and self._timer_at.get(self._timers[0][2]) != self._timers[0][0]:
            heapq.heappop(self._timers)
        mine = self._timers[0][0] if self._timers else None
        if t is None:
            return mine
        return t if mine is None else min(t, mine)

    def handle_timeout(self, now: float) -> None:
        self.tx.handle_timeout(now)
        # `self._timers` is re-read each time: a timer handler may rebuild it (see `_compact_timers`)
        while self._timers and self._timers[0][0] <= now:
            at, _, key = heapq.heappop(self._timers)
            if self._timer_at.get(key) != at:
                continue
            del self._timer_at[key]
            try:
                self._on_timer(key, now)
            except Exception as e:  # a bug in one timer must not stop the others
                self._bug(e)
        if self._pending_hangups:
            self._run_pending_hangups(now)

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
        if data in (b"\r\n\r\n", b"\r\n", b"\n"):
            return  # keep-alive (RFC 5626 §3.5.1)
        if not data.startswith(b"SIP/") and not self._admit(source, now):
            return  # checked before parsing: a flood of garbage costs no more than a flood of requests
        try:
            msg = parse(data, stream=source.transport != "UDP")
        except SipParseError as e:
            self._malformed(e, data, source)
            return
        try:
            if msg.method is None:
                self._on_response(msg, now)
            else:
                self._on_request(msg, source, now)
        except SipParseError as e:
            # a header we looked at only now turned out malformed
            self._malformed(e, data, source, msg)
        except RemoteProtocolError as e:
            if msg.method is not None and msg.method != "ACK":
                self._send_stateless(msg, source, e.status)
        except Exception as e:
            self._bug(e)
            if msg.method is not None and msg.method != "ACK":
                self._send_stateless(msg, source, 500)
        if self._pending_hangups:
            self._run_pending_hangups(now)

    def _malformed(self, e: SipParseError, data: bytes, source: Address, msg: SipMessage | None = None) -> None:
        m = msg or e.message
        src = f"{source.host}:{source.port}"
        if m is None or m.method is None:
            self.stats["dropped_responses"] += 1
            self._emit(ev.ProtocolViolation(source=src, reason=str(e), status=0))
            return
        self.stats["bad_requests"] += 1
        self._emit(ev.ProtocolViolation(source=src, reason=str(e), status=e.status))
        if m.method == "ACK":
            return  # never answer an ACK
        # Answer with the raw headers copied (the Via may be what is broken): sent back where it came from.
        headers = [(k, v) for k, v in m.headers if k in ("via", "from", "to", "call-id", "cseq")]
        if not any(k == "via" for k, _ in headers):
            return
        resp = SipMessage(None, "", e.status, reason_for(e.status), headers)
        # the reason may quote the peer's bytes: keep the Warning a well-formed quoted-string (RFC 3261 §20.43)
        text = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "?" for c in e.reason)[:100]
        resp.add("warning", f'399 {self.config.realm} "{text}"')
        self._queue(resp.serialize(), source)

    def _send_stateless(self, req: SipMessage, source: Address, status: int,
                        extra: list[tuple[str, str]] | None = None) -> None:
        resp = make_response(req, status, reason_for(status), self._new_id("t") if status >= 200 else None)
        if extra:
            resp.headers.extend(extra)
        self._queue(resp.serialize(), self._response_dest(req, source))

    def _response_dest(self, req: SipMessage, source: Address) -> Address:
        # RFC 3581 / §18.2.2: reliable transports answer on the connection; UDP answers to the source port
        # when rport was asked for, and to the source address in any case (we do not trust sent-by: bcast).
        if source.transport != "UDP":
            return source
        via = req.vias[0]
        if "rport" in via.params:
            return source
        return Address("UDP", source.host, via.port or 5060) if via.host == source.host else source

    def _add_received(self, req: SipMessage, source: Address) -> None:
        via = req.vias[0]
        changed = False
        if via.host != source.host:
            via.params["received"] = source.host
            changed = True
        if "rport" in via.params:
            via.params["rport"] = str(source.port)
            via.params.setdefault("received", source.host)
            changed = True
        if changed:
            req.set_top_via(via)

    # ==================================================================================================
    # requests

    def _admit(self, source: Address, now: float) -> bool:
        if not self.guard.allow(source.host, now):
            self.stats["rate_limited"] += 1
            if now - self._limited_at.get(source.host, -1e9) > 10.0:
                self._limited_at[source.host] = now
                self._emit(ev.RateLimited(source=source.host))
            return False
        if self.guard.is_blocked("source", source.host, now):
            self.stats["blocked"] += 1
            return False
        return True

    def _on_request(self, req: SipMessage, source: Address, now: float) -> None:
        method = req.method or ""
        self._add_received(req, source)
        stx = self.tx.find_server(req)
        if stx is not None:
            self.tx.receive_retransmission(stx, req, now)
            return
        if method == "ACK":
            self._on_ack(req, now)
            return
        if method == "CANCEL":
            self._on_cancel(req, source, now)
            return
        stx = self.tx.new_server(req, self._response_dest(req, source), now)
        status, extra = self._inspect(req)
        if status:
            self.tx.reply(stx, status, now, self._new_id("t"), extra)
            return
        to_tag = req.to.tag
        if to_tag:
            self._in_dialog(req, stx, source, now)
            return
        if method == "REGISTER":
            self._on_register(req, stx, source, now)
        elif method == "OPTIONS":
            self.tx.reply(stx, 200, now, self._new_id("t"), self._capabilities())
        elif method == "INVITE":
            self._on_invite(req, stx, source, now)
        elif method in DIALOG_METHODS:
            self.tx.reply(stx, 481, now, self._new_id("t"))
        else:
            self.tx.reply(stx, 405, now, self._new_id("t"), [("allow", ALLOW_HEADER)])

    def _capabilities(self) -> list[tuple[str, str]]:
        return [("allow", ALLOW_HEADER), ("accept", "application/sdp"),
                ("supported", ", ".join(sorted(SUPPORTED))), ("user-agent", self.config.user_agent)]

    def _inspect(self, req: SipMessage) -> tuple[int, list[tuple[str, str]] | None]:
        """§8.2.1-§8.2.3 and §16.3: what an element must check before acting on a request."""
        method = req.method or ""
        if method not in ALLOWED:
            # §8.2.1: 405 for methods we know but do not take here, 501 for methods we do not know at all
            known = ("SUBSCRIBE", "MESSAGE", "PUBLISH")
            return (405 if method in known else 501), [("allow", ALLOW_HEADER)]
        uri = req.request_uri
        if not uri.is_sip and uri.scheme != "tel":
            return 416, None
        if method == "REGISTER":
            to = req.to.parsed_uri()
            if not to.is_sip:
                return 400, None  # an address-of-record must be a SIP URI (§10.3 step 3; RFC 4475 unksm2)
        mf = req.get("max-forwards")
        if mf is not None and int(mf) == 0 and method != "OPTIONS":
            return 483, None
        required = [t.strip() for t in req.get_all("require") if t.strip() and t.strip().lower() not in SUPPORTED]
        if required and method not in ("CANCEL", "ACK"):
            return 420, [("unsupported", ", ".join(required))]
        if req.body and method not in ("CANCEL", "ACK", "BYE"):
            ctype = req.content_type
            ok = {"application/sdp", "multipart/mixed", "multipart/alternative", "message/sipfrag",
                  *INFO_DTMF_TYPES}
            if ctype not in ok or (ctype.startswith("multipart/") and b"application/sdp" not in req.body):
                return 415, [("accept", "application/sdp")]
            if req.get("content-encoding"):
                return 415, [("accept-encoding", "identity")]
        if method in ("INVITE", "OPTIONS") and req.has("accept"):
            accepted = {a.split(";")[0].strip().lower() for a in req.get_all("accept")}
            if accepted and not accepted & {"application/sdp", "application/*", "*/*"}:
                return 406, [("accept", "application/sdp")]
        return 0, None

    # -- authentication --------------------------------------------------------------------------------
    def _authenticate(self, req: SipMessage, stx: Transaction, source: Address, now: float,
                      proxy: bool) -> str | None:
        """Digest-check a request; answers the challenge or the refusal itself and returns None then."""
        hdr = "proxy-authorization" if proxy else "authorization"
        values = req.get_all(hdr)
        result = self.digest.check(req.method or "", values, source.host, now) if values else None
        if result is not None and result.status == 0 and result.extension is not None:
            if self.guard.is_blocked("extension", result.extension, now):
                self._auth_failed(req, stx, source, result.extension, now)
                return None
            self.guard.success("source", source.host)
            self.guard.success("extension", result.extension)
            return result.extension
        if result is not None and result.status == 403:
            user = _auth_username(values)
            self._auth_failed(req, stx, source, user, now)
            return None
        stale = result is not None and result.stale
        challenge_hdr = "proxy-authenticate" if proxy else "www-authenticate"
        extra = [(challenge_hdr, c) for c in self.digest.challenges(now, stale)]
        self.tx.reply(stx, 407 if proxy else 401, now, self._new_id("t"), extra)
        return None

    def _auth_failed(self, req: SipMessage, stx: Transaction, source: Address, user: str, now: float) -> None:
        # Same answer whatever went wrong: an unknown user, a wrong password, a blocked extension.
        self.tx.reply(stx, 403, now, self._new_id("t"))
        self._emit(ev.AuthFailed(source=source.host, username=user, method=req.method or ""))
        for kind, key in (("source", source.host), ("extension", user)):
            if not key:
                continue
            n = self.guard.failure(kind, key, now)
            if n is not None:
                secs = self.guard.policy.block_seconds
                log.warning("SIP: %s %s blocked for %.0f s after %d failed authentications", kind, key, secs, n)
                self._emit(ev.AuthBlocked(kind=kind, key=key, seconds=secs, failures=n))

    # -- registrar -------------------------------------------------------------------------------------
    def _on_register(self, req: SipMessage, stx: Transaction, source: Address, now: float) -> None:
        ext = self._authenticate(req, stx, source, now, proxy=False)
        if ext is None:
            return
        aor = req.to.parsed_uri().user_unescaped or ""
        if aor != ext:
            self._auth_failed(req, stx, source, ext, now)
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
            current, changes = self.registrar.update(
                ext, contacts, star, expires, req.call_id, req.cseq[0], source, req.get("user-agent") or "", now)
        except RegisterRejected as e:
            extra = [("min-expires", str(e.min_expires))] if e.min_expires else None
            self.tx.reply(stx, e.status, now, self._new_id("t"), extra)
            return
        src = f"{source.host}:{source.port}"
        for contact, exp in changes:
            self._emit(ev.RegistrationChanged(extension=ext, contact=contact, expires=exp, source=src))
        extra = [("contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))}") for b in current]
        self.tx.reply(stx, 200, now, self._new_id("t"), extra)

    # -- INVITE ----------------------------------------------------------------------------------------
    def _on_invite(self, req: SipMessage, stx: Transaction, source: Address, now: float) -> None:
        trunk = next((t for t in self.config.trunks if t.accepts(source.host)), None)
        extension: str | None = None
        if trunk is None:
            extension = self._authenticate(req, stx, source, now, proxy=True)
            if extension is None:
                return
        se = req.get("session-expires")
        se_val = 0
        if se is not None:
            try:
                se_val = int(se.split(";")[0])
            except ValueError:
                se_val = 0
            if 0 < se_val < self.config.min_se:
                self.tx.reply(stx, 422, now, self._new_id("t"), [("min-se", str(self.config.min_se))])
                return
        offer = b""
        if req.body:
            offer = _sdp_part(req)
            if offer:
                try:
                    parse_sdp(offer)
                except NotAcceptable:
                    self.tx.reply(stx, 488, now, self._new_id("t"))
                    return
        leg = Leg(self._new_id("leg"), True, LegState.IN_NEW, req.call_id, self._new_id("t"), stx.dest, req,
                  server_tx=stx, extension=extension, trunk=trunk.name if trunk else None)
        leg.remote_sdp = offer
        leg.sdp_session = self._ids
        leg.peer_supports = req.option_tags("supported") | req.option_tags("require")
        leg.peer_100rel = "100rel" in leg.peer_supports
        leg.peer_allows = {m.strip().upper() for m in req.get_all("allow")}
        if se_val:
            leg.session_expires = se_val
            params = se.split(";", 1)[1] if se is not None and ";" in se else ""
            leg.we_refresh = "refresher=uas" in params.replace(" ", "")
        elif "timer" in leg.peer_supports and self.config.session_expires:
            # the caller can refresh but did not ask for a timer: we ask for one (RFC 4028 §9), with the
            # caller as refresher, so a call whose phone died is torn down instead of running for ever
            leg.session_expires = max(self.config.session_expires, self.config.min_se)
            leg.we_refresh = False
        self.legs[leg.leg_id] = leg
        self._legs_by_invite[(req.call_id, leg.local_tag)] = leg
        self.tx.reply(stx, 100, now)
        self._set_timer(("ring", leg.leg_id), now + self.config.ring_timeout)
        frm = req.from_
        caller = frm.parsed_uri().user_unescaped or "" if frm.uri.startswith("sip") else frm.uri
        if trunk is not None:
            caller = apply_rules(trunk.inbound_caller_id, caller)
        ruri = req.request_uri
        callee = ruri.user_unescaped or "" if ruri.is_sip else ruri.opaque or ""
        replaces_leg = None
        rep = req.get("replaces")
        if rep:
            replaces_leg = self._find_replaced(rep)
            if replaces_leg is None:
                self._end(leg, "failed", 481, now)
                self.tx.reply(stx, 481, now, leg.local_tag)
                return
        self._emit(ev.IncomingCall(
            leg_id=leg.leg_id, caller=caller, caller_name=frm.display, callee=callee, sdp_offer=offer,
            source=f"{source.host}:{source.port}", transport=source.transport, extension=extension,
            trunk=leg.trunk, call_id=req.call_id, replaces=replaces_leg))

    def _find_replaced(self, value: str) -> str | None:
        call_id, _, ptext = value.partition(";")
        params = dict(p.strip().partition("=")[::2] for p in ptext.split(";") if p.strip())
        to_tag, from_tag = params.get("to-tag", ""), params.get("from-tag", "")
        leg = self.dialogs.get((call_id.strip(), to_tag, from_tag))
        if leg is None or leg.state is LegState.ENDED:
            return None
        return leg.leg_id

    def _on_cancel(self, req: SipMessage, source: Address, now: float) -> None:
        stx = self.tx.servers.get(server_key(req, "INVITE"))
        ctx = self.tx.new_server(req, self._response_dest(req, source), now)
        if stx is None:
            self.tx.reply(ctx, 481, now, self._new_id("t"))
            return
        self.tx.reply(ctx, 200, now, req.to.tag or self._new_id("t"))
        leg = next((lg for lg in self.legs.values() if lg.server_tx is stx), None)
        if leg is not None and leg.state in (LegState.IN_NEW, LegState.IN_EARLY):
            self.tx.reply(stx, 487, now, leg.local_tag)
            self._end(leg, "cancelled", 487, now, "cancelled")

    def _on_ack(self, req: SipMessage, now: float) -> None:
        leg = self.dialogs.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
        if leg is None or leg.acked:
            return
        leg.acked = True
        self._clear_timer(("2xx", leg.leg_id))
        if req.body and not leg.remote_sdp:
            leg.remote_sdp = _sdp_part(req)
            self._emit(ev.LegMediaChanged(leg_id=leg.leg_id, sdp=leg.remote_sdp,
                                          direction=_direction(leg.remote_sdp)))

    # -- in-dialog requests ----------------------------------------------------------------------------
    def _in_dialog(self, req: SipMessage, stx: Transaction, source: Address, now: float) -> None:
        method = req.method or ""
        leg = self.dialogs.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
        if leg is None and method == "PRACK":
            leg = self._legs_by_invite.get((req.call_id, req.to.tag or ""))
        if leg is None or leg.state is LegState.ENDED:
            self.tx.reply(stx, 481, now)
            return
        d = leg.dialog
        cseq = req.cseq[0]
        if d is not None:
            if d.remote_cseq is not None and cseq < d.remote_cseq and method != "ACK":
                self.tx.reply(stx, 500, now, None, [("retry-after", "1")])
                return
            d.remote_cseq = cseq
        if method == "BYE":
            self.tx.reply(stx, 200, now)
            if leg.server_tx is not None and leg.state in (LegState.IN_NEW, LegState.IN_EARLY):
                # BYE on an early dialog (§15): the INVITE is then answered 487
                self.tx.reply(leg.server_tx, 487, now, leg.local_tag)
                self._end(leg, "cancelled", 487, now, "cancelled")
            else:
                self._end(leg, "hangup_remote", 0, now, "bye")
        elif method in ("INVITE", "UPDATE"):
            self._on_reinvite(leg, req, stx, now)
        elif method == "INFO":
            self._on_info(leg, req, stx, now)
        elif method == "REFER":
            self._on_refer(leg, req, stx, now)
        elif method == "NOTIFY":
            self.tx.reply(stx, 200, now)
            status = _sipfrag_status(req.body)
            if status:
                self._emit(ev.TransferProgress(leg_id=leg.leg_id, status=status))
        elif method == "PRACK":
            self.tx.reply(stx, 200, now)
            leg.pending_rel = b""
            self._clear_timer(("rel", leg.leg_id))
        elif method == "OPTIONS":
            self.tx.reply(stx, 200, now, None, self._capabilities())
        else:
            self.tx.reply(stx, 405, now, None, [("allow", ALLOW_HEADER)])

    def _on_reinvite(self, leg: Leg, req: SipMessage, stx: Transaction, now: float) -> None:
        if leg.state is not LegState.CONNECTED and req.method == "INVITE":
            self.tx.reply(stx, 491, now)
            return
        if req.method == "INVITE" and (leg.reinvite_tx is not None or (not leg.acked and leg.inbound)):
            self.tx.reply(stx, 491, now)  # glare (§14.2)
            return
        d = leg.dialog
        contact = req.get("contact")
        if d is not None and contact:
            d.remote_target = parse_name_addr(split_commas(contact)[0]).uri  # target refresh (§12.2.2)
        self._refresh_session(leg, req, now)
        # Media is anchored in the appliance, so a remote session change is answered here from our own
        # last description; call control hears about it (hold/unhold) and re-steers the other leg if needed.
        body = b""
        offer = _sdp_part(req) if req.body else b""
        if offer:
            try:
                sd = parse_sdp(offer)
                mine = parse_sdp(leg.local_sdp) if leg.local_sdp else None
            except NotAcceptable:
                self.tx.reply(stx, 488, now)
                return
            if mine is not None and mine.audio is not None:
                leg.sdp_version += 1
                try:
                    ans = answer(sd, mine.address, mine.audio.port, mine.session_id, self.config.media,
                                 version=max(leg.sdp_version, mine.version + 1))
                except NotAcceptable:
                    self.tx.reply(stx, 488, now)
                    return
                body = render(ans)
                leg.local_sdp = body
            leg.remote_sdp = offer
            self._emit(ev.LegMediaChanged(leg_id=leg.leg_id, sdp=offer, direction=sd.direction))
        elif leg.local_sdp and req.method == "INVITE":
            body = leg.local_sdp  # offerless re-INVITE: we offer in the 200, peer answers in the ACK
        extra = [("contact", self._contact(leg.dest.transport)), ("supported", "100rel, timer")]
        if leg.session_expires:
            extra.append(("session-expires", f"{leg.session_expires};refresher={'uas' if leg.we_refresh else 'uac'}"))
            extra.append(("require", "timer"))
        if body:
            extra.append(("content-type", "application/sdp"))
        resp = self.tx.reply(stx, 200, now, None, extra, body)
        if req.method == "INVITE":
            leg.acked = False
            self._start_2xx(leg, resp, now)

    def _on_info(self, leg: Leg, req: SipMessage, stx: Transaction, now: float) -> None:
        ctype = req.content_type
        if ctype not in INFO_DTMF_TYPES:
            self.tx.reply(stx, 415 if req.body else 200, now, None, [("accept", ", ".join(INFO_DTMF_TYPES))])
            return
        digit, duration = _parse_dtmf(req.body, ctype)
        if digit is None:
            self.tx.reply(stx, 400, now)
            return
        self.tx.reply(stx, 200, now)
        if step(leg.state, "dtmf") is not None:
            self._emit(ev.DtmfReceived(leg_id=leg.leg_id, digit=digit, duration_ms=duration))

    def _on_refer(self, leg: Leg, req: SipMessage, stx: Transaction, now: float) -> None:
        targets = req.get_all("refer-to")
        if len(targets) != 1 or leg.state is not LegState.CONNECTED:
            self.tx.reply(stx, 400 if len(targets) != 1 else 603, now)
            return
        na = parse_name_addr(targets[0])
        uri_text, _, hdrs = na.uri.partition("?")
        replaces = None
        for h in hdrs.split("&"):
            name, _, val = h.partition("=")
            if name.lower() == "replaces":
                replaces = unescape(val)
        replaces_leg = self._find_replaced(replaces) if replaces else None
        self.tx.reply(stx, 202, now)
        leg.refer_cseq = req.cseq[0]
        leg.refer_subscribed = (req.get("refer-sub") or "true").lower() != "false"
        if leg.refer_subscribed:
            self._notify_sipfrag(leg, 100, now)
        try:
            target_user = parse_uri(uri_text).user_unescaped
        except SipParseError:
            target_user = None
        self._emit(ev.TransferRequested(leg_id=leg.leg_id, target=uri_text, target_user=target_user,
                                        replaces_leg=replaces_leg, replaces=replaces))

    def _notify_sipfrag(self, leg: Leg, status: int, now: float) -> None:
        final = status >= 200
        state = "terminated;reason=noresource" if final else "active;expires=60"
        body = f"SIP/2.0 {status} {reason_for(status)}\r\n".encode()
        self._dialog_request(leg, "NOTIFY", now, [
            ("event", f"refer;id={leg.refer_cseq}" if leg.refer_cseq else "refer"),
            ("subscription-state", state), ("content-type", "message/sipfrag;version=2.0")], body)

    # ==================================================================================================
    # responses

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
                self._send_ack(leg, resp.cseq[0], now)
                return
        self.stats["dropped_responses"] += 1

    def on_response(self, tx: Transaction, response: SipMessage, now: float) -> None:
        owner = tx.owner
        if isinstance(owner, Leg):
            if tx.request.method == "INVITE":
                self._leg_invite_response(owner, tx, response, now)
            elif tx.request.method == "BYE":
                pass
            elif tx.request.method == "REFER" and response.status >= 300:
                self._emit(ev.TransferProgress(leg_id=owner.leg_id, status=response.status))
            elif tx.request.method == "UPDATE" and 200 <= response.status < 300:
                self._session_refreshed(owner, response, now)
            elif response.status == 481 and owner.state is LegState.CONNECTED:
                self._terminate_dialog(owner, "failed", 481, now)
        elif isinstance(owner, TrunkRegistration):
            self._trunk_reg_response(owner, tx, response, now)
        elif isinstance(owner, Probe):
            self._probe_done(owner, True, now)

    def on_timeout(self, tx: Transaction, now: float) -> None:
        owner = tx.owner
        if tx.server:
            if tx.request.method == "INVITE":
                leg = next((lg for lg in self.legs.values() if lg.server_tx is tx), None)
                if leg is not None and leg.state is not LegState.ENDED:
                    self._end(leg, "timeout", 408, now, "timeout")
            return
        # §8.1.3.1: a transport failure is reported like a 503, a timer expiry like a 408
        cause, status = ("transport_error", 503) if tx.transport_failed else ("timeout", 408)
        if isinstance(owner, Leg):
            if tx.request.method == "INVITE" and tx is owner.client_tx:
                if owner.state in (LegState.OUT_CALLING, LegState.OUT_EARLY):
                    self._end(owner, cause, status, now, "timeout")
            elif tx.request.method in ("INVITE", "UPDATE", "BYE") and owner.state is LegState.CONNECTED:
                # the far end no longer answers in-dialog requests: the call is dead (§12.2.1.2)
                self._terminate_dialog(owner, cause, status, now)
        elif isinstance(owner, TrunkRegistration) and tx.request.cseq[0] == owner.cseq:  # not an overtaken one
            self._trunk_reg_failed(owner, status, now)
        elif isinstance(owner, Probe):
            self._probe_done(owner, False, now)

    # ==================================================================================================
    # timers

    def _on_timer(self, key: tuple[str, str], now: float) -> None:
        kind, name = key
        if kind == "2xx":
            self._retransmit_2xx(name, now)
        elif kind == "rel":
            self._retransmit_rel(name, now)
        elif kind == "session":
            self._session_timer(name, now)
        elif kind == "ring":
            leg = self.legs.get(name)
            if leg is not None and leg.state in (LegState.IN_NEW, LegState.IN_EARLY):
                self.reject(name, 480, now)
            elif leg is not None and leg.state in (LegState.OUT_CALLING, LegState.OUT_EARLY):
                self._cancel_out(leg, now)
                self._end(leg, "no_answer", 408, now, "timeout")
        elif kind == "trunk":
            reg = self.trunk_regs.get(name)
            if reg is not None:
                self._trunk_register(reg, now)
        elif kind == "housekeeping":
            for aor, contact in self.registrar.expire(now):
                self._emit(ev.RegistrationChanged(extension=aor, contact=contact, expires=0, source=""))
            for lid in [lid for lid, lg in self.legs.items() if lg.state is LegState.ENDED]:
                self._forget(self.legs[lid])
            self._set_timer(("housekeeping", ""), now + 5.0)
        elif kind == "qualify":
            self._qualify(now)
            self._set_timer(("qualify", ""), now + self.config.qualify_interval)
        elif kind == "forget":
            leg = self.legs.get(name)
            if leg is not None:
                self._forget(leg)

    # ==================================================================================================
    # building requests

    def _contact(self, transport: str, user: str = "appliance") -> str:
        host, port = self.local.get(transport) or self.local.get("UDP") or ("127.0.0.1", 5060)
        tp = "" if transport == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{user}@{host}:{port}{tp}>"

    def _via(self, transport: str) -> str:
        host, port = self.local.get(transport) or self.local.get("UDP") or ("127.0.0.1", 5060)
        return f"SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{self._new_id('b')};rport"

    def _dialog_request(self, leg: Leg, method: str, now: float, extra: list[tuple[str, str]] | None = None,
                        body: bytes = b"") -> Transaction | None:
        d = leg.dialog
        if d is None:
            return None
        d.local_cseq += 1
        headers: list[tuple[str, str]] = [("via", self._via(d.dest.transport)), ("max-forwards", "70")]
        headers += [("route", r) for r in d.route_set]
        headers += [
            ("from", f"{d.local_uri};tag={d.local_tag}"), ("to", f"{d.remote_uri};tag={d.remote_tag}"),
            ("call-id", d.call_id), ("cseq", f"{d.local_cseq} {method}"),
        ]
        if method in ("INVITE", "UPDATE", "REFER", "NOTIFY"):
            headers.append(("contact", self._contact(d.dest.transport)))
        if extra:
            headers += extra
        req = SipMessage(method, d.remote_target, headers=headers, body=body)
        return self.tx.send_request(req, d.dest, now, leg)

    def _send_ack(self, leg: Leg, cseq: int, now: float, body: bytes = b"") -> None:
        d = leg.dialog
        if d is None:
            return
        headers: list[tuple[str, str]] = [("via", self._via(d.dest.transport)), ("max-forwards", "70")]
        headers += [("route", r) for r in d.route_set]
        headers += [("from", f"{d.local_uri};tag={d.local_tag}"), ("to", f"{d.remote_uri};tag={d.remote_tag}"),
                    ("call-id", d.call_id), ("cseq", f"{cseq} ACK")]
        if body:
            headers.append(("content-type", "application/sdp"))
        self._queue(SipMessage("ACK", d.remote_target, headers=headers, body=body).serialize(), d.dest)

    # ==================================================================================================
    # B2BUA commands (see the package docstring)

    def _leg(self, leg_id: str) -> Leg:
        g = self._groups.get(leg_id)
        if g is not None:
            leg_id = g.winner or g.branches[0]
        leg = self.legs.get(leg_id)
        if leg is None:
            raise UnknownLeg(leg_id)
        return leg

    def _move(self, leg: Leg, inp: str) -> None:
        nxt = step(leg.state, inp)
        if nxt is not None:
            leg.state = nxt
            leg.history.append(inp)

    def _uas_dialog(self, leg: Leg) -> Dialog:
        if leg.dialog is None:
            req = leg.invite
            contact = req.get("contact")
            target = parse_name_addr(split_commas(contact)[0]).uri if contact else req.from_.uri
            d = Dialog(req.call_id, leg.local_tag, req.from_.tag or "", _strip_tag(req.get("to") or ""),
                       _strip_tag(req.get("from") or ""), target, req.get_all("record-route"), 0, req.cseq[0],
                       leg.dest, req.uri.startswith("sips:"))
            leg.dialog = d
            self.dialogs[d.key] = leg
        return leg.dialog

    def progress(self, leg_id: str, sdp: bytes | None, now: float, status: int = 183) -> None:
        """Send 180 (sdp None) or 183 with early media. Reliable (100rel) when the caller supports it."""
        leg = self._leg(leg_id)
        self._move_checked(leg, "progress")
        stx = leg.server_tx
        if stx is None:
            raise LocalProtocolError("leg has no INVITE to answer")
        self._uas_dialog(leg)
        extra: list[tuple[str, str]] = [("contact", self._contact(leg.dest.transport))]
        body = b""
        if sdp:
            body = self._local_answer(leg, sdp)
            extra.append(("content-type", "application/sdp"))
        reliable = bool(sdp) and leg.peer_100rel
        if reliable:
            leg.rseq += 1
            extra += [("require", "100rel"), ("rseq", str(leg.rseq))]
        resp = self.tx.reply(stx, status, now, leg.local_tag, extra, body)
        if reliable:
            leg.pending_rel = resp.serialize()
            leg.rel_interval = T1
            leg.rel_started = now
            self._set_timer(("rel", leg.leg_id), now + T1)

    def _move_checked(self, leg: Leg, inp: str) -> None:
        nxt = step(leg.state, inp)
        if nxt is None:
            raise LocalProtocolError(f"cannot {inp} leg {leg.leg_id} in state {leg.state.value}")
        leg.state = nxt
        leg.history.append(inp)

    def _local_answer(self, leg: Leg, sdp: bytes) -> bytes:
        leg.local_sdp = sdp
        return sdp

    def answer(self, leg_id: str, sdp: bytes, now: float) -> None:
        """Answer an inbound leg with our SDP (an answer to its offer, or our offer if it had none)."""
        leg = self._leg(leg_id)
        stx = leg.server_tx
        if stx is None:
            raise LocalProtocolError("only inbound legs are answered")
        self._move_checked(leg, "answer")
        self._uas_dialog(leg)
        self._clear_timer(("ring", leg_id))
        leg.pending_rel = b""
        self._clear_timer(("rel", leg_id))
        body = self._local_answer(leg, sdp)
        extra: list[tuple[str, str]] = [("contact", self._contact(leg.dest.transport)),
                                        ("allow", ALLOW_HEADER), ("supported", "100rel, timer, replaces")]
        if leg.session_expires:
            extra += [("session-expires",
                       f"{leg.session_expires};refresher={'uas' if leg.we_refresh else 'uac'}"),
                      ("require", "timer")]
            self._arm_session(leg, now)
        if body:
            extra.append(("content-type", "application/sdp"))
        resp = self.tx.reply(stx, 200, now, leg.local_tag, extra, body)
        self._start_2xx(leg, resp, now)
        self._emit(ev.LegAnswered(leg_id=leg_id, sdp=sdp))

    def _start_2xx(self, leg: Leg, resp: SipMessage, now: float) -> None:
        if leg.dest.reliable:
            leg.acked = True  # reliable transports: no 2xx retransmission (§13.3.1.4); ACK still expected
            return
        leg.final_wire = resp.serialize()
        leg.final_interval = T1
        leg.final_started = now
        leg.acked = False
        self._set_timer(("2xx", leg.leg_id), now + T1)

    def _retransmit_2xx(self, leg_id: str, now: float) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or leg.acked or leg.state is LegState.ENDED:
            return
        if now - leg.final_started >= 64 * T1:
            # no ACK: the dialog is confirmed and then terminated with BYE (§13.3.1.4)
            self._terminate_dialog(leg, "timeout", 408, now)
            return
        self._queue(leg.final_wire, leg.dest)
        leg.final_interval = min(leg.final_interval * 2, T2)
        self._set_timer(("2xx", leg_id), now + leg.final_interval)

    def _retransmit_rel(self, leg_id: str, now: float) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or not leg.pending_rel or leg.state is not LegState.IN_EARLY:
            return
        if now - leg.rel_started >= 64 * T1:
            self.reject(leg_id, 504, now)  # RFC 3262 §3: no PRACK, reject the INVITE
            return
        self._queue(leg.pending_rel, leg.dest)
        leg.rel_interval *= 2
        self._set_timer(("rel", leg_id), now + leg.rel_interval)

    def reject(self, leg_id: str, status: int, now: float) -> None:
        """Refuse an inbound leg (486 busy, 480 unavailable, 404, 603 ...)."""
        if not 300 <= status <= 699:
            raise LocalProtocolError("a rejection needs a 3xx-6xx status")
        leg = self._leg(leg_id)
        stx = leg.server_tx
        if stx is None:
            raise LocalProtocolError("only inbound legs are rejected; hang up outbound ones")
        self._move_checked(leg, "reject")
        self.tx.reply(stx, status, now, leg.local_tag)
        self._end(leg, "rejected", status, now)

    def hangup(self, leg_id: str, now: float) -> None:
        """End a leg in whatever state: BYE when connected, CANCEL when calling, 480 when not answered yet.
        Hanging up an ended leg does nothing."""
        g = self._groups.get(leg_id)
        if g is not None:
            if g.winner is not None:
                leg_id = g.winner
            else:
                if not g.done:
                    g.done = True
                    for b in g.branches:
                        self.hangup(b, now)
                    self._events.append(ev.LegEnded(leg_id=g.main, cause="hangup_local", status=0))
                return
        leg = self.legs.get(leg_id)
        if leg is None or leg.state is LegState.ENDED:
            return
        if leg.state in (LegState.IN_NEW, LegState.IN_EARLY):
            self.reject(leg_id, 480, now)
            return
        if leg.state in (LegState.OUT_CALLING, LegState.OUT_EARLY):
            self._cancel_out(leg, now)
            self._end(leg, "hangup_local", 0, now, "hangup")
            return
        self._terminate_dialog(leg, "hangup_local", 0, now)

    def _terminate_dialog(self, leg: Leg, cause: str, status: int, now: float) -> None:
        if leg.state is LegState.ENDED:
            return
        self._dialog_request(leg, "BYE", now)
        self._end(leg, cause, status, now, "hangup")

    def _cancel_out(self, leg: Leg, now: float) -> None:
        ctx = leg.client_tx
        if ctx is None:
            return
        if not leg.got_provisional:
            leg.cancel_wanted = True  # §9.1: CANCEL only after a provisional response
            return
        inv = ctx.request
        headers = [("via", inv.get_all("via")[0])]
        headers += [(k, v) for k, v in inv.headers if k in ("from", "to", "call-id", "route", "max-forwards")]
        headers.append(("cseq", f"{inv.cseq[0]} CANCEL"))
        self.tx.send_request(SipMessage("CANCEL", inv.uri, headers=headers), ctx.dest, now, None)

    def _end(self, leg: Leg, cause: str, status: int, now: float, inp: str = "hangup") -> None:
        if leg.state is LegState.ENDED:
            return
        leg.state = LegState.ENDED
        leg.history.append(inp)
        for k in ("2xx", "rel", "session", "ring"):
            self._clear_timer((k, leg.leg_id))
        self._emit(ev.LegEnded(leg_id=leg.leg_id, cause=cause, status=status))
        # keep the leg a while so late retransmissions (BYE, 200 OK) still find their dialog
        self._set_timer(("forget", leg.leg_id), now + 32.0)

    def _forget(self, leg: Leg) -> None:
        self.legs.pop(leg.leg_id, None)
        g = self._fork_of.pop(leg.leg_id, None)
        if g is not None and not any(b in self._fork_of for b in g.branches):
            self._groups.pop(g.main, None)
        self._clear_timer(("forget", leg.leg_id))
        if leg.dialog is not None and self.dialogs.get(leg.dialog.key) is leg:
            del self.dialogs[leg.dialog.key]
        self._legs_by_invite.pop((leg.call_id, leg.local_tag), None)
        # A leg and its transactions point at each other (tx.owner): break the cycle so the call's
        # messages are freed at once rather than when the cyclic collector's rare full pass gets to them
        # (on a busy box that is thousands of calls' worth of memory).
        for tx in (leg.server_tx, leg.client_tx, leg.reinvite_tx):
            if tx is not None and tx.owner is leg:
                tx.owner = None
        leg.server_tx = leg.client_tx = leg.reinvite_tx = None

    # -- outbound legs ---------------------------------------------------------------------------------
    def create_leg(
        self, now: float, *, callee: str, sdp_offer: bytes, caller: str, caller_name: str | None = None,
        extension: str | None = None, trunk: str | None = None, uri: str | None = None,
        replaces: str | None = None, extra_headers: list[tuple[str, str]] | None = None,
    ) -> str:
        """Start an outbound leg. Exactly one of: `extension` (call its best registered contact), `trunk`
        (call `callee` through the named trunk), `uri` (call a SIP URI directly, sent to its host).
        Returns the leg id; the outcome comes as LegProgress / LegAnswered / LegEnded events.
        Raises LocalProtocolError when the extension is not registered or the trunk is unknown."""
        leg_id = self._new_id("leg")
        from_user = caller
        domain = self.config.realm
        if extension is not None:
            bindings = [b for b in self.registrar.lookup(extension, now) if b.reachable] or \
                self.registrar.lookup(extension, now)
            if not bindings:
                raise LocalProtocolError(f"extension {extension} is not registered")
            if len(bindings) > 1:
                return self._fork(now, bindings, callee=callee, sdp_offer=sdp_offer, caller=caller,
                                  caller_name=caller_name, extension=extension, replaces=replaces,
                                  extra_headers=extra_headers)
            b = bindings[0]
            target_uri, dest = b.contact, b.source
        elif trunk is not None:
            t = next((x for x in self.config.trunks if x.name == trunk), None)
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
        disp = f'"{caller_name}" ' if caller_name else ""
        to_hdr = f"<sip:{callee}@{domain}>" if uri is None else f"<{uri}>"
        self._send_invite(now, leg_id, target_uri, dest, from_hdr=f"{disp}<sip:{from_user}@{domain}>",
                          to_hdr=to_hdr, sdp_offer=sdp_offer, replaces=replaces, extra_headers=extra_headers,
                          extension=extension, trunk=trunk)
        return leg_id

    def _fork(self, now: float, bindings: list[Binding], *, callee: str, sdp_offer: bytes, caller: str,
              caller_name: str | None, extension: str, replaces: str | None,
              extra_headers: list[tuple[str, str]] | None) -> str:
        main = self._new_id("leg")
        g = ForkGroup(main, [])
        self._groups[main] = g
        for b in bindings:
            branch = self._new_id("leg")
            g.branches.append(branch)
            self._fork_of[branch] = g
            self._start_branch(now, branch, b, callee=callee, sdp_offer=sdp_offer, caller=caller,
                               caller_name=caller_name, extension=extension, replaces=replaces,
                               extra_headers=extra_headers)
        return main

    def _start_branch(self, now: float, leg_id: str, b: Binding, *, callee: str, sdp_offer: bytes, caller: str,
                      caller_name: str | None, extension: str, replaces: str | None,
                      extra_headers: list[tuple[str, str]] | None) -> None:
        disp = f'"{caller_name}" ' if caller_name else ""
        domain = self.config.realm
        self._send_invite(now, leg_id, b.contact, b.source, from_hdr=f"{disp}<sip:{caller}@{domain}>",
                          to_hdr=f"<sip:{callee}@{domain}>", sdp_offer=sdp_offer, replaces=replaces,
                          extra_headers=extra_headers, extension=extension)

    def _send_invite(self, now: float, leg_id: str, target_uri: str, dest: Address, *, from_hdr: str, to_hdr: str,
                     sdp_offer: bytes, replaces: str | None, extra_headers: list[tuple[str, str]] | None,
                     extension: str | None = None, trunk: str | None = None) -> None:
        """The initial INVITE of an outbound leg or of one fork branch: one place builds its headers, so a
        single call and a forked one cannot drift apart. The leg is tracked from here on."""
        call_id = self._new_id("c") + "@" + (self.local.get("UDP", ("appliance", 0))[0])
        tag = self._new_id("t")
        headers: list[tuple[str, str]] = [
            ("via", self._via(dest.transport)), ("max-forwards", "70"), ("from", f"{from_hdr};tag={tag}"),
            ("to", to_hdr), ("call-id", call_id), ("cseq", "1 INVITE"), ("contact", self._contact(dest.transport)),
            ("allow", ALLOW_HEADER), ("supported", "100rel, timer, replaces"), ("user-agent", self.config.user_agent),
        ]
        if self.config.session_expires:
            headers.append(("session-expires", str(self.config.session_expires)))
        if replaces:
            headers.append(("replaces", replaces))
        if extra_headers:
            headers += extra_headers
        if sdp_offer:
            headers.append(("content-type", "application/sdp"))
        req = SipMessage("INVITE", target_uri, headers=headers, body=sdp_offer)
        leg = Leg(leg_id, False, LegState.OUT_CALLING, call_id, tag, dest, req, extension=extension, trunk=trunk)
        leg.local_sdp = sdp_offer
        self.legs[leg_id] = leg
        self._legs_by_invite[(call_id, tag)] = leg
        leg.client_tx = self.tx.send_request(req, dest, now, leg)
        self._set_timer(("ring", leg_id), now + self.config.ring_timeout)

    def _run_pending_hangups(self, now: float) -> None:
        while self._pending_hangups:
            self.hangup(self._pending_hangups.pop(), now)

    def _leg_invite_response(self, leg: Leg, tx: Transaction, resp: SipMessage, now: float) -> None:
        status = resp.status
        if tx is not leg.client_tx:
            # a response to a re-INVITE (hold/unhold, session refresh)
            if 200 <= status < 300:
                self._send_ack(leg, tx.request.cseq[0], now)
                if resp.body:
                    leg.remote_sdp = _sdp_part(resp)
                self._session_refreshed(leg, resp, now)
            if status >= 200:
                leg.reinvite_tx = None
            if status == 481 or status == 408:
                self._terminate_dialog(leg, "failed", status, now)
            return
        if status < 200:
            if status == 100:
                return
            leg.got_provisional = True
            if leg.cancel_wanted:
                self._cancel_out(leg, now)
                return
            self._early_dialog(leg, resp)
            if leg.state is LegState.ENDED:
                return
            if "100rel" in resp.option_tags("require") and resp.get("rseq"):
                self._send_prack(leg, resp, now)
            self._move(leg, "provisional")
            sdp = _sdp_part(resp) if resp.body else b""
            if sdp:
                leg.remote_sdp = sdp
            self._emit(ev.LegProgress(leg_id=leg.leg_id, status=status, sdp=sdp))
            return
        if 200 <= status < 300:
            first = leg.dialog is None or leg.dialog.remote_tag != (resp.to.tag or "")
            self._early_dialog(leg, resp, confirm=True)
            self._send_ack(leg, tx.request.cseq[0], now)
            if leg.state is LegState.ENDED or (not first and leg.state is LegState.CONNECTED):
                if leg.state is LegState.ENDED:
                    self._dialog_request(leg, "BYE", now)  # answered after we gave up: end it properly
                return
            self._clear_timer(("ring", leg.leg_id))
            self._move(leg, "accepted")
            if resp.body:
                leg.remote_sdp = _sdp_part(resp)
            leg.peer_allows = {m.strip().upper() for m in resp.get_all("allow")}
            self._session_from_response(leg, resp, now)
            self._emit(ev.LegAnswered(leg_id=leg.leg_id, sdp=leg.remote_sdp))
            return
        if status in (401, 407) and leg.auth_attempts == 0 and leg.trunk is not None:
            t = next((x for x in self.config.trunks if x.name == leg.trunk), None)
            challenge = DigestClient.pick(resp.get_all("proxy-authenticate" if status == 407 else "www-authenticate"))
            if t is not None and t.username and challenge:
                client = DigestClient(t.auth_username or t.username, t.password or "", self._prefix.encode())
                auth = client.authorization(challenge, "INVITE", tx.request.uri)
                if auth:
                    leg.auth_attempts += 1
                    self._resend_invite(leg, tx.request, "proxy-authorization" if status == 407 else "authorization",
                                        auth, now)
                    return
        if leg.state is not LegState.ENDED:
            cause = "cancelled" if status == 487 else "rejected"
            self._end(leg, cause, status, now, "failed")

    def _resend_invite(self, leg: Leg, old: SipMessage, hdr: str, auth: str, now: float) -> None:
        leg.local_cseq_used += 1
        headers: list[tuple[str, str]] = []
        for k, v in old.headers:
            if k == "via":
                headers.append((k, self._via(leg.dest.transport)))
            elif k == "cseq":
                headers.append((k, f"{leg.local_cseq_used} INVITE"))
            elif k not in ("authorization", "proxy-authorization"):
                headers.append((k, v))
        headers.append((hdr, auth))
        req = SipMessage("INVITE", old.uri, headers=headers, body=old.body)
        leg.invite = req
        leg.client_tx = self.tx.send_request(req, leg.dest, now, leg)

    def _early_dialog(self, leg: Leg, resp: SipMessage, confirm: bool = False) -> None:
        tag = resp.to.tag
        if not tag:
            return
        d = leg.dialog
        if d is not None and d.remote_tag == tag:
            if confirm:
                d.route_set = list(reversed(resp.get_all("record-route")))
                c = resp.get("contact")
                if c:
                    d.remote_target = parse_name_addr(split_commas(c)[0]).uri
            return
        if d is not None:
            if d.remote_tag and not confirm:
                return  # a second early dialog (forking downstream): we follow the first only
            self.dialogs.pop(d.key, None)
        inv = leg.invite
        c = resp.get("contact")
        target = parse_name_addr(split_commas(c)[0]).uri if c else inv.uri
        d = Dialog(leg.call_id, leg.local_tag, tag, _strip_tag(inv.get("from") or ""), _strip_tag(resp.get("to") or ""),
                   target, list(reversed(resp.get_all("record-route"))), inv.cseq[0], None, leg.dest)
        leg.dialog = d
        self.dialogs[d.key] = leg

    def _send_prack(self, leg: Leg, resp: SipMessage, now: float) -> None:
        rseq = resp.get("rseq") or "0"
        self._dialog_request(leg, "PRACK", now, [("rack", f"{rseq} {resp.cseq[0]} INVITE")])

    # -- hold, DTMF, transfer --------------------------------------------------------------------------
    def hold(self, leg_id: str, now: float) -> None:
        self._reinvite_direction(leg_id, True, now)

    def unhold(self, leg_id: str, now: float) -> None:
        self._reinvite_direction(leg_id, False, now)

    def _reinvite_direction(self, leg_id: str, hold: bool, now: float) -> None:
        leg = self._leg(leg_id)
        self._move_checked(leg, "hold" if hold else "unhold")
        if not leg.local_sdp:
            raise LocalProtocolError("no session to put on hold")
        if leg.reinvite_tx is not None:
            raise LocalProtocolError("a re-INVITE is already in progress (try again when it ends)")
        sd = parse_sdp(leg.local_sdp)
        remote_dir = _direction(leg.remote_sdp) if leg.remote_sdp else "sendrecv"
        if hold:
            direction = "inactive" if remote_dir in ("sendonly", "inactive") else "sendonly"
        else:
            direction = "recvonly" if remote_dir == "sendonly" else "sendrecv"
        leg.sdp_version = max(leg.sdp_version, sd.version) + 1
        body = render(with_direction(sd, direction, leg.sdp_version))
        leg.local_sdp = body
        leg.held = hold
        leg.reinvite_tx = self._dialog_request(leg, "INVITE", now, [("content-type", "application/sdp")], body)

    def send_dtmf(self, leg_id: str, digit: str, now: float, duration_ms: int = 160) -> None:
        """DTMF via SIP INFO (application/dtmf-relay), for peers that do not take RFC 4733 events."""
        if len(digit) != 1 or digit.upper() not in "0123456789*#ABCD":
            raise LocalProtocolError(f"not a DTMF digit: {digit!r}")
        leg = self._leg(leg_id)
        self._move_checked(leg, "dtmf")
        body = f"Signal={digit.upper()}\r\nDuration={duration_ms}\r\n".encode()
        self._dialog_request(leg, "INFO", now, [("content-type", "application/dtmf-relay")], body)

    def refer(self, leg_id: str, target_uri: str, now: float, replaces_leg: str | None = None) -> None:
        """Ask the far end of `leg_id` to call `target_uri` (blind), or with `replaces_leg` to replace our
        other leg's dialog with it (attended transfer, RFC 3891). Progress arrives as TransferProgress."""
        leg = self._leg(leg_id)
        self._move_checked(leg, "refer")
        target = target_uri
        if replaces_leg is not None:
            other = self._leg(replaces_leg)
            od = other.dialog
            if od is None:
                raise LocalProtocolError("the leg to replace has no dialog")
            # The transfer target receives this Replaces and must find its own dialog with us: seen from
            # the target, "to-tag" is its local tag (our remote tag) and "from-tag" ours (RFC 3891 §3).
            rep = f"{od.call_id};to-tag={od.remote_tag};from-tag={od.local_tag}"
            target = f"{target_uri}?Replaces={urlquote(rep, safe='')}"
        self._dialog_request(leg, "REFER", now, [("refer-to", f"<{target}>"),
                                                 ("referred-by", self._contact(leg.dest.transport))])

    def transfer_progress(self, leg_id: str, status: int, now: float) -> None:
        """Report how a transfer the far end asked for is going (NOTIFY with message/sipfrag)."""
        leg = self._leg(leg_id)
        if leg.state is LegState.ENDED or not leg.refer_subscribed:
            return
        self._move_checked(leg, "transfer_progress")
        self._notify_sipfrag(leg, status, now)
        if status >= 200:
            leg.refer_subscribed = False

    def leg_info(self, leg_id: str) -> Leg:
        """The state of a leg (for a forked leg: the answering branch, or the first one while ringing)."""
        return self._leg(leg_id)

    # -- session timers (RFC 4028) --------------------------------------------------------------------
    def _arm_session(self, leg: Leg, now: float) -> None:
        se = leg.session_expires
        if not se:
            return
        # refresher: at half the interval; the other side: BYE when no refresh came (§10: SE - min(32, SE/3))
        at = now + se / 2 if leg.we_refresh else now + se - min(32, se / 3)
        self._set_timer(("session", leg.leg_id), at)

    def _refresh_session(self, leg: Leg, req: SipMessage, now: float) -> None:
        se = req.get("session-expires")
        if se:
            with contextlib.suppress(ValueError):
                leg.session_expires = max(int(se.split(";")[0]), self.config.min_se)
            leg.we_refresh = "refresher=uas" in se.replace(" ", "")
        self._arm_session(leg, now)

    def _session_from_response(self, leg: Leg, resp: SipMessage, now: float) -> None:
        se = resp.get("session-expires")
        if not se:
            return
        try:
            leg.session_expires = int(se.split(";")[0])
        except ValueError:
            return
        leg.we_refresh = "refresher=uac" in se.replace(" ", "")
        self._arm_session(leg, now)

    def _session_refreshed(self, leg: Leg, resp: SipMessage, now: float) -> None:
        if leg.session_expires:
            self._session_from_response(leg, resp, now) if resp.get("session-expires") else self._arm_session(leg, now)

    def _session_timer(self, leg_id: str, now: float) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or leg.state is not LegState.CONNECTED:
            return
        if not leg.we_refresh:
            self._terminate_dialog(leg, "session_expired", 0, now)
            return
        se = f"{leg.session_expires};refresher={'uas' if leg.inbound else 'uac'}"
        if "UPDATE" in leg.peer_allows or leg.reinvite_tx is not None:
            self._dialog_request(leg, "UPDATE", now, [("session-expires", se), ("supported", "timer")])
        else:
            body = leg.local_sdp
            leg.reinvite_tx = self._dialog_request(
                leg, "INVITE", now, [("session-expires", se), ("supported", "timer")]
                + ([("content-type", "application/sdp")] if body else []), body)
        self._set_timer(("session", leg_id), now + leg.session_expires / 2)

    # ==================================================================================================
    # trunks

    def set_trunks(self, trunks: tuple[TrunkConfig, ...], now: float) -> None:
        """Apply a new trunk list while running: new registering trunks register at once; a trunk that is gone,
        no longer registers, or whose registration settings changed is un-registered (Expires: 0, RFC 3261
        §10.2.2) so the carrier stops sending its calls to a binding nobody keeps; a changed one then
        registers afresh. Unchanged trunks keep their registration and refresh timer."""
        self.config = dc_replace(self.config, trunks=trunks)
        wanted = {t.name: t for t in trunks if t.register and t.username}
        for name, reg in list(self.trunk_regs.items()):
            new = wanted.get(name)
            if new is not None and _same_registration(reg, new):
                reg.trunk = _replace_trunk(new, reg.trunk.register_expires)  # a 423 may have raised it
                continue
            self._drop_trunk_registration(name, reg, now)
        for name, t in wanted.items():
            if name not in self.trunk_regs:
                self._start_trunk_registration(t, now)

    def _start_trunk_registration(self, t: TrunkConfig, now: float) -> None:
        reg = TrunkRegistration(t, self._new_id("reg"), self._new_id("t"), configured_expires=t.register_expires)
        reg.auth = DigestClient(t.auth_username or t.username or "", t.password or "", self._prefix.encode())
        self.trunk_regs[t.name] = reg
        self._set_timer(("trunk", t.name), now)

    def unregister_trunks(self, now: float) -> None:
        """At shutdown: remove every trunk's binding (Expires: 0). The configured trunks stay, so a start()
        registers them again."""
        for name, reg in list(self.trunk_regs.items()):
            self._drop_trunk_registration(name, reg, now)

    def _drop_trunk_registration(self, name: str, reg: TrunkRegistration, now: float) -> None:
        del self.trunk_regs[name]
        self._clear_timer(("trunk", name))
        self._unregister_trunk(reg, now)

    def _unregister_trunk(self, reg: TrunkRegistration, now: float) -> None:
        reg.removing = True
        if reg.cseq == 0:
            return  # nothing was ever sent: there is no binding to remove
        self.unregistering.add(reg.call_id)
        self._trunk_register(reg, now)

    def _trunk_register(self, reg: TrunkRegistration, now: float, auth: str | None = None,
                        auth_hdr: str = "authorization") -> None:
        t = reg.trunk
        reg.cseq += 1
        dest = Address(t.transport, t.host, t.port)
        aor = f"sip:{t.username}@{t.from_domain or t.host}"
        headers: list[tuple[str, str]] = [
            ("via", self._via(t.transport)), ("max-forwards", "70"), ("from", f"<{aor}>;tag={reg.tag}"),
            ("to", f"<{aor}>"), ("call-id", reg.call_id), ("cseq", f"{reg.cseq} REGISTER"),
            ("contact", self._contact(t.transport, t.username or "appliance")),
            ("expires", "0" if reg.removing else str(t.register_expires)), ("user-agent", self.config.user_agent),
        ]
        if auth:
            headers.append((auth_hdr, auth))
        else:
            reg.tried_auth = False
        req = SipMessage("REGISTER", f"sip:{t.from_domain or t.host}", headers=headers)
        self.tx.send_request(req, dest, now, reg)

    def _trunk_reg_response(self, reg: TrunkRegistration, tx: Transaction, resp: SipMessage, now: float) -> None:
        if resp.status < 200:
            return
        if tx.request.cseq[0] != reg.cseq:
            return  # the answer to a REGISTER that an un-REGISTER has overtaken
        if resp.status in (401, 407) and not reg.tried_auth and reg.auth is not None:
            hdr = "proxy-authenticate" if resp.status == 407 else "www-authenticate"
            challenge = DigestClient.pick(resp.get_all(hdr))
            auth = reg.auth.authorization(challenge, "REGISTER", tx.request.uri) if challenge else None
            if auth:
                reg.tried_auth = True
                self._trunk_register(reg, now, auth, "proxy-authorization" if resp.status == 407 else "authorization")
                return
        if reg.removing:
            self._trunk_unregistered(reg, resp.status)
            return
        if 200 <= resp.status < 300:
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
                self._emit(ev.TrunkRegistrationChanged(trunk=reg.trunk.name, registered=True, status=resp.status))
            reg.registered = True
            # refresh well before expiry: half the interval, never later than 30 s before the end
            refresh = max(5.0, min(expires / 2, expires - 30))
            self._set_timer(("trunk", reg.trunk.name), now + refresh)
            return
        if resp.status == 423:
            mn = resp.get("min-expires")
            if mn and mn.isdigit():
                reg.trunk = _replace_trunk(reg.trunk, int(mn))
                self._set_timer(("trunk", reg.trunk.name), now)
                return
        self._trunk_reg_failed(reg, resp.status, now)

    def _trunk_unregistered(self, reg: TrunkRegistration, status: int) -> None:
        """The un-REGISTER is answered (or timed out): the registration is over; nothing is retried, since a
        binding the carrier kept expires by itself."""
        self.unregistering.discard(reg.call_id)
        if reg.registered:
            reg.registered = False
            self._emit(ev.TrunkRegistrationChanged(trunk=reg.trunk.name, registered=False, status=status))

    def _trunk_reg_failed(self, reg: TrunkRegistration, status: int, now: float) -> None:
        if reg.removing:
            self._trunk_unregistered(reg, status)
            return
        reg.backoff = min(max(reg.backoff * 2, 30.0), 600.0)  # 30 s, 60 s, ... at most 10 minutes
        was = reg.registered
        reg.registered = False
        self._emit(ev.TrunkRegistrationChanged(trunk=reg.trunk.name, registered=False, status=status,
                                               retry_in=reg.backoff))
        if was:
            log.warning("SIP trunk %s lost its registration (%d)", reg.trunk.name, status)
        self._set_timer(("trunk", reg.trunk.name), now + reg.backoff)

    # ==================================================================================================
    # qualify

    def _qualify(self, now: float) -> None:
        for aor, bindings in list(self.registrar.bindings.items()):
            for b in bindings:
                key = f"{aor}|{b.contact}"
                if key in self._probes or b.expires_at <= now:
                    continue
                probe = Probe(aor, b, now)
                self._probes[key] = probe
                headers: list[tuple[str, str]] = [
                    ("via", self._via(b.source.transport)), ("max-forwards", "70"),
                    ("from", f"<sip:appliance@{self.config.realm}>;tag={self._new_id('t')}"),
                    ("to", f"<{b.contact}>"), ("call-id", self._new_id("q")), ("cseq", "1 OPTIONS"),
                ]
                self.tx.send_request(SipMessage("OPTIONS", b.contact, headers=headers), b.source, now, probe)

    def _probe_done(self, probe: Probe, ok: bool, now: float) -> None:
        b = probe.binding
        self._probes.pop(f"{probe.aor}|{b.contact}", None)
        if ok:
            b.probe_failures = 0
        else:
            b.probe_failures += 1
        reachable = ok or b.probe_failures < 2  # one lost probe on UDP is not enough to call a phone dead
        if reachable != b.reachable:
            b.reachable = reachable
            self._emit(ev.ContactReachability(extension=probe.aor, contact=b.contact, reachable=reachable,
                                              rtt_ms=(now - probe.sent_at) * 1000 if ok else None))


# ========================================================================================================
# helpers


def _best_status(statuses: list[int]) -> int:
    """The response a forked leg reports when every branch failed (after §16.7 step 6): a 6xx wins, then
    busy, then the lowest other failure; 480 when nothing better is known."""
    real = [s for s in statuses if s >= 300]
    six = [s for s in real if s >= 600]
    if six:
        return min(six)
    if 486 in real:
        return 486
    return min(real) if real else 480


def _replace_trunk(t: TrunkConfig, expires: int) -> TrunkConfig:
    return dc_replace(t, register_expires=expires)


def _same_registration(reg: TrunkRegistration, new: TrunkConfig) -> bool:
    """Whether a trunk's edit leaves its registration as it is (caller-ID rules, IP networks ... do not
    touch it)."""
    keys = ("host", "port", "transport", "username", "password", "auth_username", "from_domain")
    return reg.configured_expires == new.register_expires and all(
        getattr(reg.trunk, k) == getattr(new, k) for k in keys)


def _strip_tag(value: str) -> str:
    na = parse_name_addr(value)
    na.params.pop("tag", None)
    return str(na)


def _auth_username(values: list[str]) -> str:
    for v in values:
        _, p = parse_auth_params(v)
        if "username" in p:
            return p["username"]
    return ""


def _sdp_part(msg: SipMessage) -> bytes:
    ctype = msg.content_type
    if ctype == "application/sdp":
        return msg.body
    if ctype.startswith("multipart/"):
        # RFC 5621: pick the application/sdp part of a multipart body
        m = (msg.get("content-type") or "")
        boundary = ""
        for p in m.split(";")[1:]:
            k, _, v = p.strip().partition("=")
            if k.lower() == "boundary":
                boundary = v.strip('"')
        if boundary:
            for part in msg.body.split(b"--" + boundary.encode()):
                head, sep, body = part.partition(b"\r\n\r\n")
                if sep and b"application/sdp" in head.lower():
                    return body.rstrip(b"\r\n") + b"\r\n"
    return b""


def _direction(sdp: bytes) -> str:
    try:
        return parse_sdp(sdp).direction
    except NotAcceptable:
        return "sendrecv"


def _sipfrag_status(body: bytes) -> int:
    line = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
    parts = line.split(" ")
    if len(parts) >= 2 and parts[0].startswith("SIP/") and parts[1].isdigit():
        return int(parts[1])
    return 0


def _parse_dtmf(body: bytes, ctype: str) -> tuple[str | None, int]:
    text = body.decode("utf-8", "replace")
    if ctype == "application/dtmf":
        d = text.strip()[:1]
        return (d.upper(), 160) if d and d.upper() in "0123456789*#ABCD" else (None, 0)
    digit: str | None = None
    duration = 160
    for line in text.splitlines():
        k, _, v = line.partition("=")
        k, v = k.strip().lower(), v.strip()
        if k == "signal" and v:
            d = {"10": "*", "11": "#"}.get(v, v)[:1].upper()
            if d in "0123456789*#ABCD":
                digit = d
        elif k == "duration" and v.isdigit():
            duration = int(v)
    return digit, duration

