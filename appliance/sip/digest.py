"""HTTP digest authentication for SIP, server and client side.

Implements RFC 3261 §22 (digest for SIP: 401/407 challenges, Authorization / Proxy-Authorization),
RFC 2617 / RFC 7616 §3.4 (response computation, qop=auth, nonce counts, stale=true) and RFC 8760
(SHA-256 beside MD5: one challenge per algorithm, most preferred first).

The server never sees passwords: a `CredentialSource` hands it HA1 = H(user:realm:password) per algorithm.
Nonces are stateless (timestamp + HMAC over it with a per-boot secret), so any number of challenges costs no
memory; only nonces that came back with qop=auth are remembered, to enforce increasing nonce counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from appliance.sip.message import SipMessage

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALGORITHMS = ("SHA-256", "MD5")


def h(algorithm: str, text: str) -> str:
    data = text.encode("utf-8", "surrogateescape")
    if algorithm.upper().startswith("SHA-256"):
        return hashlib.sha256(data).hexdigest()
    return hashlib.md5(data).hexdigest()


def ha1(algorithm: str, user: str, realm: str, password: str) -> str:
    """HA1 as a configuration store keeps it (so the plaintext password need not be kept)."""
    return h(algorithm, f"{user}:{realm}:{password}")


@dataclass(frozen=True, slots=True)
class Credential:
    """What the SIP stack may know about an extension: HA1 per algorithm ("MD5", "SHA-256") for the realm,
    and the networks it may register or call from (empty: anywhere)."""

    extension: str
    ha1: Mapping[str, str]
    allowed_networks: tuple[IPNetwork, ...] = ()

    def allows(self, address: str) -> bool:
        if not self.allowed_networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.allowed_networks)


class CredentialSource(Protocol):
    """Implemented by the configuration store; the SIP package only reads through it."""

    def lookup(self, extension: str, realm: str) -> Credential | None:
        """The credential of `extension` in `realm`, or None when there is no such extension."""


@dataclass
class InMemoryCredentials:
    """A `CredentialSource` over a dict: for tests, the test server and the benchmark."""

    entries: dict[str, Credential] = field(default_factory=dict)

    def add(self, extension: str, password: str, realm: str, networks: tuple[IPNetwork, ...] = ()) -> None:
        self.entries[extension] = Credential(
            extension, {a: ha1(a, extension, realm, password) for a in ALGORITHMS}, networks
        )

    def lookup(self, extension: str, realm: str) -> Credential | None:
        return self.entries.get(extension)


_AUTH_PARAM = re.compile(r'[ \t,]*([^=\s,]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^,]*))')
_QUOTED_PAIR = re.compile(r"\\(.)")


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """'Digest a=b, c="d"' → ("digest", {"a": "b", "c": "d"}). Lenient: returns what it can read.
    One regex step per parameter (every authenticated request goes through here)."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    for m in _AUTH_PARAM.finditer(rest):
        quoted = m.group(2)
        if quoted is not None:
            params[m.group(1).lower()] = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        else:
            params[m.group(1).lower()] = (m.group(3) or "").strip()
    return scheme.lower(), params


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Outcome of checking one request. `status` 0 means authenticated as `extension`."""

    status: int  # 0 ok, 401/407 (challenge, stale or missing), 403 (wrong credentials, identical for unknown)
    extension: str | None = None
    stale: bool = False
    reason: str = ""


class DigestServer:
    def __init__(
        self,
        realm: str,
        credentials: CredentialSource,
        secret: bytes,
        nonce_ttl: float = 300.0,
        algorithms: tuple[str, ...] = ALGORITHMS,
        max_tracked: int = 100_000,
    ) -> None:
        self.realm = realm
        self.credentials = credentials
        self._secret = secret
        self.nonce_ttl = nonce_ttl
        self.algorithms = algorithms
        self._nc: OrderedDict[str, int] = OrderedDict()
        self._max_tracked = max_tracked
        self._serial = 0
        # A fixed HA1 for unknown users, so their check costs the same and fails the same way.
        self._decoy = {a: h(a, "decoy:" + realm + ":" + secret.hex()) for a in ALGORITHMS}

    def make_nonce(self, now: float) -> str:
        # time + a serial number: unique even for many challenges in one millisecond (each nonce gets its
        # own nonce-count space), and the HMAC lets us check it later without remembering it
        self._serial += 1
        stamp = f"{now:.3f}/{self._serial:x}".encode()
        mac = hmac.new(self._secret, stamp, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(stamp + b":" + mac).decode().rstrip("=")

    def _nonce_age(self, nonce: str, now: float) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
            stamp, _, mac = raw.partition(b":")
            good = hmac.new(self._secret, stamp, hashlib.sha256).digest()[:12]
            if not hmac.compare_digest(mac, good):
                return None
            return now - float(stamp.split(b"/")[0])
        except (ValueError, TypeError):
            return None

    def challenges(self, now: float, stale: bool = False) -> list[str]:
        nonce = self.make_nonce(now)
        extra = ", stale=true" if stale else ""
        return [
            f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={a}, qop="auth"{extra}'
            for a in self.algorithms
        ]

    def check(self, method: str, header_values: list[str], source_ip: str, now: float) -> AuthResult:
        """Check the Authorization (or Proxy-Authorization) values of a request."""
        params: dict[str, str] | None = None
        for v in header_values:
            scheme, p = parse_auth_params(v)
            if scheme == "digest" and p.get("realm") == self.realm:
                params = p
                break
        if params is None:
            return AuthResult(401, reason="no credentials for our realm")
        user = params.get("username", "")
        nonce = params.get("nonce", "")
        response = params.get("response", "")
        uri = params.get("uri", "")
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in ("MD5", "SHA-256") or not user or not response:
            return AuthResult(401, reason="unusable credentials")
        age = self._nonce_age(nonce, now)
        if age is None or age < -5:
            return AuthResult(401, reason="nonce not ours")
        cred = self.credentials.lookup(user, self.realm)
        key = cred.ha1.get(algorithm) if cred is not None else None
        secret_ha1 = key if key is not None else self._decoy[algorithm]
        ha2 = h(algorithm, f"{method}:{uri}")
        qop = params.get("qop")
        if qop:
            if qop.lower() != "auth":
                return AuthResult(401, reason="unsupported qop")
            nc_text = params.get("nc", "")
            cnonce = params.get("cnonce", "")
            expected = h(algorithm, f"{secret_ha1}:{nonce}:{nc_text}:{cnonce}:{qop}:{ha2}")
        else:
            nc_text = ""
            expected = h(algorithm, f"{secret_ha1}:{nonce}:{ha2}")
        if not hmac.compare_digest(expected, response.lower()) or key is None or cred is None:
            return AuthResult(403, reason="wrong credentials")  # same answer for unknown users
        if age > self.nonce_ttl:
            return AuthResult(401, stale=True, reason="nonce expired")
        if nc_text:
            try:
                nc = int(nc_text, 16)
            except ValueError:
                return AuthResult(401, reason="bad nonce count")
            last = self._nc.get(nonce, 0)
            if nc <= last:
                return AuthResult(401, stale=True, reason="nonce count replayed")
            self._nc[nonce] = nc
            self._nc.move_to_end(nonce)
            while len(self._nc) > self._max_tracked:
                self._nc.popitem(last=False)
        if not cred.allows(source_ip):
            return AuthResult(403, extension=None, reason="source not in the allowed networks")
        return AuthResult(0, extension=user)


@dataclass
class DigestClient:
    """Answers challenges from a provider (trunk registration, outbound INVITE through a trunk)."""

    username: str
    password: str
    cnonce_seed: bytes = b"x"
    _nc: dict[str, int] = field(default_factory=dict)

    def authorization(self, challenge: str, method: str, uri: str) -> str | None:
        scheme, p = parse_auth_params(challenge)
        if scheme != "digest" or "nonce" not in p:
            return None
        algorithm = p.get("algorithm", "MD5")
        if algorithm.upper() not in ("MD5", "SHA-256"):
            return None
        realm = p.get("realm", "")
        nonce = p["nonce"]
        a1 = h(algorithm, f"{self.username}:{realm}:{self.password}")
        a2 = h(algorithm, f"{method}:{uri}")
        parts = [
            f'username="{self.username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
            f"algorithm={algorithm}",
        ]
        qops = [q.strip() for q in p.get("qop", "").split(",") if q.strip()]
        if "auth" in qops:
            nc = self._nc.get(nonce, 0) + 1
            self._nc[nonce] = nc
            cnonce = hashlib.sha256(self.cnonce_seed + nonce.encode() + str(nc).encode()).hexdigest()[:16]
            resp = h(algorithm, f"{a1}:{nonce}:{nc:08x}:{cnonce}:auth:{a2}")
            parts += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
        else:
            resp = h(algorithm, f"{a1}:{nonce}:{a2}")
        parts.append(f'response="{resp}"')
        if "opaque" in p:
            parts.append(f'opaque="{p["opaque"]}"')
        return "Digest " + ", ".join(parts)

    def answer(self, resp: SipMessage, method: str, uri: str) -> tuple[str, str] | None:
        """The header field that answers the challenge of a 401 or 407 (RFC 3261 §22.2, §22.3) as (name,
        value); None when the response offers no challenge we can answer."""
        proxy = resp.status == 407
        challenge = self.pick(resp.get_all("proxy-authenticate" if proxy else "www-authenticate"))
        auth = self.authorization(challenge, method, uri) if challenge else None
        return None if auth is None else ("proxy-authorization" if proxy else "authorization", auth)

    @staticmethod
    def pick(challenges: list[str]) -> str | None:
        """The first challenge we can answer (RFC 8760: the server lists its preference first)."""
        for c in challenges:
            scheme, p = parse_auth_params(c)
            if scheme == "digest" and p.get("algorithm", "MD5").upper() in ("MD5", "SHA-256"):
                return c
        return None
