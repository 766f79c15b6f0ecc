"""SIP transactions: the four state machines of RFC 3261 §17, written as tables.

Client INVITE (§17.1.1, with the Accepted state of RFC 6026 so 2xx retransmissions reach the TU for ACK),
client non-INVITE (§17.1.2), server INVITE (§17.2.1, RFC 6026 Accepted: retransmitted INVITEs absorbed
while the TU retransmits its 2xx), server non-INVITE (§17.2.2). Timers A-K and L/M with T1/T2/T4 of §17 and
Table 4; retransmission timers (A, E, G) only on unreliable transports, and the wait timers D, I, J, K become
zero on reliable ones. Matching per §17.1.3 / §17.2.3, including RFC 2543 requests without the magic cookie.

Each machine is a table `(state, input) → (next state, actions)`; `TransactionLayer` executes the actions.
Inputs it does not list are absorbed (that is what the RFC asks of retransmissions in late states).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from appliance.sip.message import SipMessage, make_response, reason_for

T1 = 0.5
T2 = 4.0
T4 = 5.0
MAGIC = "z9hG4bK"


class Address(NamedTuple):
    transport: str  # "UDP", "TCP" or "TLS"
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


class S(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


# Actions
SEND = "send"  # send (or resend) the current message (request for clients, last response for servers)
PASS = "pass"  # hand the response to the TU
ACK = "ack"  # client INVITE: send ACK for a non-2xx final response
TIMEOUT = "timeout"  # tell the TU the transaction timed out
START = "start:"  # start:<timer>
STOP = "stop:"  # stop:<timer>
DOUBLE = "double:"  # double:<timer> — restart with twice the interval (capped at T2 for E and G)
Row = tuple[S, tuple[str, ...]]

CLIENT_INVITE: dict[tuple[S, str], Row] = {
    (S.CALLING, "1xx"): (S.PROCEEDING, (STOP + "A", STOP + "B", PASS)),
    (S.CALLING, "2xx"): (S.ACCEPTED, (STOP + "A", STOP + "B", PASS, START + "M")),
    (S.CALLING, "3-6xx"): (S.COMPLETED, (STOP + "A", STOP + "B", ACK, PASS, START + "D")),
    (S.CALLING, "timer_A"): (S.CALLING, (SEND, DOUBLE + "A")),
    (S.CALLING, "timer_B"): (S.TERMINATED, (TIMEOUT,)),
    (S.PROCEEDING, "1xx"): (S.PROCEEDING, (PASS,)),
    (S.PROCEEDING, "2xx"): (S.ACCEPTED, (PASS, START + "M")),
    (S.PROCEEDING, "3-6xx"): (S.COMPLETED, (ACK, PASS, START + "D")),
    (S.COMPLETED, "3-6xx"): (S.COMPLETED, (ACK,)),
    (S.COMPLETED, "timer_D"): (S.TERMINATED, ()),
    (S.ACCEPTED, "2xx"): (S.ACCEPTED, (PASS,)),
    (S.ACCEPTED, "timer_M"): (S.TERMINATED, ()),
}

CLIENT_NON_INVITE: dict[tuple[S, str], Row] = {
    (S.TRYING, "1xx"): (S.PROCEEDING, (PASS,)),
    (S.TRYING, "2xx"): (S.COMPLETED, (STOP + "E", STOP + "F", PASS, START + "K")),
    (S.TRYING, "3-6xx"): (S.COMPLETED, (STOP + "E", STOP + "F", PASS, START + "K")),
    (S.TRYING, "timer_E"): (S.TRYING, (SEND, DOUBLE + "E")),
    (S.TRYING, "timer_F"): (S.TERMINATED, (TIMEOUT,)),
    (S.PROCEEDING, "1xx"): (S.PROCEEDING, (PASS,)),
    (S.PROCEEDING, "2xx"): (S.COMPLETED, (STOP + "E", STOP + "F", PASS, START + "K")),
    (S.PROCEEDING, "3-6xx"): (S.COMPLETED, (STOP + "E", STOP + "F", PASS, START + "K")),
    (S.PROCEEDING, "timer_E"): (S.PROCEEDING, (SEND, START + "E_T2")),
    (S.PROCEEDING, "timer_F"): (S.TERMINATED, (TIMEOUT,)),
    (S.COMPLETED, "timer_K"): (S.TERMINATED, ()),
}

SERVER_INVITE: dict[tuple[S, str], Row] = {
    (S.PROCEEDING, "request"): (S.PROCEEDING, (SEND,)),
    (S.PROCEEDING, "send_1xx"): (S.PROCEEDING, (SEND,)),
    (S.PROCEEDING, "send_2xx"): (S.ACCEPTED, (SEND, START + "L")),
    (S.PROCEEDING, "send_3-6xx"): (S.COMPLETED, (SEND, START + "G", START + "H")),
    (S.COMPLETED, "request"): (S.COMPLETED, (SEND,)),
    (S.COMPLETED, "timer_G"): (S.COMPLETED, (SEND, DOUBLE + "G")),
    (S.COMPLETED, "ack"): (S.CONFIRMED, (STOP + "G", STOP + "H", START + "I")),
    (S.COMPLETED, "timer_H"): (S.TERMINATED, (TIMEOUT,)),
    (S.CONFIRMED, "timer_I"): (S.TERMINATED, ()),
    (S.ACCEPTED, "send_2xx"): (S.ACCEPTED, (SEND,)),
    (S.ACCEPTED, "timer_L"): (S.TERMINATED, ()),
}

SERVER_NON_INVITE: dict[tuple[S, str], Row] = {
    (S.TRYING, "send_1xx"): (S.PROCEEDING, (SEND,)),
    (S.TRYING, "send_2xx"): (S.COMPLETED, (SEND, START + "J")),
    (S.TRYING, "send_3-6xx"): (S.COMPLETED, (SEND, START + "J")),
    (S.PROCEEDING, "request"): (S.PROCEEDING, (SEND,)),
    (S.PROCEEDING, "send_1xx"): (S.PROCEEDING, (SEND,)),
    (S.PROCEEDING, "send_2xx"): (S.COMPLETED, (SEND, START + "J")),
    (S.PROCEEDING, "send_3-6xx"): (S.COMPLETED, (SEND, START + "J")),
    (S.COMPLETED, "request"): (S.COMPLETED, (SEND,)),
    (S.COMPLETED, "timer_J"): (S.TERMINATED, ()),
}


def status_class(status: int) -> str:
    if status < 200:
        return "1xx"
    if status < 300:
        return "2xx"
    return "3-6xx"


def timer_interval(name: str, reliable: bool) -> float:
    if name in ("A", "E", "G"):
        return T1
    if name == "E_T2":
        return T2
    if name in ("B", "F", "H", "L", "M"):
        return 64 * T1
    if name == "J":
        return 0.0 if reliable else 64 * T1
    if name == "D":
        return 0.0 if reliable else 32.0
    if name in ("I", "K"):
        return 0.0 if reliable else T4
    raise ValueError(name)


@dataclass(eq=False)
class Transaction:
    key: tuple[str, ...]
    table: dict[tuple[S, str], Row]
    state: S
    request: SipMessage
    dest: Address
    server: bool
    wire: bytes = b""  # the bytes SEND transmits (request for clients, last response for servers)
    last_response: SipMessage | None = None
    intervals: dict[str, float] = field(default_factory=dict)
    deadlines: dict[str, float] = field(default_factory=dict)
    owner: object = None  # the TU object the responses go to (a leg, a registration, a qualify probe)
    ack_wire: bytes = b""
    transport_failed: bool = False  # ended because the transport could not deliver (not a timer)
    pending: bool = False  # a server transaction without its final response yet (counted per source)

    @property
    def is_invite(self) -> bool:
        return self.request.method == "INVITE"


class TransactionUser:
    """What the transaction layer calls back into (the core)."""

    def on_response(self, tx: Transaction, response: SipMessage, now: float) -> None:
        raise NotImplementedError

    def on_timeout(self, tx: Transaction, now: float) -> None:
        raise NotImplementedError


def server_key(req: SipMessage, method: str | None = None) -> tuple[str, ...]:
    via = req.vias[0]
    m = method or req.method or ""
    if m == "ACK":
        m = "INVITE"
    branch = via.branch or ""
    if branch.startswith(MAGIC) and len(branch) > len(MAGIC):
        return (branch, via.host, str(via.port or ""), m)
    # RFC 2543 matching (§17.2.3 second part): Request-URI, To tag, From tag, Call-ID, CSeq number, top Via
    # an ACK carries the To tag of our final response, the INVITE did not: leave it out for INVITE/ACK
    to_tag = "" if m == "INVITE" else (req.to.tag or "")
    return ("2543", req.uri, to_tag, req.from_.tag or "", req.call_id, str(req.cseq[0]), str(via), m)


class TransactionLayer:
    def __init__(self, tu: TransactionUser, send: Callable[[bytes, Address], None]) -> None:
        self.tu = tu
        self._send = send
        self.clients: dict[tuple[str, ...], Transaction] = {}
        self.servers: dict[tuple[str, ...], Transaction] = {}
        # server transactions per source host still waiting for their final response: what one source makes
        # us hold (the answered ones only absorb retransmissions, and the rate limit bounds those)
        self.pending: dict[str, int] = {}
        self._heap: list[tuple[float, int, Transaction, str]] = []
        self._seq = 0

    # -- timers
    def _start(self, tx: Transaction, name: str, now: float, interval: float | None = None) -> None:
        base = "E" if name == "E_T2" else name
        iv = interval if interval is not None else timer_interval(name, tx.dest.reliable)
        if base in ("A", "E", "G") and tx.dest.reliable:
            return
        tx.intervals[base] = iv
        dl = now + iv
        tx.deadlines[base] = dl
        self._seq += 1
        heapq.heappush(self._heap, (dl, self._seq, tx, base))

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            dl, _, tx, name = heap[0]
            if tx.deadlines.get(name) == dl and tx.state is not S.TERMINATED:
                return dl
            heapq.heappop(heap)
        return None

    def handle_timeout(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            dl, _, tx, name = heapq.heappop(heap)
            if tx.deadlines.get(name) != dl or tx.state is S.TERMINATED:
                continue
            del tx.deadlines[name]
            self._fire(tx, "timer_" + name, now)

    # -- execution of table rows
    def _fire(self, tx: Transaction, inp: str, now: float, response: SipMessage | None = None) -> bool:
        row = tx.table.get((tx.state, inp))
        if row is None:
            return False  # absorbed
        tx.state, actions = row
        if tx.pending and tx.state is not S.PROCEEDING and tx.state is not S.TRYING:
            self._settled(tx)
        for a in actions:
            if a == SEND:
                self._send(tx.wire, tx.dest)
            elif a == PASS and response is not None:
                self.tu.on_response(tx, response, now)
            elif a == ACK and response is not None:
                if not tx.ack_wire:
                    tx.ack_wire = build_ack(tx.request, response).serialize()
                self._send(tx.ack_wire, tx.dest)
            elif a == TIMEOUT:
                self.tu.on_timeout(tx, now)
            elif a.startswith(START):
                self._start(tx, a[len(START):], now)
            elif a.startswith(STOP):
                tx.deadlines.pop(a[len(STOP):], None)
            elif a.startswith(DOUBLE):
                name = a[len(DOUBLE):]
                iv = tx.intervals.get(name, T1) * 2
                self._start(tx, name, now, min(iv, T2) if name in ("E", "G") else iv)
        if tx.state is S.TERMINATED:
            self._remove(tx)
        else:
            zero = [n for n, d in tx.deadlines.items() if d <= now]
            for n in zero:  # wait timers that are zero on reliable transports end the transaction now
                del tx.deadlines[n]
                self._fire(tx, "timer_" + n, now)
        return True

    def _settled(self, tx: Transaction) -> None:
        tx.pending = False
        host = tx.dest.host
        left = self.pending.get(host, 1) - 1
        if left > 0:
            self.pending[host] = left
        else:
            self.pending.pop(host, None)

    def _remove(self, tx: Transaction) -> None:
        if tx.pending:
            self._settled(tx)
        tx.deadlines.clear()
        table = self.servers if tx.server else self.clients
        if table.get(tx.key) is tx:
            del table[tx.key]

    # -- client side
    def send_request(self, req: SipMessage, dest: Address, now: float, owner: object = None) -> Transaction:
        method = req.method or ""
        via = req.vias[0]
        key = (via.branch or "", method)
        if method == "INVITE":
            tx = Transaction(key, CLIENT_INVITE, S.CALLING, req, dest, False, owner=owner)
        else:
            tx = Transaction(key, CLIENT_NON_INVITE, S.TRYING, req, dest, False, owner=owner)
        tx.wire = req.serialize()
        self.clients[key] = tx
        self._send(tx.wire, dest)
        if method == "INVITE":
            self._start(tx, "A", now)
            self._start(tx, "B", now)
        else:
            self._start(tx, "E", now)
            self._start(tx, "F", now)
        return tx

    def receive_response(self, resp: SipMessage, now: float) -> bool:
        """Feed a response; False when it matches no client transaction (a stray or a 2xx retransmission
        after the transaction ended: the core then looks for the dialog)."""
        try:
            branch = resp.vias[0].branch or ""
            method = resp.cseq[1]
        except Exception:
            return False
        tx = self.clients.get((branch, method))
        if tx is None:
            return False
        self._fire(tx, status_class(resp.status), now, resp)
        return True

    def transport_error(self, tx: Transaction, now: float) -> None:
        if tx.state is not S.TERMINATED:
            tx.transport_failed = True
            tx.state = S.TERMINATED
            self._remove(tx)
            self.tu.on_timeout(tx, now)

    # -- server side
    def find_server(self, req: SipMessage) -> Transaction | None:
        return self.servers.get(server_key(req))

    def receive_retransmission(self, tx: Transaction, req: SipMessage, now: float) -> None:
        self._fire(tx, "ack" if req.method == "ACK" else "request", now)

    def new_server(self, req: SipMessage, dest: Address, now: float) -> Transaction:
        key = server_key(req)
        if req.method == "INVITE":
            tx = Transaction(key, SERVER_INVITE, S.PROCEEDING, req, dest, True)
        else:
            tx = Transaction(key, SERVER_NON_INVITE, S.TRYING, req, dest, True)
        self.servers[key] = tx
        tx.pending = True
        self.pending[dest.host] = self.pending.get(dest.host, 0) + 1
        return tx

    def respond(self, tx: Transaction, resp: SipMessage, now: float) -> None:
        if tx.state is S.TERMINATED:
            return
        tx.last_response = resp
        tx.wire = resp.serialize()
        if not self._fire(tx, "send_" + status_class(resp.status), now):
            # a late response (e.g. 487 after the 200 went out) is not allowed by the machine: drop it
            return

    def reply(self, tx: Transaction, status: int, now: float, to_tag: str | None = None,
              headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> SipMessage:
        resp = make_response(tx.request, status, reason_for(status), to_tag)
        if headers:
            resp.headers.extend(headers)
        resp.body = body
        self.respond(tx, resp, now)
        return resp


def build_ack(req: SipMessage, resp: SipMessage) -> SipMessage:
    """ACK for a non-2xx final response (§17.1.1.3): same branch, To from the response, Route from request."""
    headers: list[tuple[str, str]] = [("via", req.get_all("via")[0])]
    for k, v in req.headers:
        if k in ("from", "call-id", "route", "max-forwards"):
            headers.append((k, v))
    headers.append(("to", resp.get("to") or ""))
    headers.append(("cseq", f"{req.cseq[0]} ACK"))
    return SipMessage("ACK", req.uri, headers=headers)
