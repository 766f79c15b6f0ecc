"""Authentication: setup token, password login, bearer/cookie sessions, lockout.

The admin account exists from the first start but has no password. The running appliance prints a
one-time setup token; until it is used to set the password, the API refuses everything else. Sessions are
random tokens kept (as SHA-256 digests) in memory: a restart logs everyone out, which is acceptable for an
admin UI and keeps no session secret on disk. A session ends after `IDLE_SECONDS` without use, and after
`SESSION_TTL` in any case.

Failed logins are counted per (source address, account) pair, never per account alone (`lockout.Lockout`):
past a few failures each answer is delayed more, then that *pair* is refused for a while, while the account's
owner still signs in from their own desk; a source spraying many accounts is refused as a whole, and an
account attacked from many sources raises `LoginUnderAttack`. Blocks, lifts and expiries go to the audit
log; the thresholds are the `login_lockout` setting. Locking the account instead would hand any attacker a
way to lock every agent out (no user enumeration either: an unknown user fails the same way, after the same
scrypt work). Password checks run on the `PasswordHasher`'s threads, never on the event loop.

Pages send a CSRF token with every change made with the session cookie: an HMAC of the session token under
a key that lives only in this process, so it needs no storage and dies with the session.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from appliance.auth.errors import LoginLocked, SetupRequired, Unauthorized
from appliance.auth.events import LoginBlocked, LoginUnblocked, LoginUnderAttack
from appliance.auth.lockout import Block, Lockout, LockoutPolicy, Outcome
from appliance.auth.models import Session
from appliance.clock import Clock
from appliance.configuration.service import Actor, ConfigService, check_password
from appliance.domain import models as m
from appliance.errors import Forbidden, ValidationFailed
from appliance.events import Event, EventBus
from appliance.records.models import AuditEntry
from appliance.security.passwords import PasswordHasher, generate_token, token_digest

log = logging.getLogger(__name__)

SESSION_TTL = 8 * 3600.0
IDLE_SECONDS = 30 * 60.0
MAX_FAILURES = LockoutPolicy().max_failures  # per (source, account) pair, by default
LOCK_SECONDS = LockoutPolicy().block_seconds
POLICY_SETTING = "login_lockout"
SETUP_ACCOUNT = "#setup"  # guesses of the setup token are counted as failures against this name


@dataclass
class AuthService:
    config: ConfigService
    clock: Clock
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    bus: EventBus | None = None  # blocks are published (alarm table, SNMP notification)
    _setup_digest: str | None = None
    _sessions: dict[str, Session] = field(default_factory=dict)
    lockout: Lockout = field(default_factory=Lockout)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # the progressive delay (tests pass their own)
    _last_used: dict[str, float] = field(default_factory=dict)
    _csrf_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # counts sessions ended on purpose (log-outs, a user's sessions dropped): a long-lived reader such as the
    # event stream re-checks its session when this moves, instead of hashing its token for every batch
    sessions_ended: int = 0

    ADMIN = "admin"

    def __post_init__(self) -> None:
        stored = self.config.store.settings.get(POLICY_SETTING)
        if stored is not None:
            try:
                self.lockout.policy = LockoutPolicy.parse(stored, self.lockout.policy)
            except ValidationFailed as exc:
                log.error("the %s setting is unreadable (%s); using the defaults", POLICY_SETTING, exc)

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

    async def complete_setup(self, token: str, password: Any, source: str) -> tuple[str, Session]:
        """Set the admin password with the one-time token; the installer who proved both is signed in at once
        (the first-boot wizard follows without a second sign-in)."""
        if not self.setup_required:
            raise Forbidden("setup is already complete", "已完成初始设置", error_id="setup_done")
        self._check_locks(source, SETUP_ACCOUNT)
        if self._setup_digest is None or token_digest(str(token)) != self._setup_digest:
            await self._fail(source, SETUP_ACCOUNT)
            raise Unauthorized("the setup token is not valid", "设置令牌无效")
        check_password(password)
        await self.config.set_secret("users", self.ADMIN, password, Actor(self.ADMIN, source))
        self._setup_digest = None
        admin = self.config.store.find("users", self.ADMIN)
        assert admin is not None
        return self._open_session(admin)

    async def login(self, name: str, password: str, source: str) -> tuple[str, Session]:
        if self.setup_required:
            raise SetupRequired()
        self._check_locks(source, name)
        user = self.config.store.find("users", name)
        stored = user.password_hash if user is not None and not user.disabled else ""
        matches = await self.hasher.verify(password, stored)
        # Guesses sent together all pass the first check; whatever locked meanwhile hides their answers, so
        # no more than MAX_FAILURES guesses per lock period are ever answered.
        self._check_locks(source, name)
        if not matches:
            await self._fail(source, name)
            raise Unauthorized("wrong user name or password", "用户名或密码错误")
        self.lockout.success(source, name, self.clock.wall())
        assert user is not None
        return self._open_session(user)

    def _open_session(self, user: m.User) -> tuple[str, Session]:
        token = generate_token()
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
        self.sessions_ended += 1

    def drop_sessions_of(self, user: str) -> None:
        for digest, session in list(self._sessions.items()):
            if session.user == user:
                del self._sessions[digest]
                self._last_used.pop(digest, None)
        self.sessions_ended += 1

    # ---- lockout

    def blocks(self) -> list[dict[str, Any]]:
        """The sign-in blocks in force (pairs and whole sources), for the admin."""
        now = self.clock.wall()
        self._sweep(now)
        return [b.to_dict(now) for b in self.lockout.blocks(now)]

    def lift(self, source: str, account: str | None, actor: Actor) -> int:
        """Lift `source`'s blocks (only the one against `account` when given); each lift is audited."""
        lifted = self.lockout.lift(source, account)
        for block in lifted:
            self._audit_block("unblock", block, actor.name, {"reason": "lifted"})
            log.warning("web login: %s lifted the block of %s (%s)", actor.name, block.source,
                        f"account {block.account}" if block.account else "every account")
            self._publish(LoginUnblocked(source=block.source, account=block.account, reason="lifted"))
        return len(lifted)

    @property
    def policy(self) -> LockoutPolicy:
        return self.lockout.policy

    async def set_policy(self, change: Any, actor: Actor) -> LockoutPolicy:
        before = self.lockout.policy
        after = LockoutPolicy.parse(change, before)
        await self.config.replace_setting(POLICY_SETTING, before.to_dict(), after.to_dict(), actor)
        self.lockout.policy = after
        return after

    def _check_locks(self, source: str, account: str) -> None:
        now = self.clock.wall()
        self._sweep(now)
        block = self.lockout.blocked(source, account, now)
        if block is not None:
            raise LoginLocked(int(block.until - now) + 1)

    async def _fail(self, source: str, account: str) -> None:
        now = self.clock.wall()
        outcome: Outcome = self.lockout.failure(source, account, now)
        if outcome.block is not None:
            block = outcome.block
            log.warning("web login: %s blocked for %.0f s after %d failed attempts (%s)", block.source,
                        block.seconds, block.failures, f"account {block.account}" if block.account else "every account")
            self._audit_block("block", block, "system", {"seconds": block.seconds, "failures": block.failures})
            self._publish(LoginBlocked(source=block.source, account=block.account, seconds=block.seconds,
                                       failures=block.failures))
        if outcome.attack is not None:
            attack = outcome.attack
            log.warning("web login: account %s attacked from %d sources (%d failures); those sources are slowed",
                        attack.account, len(attack.sources), attack.failures)
            self.config.records.append_audit(AuditEntry(
                at=now, actor="system", action="attack", kind="login_block", key=attack.account,
                after={"failures": attack.failures, "sources": list(attack.sources)}, source=""))
            self._publish(LoginUnderAttack(account=attack.account, failures=attack.failures,
                                           sources=list(attack.sources)))
        if outcome.delay > 0:
            await self.sleep(outcome.delay)

    def _sweep(self, now: float) -> None:
        for block in self.lockout.expired(now):
            self._audit_block("unblock", block, "system", {"reason": "expired"})
            self._publish(LoginUnblocked(source=block.source, account=block.account, reason="expired"))

    def _audit_block(self, action: str, block: Block, actor: str, after: dict[str, Any]) -> None:
        self.config.records.append_audit(AuditEntry(
            at=self.clock.wall(), actor=actor, action=action, kind="login_block",
            key=f"{block.account}@{block.source}" if block.account else block.source, after=after,
            source=block.source))

    def _publish(self, event: Event) -> None:
        if self.bus is not None:
            self.bus.publish(replace(event, at=self.clock.wall()))

    def _expire(self) -> None:
        now = self.clock.wall()
        for digest, session in list(self._sessions.items()):
            if session.expires < now or now - self._last_used.get(digest, 0.0) > IDLE_SECONDS:
                del self._sessions[digest]
                self._last_used.pop(digest, None)

