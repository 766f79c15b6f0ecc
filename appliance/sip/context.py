"""What every part of the SIP core shares: its state and the few operations more than one part needs.

One `CoreContext` per `SipCore`, handed explicitly to each collaborator (UAS, UAC, in-dialog requests,
session timers, trunk registration, qualify). It holds the configuration, the transaction layer, the timers,
the leg and dialog tables, the fork groups, the counters and the output (packets and events). Its operations
are the ones the others have in common: fresh ids; our Via and Contact; requests inside a dialog (RFC 3261
§12.2.1.1) and the ACK of a 2xx (§13.2.2.4); moving a leg through the state table of `dialog`; ending a leg,
with BYE when it has a confirmed dialog (§15.1.1), and forgetting it later; finding the dialog a Replaces
header names (RFC 3891 §3).
"""

from __future__ import annotations

import secrets

from appliance.events import Event
from appliance.sip import events as ev
from appliance.sip.dialog import Dialog, Leg, LegState, step
from appliance.sip.errors import LocalProtocolError, UnknownLeg
from appliance.sip.forking import Forks
from appliance.sip.message import SipMessage
from appliance.sip.models import SipConfig
from appliance.sip.timers import Timers
from appliance.sip.transaction import Address, Transaction, TransactionLayer, TransactionUser

# a leg's timers, cleared when it ends
LEG_TIMERS = ("2xx", "rel", "session", "ring")
FORGET_AFTER = 32.0  # an ended leg is kept so late retransmissions (BYE, 200 OK) still find their dialog
DEFAULT_LOCAL = ("127.0.0.1", 5060)  # before the shell said where it listens


class CoreContext:
    def __init__(self, config: SipConfig, tu: TransactionUser) -> None:
        self.config = config
        self.tx = TransactionLayer(tu, self.queue)
        self.timers = Timers()
        self.local: dict[str, tuple[str, int]] = {}  # transport -> (host, port) we listen on
        self.legs: dict[str, Leg] = {}
        self.dialogs: dict[tuple[str, str, str], Leg] = {}
        self.legs_by_invite: dict[tuple[str, str], Leg] = {}  # (call-id, our tag) before a dialog exists
        self.inbound_by_source: dict[str, int] = {}  # inbound legs kept, per source host (the per-source bound)
        self.forks = Forks(self.legs)
        self.stats: dict[str, int] = {"received": 0, "bad_requests": 0, "dropped_responses": 0, "sent": 0,
                                      "rate_limited": 0, "blocked": 0, "protocol_violations": 0,
                                      "auth_failures": 0, "over_limit": 0}
        self.prefix = secrets.token_hex(4)
        self.ids = 0
        self._out: list[tuple[bytes, Address]] = []
        self._events: list[Event] = []

    # -- output
    def queue(self, data: bytes, dest: Address) -> None:
        self.stats["sent"] += 1
        self._out.append((data, dest))

    def emit(self, event: Event) -> None:
        leg_id = getattr(event, "leg_id", None)
        if leg_id is not None and self.forks.is_branch(leg_id):
            relabelled = self.forks.branch_event(leg_id, event)
            if relabelled is not None:
                self._events.append(relabelled)
            return
        self._events.append(event)

    def drain(self) -> tuple[list[tuple[bytes, Address]], list[Event]]:
        out, evs = self._out, self._events
        self._out, self._events = [], []
        return out, evs

    def new_id(self, kind: str) -> str:
        self.ids += 1
        return f"{kind}{self.prefix}{self.ids:x}"

    # -- what we put in the requests we send
    def contact(self, transport: str, user: str = "appliance") -> str:
        host, port = self.local.get(transport) or self.local.get("UDP") or DEFAULT_LOCAL
        tp = "" if transport == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{user}@{host}:{port}{tp}>"

    def via(self, transport: str) -> str:
        host, port = self.local.get(transport) or self.local.get("UDP") or DEFAULT_LOCAL
        return f"SIP/2.0/{transport} {host}:{port};branch=z9hG4bK{self.new_id('b')};rport"

    def _dialog_headers(self, d: Dialog, cseq: int, method: str) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = [("via", self.via(d.dest.transport)), ("max-forwards", "70")]
        headers += [("route", r) for r in d.route_set]
        headers += [("from", f"{d.local_uri};tag={d.local_tag}"), ("to", f"{d.remote_uri};tag={d.remote_tag}"),
                    ("call-id", d.call_id), ("cseq", f"{cseq} {method}")]
        return headers

    def dialog_request(self, leg: Leg, method: str, now: float, extra: list[tuple[str, str]] | None = None,
                       body: bytes = b"") -> Transaction | None:
        d = leg.dialog
        if d is None:
            return None
        d.local_cseq += 1
        headers = self._dialog_headers(d, d.local_cseq, method)
        if method in ("INVITE", "UPDATE", "REFER", "NOTIFY"):
            headers.append(("contact", self.contact(d.dest.transport)))
        if extra:
            headers += extra
        req = SipMessage(method, d.remote_target, headers=headers, body=body)
        return self.tx.send_request(req, d.dest, now, leg)

    def send_ack(self, leg: Leg, cseq: int, body: bytes = b"") -> None:
        """The ACK of a 2xx: a request of its own, sent without a transaction."""
        d = leg.dialog
        if d is None:
            return
        headers = self._dialog_headers(d, cseq, "ACK")
        if body:
            headers.append(("content-type", "application/sdp"))
        self.queue(SipMessage("ACK", d.remote_target, headers=headers, body=body).serialize(), d.dest)

    # -- legs
    def leg(self, leg_id: str) -> Leg:
        """The leg a command names (for a forked leg: the answering branch, or the first while ringing)."""
        leg = self.legs.get(self.forks.target(leg_id))
        if leg is None:
            raise UnknownLeg(leg_id)
        return leg

    def leg_of_server_invite(self, tx: Transaction) -> Leg | None:
        return next((lg for lg in self.legs.values() if lg.server_tx is tx), None)

    def move(self, leg: Leg, inp: str) -> None:
        """A remote input: ignored when the state table does not list it."""
        nxt = step(leg.state, inp)
        if nxt is not None:
            leg.state = nxt
            leg.history.append(inp)

    def move_checked(self, leg: Leg, inp: str) -> None:
        """A local command: refused with LocalProtocolError when the state table does not list it."""
        nxt = step(leg.state, inp)
        if nxt is None:
            raise LocalProtocolError(f"cannot {inp} leg {leg.leg_id} in state {leg.state.value}")
        leg.state = nxt
        leg.history.append(inp)

    def end(self, leg: Leg, cause: str, status: int, now: float, inp: str = "hangup") -> None:
        if leg.state is LegState.ENDED:
            return
        leg.state = LegState.ENDED
        leg.history.append(inp)
        for k in LEG_TIMERS:
            self.timers.clear((k, leg.leg_id))
        self.emit(ev.LegEnded(leg_id=leg.leg_id, cause=cause, status=status))
        self.timers.set(("forget", leg.leg_id), now + FORGET_AFTER)

    def terminate_dialog(self, leg: Leg, cause: str, status: int, now: float) -> None:
        if leg.state is LegState.ENDED:
            return
        self.dialog_request(leg, "BYE", now)
        self.end(leg, cause, status, now, "hangup")

    def add_inbound(self, leg: Leg) -> None:
        self.legs[leg.leg_id] = leg
        host = leg.dest.host
        self.inbound_by_source[host] = self.inbound_by_source.get(host, 0) + 1

    def forget(self, leg: Leg) -> None:
        if self.legs.pop(leg.leg_id, None) is not None and leg.inbound:
            host = leg.dest.host
            left = self.inbound_by_source.get(host, 1) - 1
            if left > 0:
                self.inbound_by_source[host] = left
            else:
                self.inbound_by_source.pop(host, None)
        self.forks.forget(leg.leg_id)
        self.timers.clear(("forget", leg.leg_id))
        if leg.dialog is not None and self.dialogs.get(leg.dialog.key) is leg:
            del self.dialogs[leg.dialog.key]
        self.legs_by_invite.pop((leg.call_id, leg.local_tag), None)
        # A leg and its transactions point at each other (tx.owner): break the cycle so the call's
        # messages are freed at once rather than when the cyclic collector's rare full pass gets to them
        # (on a busy box that is thousands of calls' worth of memory).
        for tx in (leg.server_tx, leg.client_tx, leg.reinvite_tx, leg.talk_tx):
            if tx is not None and tx.owner is leg:
                tx.owner = None
        leg.server_tx = leg.client_tx = leg.reinvite_tx = leg.talk_tx = None

    def find_replaced(self, value: str) -> str | None:
        """The leg whose dialog a Replaces value names, if it is still alive."""
        call_id, _, ptext = value.partition(";")
        params = dict(p.strip().partition("=")[::2] for p in ptext.split(";") if p.strip())
        to_tag, from_tag = params.get("to-tag", ""), params.get("from-tag", "")
        leg = self.dialogs.get((call_id.strip(), to_tag, from_tag))
        if leg is None or leg.state is LegState.ENDED:
            return None
        return leg.leg_id
