"""SIP lexical pieces shared by the header values and the message: header names, lists, quoting, escapes.

RFC 3261 §7.3.1 (header field names with their compact forms, comma-separated lists, which fields hold one
value only), §25.1 (token, quoted-string with quoted-pair, generic parameters `;name=value`) and §19.1.2
(%HH escapes in URIs). Everything here is a pure function of text; malformed input raises `SipParseError`.
"""

from __future__ import annotations

import re

from appliance.sip.errors import SipParseError

COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
    "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via", "o": "event", "r": "refer-to",
    "b": "referred-by", "x": "session-expires", "u": "allow-events", "a": "accept-contact",
    "j": "reject-contact", "d": "request-disposition", "y": "identity",
}

# How header names are written on the wire (the rest are title-cased per dash-separated word).
_DISPLAY = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "mime-version": "MIME-Version",
    "rack": "RAck", "rseq": "RSeq", "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
}

# Header fields whose values may be joined by commas (RFC 3261 §7.3.1); the others hold one value each
# even when a comma appears inside (Authorization, Date, WWW-Authenticate...).
MULTI = frozenset({
    "via", "contact", "route", "record-route", "allow", "supported", "require", "proxy-require", "unsupported",
    "accept", "accept-encoding", "accept-language", "allow-events", "content-encoding", "in-reply-to", "path",
    "service-route", "content-language",
})

# Fields that must appear at most once; a second copy makes the request malformed (RFC 4475 multi01, mcl01).
SINGLE = ("to", "from", "call-id", "cseq", "content-length", "max-forwards", "content-type")

TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


def canonical_name(name: str) -> str:
    low = name.lower()
    return COMPACT.get(low, low)


def _title(name: str) -> str:
    return "-".join(p.capitalize() for p in name.split("-"))


# every name we write, precomputed: serialising runs for every message sent (hot path)
_WRITTEN = {n: _DISPLAY.get(n) or _title(n) for n in (
    *COMPACT.values(), "via", "from", "to", "call-id", "cseq", "contact", "max-forwards", "expires", "allow",
    "supported", "require", "unsupported", "user-agent", "server", "warning", "min-expires", "min-se",
    "www-authenticate", "proxy-authenticate", "authorization", "proxy-authorization", "record-route", "route",
    "session-expires", "rseq", "rack", "content-type", "accept", "accept-encoding", "retry-after", "date",
    "subscription-state", "event", "refer-to", "referred-by", "replaces", "reason", "timestamp",
)}


def display_name(name: str) -> str:
    return _WRITTEN.get(name) or _DISPLAY.get(name) or _title(name)


def split_commas(value: str) -> list[str]:
    """Split a comma-joined header value, respecting quoted strings and <...>."""
    if "," not in value:
        return [value.strip()]
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    if quoted:
        raise SipParseError("unbalanced quotes")
    out.append(value[start:].strip())
    return [v for v in out if v]


def read_quoted(value: str, i: int) -> tuple[str, int]:
    """Read a quoted-string starting at value[i] == '"'; return (unescaped text, index after it)."""
    end = value.find('"', i + 1)
    if end > 0 and "\\" not in value[i + 1 : end]:
        return value[i + 1 : end], end + 1  # the common case: no quoted-pair inside
    out: list[str] = []
    i += 1
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            out.append(value[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SipParseError("unbalanced quotes")


_PARAM = re.compile(r'[ \t]*;[ \t]*([A-Za-z0-9.!%*_+`\'~\[\]/:&$-]+)[ \t]*(?:=[ \t]*("(?:[^"\\]|\\.)*"|[^; \t"]+))?[ \t]*')


def parse_params(text: str) -> dict[str, str]:
    """Parse ';name=value;flag' (the leading ';' optional). Names lower-cased; quoted values unquoted.
    One regex step per parameter: this runs for every Via, From, To and Contact (hot path)."""
    params: dict[str, str] = {}
    if not text.lstrip(" \t").startswith(";"):
        text = ";" + text
    pos = 0
    n = len(text)
    match = _PARAM.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            if text[pos:].strip(" \t;") == "":
                break
            raise SipParseError("malformed parameters")
        val = m.group(2)
        if val is None:
            params[m.group(1).lower()] = ""
        elif val[0] == '"':
            params[m.group(1).lower()] = read_quoted(val, 0)[0]
        else:
            params[m.group(1).lower()] = val
        pos = m.end()
    return params


def format_params(params: dict[str, str]) -> str:
    parts = []
    for k, v in params.items():
        if v == "":
            parts.append(";" + k)
        elif all(c in TOKEN_CHARS or c in "[]:" for c in v):
            parts.append(f";{k}={v}")
        else:
            parts.append(f';{k}="{quote(v)}"')
    return "".join(parts)


def quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def unescape(text: str) -> str:
    """%HH decoding (RFC 3261 §19.1.2 escapes); malformed escapes are a parse error."""
    if "%" not in text:
        return text
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25:
            h = raw[i + 1 : i + 3]
            if len(h) != 2 or not all(c in b"0123456789abcdefABCDEF" for c in h):
                raise SipParseError("bad %-escape")
            out.append(int(h, 16))
            i += 3
        else:
            out.append(b)
            i += 1
    return out.decode("utf-8", "surrogateescape")
