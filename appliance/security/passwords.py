"""Password hashing for people (scrypt) and digest HA1s for SIP (RFC 2617 / RFC 8760).

Login passwords and PINs are stored only as salted scrypt hashes. SIP needs the digest HA1
(H(username:realm:password)) to check a phone's response, so extensions store HA1s — never the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    salt = base64.b64decode(salt_b64)
    expected = base64.b64decode(digest_b64)
    actual = hashlib.scrypt(password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected))
    return hmac.compare_digest(actual, expected)


def sip_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    data = f"{username}:{realm}:{password}".encode()
    if algorithm.upper() in ("SHA-256", "SHA256"):
        return hashlib.sha256(data).hexdigest()
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def generate_password(length: int = 12) -> str:
    """A password a person can type on a phone keypad is not needed here: these go into softphones."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generate_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
