"""Message bodies the SIP core reads.

The session description inside a message, alone or as the application/sdp part of a multipart body
(RFC 5621 §3), and the direction it asks for (RFC 3264 §5.1); the status line of a message/sipfrag body in a
NOTIFY about a REFER (RFC 3515 §2.4.5, RFC 3420); DTMF relayed in SIP INFO (application/dtmf-relay, and the
bare digit of application/dtmf) for phones that do not send RFC 4733 events.
"""

from __future__ import annotations

from appliance.sip.message import SipMessage
from appliance.sip.sdp import NotAcceptable, parse_sdp

INFO_DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")
DTMF_DIGITS = "0123456789*#ABCD"


def sdp_part(msg: SipMessage) -> bytes:
    ctype = msg.content_type
    if ctype == "application/sdp":
        return msg.body
    if ctype.startswith("multipart/"):
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


def direction(sdp: bytes) -> str:
    try:
        return parse_sdp(sdp).direction
    except NotAcceptable:
        return "sendrecv"


def sipfrag_status(body: bytes) -> int:
    line = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
    parts = line.split(" ")
    if len(parts) >= 2 and parts[0].startswith("SIP/") and parts[1].isdigit():
        return int(parts[1])
    return 0


def parse_dtmf(body: bytes, ctype: str) -> tuple[str | None, int]:
    """(digit, duration in ms) of an INFO body; digit None when the body names none."""
    text = body.decode("utf-8", "replace")
    if ctype == "application/dtmf":
        d = text.strip()[:1]
        return (d.upper(), 160) if d and d.upper() in DTMF_DIGITS else (None, 0)
    digit: str | None = None
    duration = 160
    for line in text.splitlines():
        k, _, v = line.partition("=")
        k, v = k.strip().lower(), v.strip()
        if k == "signal" and v:
            d = {"10": "*", "11": "#"}.get(v, v)[:1].upper()
            if d in DTMF_DIGITS:
                digit = d
        elif k == "duration" and v.isdigit():
            duration = int(v)
    return digit, duration


def dtmf_relay(digit: str, duration_ms: int) -> bytes:
    """The application/dtmf-relay body that sends `digit`."""
    return f"Signal={digit.upper()}\r\nDuration={duration_ms}\r\n".encode()
