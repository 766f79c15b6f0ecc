"""SIP as one leg provider among several: SIP dialogs and their RTP endpoints behind `appliance.legs`.

The provider translates the SIP service's leg events into neutral leg events (SIP statuses and the core's
end reasons into Q.850 causes, RFC 3398 through `sip.causes`; an SDP direction change into hold) and owns
each leg's media side: it allocates the RTP endpoint from the peer's SDP offer (RFC 3264 §6.1: the engine
picks the codec in the peer's order), answers with an SDP built from what the engine chose, applies the
far end's answers and re-offers, and releases the endpoint when the leg ends. Call control never sees SDP.
SRTP (`sdes.py`, RFC 4568) is decided here too, per leg, from the extension's or trunk's policy and whether
the leg is signalled over TLS: an offer we cannot meet is refused with 488 (Q.850 65).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from appliance.domain.models import SrtpPolicy
from appliance.errors import Conflict
from appliance.events import Event
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import CallLeg, LegRefused, LegSink, OutboundLeg
from appliance.media.errors import MediaError
from appliance.media.events import LegQuality
from appliance.media.models import LocalMedia, RemoteMedia, SrtpKeys
from appliance.sip import events as sip_events
from appliance.sip.causes import cause_from_status, status_from_cause
from appliance.sip.errors import LocalProtocolError, UnknownLeg
from appliance.sip.sdes import Offer, answer_crypto, crypto_offer, keys_from_answer, rekeyed
from appliance.sip.sdp import NotAcceptable, parse_sdp
from appliance.sip.sdp_media import SdpBuilder, remote_media
from appliance.sip.service import SipService
from appliance.sip.talk import TALK

log = logging.getLogger(__name__)

KIND = "sip"
_HOLD_DIRECTIONS = ("sendonly", "inactive")


class RtpMedia(Protocol):
    """What the provider needs of the media engine."""

    async def allocate(self, remote: RemoteMedia | None = None, *, srtp: SrtpKeys | None = None,
                       encrypted: bool = False) -> LocalMedia: ...

    def set_remote(self, endpoint_id: str, remote: RemoteMedia) -> LocalMedia: ...

    def set_srtp(self, endpoint_id: str, keys: SrtpKeys | None) -> None: ...

    def release(self, endpoint_id: str) -> LegQuality | None: ...


SrtpPolicyOf = Callable[[str | None, str | None], SrtpPolicy]  # (extension, trunk) -> the leg's SRTP policy


def default_srtp_policy(extension: str | None, trunk: str | None) -> SrtpPolicy:
    return SrtpPolicy.OFFERED  # (SRTP only ever goes over TLS: offered is plain RTP on UDP and TCP)


def _ended_cause(event: sip_events.LegEnded, outbound: bool) -> tuple[Cause, bool]:
    """(cause, ended by the far end) of the SIP core's end reasons (`sip_events.LegEnded`)."""
    reason = event.cause
    if reason == "hangup_remote":
        return Cause.NORMAL_CLEARING, True
    if reason == "hangup_local":
        return Cause.NORMAL_CLEARING, False
    if reason == "cancelled":  # inbound: the caller gave up (CANCEL); outbound: we withdrew our INVITE (487)
        return Cause.NORMAL_CLEARING, not outbound
    if reason == "timeout":
        return Cause.NO_USER_RESPONDING, True
    if reason == "no_answer":
        return Cause.NO_ANSWER, True
    if reason == "transport_error":
        return Cause.DESTINATION_OUT_OF_ORDER, True
    if reason == "session_expired":
        return Cause.RECOVERY_ON_TIMER_EXPIRY, True
    if event.status >= 300:
        return cause_from_status(event.status), True
    return Cause.TEMPORARY_FAILURE, True


@dataclass(eq=False)
class SipLeg:
    """A SIP dialog with its RTP endpoint (implements `appliance.legs.CallLeg`)."""

    provider: SipLegProvider
    leg_id: str
    outbound: bool
    offer: bytes = b""  # the peer's SDP offer of an inbound leg (empty: we offer in our answer)
    endpoint_id: str | None = None
    mos: float | None = None
    answer_sdp: bytes | None = None
    kind: str = KIND
    srtp_policy: SrtpPolicy = SrtpPolicy.OFFERED
    tls: bool = False  # signalled over SIP TLS: the only transport SRTP keys may travel on
    srtp_offer: Offer | None = None  # what we offered on an outbound leg, until the answer settles it
    srtp_keys: SrtpKeys | None = None  # the keys in use (None: plain RTP)
    remote_answer: bool = False  # its ringing phone offered the talk event (`RemotelyAnswerable`, `sip.talk`)

    async def open_media(self) -> str:
        """The inbound leg's media, from the peer's offer; LegRefused (→ 488) when the offer and the leg's
        SRTP policy cannot meet (`sdes.answer_crypto`). An INVITE without an offer gets a plain offer in our
        answer (its answer comes in the ACK), unless SRTP is required."""
        if self.endpoint_id is not None:
            return self.endpoint_id
        media = self.provider.media
        try:
            if self.offer:
                remote = remote_media(self.offer)
                answered = answer_crypto(parse_sdp(self.offer), self.srtp_policy, self.tls)
                local = await media.allocate(remote, srtp=answered.keys)
                crypto = (answered.crypto.render(),) if answered.crypto is not None else ()
                self.answer_sdp = self.provider.sdp.describe(local, offer=False, proto=answered.proto,
                                                             crypto=crypto)
                self.srtp_keys = answered.keys
            else:
                if self.srtp_policy is SrtpPolicy.REQUIRED:
                    raise NotAcceptable("SRTP is required and the INVITE has no offer")
                local = await media.allocate()
                self.answer_sdp = self.provider.sdp.describe(local, offer=True)
        except (NotAcceptable, MediaError) as exc:
            raise LegRefused(Cause.BEARER_CAPABILITY_NOT_IMPLEMENTED, str(exc)) from exc
        self.endpoint_id = local.endpoint_id
        return local.endpoint_id

    def progress(self) -> None:
        self.provider.sip.progress(self.leg_id)

    def answer(self) -> None:
        if self.answer_sdp is None:
            raise LocalProtocolError(f"leg {self.leg_id}: answer before its media was opened")
        self.provider.sip.answer(self.leg_id, self.answer_sdp)

    def reject(self, cause: Cause) -> None:
        self.provider.sip.reject(self.leg_id, status_from_cause(cause))
        self.release_media()

    def hangup(self, cause: Cause = Cause.NORMAL_CLEARING) -> None:
        try:
            self.provider.sip.hangup(self.leg_id)
        except UnknownLeg:
            pass  # the dialog ended meanwhile: nothing left to tear down but the media
        finally:
            self.release_media()

    def send_dtmf(self, digit: str) -> None:
        self.provider.sip.send_dtmf(self.leg_id, digit)

    def answer_remotely(self) -> None:
        if not self.remote_answer:
            raise Conflict("the ringing phone does not support answering from here (no talk event in its "
                           "Allow-Events)", "振铃的话机不支持远程接听(其 Allow-Events 中没有 talk)")
        try:
            self.provider.sip.remote_answer(self.leg_id)
        except (LocalProtocolError, UnknownLeg) as exc:  # it stopped ringing meanwhile
            raise Conflict(f"the phone no longer rings: {exc}", f"话机已不再振铃:{exc}") from exc

    def transfer_progress(self, failure: Cause | None) -> None:
        self.provider.sip.transfer_progress(self.leg_id, 200 if failure is None else status_from_cause(failure))

    def release_media(self) -> None:
        endpoint_id, self.endpoint_id = self.endpoint_id, None
        if endpoint_id is None:
            return
        quality = self.provider.media.release(endpoint_id)
        if quality is not None:
            self.mos = quality.mos

    def apply_remote(self, sdp: bytes) -> None:
        """The far end's answer, early media or re-offer. The first answer to an SRTP offer settles the
        leg's keys (or turns it plain where SRTP was optional); one that cannot be used ends the leg, whose
        media stays silent meanwhile (an encrypted endpoint without keys sends and takes nothing)."""
        if self.endpoint_id is None or not sdp:
            return
        media = self.provider.media
        try:
            remote = remote_media(sdp)
            sd = parse_sdp(sdp)
        except NotAcceptable as exc:
            log.info("leg %s: unusable SDP from the far end (%s); media unchanged", self.leg_id, exc)
            return
        if self.srtp_offer is not None:
            offer, self.srtp_offer = self.srtp_offer, None
            if offer.encrypted:
                try:
                    self.srtp_keys = keys_from_answer(offer, sd)
                except NotAcceptable as exc:
                    # (not from inside the SIP event being handled: the hang-up emits events of its own)
                    log.warning("leg %s: %s; hanging up", self.leg_id, exc)
                    asyncio.get_running_loop().call_soon(self.hangup, Cause.BEARER_CAPABILITY_NOT_IMPLEMENTED)
                    return
                media.set_srtp(self.endpoint_id, self.srtp_keys)
        elif self.srtp_keys is not None and (keys := rekeyed(self.srtp_keys, sd)) != self.srtp_keys:
            self.srtp_keys = keys
            media.set_srtp(self.endpoint_id, keys)
        try:
            media.set_remote(self.endpoint_id, remote)
        except MediaError as exc:
            log.info("leg %s: unusable SDP from the far end (%s); media unchanged", self.leg_id, exc)


@dataclass(eq=False)
class SipLegProvider:
    sip: SipService
    media: RtpMedia
    sdp: SdpBuilder
    srtp_policy: SrtpPolicyOf = default_srtp_policy
    kind: str = KIND
    _legs: dict[str, SipLeg] = field(default_factory=dict)
    _sink: LegSink | None = None

    def attach(self, sink: LegSink) -> None:
        self._sink = sink
        self.sip.on_event = self.on_sip_event

    def leg(self, leg_id: str) -> CallLeg:
        return self._legs[leg_id]

    @property
    def leg_count(self) -> int:
        return len(self._legs)

    async def create(self, request: OutboundLeg) -> CallLeg:
        policy = self.srtp_policy(request.extension, request.trunk)
        tls = self.sip.transport_to(extension=request.extension, trunk=request.trunk) == "TLS"
        try:
            offer = crypto_offer(policy, tls)
        except NotAcceptable as exc:  # SRTP required where keys cannot go: nothing is sent
            raise LegRefused(Cause.BEARER_CAPABILITY_NOT_IMPLEMENTED, str(exc)) from exc
        try:
            local = await self.media.allocate(encrypted=offer.encrypted)
        except MediaError as exc:
            raise LegRefused(Cause.RESOURCE_UNAVAILABLE, str(exc)) from exc
        sdp_offer = self.sdp.describe(local, offer=True, proto=offer.proto,
                                      crypto=tuple(c.render() for c in offer.cryptos))
        try:
            handle = self.sip.create_leg(
                callee=request.callee, sdp_offer=sdp_offer, caller=request.caller,
                caller_name=request.caller_name, extension=request.extension, trunk=request.trunk)
        except LocalProtocolError as exc:
            # An extension with no registered phone, or a trunk that is gone: nothing was sent.
            self.media.release(local.endpoint_id)
            cause = Cause.SUBSCRIBER_ABSENT if request.extension else Cause.NO_ROUTE_TO_DESTINATION
            raise LegRefused(cause, str(exc)) from exc
        leg = SipLeg(self, handle.leg_id, outbound=True, endpoint_id=local.endpoint_id, srtp_policy=policy,
                     tls=tls, srtp_offer=offer)
        self._legs[leg.leg_id] = leg
        return leg

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)

    def on_sip_event(self, event: Event) -> None:
        if isinstance(event, sip_events.RegistrationChanged):
            self._emit(leg_events.EndpointReachable(at=event.at, extension=event.extension,
                                                    reachable=event.expires > 0))
            return
        if isinstance(event, sip_events.IncomingCall):
            self._legs[event.leg_id] = SipLeg(self, event.leg_id, outbound=False, offer=event.sdp_offer,
                                              srtp_policy=self.srtp_policy(event.extension, event.trunk),
                                              tls=event.transport.upper() == "TLS")
            self._emit(leg_events.LegIncoming(
                at=event.at, leg_id=event.leg_id, kind=KIND, caller=event.caller, caller_name=event.caller_name,
                callee=event.callee, extension=event.extension, trunk=event.trunk))
            return
        leg_id = getattr(event, "leg_id", None)
        leg = self._legs.get(leg_id) if leg_id is not None else None
        if leg is None:
            return
        if isinstance(event, sip_events.LegProgress):
            leg.apply_remote(event.sdp)
            # (a later 18x that leaves Allow-Events out takes nothing back: the phone said it once)
            leg.remote_answer = leg.remote_answer or (leg.outbound and TALK in event.allow_events)
            self._emit(leg_events.LegProgress(at=event.at, leg_id=leg.leg_id, early_media=bool(event.sdp),
                                              remote_answer=leg.remote_answer))
        elif isinstance(event, sip_events.RemoteAnswerResult):
            if not event.accepted:
                reason = "no answer" if event.status == 408 else f"SIP {event.status}"
                self._emit(leg_events.LegRemoteAnswerRefused(at=event.at, leg_id=leg.leg_id, reason=reason))
        elif isinstance(event, sip_events.LegAnswered):
            if leg.outbound:  # on an inbound leg the SDP is our own answer
                leg.apply_remote(event.sdp)
            self._emit(leg_events.LegAnswered(at=event.at, leg_id=leg.leg_id))
        elif isinstance(event, sip_events.LegEnded):
            self._legs.pop(leg.leg_id, None)
            leg.release_media()
            cause, remote = _ended_cause(event, leg.outbound)
            self._emit(leg_events.LegEnded(at=event.at, leg_id=leg.leg_id, cause=cause, remote=remote))
        elif isinstance(event, sip_events.LegMediaChanged):
            leg.apply_remote(event.sdp)
            self._emit(leg_events.LegHoldChanged(at=event.at, leg_id=leg.leg_id,
                                                 held=event.direction in _HOLD_DIRECTIONS))
        elif isinstance(event, sip_events.DtmfReceived):
            self._emit(leg_events.LegDtmf(at=event.at, leg_id=leg.leg_id, digit=event.digit))
        elif isinstance(event, sip_events.TransferRequested):
            self._emit(leg_events.LegTransferRequested(at=event.at, leg_id=leg.leg_id, target=event.target_user,
                                                       replaces_leg=event.replaces_leg))
