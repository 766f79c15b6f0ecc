"""Reading SIP messages from bytes: parsing, validation, and framing on streams.

Implements RFC 3261 §7 (message structure, header folding, compact forms, comma-joined and repeated header
fields), §20 (the single-value rules of the header fields a UA and registrar use), §25 (the ABNF where it
matters for rejecting malformed input: start lines, CSeq, Max-Forwards, Content-Length, Expires) and §18.3
(Content-Length framing on streams; trailing octets of a datagram ignored).

The parser is strict where RFC 4475 expects a rejection and lenient where RFC 3261 asks for robustness
(RFC 2543 requests without Max-Forwards or a magic-cookie branch are accepted). It raises only
`SipParseError`; when the fault is found after the framing, the error carries the partial message so a
request can still be answered with 400 (or 505 for an unknown version).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from appliance.sip.errors import SipParseError
from appliance.sip.message import SipMessage
from appliance.sip.syntax import COMPACT, SINGLE

_REQUEST_LINE = re.compile(r"([A-Za-z0-9.!%*_+`'~-]+) ([^ \t]+) (SIP/[0-9]+\.[0-9]+)\Z")
_STATUS_LINE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?\Z", re.S)
_DIGITS = re.compile(r"[0-9]+\Z")
# name, optional whitespace, colon, value without the surrounding whitespace (one C call per header line)
_HEADER_LINE = re.compile(r"([A-Za-z0-9.!%*_+`'~-]+)[ \t]*:[ \t]*(.*)", re.S)

MAX_MESSAGE = 65535  # larger: 513 Message Too Large (§21.5.8); a datagram cannot be larger anyway
# Limits of our own (RFC 3261 sets none): far above what phones and carriers send (the longest RFC 4475 message
# has 44 header fields, its longest field 593 octets; an SDP offer with video and SRTP keys stays under 4 KiB),
# low enough that one message cannot make us build thousands of header objects.
MAX_HEADERS = 128  # header fields after unfolding: more is answered 400 with a Warning naming the limit
MAX_HEADER_FIELD = 8192  # octets of one header field after unfolding: longer is answered 400 likewise
MAX_BODY = 16384  # octets of a request's body: larger is answered 413 Request Entity Too Large (§21.4.11)


def parse(data: bytes, stream: bool = False) -> SipMessage:
    """Parse one message. On a datagram (stream=False) octets past Content-Length are ignored and a missing
    Content-Length means "the rest of the datagram"; `StreamFramer` hands complete messages for streams."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError("message too large", 513)
    sep = data.find(b"\r\n\r\n")
    if sep >= 0:
        head_b, body = data[:sep], data[sep + 4 :]
    else:
        sep = data.find(b"\n\n")  # bare-LF peers exist; accept them
        if sep >= 0:
            head_b, body = data[:sep], data[sep + 2 :]
        else:
            head_b, body = data.rstrip(b"\r\n"), b""
    head = head_b.decode("utf-8", "surrogateescape")
    lines = head.split("\r\n") if "\n" not in head.replace("\r\n", "") else head.replace("\r\n", "\n").split("\n")
    while lines and lines[0] == "":  # §7.5: ignore CRLFs before the start line
        lines.pop(0)
    if not lines:
        raise SipParseError("empty message")
    start = lines[0]
    msg = SipMessage()
    raw = lines[1:]
    if "\n " in head or "\n\t" in head:
        # unfold (§7.3.1): a line starting with whitespace continues the previous one
        raw = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and raw:
                raw[-1] = raw[-1] + " " + line.strip(" \t")
            elif line:
                raw.append(line)
    headers: list[tuple[str, str]] = []
    append = headers.append
    header_line = _HEADER_LINE.match
    compact = COMPACT
    cl_vals: list[str] = []
    too_long = ""
    for line in raw:
        if len(line) > MAX_HEADER_FIELD and not too_long:
            too_long = line[:line.find(":")] if 0 < line.find(":") < 64 else "?"
        m = header_line(line)
        if m is None:
            if not line:
                continue
            raise SipParseError("malformed header line")
        name = m.group(1).lower()
        value = m.group(2)
        if value and value[-1] in " \t":
            value = value.rstrip(" \t")
        name = compact.get(name, name)
        if name == "content-length":
            cl_vals.append(value)
        append((name, value))
    msg.headers = headers

    if start.startswith("SIP/"):
        m = _STATUS_LINE.match(start)
        if not m:
            raise SipParseError("bad status line")
        msg.version = m.group(1)
        msg.status = int(m.group(2))
        msg.reason = m.group(3) or ""
        if msg.status < 100:
            raise SipParseError("status code out of range")
    else:
        m = _REQUEST_LINE.match(start)
        if not m:
            # keep what we can so the request is still answered with 400 (RFC 4475 lwsruri, trws...)
            msg.method = start.split(" ", 1)[0] or "UNKNOWN"
            raise SipParseError("bad request line", 400, msg)
        msg.method, msg.uri, msg.version = m.group(1), m.group(2), m.group(3)
    _check_limits(msg, too_long, cl_vals, body)

    # Content-Length framing (§18.3, §20.14)
    if len(cl_vals) > 1:
        msg.body = body
        raise SipParseError("more than one Content-Length", 400, msg)
    if cl_vals:
        if not _DIGITS.match(cl_vals[0]):
            msg.body = body
            raise SipParseError("bad Content-Length", 400, msg)
        cl = int(cl_vals[0])
        if cl > len(body):
            msg.body = body
            raise SipParseError("Content-Length larger than the message", 400, msg)
        msg.body = body[:cl]
    else:
        if stream:
            msg.body = b""
            raise SipParseError("Content-Length required on a stream", 400, msg)
        msg.body = body
    _validate(msg)
    return msg


def _check_limits(msg: SipMessage, too_long: str, cl_vals: list[str], body: bytes) -> None:
    """Refuse what is beyond our limits once the start line is known (so a request can still be answered)."""
    if len(msg.headers) > MAX_HEADERS:
        raise SipParseError(f"too many header fields ({len(msg.headers)}, at most {MAX_HEADERS})", 400, msg)
    if too_long:
        raise SipParseError(f"header field {too_long} longer than {MAX_HEADER_FIELD} octets", 400, msg)
    if any(len(v) > 10 for v in cl_vals):  # and int() of thousands of digits would raise ValueError
        raise SipParseError("bad Content-Length", 400, msg)
    declared = int(cl_vals[0]) if len(cl_vals) == 1 and _DIGITS.match(cl_vals[0]) else len(body)
    if msg.method is not None and min(declared, len(body)) > MAX_BODY:
        raise SipParseError(f"body larger than {MAX_BODY} octets", 413, msg)


def _validate(msg: SipMessage) -> None:
    try:
        if msg.version != "SIP/2.0":
            raise SipParseError(f"unsupported version {msg.version}", 505, msg)
        counts: dict[str, int] = {}
        for k, _ in msg.headers:
            counts[k] = counts.get(k, 0) + 1
        for name in ("via", "from", "to", "call-id", "cseq"):
            if name not in counts:
                raise SipParseError(f"missing {name}")
        for name in SINGLE:
            if counts.get(name, 0) > 1:
                raise SipParseError(f"repeated {name}")
        vias = msg.vias
        if not vias:
            raise SipParseError("empty Via")
        _num, method = msg.cseq
        if msg.method is not None:
            if method != msg.method:
                raise SipParseError("CSeq method does not match the request method")
            uri = msg.uri
            if uri.startswith("<"):
                raise SipParseError("Request-URI in <>")
            u = msg.request_uri
            if u.is_sip and u.headers is not None:
                raise SipParseError("headers in the Request-URI")
            mf = msg.get("max-forwards")
            if mf is not None and (not _DIGITS.match(mf) or len(mf.lstrip("0")) > 3 or int(mf) > 255):
                raise SipParseError("bad Max-Forwards")
            exp = msg.get("expires")
            if exp is not None and (not _DIGITS.match(exp) or len(exp) > 10):
                raise SipParseError("bad Expires")
            date = msg.get("date")
            if date is not None and not date.rstrip().endswith("GMT"):
                raise SipParseError("Date must be in GMT")
            if msg.method == "REGISTER" or msg.method == "INVITE":
                msg.contacts  # noqa: B018 -- parsed (and cached) for validation
        msg.from_  # noqa: B018 -- parsed for validation only
        msg.to  # noqa: B018
        if not msg.call_id or any(c in msg.call_id for c in " \t"):
            raise SipParseError("bad Call-ID")
    except SipParseError as e:
        if e.message is None:
            e.message = msg
        raise


class StreamFramer:
    """Cuts a TCP/TLS byte stream into messages by Content-Length (§18.3). Keep-alive CRLFs (RFC 5626) are
    skipped. Raises `SipParseError` when the stream cannot be framed any more (the connection is closed)."""

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buf += data
        while True:
            while self._buf[:2] == b"\r\n":
                del self._buf[:2]
            sep = self._buf.find(b"\r\n\r\n")
            if sep < 0:
                if len(self._buf) > self._limit:
                    raise SipParseError("header section too large", 513)
                return
            head = bytes(self._buf[:sep])
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,10})[ \t]*\r?$", head)
            if not m:
                raise SipParseError("Content-Length required on a stream")
            cl = int(m.group(1))
            if cl > self._limit:
                raise SipParseError("body too large", 513)
            end = sep + 4 + cl
            if len(self._buf) < end:
                return
            yield bytes(self._buf[:end])
            del self._buf[:end]
