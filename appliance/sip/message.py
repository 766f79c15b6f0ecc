"""SIP message syntax: parsing, validation and serialisation.

Implements RFC 3261 §7 (message structure, header folding, compact forms, comma-joined and repeated header
fields), §19.1 (SIP/SIPS URIs with escapes, parameters and headers), §20 (the header fields a UA and registrar
use, with the single-value rules), §25 (the ABNF where it matters for rejecting malformed input: start lines,
name-addr/addr-spec, quoted strings, CSeq, Max-Forwards, Content-Length) and §18.3 (Content-Length framing
on streams; trailing octets of a datagram ignored). TEL URIs (RFC 3966) are kept as opaque strings.

The parser is strict where RFC 4475 expects a rejection and lenient where RFC 3261 asks for robustness
(RFC 2543 requests without Max-Forwards or a magic-cookie branch are accepted). It raises only
`SipParseError`; when the fault is found after the framing, the error carries the partial message so a
request can still be answered with 400 (or 505 for an unknown version).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

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
_REQUEST_LINE = re.compile(r"([A-Za-z0-9.!%*_+`'~-]+) ([^ \t]+) (SIP/[0-9]+\.[0-9]+)\Z")
_STATUS_LINE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?\Z", re.S)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_CSEQ = re.compile(r"([0-9]{1,10})[ \t]+([A-Za-z0-9.!%*_+`'~-]+)\Z")
_VIA = re.compile(r"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z0-9.!%*_+`'~-]+)[ \t]+([^;]+?)[ \t]*(;.*)?\Z", re.S)
_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+\Z")
# name, optional whitespace, colon, value without the surrounding whitespace (one C call per header line)
_HEADER_LINE = re.compile(r"([A-Za-z0-9.!%*_+`'~-]+)[ \t]*:[ \t]*(.*)", re.S)
_URI_BAD = re.compile(r"[ \t\r\n<>\"]")

MAX_MESSAGE = 65535


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


# --------------------------------------------------------------------------------------------------------
# Small syntax helpers


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


# --------------------------------------------------------------------------------------------------------
# URIs, name-addr, Via


@dataclass(slots=True)
class SipUri:
    """A SIP/SIPS URI (RFC 3261 §19.1), or another scheme kept opaque in `opaque`."""

    scheme: str = "sip"
    user: str | None = None  # still escaped, as on the wire
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: str | None = None  # the raw "?..." part without the '?'
    opaque: str | None = None  # the whole URI when the scheme is not sip/sips

    @property
    def is_sip(self) -> bool:
        return self.opaque is None

    @property
    def user_unescaped(self) -> str | None:
        return unescape(self.user) if self.user is not None else None

    def host_port(self, default: int = 5060) -> tuple[str, int]:
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        return host, self.port if self.port is not None else (5061 if self.scheme == "sips" else default)

    def __str__(self) -> str:
        if self.opaque is not None:
            return self.opaque
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        if self.params:
            out.append(format_uri_params(self.params))
        if self.headers:
            out.append("?" + self.headers)
        return "".join(out)


def format_uri_params(params: dict[str, str]) -> str:
    return "".join(f";{k}={v}" if v != "" else f";{k}" for k, v in params.items())


def parse_uri(text: str) -> SipUri:
    m = _SCHEME.match(text)
    if not m:
        raise SipParseError(f"not a URI: {text[:40]!r}")
    scheme = m.group(1).lower()
    if _URI_BAD.search(text):
        raise SipParseError("whitespace or delimiters inside a URI")
    if scheme not in ("sip", "sips"):
        return SipUri(scheme=scheme, opaque=text)
    rest = text[m.end():]
    headers = None
    user = password = None
    # the user part may hold '?' and ';' (user-unreserved), so cut it off at the last '@' first
    at = rest.rfind("@")
    userinfo = rest[:at] if at >= 0 else None
    rest = rest[at + 1 :]
    if "?" in rest:
        rest, headers = rest.split("?", 1)
    if userinfo is not None:
        if ":" in userinfo:
            user, password = userinfo.split(":", 1)
        else:
            user = userinfo
        if not user:
            raise SipParseError("empty user part")
        unescape(user)
    params: dict[str, str] = {}
    if ";" in rest:
        rest, ptext = rest.split(";", 1)
        for item in ptext.split(";"):
            if not item:
                raise SipParseError("empty URI parameter")
            k, _, v = item.partition("=")
            params[k.lower()] = v
    hm = _HOSTPORT.match(rest)
    if not hm:
        raise SipParseError(f"bad host in URI: {rest[:40]!r}")
    port = int(hm.group(2)) if hm.group(2) else None
    if port is not None and port > 65535:
        raise SipParseError("port out of range")
    return SipUri(scheme, user, password, hm.group(1).lower(), port, params, headers)


@dataclass(slots=True)
class NameAddr:
    """name-addr or addr-spec with header parameters (From, To, Contact, Route, Refer-To...)."""

    uri: str
    display: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    angle: bool = True
    _parsed: SipUri | None = field(default=None, repr=False, compare=False)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def parsed_uri(self) -> SipUri:
        """The URI parsed (kept from validation; treat as read-only)."""
        if self._parsed is None:
            self._parsed = parse_uri(self.uri)
        return self._parsed

    def __str__(self) -> str:
        head = f'"{quote(self.display)}" ' if self.display else ""
        return f"{head}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    v = value.strip(" \t")
    if v == "*":
        return NameAddr("*", None, {}, False)
    display: str | None = None
    if v.startswith('"'):
        display, i = read_quoted(v, 0)
        rest = v[i:].lstrip(" \t")
        if not rest.startswith("<"):
            raise SipParseError("quoted display name without <uri>")
        v = rest
    lt = v.find("<")
    if lt >= 0:
        if lt > 0:
            words = v[:lt].split()
            if not all(_TOKEN.match(w) for w in words):
                raise SipParseError("display name must be tokens or a quoted string")
            display = " ".join(words)
        gt = v.find(">", lt)
        if gt < 0:
            raise SipParseError("missing '>'")
        uri = v[lt + 1 : gt]
        if not uri or uri[0] in " \t" or uri[-1] in " \t":
            raise SipParseError("whitespace inside <>")
        parsed = parse_uri(uri)
        params = parse_params(v[gt + 1 :]) if v[gt + 1 :].strip() else {}
        return NameAddr(uri, display, params, True, parsed)
    # addr-spec: the URI cannot carry ';', ',' or '?' here — they would belong to the header (§20).
    semi = v.find(";")
    uri = v if semi < 0 else v[:semi].rstrip(" \t")
    if "?" in uri or "," in uri or " " in uri:
        raise SipParseError("addr-spec with '?', ',' or spaces must be in <>")
    parsed = parse_uri(uri)
    params = parse_params(v[semi:]) if semi >= 0 else {}
    return NameAddr(uri, None, params, False, parsed)


@dataclass(slots=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def __str__(self) -> str:
        hp = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"SIP/2.0/{self.transport} {hp}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    m = _VIA.match(value.strip())
    if not m:
        raise SipParseError("bad Via")
    hp = m.group(2)
    if " " in hp or "\t" in hp:
        hp = re.sub(r"[ \t]+", "", hp)
    hm = _HOSTPORT.match(hp)
    if not hm:
        raise SipParseError("bad Via sent-by")
    port = int(hm.group(2)) if hm.group(2) else None
    if port is not None and port > 65535:
        raise SipParseError("Via port out of range")
    params = parse_params(m.group(3)) if m.group(3) else {}
    return Via(m.group(1).upper(), hm.group(1), port, params)


def parse_cseq(value: str) -> tuple[int, str]:
    m = _CSEQ.match(value.strip())
    if not m:
        raise SipParseError("bad CSeq")
    num = int(m.group(1))
    if num >= 2**31:  # RFC 3261 §8.1.1.5: less than 2**31
        raise SipParseError("CSeq number too large")
    return num, m.group(2)


# --------------------------------------------------------------------------------------------------------
# The message


class SipMessage:
    """A request (`method` set) or a response (`status` set). Header names are stored canonical (lower,
    long form); values as received. Content-Length is computed when serialising."""

    __slots__ = ("_contacts", "_cseq", "_from", "_ruri", "_to", "_via_cache", "body", "headers", "method", "reason",
                 "status", "uri", "version")

    def __init__(
        self,
        method: str | None = None,
        uri: str = "",
        status: int = 0,
        reason: str = "",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        self.method = method
        self.uri = uri
        self.status = status
        self.reason = reason
        self.headers: list[tuple[str, str]] = headers if headers is not None else []
        self.body = body
        self.version = version
        self._via_cache: list[Via] | None = None
        # parsed views cached because the core looks at them many times per message (hot path)
        self._from: NameAddr | None = None
        self._to: NameAddr | None = None
        self._cseq: tuple[int, str] | None = None
        self._contacts: list[NameAddr] | None = None
        self._ruri: tuple[str, SipUri] | None = None  # (the text it was parsed from, the result)

    def _invalidate(self, name: str) -> None:
        if name == "via":
            self._via_cache = None
        elif name == "from":
            self._from = None
        elif name == "to":
            self._to = None
        elif name == "cseq":
            self._cseq = None
        elif name == "contact":
            self._contacts = None

    @classmethod
    def request(cls, method: str, uri: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> SipMessage:
        return cls(method, uri, headers=[(canonical_name(k), v) for k, v in headers], body=body)

    @property
    def is_request(self) -> bool:
        return self.method is not None

    # -- header access
    def get(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def get_all(self, name: str) -> list[str]:
        vals = [v for k, v in self.headers if k == name]
        if name in MULTI:
            out: list[str] = []
            for v in vals:
                out.extend(split_commas(v))
            return out
        return vals

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self.headers)

    def add(self, name: str, value: str) -> None:
        self.headers.append((name, value))
        self._invalidate(name)

    def prepend(self, name: str, value: str) -> None:
        self.headers.insert(0, (name, value))
        self._invalidate(name)

    def replace_header(self, name: str, value: str) -> None:
        self.remove(name)
        self.headers.append((name, value))

    def remove(self, name: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k != name]
        self._invalidate(name)

    # -- parsed views of the headers everyone needs
    @property
    def vias(self) -> list[Via]:
        if self._via_cache is None:
            self._via_cache = [parse_via(v) for v in self.get_all("via")]
        return self._via_cache

    def set_top_via(self, via: Via) -> None:
        """Replace the first Via value (used to add received/rport, RFC 3581)."""
        first = True
        new: list[tuple[str, str]] = []
        for k, v in self.headers:
            if k == "via" and first:
                first = False
                rest = split_commas(v)[1:]
                new.append((k, str(via)))
                new.extend(("via", r) for r in rest)
            else:
                new.append((k, v))
        self.headers = new
        self._via_cache = None

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        if self._cseq is None:
            self._cseq = parse_cseq(self.get("cseq") or "")
        return self._cseq

    @property
    def from_(self) -> NameAddr:
        """The From header parsed (cached: treat the result as read-only)."""
        if self._from is None:
            self._from = parse_name_addr(self.get("from") or "")
        return self._from

    @property
    def to(self) -> NameAddr:
        """The To header parsed (cached: treat the result as read-only)."""
        if self._to is None:
            self._to = parse_name_addr(self.get("to") or "")
        return self._to

    @property
    def contacts(self) -> list[NameAddr]:
        """Every Contact value parsed (cached: treat as read-only)."""
        if self._contacts is None:
            self._contacts = [parse_name_addr(c) for c in self.get_all("contact")]
        return self._contacts

    @property
    def request_uri(self) -> SipUri:
        """The Request-URI parsed (cached; `uri` stays the text that is sent)."""
        if self._ruri is None or self._ruri[0] != self.uri:
            self._ruri = (self.uri, parse_uri(self.uri))
        return self._ruri[1]

    @property
    def content_type(self) -> str:
        return (self.get("content-type") or "").split(";")[0].strip().lower()

    def option_tags(self, name: str) -> set[str]:
        return {t.strip().lower() for t in self.get_all(name) if t.strip()}

    # -- wire form
    def serialize(self) -> bytes:
        if self.method is not None:
            lines = [f"{self.method} {self.uri} {self.version}"]
        else:
            lines = [f"{self.version} {self.status} {self.reason}"]
        for k, v in self.headers:
            if k != "content-length":
                lines.append(f"{display_name(k)}: {v}")
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("")
        lines.append("")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __repr__(self) -> str:
        first = f"{self.method} {self.uri}" if self.method else f"{self.status} {self.reason}"
        return f"<SipMessage {first} call-id={self.call_id!r}>"


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
    for line in raw:
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
            if mf is not None and (not _DIGITS.match(mf) or int(mf) > 255):
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
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*\r?$", head)
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


def make_response(req: SipMessage, status: int, reason: str, to_tag: str | None = None) -> SipMessage:
    """A response copying Via, From, To, Call-ID and CSeq from the request (§8.2.6.2)."""
    headers: list[tuple[str, str]] = []
    for k, v in req.headers:
        if k in ("via", "from", "call-id", "cseq"):
            headers.append((k, v))
        elif k == "to":
            if to_tag and ";tag=" not in v.replace(" ", "").lower():
                v = f"{v};tag={to_tag}"
            headers.append((k, v))
    return SipMessage(None, "", status, reason, headers)


REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 183: "Session Progress", 200: "OK",
    202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    422: "Session Interval Too Small", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 603: "Decline",
}


def reason_for(status: int) -> str:
    return REASONS.get(status, "Unknown")
