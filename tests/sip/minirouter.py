"""A minimal router over the SIP B2BUA API, for interop tests and the benchmark (test tooling, not call
control: `appliance.calls` is that).

- calls to the test target number are answered (after `answer_delay`) with an SDP pointing at a dummy media
  address and hung up after `hangup_after` seconds (0: the caller hangs up);
- calls to a registered extension go to its contact; anything else goes to `forward_uri` when set (e.g. a
  SIPp uas), else 404;
- the two legs of a call are bridged for signalling: ringing, early media, answer, DTMF (INFO) and hang-up
  are passed across. Media is not anchored here (the SDP is passed through end to end);
- REFER: blind transfers are carried out (new leg to the target, NOTIFY sipfrag with its outcome, the
  transferee re-bridged to it); attended ones (Refer-To with Replaces naming one of our legs) re-bridge the
  two remote parties and end the two legs of the transferor.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from appliance.events import Event
from appliance.sip import events as ev
from appliance.sip.errors import LocalProtocolError
from appliance.sip.sdp import NotAcceptable, answer, make_offer, parse_sdp, render
from appliance.sip.service import SipService

log = logging.getLogger(__name__)


@dataclass
class Transfer:
    transferor: str  # the leg that sent REFER
    transferee: str | None  # its bridge partner, to be connected to the new leg


@dataclass
class MiniRouter:
    service: SipService
    target_number: str = "9999"
    answer_delay: float = 0.0
    hangup_after: float = 1.0
    forward_uri: str | None = None  # "sip:{user}@127.0.0.1:5070" — {user} is replaced by the callee
    media_host: str = "127.0.0.1"
    media_port: int = 4000
    peers: dict[str, str] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)  # new leg id -> transfer
    dtmf: list[tuple[str, str]] = field(default_factory=list)
    ended: dict[str, str] = field(default_factory=dict)
    answered: int = 0
    _handles: set[asyncio.TimerHandle] = field(default_factory=set)

    def close(self) -> None:
        for h in self._handles:
            h.cancel()
        self._handles.clear()

    def _later(self, delay: float, fn: object) -> None:
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def run() -> None:
            self._handles.discard(holder[0])
            try:
                fn()  # type: ignore[operator]
            except LocalProtocolError as e:
                log.debug("router: %s", e)

        h = loop.call_later(delay, run)
        holder.append(h)
        self._handles.add(h)

    def on_event(self, e: Event) -> None:
        try:
            self._on_event(e)
        except LocalProtocolError as err:
            log.info("router: %s", err)

    def _bridge(self, a: str, b: str) -> None:
        self.peers[a] = b
        self.peers[b] = a

    def _on_event(self, e: Event) -> None:
        svc = self.service
        if isinstance(e, ev.IncomingCall):
            if e.replaces is not None:
                self._replace(e)
            elif e.callee == self.target_number:
                self._target(e)
            else:
                self._route(e.leg_id, e.callee, e.caller, e.caller_name, e.sdp_offer)
        elif isinstance(e, ev.LegProgress):
            peer = self.peers.get(e.leg_id)
            if peer is not None and e.leg_id not in self.transfers:
                svc.progress(peer, e.sdp or None)
        elif isinstance(e, ev.LegAnswered):
            t = self.transfers.pop(e.leg_id, None)
            if t is not None:
                svc.transfer_progress(t.transferor, 200)
                if t.transferee is not None:
                    self.peers.pop(t.transferor, None)
                    self._bridge(t.transferee, e.leg_id)
                return
            peer = self.peers.get(e.leg_id)
            if peer is not None and self._is_inbound(peer):
                svc.answer(peer, e.sdp)
        elif isinstance(e, ev.LegEnded):
            self.ended[e.leg_id] = e.cause
            t = self.transfers.pop(e.leg_id, None)
            if t is not None:
                svc.transfer_progress(t.transferor, e.status if e.status >= 300 else 503)
            peer = self.peers.pop(e.leg_id, None)
            if peer is not None and self.peers.get(peer) == e.leg_id:
                del self.peers[peer]
                if e.cause == "rejected" and e.status and self._is_inbound(peer, unanswered=True):
                    svc.reject(peer, e.status)
                else:
                    svc.hangup(peer)
        elif isinstance(e, ev.DtmfReceived):
            self.dtmf.append((e.leg_id, e.digit))
            peer = self.peers.get(e.leg_id)
            if peer is not None:
                svc.send_dtmf(peer, e.digit, e.duration_ms)
        elif isinstance(e, ev.TransferRequested):
            self._transfer(e)

    def _is_inbound(self, leg_id: str, unanswered: bool = False) -> bool:
        try:
            leg = self.service.core.leg_info(leg_id)
        except LocalProtocolError:
            return False
        return leg.inbound and (not unanswered or leg.state.value.startswith("in_"))

    def _remote_sdp(self, leg_id: str) -> bytes:
        try:
            return self.service.core.leg_info(leg_id).remote_sdp
        except LocalProtocolError:
            return b""

    def _target(self, e: ev.IncomingCall) -> None:
        svc = self.service
        try:
            body = (render(answer(parse_sdp(e.sdp_offer), self.media_host, self.media_port, 1, svc.config.media))
                    if e.sdp_offer else render(make_offer(self.media_host, self.media_port, 1, svc.config.media)))
        except NotAcceptable:
            svc.reject(e.leg_id, 488)
            return
        leg_id = e.leg_id

        def do_answer() -> None:
            svc.answer(leg_id, body)
            self.answered += 1
            if self.hangup_after > 0:
                self._later(self.hangup_after, lambda: svc.hangup(leg_id))

        if self.answer_delay > 0:
            svc.progress(leg_id)
            self._later(self.answer_delay, do_answer)
        else:
            do_answer()

    def _outbound(self, callee: str, caller: str, caller_name: str | None, sdp: bytes) -> str | None:
        svc = self.service
        now = svc.clock.monotonic()
        if svc.core.registrar.lookup(callee, now):
            return svc.create_leg(callee=callee, sdp_offer=sdp, caller=caller, caller_name=caller_name,
                                  extension=callee).leg_id
        if self.forward_uri:
            return svc.create_leg(callee=callee, sdp_offer=sdp, caller=caller, caller_name=caller_name,
                                  uri=self.forward_uri.replace("{user}", callee)).leg_id
        return None

    def _route(self, leg_id: str, callee: str, caller: str, caller_name: str | None, sdp: bytes) -> None:
        out = self._outbound(callee, caller, caller_name, sdp)
        if out is None:
            self.service.reject(leg_id, 404)
            return
        self._bridge(leg_id, out)

    def _transfer(self, e: ev.TransferRequested) -> None:
        svc = self.service
        transferee = self.peers.get(e.leg_id)
        if e.replaces_leg is not None:
            # attended: connect our transferee with the party of the replaced leg; the transferor's two legs end
            other_party = self.peers.get(e.replaces_leg)
            svc.transfer_progress(e.leg_id, 200)
            if transferee is not None and other_party is not None:
                self.peers.pop(e.leg_id, None)
                self.peers.pop(e.replaces_leg, None)
                self._bridge(transferee, other_party)
                svc.hangup(e.replaces_leg)
            return
        if not e.target_user:
            svc.transfer_progress(e.leg_id, 400)
            return
        sdp = self._remote_sdp(transferee) if transferee else b""
        new = self._outbound(e.target_user, "transfer", None, sdp)
        if new is None:
            svc.transfer_progress(e.leg_id, 404)
            return
        self.transfers[new] = Transfer(e.leg_id, transferee)

    def _replace(self, e: ev.IncomingCall) -> None:
        svc = self.service
        old = e.replaces
        assert old is not None
        partner = self.peers.pop(old, None)
        sdp = (self._remote_sdp(partner) if partner else b"") or e.sdp_offer
        svc.answer(e.leg_id, sdp)
        if partner is not None:
            self.peers.pop(partner, None)
            self._bridge(e.leg_id, partner)
        svc.hangup(old)
