"""What the UAS core checks and decides about a request before a handler sees it.

RFC 3261 §8.2.1-§8.2.3 in their order (method 405/501, URI scheme 416, Require 420, Content-Type and
Content-Encoding 415, Accept 406) with Max-Forwards 483 (§16.3) and the address-of-record of a REGISTER
(§10.3 step 3); the capabilities we announce (Allow, Accept, Supported, §11.2); where a response goes (§18.2.2
with RFC 3581 rport) and the received/rport parameters stamped on the top Via (§18.2.1); and the answer to a
request that failed to parse, built from its raw headers (§8.2.6.1).
"""

from __future__ import annotations

from appliance.sip.bodies import INFO_DTMF_TYPES
from appliance.sip.errors import SipParseError
from appliance.sip.message import SipMessage, reason_for
from appliance.sip.transaction import Address

ALLOWED = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK", "REFER",
           "NOTIFY")
ALLOW_HEADER = ", ".join(ALLOWED)
SUPPORTED = frozenset({"100rel", "timer", "replaces", "norefersub", "path", "outbound"})
DIALOG_METHODS = frozenset({"BYE", "INFO", "UPDATE", "PRACK", "REFER", "NOTIFY"})
# methods we know but do not take here (405, not 501)
KNOWN_ELSEWHERE = ("SUBSCRIBE", "MESSAGE", "PUBLISH")
ACCEPTED_BODIES = frozenset({"application/sdp", "multipart/mixed", "multipart/alternative", "message/sipfrag",
                             *INFO_DTMF_TYPES})


def capabilities(user_agent: str) -> list[tuple[str, str]]:
    """The headers of an OPTIONS answer."""
    return [("allow", ALLOW_HEADER), ("accept", "application/sdp"),
            ("supported", ", ".join(sorted(SUPPORTED))), ("user-agent", user_agent)]


def inspect(req: SipMessage) -> tuple[int, list[tuple[str, str]] | None]:
    """The status to refuse `req` with and its extra headers, or (0, None) when it may be handled."""
    method = req.method or ""
    if method not in ALLOWED:
        return (405 if method in KNOWN_ELSEWHERE else 501), [("allow", ALLOW_HEADER)]
    uri = req.request_uri
    if not uri.is_sip and uri.scheme != "tel":
        return 416, None
    if method == "REGISTER":
        to = req.to.parsed_uri()
        if not to.is_sip:
            return 400, None  # an address-of-record must be a SIP URI (RFC 4475 unksm2)
    mf = req.get("max-forwards")
    if mf is not None and int(mf) == 0 and method != "OPTIONS":
        return 483, None
    required = [t.strip() for t in req.get_all("require") if t.strip() and t.strip().lower() not in SUPPORTED]
    if required and method not in ("CANCEL", "ACK"):
        return 420, [("unsupported", ", ".join(required))]
    if req.body and method not in ("CANCEL", "ACK", "BYE"):
        ctype = req.content_type
        if ctype not in ACCEPTED_BODIES or (ctype.startswith("multipart/") and b"application/sdp" not in req.body):
            return 415, [("accept", "application/sdp")]
        if req.get("content-encoding"):
            return 415, [("accept-encoding", "identity")]
    if method in ("INVITE", "OPTIONS") and req.has("accept"):
        accepted = {a.split(";")[0].strip().lower() for a in req.get_all("accept")}
        if accepted and not accepted & {"application/sdp", "application/*", "*/*"}:
            return 406, [("accept", "application/sdp")]
    return 0, None


def response_dest(req: SipMessage, source: Address) -> Address:
    # Reliable transports answer on the connection; UDP answers to the source port when rport was asked
    # for, and to the source address in any case (we do not trust sent-by: broadcast amplification).
    if source.transport != "UDP":
        return source
    via = req.vias[0]
    if "rport" in via.params:
        return source
    return Address("UDP", source.host, via.port or 5060) if via.host == source.host else source


def add_received(req: SipMessage, source: Address) -> None:
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


def malformed_answer(e: SipParseError, msg: SipMessage, realm: str) -> SipMessage | None:
    """The response to a request that failed to parse, or None when it cannot or must not be answered."""
    if msg.method == "ACK":
        return None  # never answer an ACK
    # The raw headers are copied (the Via may be what is broken), and it goes back where it came from.
    headers = [(k, v) for k, v in msg.headers if k in ("via", "from", "to", "call-id", "cseq")]
    if not any(k == "via" for k, _ in headers):
        return None
    resp = SipMessage(None, "", e.status, reason_for(e.status), headers)
    # the reason may quote the peer's bytes: keep the Warning a well-formed quoted-string (§20.43)
    text = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "?" for c in e.reason)[:100]
    resp.add("warning", f'399 {realm} "{text}"')
    return resp
