"""Session timers (RFC 4028): a call whose far end died is torn down instead of running for ever.

The interval and the refresher come from Session-Expires in the INVITE (§9, 422 with Min-SE below our
minimum) or its 2xx (§7.2, §8.1); when a caller supports timers but asks for none we ask for one with the
caller as refresher (§9). The refresher refreshes at half the interval (§10) with UPDATE when the peer allows
it, else with a re-INVITE carrying our last offer; the other side sends BYE when no refresh came by
SE - min(32, SE/3) (§10). Any refresh (re-INVITE or UPDATE in either direction) re-arms the timer.
"""

from __future__ import annotations

from appliance.sip.context import CoreContext
from appliance.sip.dialog import Leg, LegState
from appliance.sip.message import SipMessage


def _interval(session_expires: str) -> int | None:
    """The delta-seconds of a Session-Expires value (RFC 4028 §4); None when unreadable."""
    try:
        return int(session_expires.split(";")[0])
    except ValueError:
        return None


def _refresher_is(session_expires: str, side: str) -> bool:
    """Whether a Session-Expires value names `side` ("uac" or "uas") as the refresher."""
    return f"refresher={side}" in session_expires.replace(" ", "")


def _header(interval: int, refresher: str) -> tuple[str, str]:
    return ("session-expires", f"{interval};refresher={refresher}")


def requested_interval(req: SipMessage) -> int:
    """The Session-Expires interval a request asks for (0: none, or unreadable)."""
    se = req.get("session-expires")
    return (_interval(se) or 0) if se is not None else 0


class SessionTimers:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    def too_small(self, interval: int) -> bool:
        return 0 < interval < self._ctx.config.min_se

    def min_se_header(self) -> tuple[str, str]:
        return ("min-se", str(self._ctx.config.min_se))

    def negotiate_incoming(self, leg: Leg, req: SipMessage, interval: int) -> None:
        """Set up the timer of an inbound INVITE's leg (`interval` as `requested_interval` read it)."""
        cfg = self._ctx.config
        if interval:
            leg.session_expires = interval
            leg.we_refresh = _refresher_is(req.get("session-expires") or "", "uas")
        elif "timer" in leg.peer_supports and cfg.session_expires:
            # the caller can refresh but asked for no timer: we ask for one (§9) with the caller refreshing,
            # so a call whose phone died is torn down instead of running for ever
            leg.session_expires = max(cfg.session_expires, cfg.min_se)
            leg.we_refresh = False

    def response_headers(self, leg: Leg) -> list[tuple[str, str]]:
        """Session-Expires and Require: timer for our 2xx to an INVITE or re-INVITE (§9)."""
        if not leg.session_expires:
            return []
        return [_header(leg.session_expires, "uas" if leg.we_refresh else "uac"), ("require", "timer")]

    def arm(self, leg: Leg, now: float) -> None:
        se = leg.session_expires
        if not se:
            return
        at = now + se / 2 if leg.we_refresh else now + se - min(32, se / 3)
        self._ctx.timers.set(("session", leg.leg_id), at)

    def refreshed_by_request(self, leg: Leg, req: SipMessage, now: float) -> None:
        """The far end refreshed the session (a re-INVITE or UPDATE we answer)."""
        se = req.get("session-expires")
        if se:
            interval = _interval(se)
            if interval is not None:
                leg.session_expires = max(interval, self._ctx.config.min_se)
            leg.we_refresh = _refresher_is(se, "uas")
        self.arm(leg, now)

    def from_response(self, leg: Leg, resp: SipMessage, now: float) -> None:
        """The 2xx to our INVITE says whether there is a timer and who refreshes."""
        se = resp.get("session-expires")
        interval = _interval(se) if se else None
        if se is None or interval is None:
            return
        leg.session_expires = interval
        leg.we_refresh = _refresher_is(se, "uac")
        self.arm(leg, now)

    def refreshed_by_response(self, leg: Leg, resp: SipMessage, now: float) -> None:
        """A 2xx to our re-INVITE or UPDATE: the session was refreshed."""
        if leg.session_expires:
            if resp.get("session-expires"):
                self.from_response(leg, resp, now)
            else:
                self.arm(leg, now)

    def on_timer(self, leg_id: str, now: float) -> None:
        ctx = self._ctx
        leg = ctx.legs.get(leg_id)
        if leg is None or leg.state is not LegState.CONNECTED:
            return
        if not leg.we_refresh:
            ctx.terminate_dialog(leg, "session_expired", 0, now)
            return
        # we refresh, so the refresher named is us: the UAS of the dialog if the call came in
        headers = [_header(leg.session_expires, "uas" if leg.inbound else "uac"), ("supported", "timer")]
        if "UPDATE" in leg.peer_allows or leg.reinvite_tx is not None:
            ctx.dialog_request(leg, "UPDATE", now, headers)
        else:
            body = leg.local_sdp
            leg.reinvite_tx = ctx.dialog_request(
                leg, "INVITE", now, headers + ([("content-type", "application/sdp")] if body else []), body)
        ctx.timers.set(("session", leg_id), now + leg.session_expires / 2)
