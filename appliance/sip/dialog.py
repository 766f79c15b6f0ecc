"""Dialogs and the state machine of a SIP leg.

A dialog (RFC 3261 §12) is identified by Call-ID and the two tags and carries the route set (from
Record-Route, reversed on the UAC side, §12.1.2), the remote target (refreshed by re-INVITE/UPDATE,
§12.2.2), both CSeq spaces and the flow we reach the peer on. A leg is one side of a B2BUA call: an inbound
or outbound INVITE dialog plus what call control asked for. Its life is the table `LEG_TABLE`
`(state, input) → next state`; a local command missing from the table raises `LocalProtocolError`, a remote
input missing from it is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from appliance.sip.errors import LocalProtocolError
from appliance.sip.header_values import parse_name_addr
from appliance.sip.message import SipMessage
from appliance.sip.syntax import split_commas
from appliance.sip.transaction import Address, Transaction


class LegState(Enum):
    IN_NEW = "in_new"  # INVITE received, call control deciding
    IN_EARLY = "in_early"  # we sent 18x
    OUT_CALLING = "out_calling"  # INVITE sent
    OUT_EARLY = "out_early"  # 18x received
    CONNECTED = "connected"
    ENDED = "ended"


L = LegState
_IN = (L.IN_NEW, L.IN_EARLY)
_OUT = (L.OUT_CALLING, L.OUT_EARLY)

LEG_TABLE: dict[tuple[LegState, str], LegState] = {}
for _s in _IN:
    LEG_TABLE[(_s, "progress")] = L.IN_EARLY
    LEG_TABLE[(_s, "answer")] = L.CONNECTED
    LEG_TABLE[(_s, "reject")] = L.ENDED
    LEG_TABLE[(_s, "hangup")] = L.ENDED
    LEG_TABLE[(_s, "cancelled")] = L.ENDED
    LEG_TABLE[(_s, "timeout")] = L.ENDED
for _s in _OUT:
    LEG_TABLE[(_s, "provisional")] = L.OUT_EARLY
    LEG_TABLE[(_s, "accepted")] = L.CONNECTED
    LEG_TABLE[(_s, "failed")] = L.ENDED
    LEG_TABLE[(_s, "hangup")] = L.ENDED
    LEG_TABLE[(_s, "timeout")] = L.ENDED
for _inp in ("hold", "unhold", "refer", "dtmf", "remote_update", "transfer_progress"):
    LEG_TABLE[(L.CONNECTED, _inp)] = L.CONNECTED
for _inp in ("hangup", "bye", "timeout", "session_expired"):
    LEG_TABLE[(L.CONNECTED, _inp)] = L.ENDED
LEG_TABLE[(L.IN_EARLY, "dtmf")] = L.IN_EARLY  # INFO may arrive in an early dialog (prompts before answer)
LEG_TABLE[(L.OUT_EARLY, "dtmf")] = L.OUT_EARLY

LOCAL_COMMANDS = frozenset({"progress", "answer", "reject", "hangup", "hold", "unhold", "refer", "dtmf",
                            "transfer_progress"})


def step(state: LegState, inp: str) -> LegState | None:
    nxt = LEG_TABLE.get((state, inp))
    if nxt is None and inp in LOCAL_COMMANDS:
        raise LocalProtocolError(f"cannot {inp} a leg in state {state.value}")
    return nxt


@dataclass(eq=False)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # our From (UAC) / To (UAS) header value without tag
    remote_uri: str
    remote_target: str
    route_set: list[str]
    local_cseq: int
    remote_cseq: int | None
    dest: Address  # the flow the peer is reached on (symmetric, NAT friendly)
    secure: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)


@dataclass(eq=False)
class Leg:
    leg_id: str
    inbound: bool
    state: LegState
    call_id: str
    local_tag: str
    dest: Address
    invite: SipMessage  # the INVITE received (inbound) or the last one sent (outbound)
    dialog: Dialog | None = None
    server_tx: Transaction | None = None  # inbound INVITE transaction
    client_tx: Transaction | None = None  # outbound INVITE transaction
    local_sdp: bytes = b""
    remote_sdp: bytes = b""
    sdp_session: int = 0
    sdp_version: int = 0
    extension: str | None = None
    trunk: str | None = None
    # inbound 2xx retransmission until ACK (§13.3.1.4)
    final_wire: bytes = b""
    final_interval: float = 0.0
    final_started: float = 0.0
    acked: bool = False
    # reliable provisional responses (RFC 3262)
    peer_100rel: bool = False
    rseq: int = 0
    pending_rel: bytes = b""
    rel_interval: float = 0.0
    rel_started: float = 0.0
    # session timer (RFC 4028)
    session_expires: int = 0
    we_refresh: bool = False
    # outbound
    auth_attempts: int = 0
    cancel_wanted: bool = False
    got_provisional: bool = False
    local_cseq_used: int = 1
    held: bool = False
    reinvite_tx: Transaction | None = None
    refer_cseq: int | None = None  # CSeq of a REFER we accepted; NOTIFYs report on it
    refer_subscribed: bool = False
    peer_supports: set[str] = field(default_factory=set)  # option tags (Supported/Require)
    peer_allows: set[str] = field(default_factory=set)  # methods (Allow), upper case
    peer_events: frozenset[str] = frozenset()  # event packages (Allow-Events of its 18x/2xx), lower case
    talk_tx: Transaction | None = None  # our talk NOTIFY waiting for its answer (`talk`)
    history: list[str] = field(default_factory=list)


def strip_tag(value: str) -> str:
    """A From or To value without its tag: the local or remote URI of a dialog (§12.1.1, §12.1.2)."""
    na = parse_name_addr(value)
    na.params.pop("tag", None)
    return str(na)


def contact_target(msg: SipMessage) -> str | None:
    """The URI of the first Contact: the remote target a dialog sends its requests to (§12.1, §12.2.2)."""
    contact = msg.get("contact")
    return parse_name_addr(split_commas(contact)[0]).uri if contact else None
