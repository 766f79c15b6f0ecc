"""Answering a ringing phone from here: the BroadSoft (BroadWorks) "talk" event package.

No RFC defines it; it is BroadWorks' SIP access-side extension, implemented by Yealink, Polycom, Grandstream,
Snom and Fanvil phones and used by CTI servers for click-to-answer. A phone that can be answered remotely lists
`talk` in the Allow-Events header (RFC 6665 §8.2.2, a comma-separated list of event types; compact form `u`)
of its 180 or 183. While it rings, we send it, inside the early dialog that 18x created (its To tag), a
NOTIFY with `Event: talk`, `Subscription-State: active` and no body, unsolicited (no SUBSCRIBE: the phone's
Allow-Events is its consent). The phone answers the NOTIFY 200 and goes off-hook: its 200 OK to our INVITE
then arrives like any answer, so call control sees nothing new but `LegAnswered`.

Any other final answer to the NOTIFY, or none at all (Timer F, or a transport failure), is a refusal,
reported as `RemoteAnswerResult(accepted=False)`; the leg keeps ringing.
"""

from __future__ import annotations

from appliance.sip import events as ev
from appliance.sip.context import CoreContext
from appliance.sip.dialog import Leg, LegState
from appliance.sip.errors import LocalProtocolError, UnknownLeg
from appliance.sip.message import SipMessage
from appliance.sip.syntax import split_commas
from appliance.sip.transaction import Transaction

TALK = "talk"


def allowed_events(msg: SipMessage) -> frozenset[str]:
    """The event packages an Allow-Events header lists (every occurrence), as lower-case tokens: event
    types are compared case-insensitively here because phones differ in how they write them, and any
    parameters (`;...`) or template suffixes are not part of the package name."""
    tokens: set[str] = set()
    for value in msg.get_all("allow-events"):
        for item in split_commas(value):
            token = item.split(";", 1)[0].strip().lower()
            if token:
                tokens.add(token)
    return frozenset(tokens)


class RemoteAnswer:
    """Sends the talk NOTIFY and reports what became of it."""

    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    def supported(self, leg: Leg) -> bool:
        return (not leg.inbound and leg.state is LegState.OUT_EARLY and leg.dialog is not None
                and bool(leg.dialog.remote_tag) and TALK in leg.peer_events)

    def answer(self, leg_id: str, now: float) -> None:
        """Ask the ringing phone of outbound leg `leg_id` to go off-hook. LocalProtocolError when the leg
        does not ring, its phone did not offer `talk`, or a request is already waiting for its answer."""
        ctx = self._ctx
        # a forked leg: the first of its ringing phones that offered talk (its answer wins the fork)
        legs = [ctx.legs[b] for b in ctx.forks.candidates(leg_id) if b in ctx.legs]
        if not legs:
            raise UnknownLeg(leg_id)
        leg = next((lg for lg in legs if self.supported(lg)), legs[0])
        if leg.inbound or leg.state is not LegState.OUT_EARLY or leg.dialog is None:
            raise LocalProtocolError(f"leg {leg.leg_id} is not ringing (state {leg.state.value})")
        if TALK not in leg.peer_events:
            raise LocalProtocolError(f"the phone of leg {leg.leg_id} does not offer remote answer (talk)")
        if leg.talk_tx is not None:
            return  # one request at a time: a second click changes nothing until the phone has answered
        leg.talk_tx = ctx.dialog_request(leg, "NOTIFY", now, [("event", TALK), ("subscription-state", "active")])

    def on_response(self, leg: Leg, tx: Transaction, resp: SipMessage) -> None:
        if resp.status < 200:
            return
        leg.talk_tx = None
        self._ctx.emit(ev.RemoteAnswerResult(leg_id=leg.leg_id, status=resp.status,
                                             accepted=200 <= resp.status < 300))

    def on_timeout(self, leg: Leg, status: int) -> None:
        """No final answer in time (408), or the request could not be delivered (503)."""
        leg.talk_tx = None
        self._ctx.emit(ev.RemoteAnswerResult(leg_id=leg.leg_id, status=status, accepted=False))
