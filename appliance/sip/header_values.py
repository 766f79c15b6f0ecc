"""Parsed header field values: SIP URIs, name-addr, Via and CSeq.

RFC 3261 §19.1 (SIP and SIPS URIs: user part with escapes, password, host and port, URI parameters and
headers; other schemes such as tel, RFC 3966, kept opaque), §20.10/§25.1 (name-addr and addr-spec with a
display name and header parameters: From, To, Contact, Route, Refer-To), §20.42 (Via: protocol, sent-by and
parameters, with the linear whitespace §7.3.1 allows), §20.16 and §8.1.1.5 (CSeq below 2**31). Malformed
values raise `SipParseError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.sip.errors import SipParseError
from appliance.sip.syntax import format_params, parse_params, quote, read_quoted, unescape

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_CSEQ = re.compile(r"([0-9]{1,10})[ \t]+([A-Za-z0-9.!%*_+`'~-]+)\Z")
_VIA = re.compile(r"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z0-9.!%*_+`'~-]+)[ \t]+([^;]+?)[ \t]*(;.*)?\Z", re.S)
_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?\Z")
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+\Z")
_URI_BAD = re.compile(r"[ \t\r\n<>\"]")


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

