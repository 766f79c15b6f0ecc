"""Authentication: setup token, password login, bearer/cookie sessions, lockout.

The admin account exists from the first start but has no password. The running appliance prints a
one-time setup token; until it is used to set the password, the API refuses everything else. Sessions are
random tokens kept (as SHA-256 digests) in memory: a restart logs everyone out, which is acceptable for an
admin UI and keeps no session secret on disk. A session ends after `IDLE_SECONDS` without use, and after
`SESSION_TTL` in any case.

Failed logins are counted per source address, never per account: past the limit that *source* is refused
for a while and the block is logged, while the account's owner still signs in from their own desk. Locking
the account instead would hand any attacker a way to lock every agent out (no user enumeration either: an
unknown user fails the same way, after the same scrypt work). Password checks run on the `PasswordHasher`'s
threads, never on the event loop.

Pages send a CSRF token with every change made with the session cookie: an HMAC of the session token under
a key that lives only in this process, so it needs no storage and dies with the session.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from appliance.auth.errors import LoginLocked, SetupRequired, Unauthorized
from appliance.auth.events import LoginBlocked
from appliance.auth.models import Session
from appliance.clock import Clock
from appliance.configuration.service import Actor, ConfigService, check_password
from appliance.domain import models as m
from appliance.errors import Forbidden
from appliance.events import EventBus
from appliance.security.passwords import PasswordHasher, generate_token, token_digest

log = logging.getLogger(__name__)

SESSION_TTL = 8 * 3600.0
IDLE_SECONDS = 30 * 60.0
MAX_FAILURES = 10  # per source address
LOCK_SECONDS = 300.0


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass
class AuthService:
    config: ConfigService
    clock: Clock
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    bus: EventBus | None = None  # blocks are published (alarm table, SNMP notification)
    _setup_digest: str | None = None
    _sessions: dict[str, Session] = field(default_factory=dict)
    _failures: dict[str, _Failures] = field(default_factory=dict)
    _last_used: dict[str, float] = field(default_factory=dict)
    _csrf_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    ADMIN = "admin"

    async def ensure_admin(self) -> None:
        if self.config.store.find("users", self.ADMIN) is None:
            await self.config.store.create("users", m.User(name=self.ADMIN, role=m.Role.ADMIN))

    @property
    def setup_required(self) -> bool:
        admin = self.config.store.find("users", self.ADMIN)
        return admin is None or not admin.password_hash

    def issue_setup_token(self) -> str | None:
        """A new one-time token when the admin password is unset (else None). Printed by `appliance run`."""
        if not self.setup_required:
            self._setup_digest = None
            return None
        token = generate_token(18)
        self._setup_digest = token_digest(token)
        return token

    async def complete_setup(self, token: str, password: Any, source: str) -> None:
        if not self.setup_required:
            raise Forbidden("setup is already complete", "已完成初始设置", error_id="setup_done")
        self._check_locks((f"src:{source}",))
        if self._setup_digest is None or token_digest(str(token)) != self._setup_digest:
            self._fail(f"src:{source}")
            raise Unauthorized("the setup token is not valid", "设置令牌无效")
        check_password(password)
        await self.config.set_secret("users", self.ADMIN, password, Actor(self.ADMIN, source))
        self._setup_digest = None

    async def login(self, name: str, password: str, source: str) -> tuple[str, Session]:
        if self.setup_required:
            raise SetupRequired()
        keys = (f"src:{source}",)
        self._check_locks(keys)
        user = self.config.store.find("users", name)
        stored = user.password_hash if user is not None and not user.disabled else ""
        matches = await self.hasher.verify(password, stored)
        # Guesses sent together all pass the first check; whatever locked meanwhile hides their answers, so
        # no more than MAX_FAILURES guesses per lock period are ever answered.
        self._check_locks(keys)
        if not matches:
            for key in keys:
                self._fail(key)
            raise Unauthorized("wrong user name or password", "用户名或密码错误")
        token = generate_token()
        assert user is not None
        session = Session(user.name, user.role, self.clock.wall() + SESSION_TTL, user.staff)
        self._sessions[token_digest(token)] = session
        self._last_used[token_digest(token)] = self.clock.wall()
        self._expire()
        return token, session

    def authenticate(self, token: str | None) -> Session:
        if self.setup_required:
            raise SetupRequired()
        if not token:
            raise Unauthorized()
        digest = token_digest(token)
        session = self._sessions.get(digest)
        now = self.clock.wall()
        if session is None or session.expires < now or now - self._last_used.get(digest, 0.0) > IDLE_SECONDS:
            self._sessions.pop(digest, None)
            self._last_used.pop(digest, None)
            raise Unauthorized("the session has expired or is unknown; log in again", "会话已过期或无效,请重新登录")
        self._last_used[digest] = now
        return session

    def csrf_token(self, token: str) -> str:
        """The token a page sends back with every change it makes under this session."""
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()[:40]

    def csrf_valid(self, token: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token(token), str(presented))

    def logout(self, token: str) -> None:
        self._sessions.pop(token_digest(token), None)
        self._last_used.pop(token_digest(token), None)

    def drop_sessions_of(self, user: str) -> None:
        for digest, session in list(self._sessions.items()):
            if session.user == user:
                del self._sessions[digest]
                self._last_used.pop(digest, None)

    def _check_locks(self, keys: tuple[str, ...]) -> None:
        now = self.clock.wall()
        for key in keys:
            failures = self._failures.get(key)
            if failures is not None and failures.locked_until > now:
                raise LoginLocked(int(failures.locked_until - now) + 1)

    def _fail(self, key: str) -> None:
        failures = self._failures.setdefault(key, _Failures())
        failures.count += 1
        if failures.count >= MAX_FAILURES:
            failures.locked_until = self.clock.wall() + LOCK_SECONDS
            failures.count = 0
            log.warning("web login: %s blocked for %.0f s after %d failed attempts", key.removeprefix("src:"),
                        LOCK_SECONDS, MAX_FAILURES)
            if self.bus is not None and key.startswith("src:"):
                self.bus.publish(LoginBlocked(at=self.clock.wall(), source=key.removeprefix("src:"),
                                              seconds=LOCK_SECONDS, failures=MAX_FAILURES))

    def _expire(self) -> None:
        now = self.clock.wall()
        for digest, session in list(self._sessions.items()):
            if session.expires < now or now - self._last_used.get(digest, 0.0) > IDLE_SECONDS:
                del self._sessions[digest]
                self._last_used.pop(digest, None)
