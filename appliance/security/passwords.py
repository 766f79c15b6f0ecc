"""Password hashing for people (scrypt) and digest HA1s for SIP (RFC 2617 / RFC 8760).

Login passwords and PINs are stored only as salted scrypt hashes. SIP needs the digest HA1
(H(username:realm:password)) to check a phone's response, so extensions store HA1s — never the password.

One scrypt costs tens of milliseconds of CPU and 16 MiB, so code on the event loop (web logins, agents'
phone PINs) goes through a `PasswordHasher`: its own pool of a few threads, so the loop relaying RTP never
waits and a login flood queues for those threads instead of starting more (or taking the loop's default
executor from other work). The plain functions stay for the CLI and tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

_N, _R, _P = 2**14, 8, 1
# A real scrypt hash of a random password: checking against it costs what a real check costs, so an unknown
# account is refused as slowly as a wrong password.
DUMMY_HASH = "scrypt$16384$8$1$tS11xWMYDZMo6npfAKfV+w==$ZUfZlsDep5hqWprJ19wEcRHKFmr5zFrpQWqsCXhyOcU="


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


@dataclass
class PasswordHasher:
    """scrypt off the event loop, on at most `max_workers` threads of its own (started on first use).

    The owner calls `close()` when it stops; an unused hasher holds no thread."""

    max_workers: int = 2
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="password-hash")
        return self._pool

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._executor(), hash_password, password)

    async def verify(self, password: str, stored: str | None) -> bool:
        """Whether `password` matches `stored`. With nothing stored (unknown or disabled account, no PIN set)
        the dummy hash is checked instead and the answer is False: the same work, the same refusal."""
        matches = await asyncio.get_running_loop().run_in_executor(
            self._executor(), verify_password, password, stored or DUMMY_HASH
        )
        return matches and bool(stored)

    def close(self) -> None:
        """Let the threads go without waiting for them: a hash in progress finishes, then its thread ends;
        checks still queued are cancelled. The hasher may be used again afterwards (new threads)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=False, cancel_futures=True)


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
