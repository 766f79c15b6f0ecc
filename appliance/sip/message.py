"""The SIP message: a request or a response, its header fields, its wire form, and responses built from it.

RFC 3261 §7 (start line, header fields kept in order with canonical names, Content-Length computed when
serialising, §20.14), §8.2.6.2 (a response copies Via, From, To, Call-ID and CSeq from the request and adds
a To tag) and §21 (the reason phrases). Reading bytes into a message is `parser.parse`.
"""

from __future__ import annotations

from collections.abc import Iterable

from appliance.sip.header_values import (
    NameAddr,
    SipUri,
    Via,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
)
from appliance.sip.syntax import MULTI, canonical_name, display_name, split_commas


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
