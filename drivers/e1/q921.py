"""LAPD, the ISDN D-channel data link (ITU-T Q.921 / ETSI EN 300 125), sans-IO, for one PRI data link
(SAPI 0, TEI 0, point to point: no TEI management) in either role.

Implements the multiple-frame procedures of Q.921 §5.5-5.8 and the state machine of its Annex B (states 4
TEI assigned, 5 awaiting establishment, 6 awaiting release, 7 multiple frame established, 8 timer
recovery): SABME/UA establishment with collision (§5.5.1.3), DISC/DM release, I frames with k = 7
outstanding, RR/RNR/REJ, the enquiry and retransmission of timer recovery on T200 (N200 tries), idle
supervision on T203, and N(R) checks with re-establishment. Frames here have no FCS: the caller adds and
checks it at the HAL (`drivers.hal.crc`). The C/R bit follows Table 1 (§3.3.4): the network sends
commands with C/R = 1, the user with C/R = 0.

Every input method returns what to do: `Transmit(frame)` and indications (`Established`, `Released`,
`DataIndication`, `MdlError`). Time is passed in (`now`, seconds); `next_deadline()` / `handle_timeout(now)`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["user", "network"]
MOD = 128

# U-frame control fields without the P/F bit (0x10), Q.921 Table 5
SABME, DM, UI, DISC, UA, FRMR, XID = 0x6F, 0x0F, 0x03, 0x43, 0x63, 0x87, 0xAF
RR, RNR, REJ = 0x01, 0x05, 0x09
PF = 0x10


class LapdError(ValueError):
    """A received frame that is not a LAPD frame (the peer's error: it is discarded and counted)."""


class State(enum.IntEnum):
    TEI_ASSIGNED = 4
    AWAITING_ESTABLISHMENT = 5
    AWAITING_RELEASE = 6
    ESTABLISHED = 7
    TIMER_RECOVERY = 8


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded LAPD frame. `kind`: "I", "RR", "RNR", "REJ", "SABME", "DM", "UI", "DISC", "UA", "FRMR", "XID"."""

    sapi: int
    tei: int
    cr: int
    kind: str
    pf: bool
    ns: int = 0
    nr: int = 0
    info: bytes = b""


_U_KINDS = {SABME: "SABME", DM: "DM", UI: "UI", DISC: "DISC", UA: "UA", FRMR: "FRMR", XID: "XID"}
_U_CODES = {v: k for k, v in _U_KINDS.items()}
_S_KINDS = {RR: "RR", RNR: "RNR", REJ: "REJ"}
_S_CODES = {v: k for k, v in _S_KINDS.items()}


def decode(data: bytes) -> Frame:
    """Q.921 §2-3: address (2 octets), control (1 or 2), information. Raises `LapdError`."""
    if len(data) < 3:
        raise LapdError("a LAPD frame has at least address and control")
    a0, a1, c0 = data[0], data[1], data[2]
    if a0 & 1 or not a1 & 1:
        raise LapdError("address extension bits are wrong (Q.921 §3.3.1)")
    sapi, cr, tei = a0 >> 2, (a0 >> 1) & 1, a1 >> 1
    if c0 & 1 == 0:  # I frame
        if len(data) < 4:
            raise LapdError("an I frame has a two-octet control field")
        return Frame(sapi, tei, cr, "I", bool(data[3] & 1), ns=c0 >> 1, nr=data[3] >> 1, info=bytes(data[4:]))
    if c0 & 3 == 1:  # S frame
        kind = _S_KINDS.get(c0)
        if kind is None or len(data) != 4:
            raise LapdError(f"unknown supervisory frame {c0:#04x} or wrong length")
        return Frame(sapi, tei, cr, kind, bool(data[3] & 1), nr=data[3] >> 1)
    kind = _U_KINDS.get(c0 & ~PF)
    if kind is None:
        raise LapdError(f"unknown unnumbered frame {c0:#04x}")
    if kind not in ("UI", "FRMR", "XID") and len(data) != 3:
        raise LapdError(f"{kind} carries no information field")
    return Frame(sapi, tei, cr, kind, bool(c0 & PF), info=bytes(data[3:]))


def encode(frame: Frame) -> bytes:
    address = bytes(((frame.sapi << 2) | (frame.cr << 1), (frame.tei << 1) | 1))
    if frame.kind == "I":
        return address + bytes(((frame.ns % MOD) << 1, ((frame.nr % MOD) << 1) | frame.pf)) + frame.info
    if frame.kind in _S_CODES:
        return address + bytes((_S_CODES[frame.kind], ((frame.nr % MOD) << 1) | frame.pf))
    return address + bytes((_U_CODES[frame.kind] | (PF if frame.pf else 0),)) + frame.info


# ---------------------------------------------------------------- what the link says


@dataclass(frozen=True, slots=True)
class Transmit:
    frame: bytes  # without FCS


@dataclass(frozen=True, slots=True)
class Established:
    """DL-ESTABLISH indication/confirm. `reset`: the link was re-established and unacknowledged data lost."""

    reset: bool = False


@dataclass(frozen=True, slots=True)
class Released:
    """DL-RELEASE indication: the link is down (the peer released it, or N200 tries failed)."""

    reason: str


@dataclass(frozen=True, slots=True)
class DataIndication:
    data: bytes


@dataclass(frozen=True, slots=True)
class MdlError:
    """MDL-ERROR indication, with the code letter of Q.921 Table II.1 (management counts them)."""

    code: str


Output = Transmit | Established | Released | DataIndication | MdlError


@dataclass
class Lapd:
    role: Role
    t200: float = 1.0
    t203: float = 10.0
    n200: int = 3
    k: int = 7
    sapi: int = 0
    tei: int = 0
    persistent: bool = True  # PRI keeps its link up: after a failure, establish again (every t200 * n200)
    state: State = State.TEI_ASSIGNED
    vs: int = 0
    va: int = 0
    vr: int = 0
    rc: int = 0
    peer_busy: bool = False
    reject_exception: bool = False
    counters: dict[str, int] = field(default_factory=lambda: {
        "frames_in": 0, "frames_out": 0, "i_in": 0, "i_out": 0, "retransmitted": 0, "rej_out": 0,
        "bad_frames": 0, "mdl_errors": 0, "established": 0, "released": 0})
    _tx: list[bytes] = field(default_factory=list)  # from V(A): sent and unacknowledged, then not yet sent
    _t200_at: float | None = None
    _t203_at: float | None = None
    _retry_at: float | None = None
    _out: list[Output] = field(default_factory=list)
    _ack_pending: bool = False
    _high: int = 0  # frames from V(A) on that were sent at least once (a resend is a retransmission)
    _wanted: bool = False  # layer 3 asked for the link

    # ---------------------------------------------------------------- layer 3 and management requests

    def establish(self, now: float) -> list[Output]:
        """DL-ESTABLISH request."""
        self._wanted = True
        if self.state in (State.TEI_ASSIGNED, State.AWAITING_RELEASE):
            self._establish(now)
        return self._flush()

    def release(self, now: float) -> list[Output]:
        """DL-RELEASE request: DISC, then down on UA or DM."""
        self._wanted = False
        self._retry_at = None
        if self.state in (State.ESTABLISHED, State.TIMER_RECOVERY, State.AWAITING_ESTABLISHMENT):
            self._tx.clear()
            self.rc = 0
            self._send_u("DISC", command=True, pf=True)
            self._t203_at = None
            self._t200_at = now + self.t200
            self.state = State.AWAITING_RELEASE
        return self._flush()

    def send(self, data: bytes, now: float) -> list[Output]:
        """DL-DATA request: an I frame, sent at once when the window allows, else queued."""
        self._tx.append(bytes(data))
        if self.state == State.ESTABLISHED:
            self._pump(now)
        return self._flush()

    @property
    def up(self) -> bool:
        return self.state in (State.ESTABLISHED, State.TIMER_RECOVERY)

    # ---------------------------------------------------------------- time

    def next_deadline(self) -> float | None:
        times = [t for t in (self._t200_at, self._t203_at, self._retry_at) if t is not None]
        return min(times) if times else None

    def handle_timeout(self, now: float) -> list[Output]:
        if self._t200_at is not None and now >= self._t200_at:
            self._t200_at = None
            self._t200_expired(now)
        if self._t203_at is not None and now >= self._t203_at:
            self._t203_at = None
            if self.state == State.ESTABLISHED:  # idle: poll the peer (§5.6.7)
                self.rc = 0
                self._enquiry()
                self._t200_at = now + self.t200
                self.state = State.TIMER_RECOVERY
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            if self._wanted and self.state == State.TEI_ASSIGNED:
                self._establish(now)
        return self._flush()

    def _t200_expired(self, now: float) -> None:
        if self.state == State.AWAITING_ESTABLISHMENT:
            if self.rc < self.n200:
                self.rc += 1
                self._send_u("SABME", command=True, pf=True)
                self._t200_at = now + self.t200
            else:
                self._mdl("G")
                self._down(now, "no answer to SABME after N200 tries")
        elif self.state == State.AWAITING_RELEASE:
            if self.rc < self.n200:
                self.rc += 1
                self._send_u("DISC", command=True, pf=True)
                self._t200_at = now + self.t200
            else:
                self._mdl("H")
                self._down(now, "no answer to DISC")
        elif self.state == State.ESTABLISHED:
            self.rc = 0
            self._enquiry()
            self.rc += 1
            self._t200_at = now + self.t200
            self.state = State.TIMER_RECOVERY
        elif self.state == State.TIMER_RECOVERY:
            if self.rc < self.n200:
                self._enquiry()
                self.rc += 1
                self._t200_at = now + self.t200
            else:
                self._mdl("I")
                self._establish(now)
                self._out.append(Released("N200 polls unanswered: re-establishing"))
                self.counters["released"] += 1

    # ---------------------------------------------------------------- frames from the peer

    def receive(self, data: bytes, now: float) -> list[Output]:
        """One frame from the D-channel (FCS already checked and removed)."""
        try:
            frame = decode(data)
        except LapdError:
            self.counters["bad_frames"] += 1
            return self._flush()
        if frame.sapi != self.sapi or frame.tei not in (self.tei, 127):
            return self._flush()  # another data link's frame (Q.921 §5.1: not ours)
        self.counters["frames_in"] += 1
        command = frame.cr == (1 if self.role == "user" else 0)
        handler = getattr(self, f"_in_{frame.kind}", None)
        if handler is not None:
            handler(frame, command, now)
        if self._ack_pending and self.up:
            self._ack_pending = False
            self._send_s("RR", command=False, pf=False)
        return self._flush()

    def _in_SABME(self, f: Frame, command: bool, now: float) -> None:
        if not command:
            return
        if self.state == State.AWAITING_RELEASE:
            self._send_u("DM", command=False, pf=f.pf)
            return
        self._send_u("UA", command=False, pf=f.pf)
        if self.state == State.AWAITING_ESTABLISHMENT:
            return  # collision (§5.5.1.3): both answer UA; we are established when our UA comes
        reset = self.up and self.vs != self.va
        if self.up:
            self._mdl("F")
            if reset:
                self._tx = self._tx[(self.vs - self.va) % MOD:]  # (unacknowledged frames are lost)
        self._reset_vars()
        self._t200_at = None
        self._t203_at = now + self.t203
        was_up = self.up
        self.state = State.ESTABLISHED
        if not was_up:
            self.counters["established"] += 1
        self._out.append(Established(reset=was_up))
        self._pump(now)

    def _in_UA(self, f: Frame, command: bool, now: float) -> None:
        if command or not f.pf:
            self._mdl("C" if command else "D")
            return
        if self.state == State.AWAITING_ESTABLISHMENT:
            self._reset_vars()
            self._t200_at = None
            self._t203_at = now + self.t203
            self.state = State.ESTABLISHED
            self.counters["established"] += 1
            self._out.append(Established())
            self._pump(now)
        elif self.state == State.AWAITING_RELEASE:
            self._down(now, "released", retry=False)
        else:
            self._mdl("C")

    def _in_DM(self, f: Frame, command: bool, now: float) -> None:
        if command:
            return
        if self.state == State.AWAITING_ESTABLISHMENT:
            if f.pf:
                self._down(now, "the peer refused the link (DM)")
        elif self.state == State.AWAITING_RELEASE:
            if f.pf:
                self._down(now, "released", retry=False)
        elif self.up:
            self._mdl("B" if f.pf else "E")
            self._establish(now)
            self._out.append(Released("DM while established: re-establishing"))
            self.counters["released"] += 1
        elif self._wanted and not f.pf:
            self._establish(now)  # the peer asks us to establish (§5.5.1.1, DM F=0 in state 4)

    def _in_DISC(self, f: Frame, command: bool, now: float) -> None:
        if not command:
            return
        if self.state in (State.TEI_ASSIGNED, State.AWAITING_ESTABLISHMENT):
            self._send_u("DM", command=False, pf=f.pf)
            return
        self._send_u("UA", command=False, pf=f.pf)
        if self.up or self.state == State.AWAITING_RELEASE:
            self._tx.clear()
            self._down(now, "the peer released the link (DISC)")

    def _in_FRMR(self, f: Frame, command: bool, now: float) -> None:
        if self.up:
            self._mdl("K")
            self._establish(now)

    def _in_I(self, f: Frame, command: bool, now: float) -> None:
        if not command or not self.up:
            if self.state == State.TEI_ASSIGNED and f.pf:
                self._send_u("DM", command=False, pf=True)  # not established: ask for SABME
            return
        self.counters["i_in"] += 1
        if f.ns == self.vr:
            self.vr = (self.vr + 1) % MOD
            self.reject_exception = False
            self._out.append(DataIndication(f.info))
            if f.pf:
                self._send_s("RR", command=False, pf=True)
            else:
                self._ack_pending = True
        elif self.reject_exception:
            if f.pf:
                self._send_s("RR", command=False, pf=True)
        else:
            self.reject_exception = True
            self.counters["rej_out"] += 1
            self._send_s("REJ", command=False, pf=f.pf)
        self._acknowledged(f.nr, now, poll_answer=False)

    def _in_RR(self, f: Frame, command: bool, now: float) -> None:
        self._supervisory(f, command, now, busy=False)

    def _in_RNR(self, f: Frame, command: bool, now: float) -> None:
        self._supervisory(f, command, now, busy=True)

    def _in_REJ(self, f: Frame, command: bool, now: float) -> None:
        self._supervisory(f, command, now, busy=False, reject=True)

    def _supervisory(self, f: Frame, command: bool, now: float, *, busy: bool, reject: bool = False) -> None:
        if not self.up:
            if self.state == State.TEI_ASSIGNED and command and f.pf:
                self._send_u("DM", command=False, pf=True)
            return
        self.peer_busy = busy
        if command and f.pf:
            self._send_s("RR", command=False, pf=True)  # enquiry response (§5.6.3.2)
        answer = not command and f.pf
        if answer and self.state == State.ESTABLISHED:
            self._mdl("A")
        if not self._nr_valid(f.nr):
            self._nr_error(now)
            return
        if self.state == State.TIMER_RECOVERY and answer:
            self._set_va(f.nr)
            self._t200_at = now + self.t200 if busy else None
            self._t203_at = None if busy else now + self.t203
            self.vs = self.va  # invoke retransmission (§5.6.7)
            self.state = State.ESTABLISHED
            self._pump(now)
            return
        if reject:
            self._set_va(f.nr)
            self._t200_at = None
            self._t203_at = now + self.t203
            if self.state == State.ESTABLISHED:
                self.vs = self.va
                self._pump(now)
            return
        self._acknowledged(f.nr, now, poll_answer=False)
        if busy and self.state == State.ESTABLISHED:
            self._t200_at = self._t200_at or now + self.t200  # poll the busy peer on T200

    # ---------------------------------------------------------------- inside

    def _nr_valid(self, nr: int) -> bool:
        return (nr - self.va) % MOD <= (self.vs - self.va) % MOD

    def _nr_error(self, now: float) -> None:
        self._mdl("J")
        self._establish(now)
        self._out.append(Released("N(R) sequence error: re-establishing"))
        self.counters["released"] += 1

    def _acknowledged(self, nr: int, now: float, *, poll_answer: bool) -> None:
        if not self._nr_valid(nr):
            self._nr_error(now)
            return
        if self.state == State.TIMER_RECOVERY or self.peer_busy:
            self._set_va(nr)
        elif nr == self.vs:
            self._set_va(nr)
            self._t200_at = None
            self._t203_at = now + self.t203
        elif nr != self.va:
            self._set_va(nr)
            self._t200_at = now + self.t200
        self._pump(now)

    def _set_va(self, nr: int) -> None:
        """V(A) := N(R): the frames it acknowledges leave the front of the send list."""
        done = (nr - self.va) % MOD
        del self._tx[:done]
        self._high = max(0, self._high - done)
        self.va = nr

    def _pump(self, now: float) -> None:
        """Send queued I frames while the window (k) allows (§5.6.1)."""
        if self.state != State.ESTABLISHED or self.peer_busy:
            return
        while True:
            outstanding = (self.vs - self.va) % MOD
            if outstanding >= self.k or outstanding >= len(self._tx):
                return
            if outstanding < self._high:
                self.counters["retransmitted"] += 1
            self._emit(Frame(self.sapi, self.tei, self._cr(True), "I", False, ns=self.vs, nr=self.vr,
                             info=self._tx[outstanding]))
            self.counters["i_out"] += 1
            self._high = max(self._high, outstanding + 1)
            self.vs = (self.vs + 1) % MOD
            self._ack_pending = False
            if self._t200_at is None:
                self._t203_at = None
                self._t200_at = now + self.t200

    def _establish(self, now: float) -> None:
        """Establish the data link (§5.5.1.2): SABME P=1, T200, awaiting establishment."""
        self._reset_vars()
        self.rc = 0
        self._send_u("SABME", command=True, pf=True)
        self._t203_at = None
        self._t200_at = now + self.t200
        self._retry_at = None
        self.state = State.AWAITING_ESTABLISHMENT

    def _down(self, now: float, reason: str, *, retry: bool = True) -> None:
        was = self.state
        self.state = State.TEI_ASSIGNED
        self._t200_at = self._t203_at = None
        self._reset_vars()
        self._tx.clear()
        self.counters["released"] += 1
        if was != State.TEI_ASSIGNED:
            self._out.append(Released(reason))
        if retry and self.persistent and self._wanted:
            self._retry_at = now + self.t200 * self.n200

    def _reset_vars(self) -> None:
        """Clear exception conditions and set V(S) = V(A) = V(R) = 0 (§5.5.1.2); unsent I frames stay."""
        self.vs = self.va = self.vr = 0  # (unacknowledged frames stay queued and go again on the new link)
        self._high = 0
        self.peer_busy = self.reject_exception = self._ack_pending = False

    def _mdl(self, code: str) -> None:
        self.counters["mdl_errors"] += 1
        self._out.append(MdlError(code))

    def _cr(self, command: bool) -> int:
        return int(command) if self.role == "network" else int(not command)

    def _enquiry(self) -> None:
        self._send_s("RR", command=True, pf=True)

    def _send_s(self, kind: str, *, command: bool, pf: bool) -> None:
        self._emit(Frame(self.sapi, self.tei, self._cr(command), kind, pf, nr=self.vr))
        self._ack_pending = False

    def _send_u(self, kind: str, *, command: bool, pf: bool) -> None:
        self._emit(Frame(self.sapi, self.tei, self._cr(command), kind, pf))

    def _emit(self, frame: Frame) -> None:
        self.counters["frames_out"] += 1
        self._out.append(Transmit(encode(frame)))

    def _flush(self) -> list[Output]:
        out, self._out = self._out, []
        return out
