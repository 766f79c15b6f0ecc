"""Password and PIN checks run scrypt on the hasher's threads, never on the event loop; refusals stay alike."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.auth.errors import LoginLocked, Unauthorized
from appliance.auth.service import MAX_FAILURES, AuthService
from appliance.calls.agents import AgentDirectory, LoginRefused
from appliance.clock import ManualClock
from appliance.configuration.service import Actor, ConfigService
from appliance.domain import models as m
from appliance.domain.kinds import all_kinds
from appliance.records.sqlite_store import RecordStore
from appliance.security import passwords
from appliance.security.passwords import DUMMY_HASH, PasswordHasher, hash_password
from appliance.store.config_store import ConfigStore

ADMIN_PASSWORD = "a long admin password"


@dataclass
class Box:
    auth: AuthService
    agents: AgentDirectory
    hasher: PasswordHasher
    checks: list[tuple[str, str]]  # (thread name, stored hash) of every scrypt verification


@pytest.fixture
async def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Box]:
    store = ConfigStore.open(tmp_path, all_kinds())
    records = RecordStore.open(tmp_path / "records.sqlite3")
    config = ConfigService(store, records, ManualClock())
    hasher = PasswordHasher()
    auth = AuthService(config, ManualClock(), hasher)
    await auth.ensure_admin()
    await config.set_secret("users", "admin", ADMIN_PASSWORD, Actor("admin"))
    await store.create("staff", m.Staff(employee_no="1001", name="Li Lei", pin_hash=hash_password("2468")))
    await store.create("staff", m.Staff(employee_no="1002", name="Han Meimei", pin_hash=hash_password("1357"),
                                        status=m.StaffStatus.LEFT))
    checks: list[tuple[str, str]] = []
    real = passwords.verify_password

    def recording(password: str, stored: str) -> bool:
        checks.append((threading.current_thread().name, stored))
        return real(password, stored)

    monkeypatch.setattr(passwords, "verify_password", recording)
    try:
        yield Box(auth, AgentDirectory(store, hasher), hasher, checks)
    finally:
        hasher.close()
        records.close()
        store.close()


def off_the_loop(checks: list[tuple[str, str]]) -> None:
    loop_thread = threading.current_thread().name
    assert checks and all(name != loop_thread and name.startswith("password-hash") for name, _ in checks)


async def test_a_web_login_works_and_hashes_on_another_thread(box: Box) -> None:
    token, session = await box.auth.login("admin", ADMIN_PASSWORD, "10.0.0.1")
    assert session.user == "admin" and box.auth.authenticate(token) == session
    off_the_loop(box.checks)


async def test_an_unknown_user_costs_a_real_hash_and_is_refused_like_a_wrong_password(box: Box) -> None:
    errors = []
    for name in ("admin", "nobody"):
        with pytest.raises(Unauthorized) as exc:
            await box.auth.login(name, "wrong password", "10.0.0.1")
        errors.append((exc.value.error_id, exc.value.message, exc.value.http_status))
    assert errors[0] == errors[1]
    assert len(box.checks) == 2 and box.checks[1][1] == DUMMY_HASH
    off_the_loop(box.checks)


async def test_guesses_sent_together_get_no_more_answers_than_the_lockout_allows(box: Box) -> None:
    results = await asyncio.gather(
        *(box.auth.login("admin", f"guess {i}", "10.0.0.2") for i in range(3 * MAX_FAILURES)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Unauthorized) for r in results) == MAX_FAILURES
    assert all(isinstance(r, (Unauthorized, LoginLocked)) for r in results)
    with pytest.raises(LoginLocked):  # even the right password, until the lock expires
        await box.auth.login("admin", ADMIN_PASSWORD, "10.0.0.2")


async def test_an_agent_logs_in_with_the_right_pin_hashed_off_the_loop(box: Box) -> None:
    assert await box.agents.check_login("8001", ("1001", "2468")) == "1001"
    off_the_loop(box.checks)


@pytest.mark.parametrize(("agent", "pin"), [("1001", "9999"), ("4040", "2468"), ("1002", "1357")],
                         ids=["wrong PIN", "unknown agent", "agent who left"])
async def test_a_refused_pin_is_refused_the_same_way_after_the_same_work(box: Box, agent: str, pin: str) -> None:
    with pytest.raises(LoginRefused) as exc:
        await box.agents.check_login("8001", (agent, pin))
    assert (exc.value.error_id, exc.value.message, exc.value.message_zh) == \
        ("login_refused", "agent number or PIN is wrong", "工号或密码错误")
    assert len(box.checks) == 1  # one scrypt, whether or not there was a PIN to check
    off_the_loop(box.checks)


async def test_the_loop_keeps_ticking_while_pins_are_hashed(box: Box) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await asyncio.gather(*(box.agents.check_login("8001", ("1001", "2468")) for _ in range(6)))
    elapsed = time.perf_counter() - started
    done.set()
    await ticker
    one_hash = elapsed / 3  # six hashes on two threads
    assert max(gaps) < one_hash / 2, (max(gaps), one_hash)


async def test_the_hasher_uses_at_most_its_threads_and_lets_them_go_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(max_workers=2)
    stored = hash_password("secret")
    used: set[int] = set()
    real = passwords.verify_password

    def watch(password: str, s: str) -> bool:
        used.add(threading.get_ident())
        return real(password, s)

    monkeypatch.setattr(passwords, "verify_password", watch)
    results = await asyncio.gather(*(hasher.verify("secret", stored) for _ in range(8)))
    assert all(results) and 1 <= len(used) <= 2 and threading.get_ident() not in used
    assert await hasher.hash("x") != await hasher.hash("x")  # salted
    hasher.close()
    for _ in range(100):
        if not used & {t.ident for t in threading.enumerate()}:
            break
        await asyncio.sleep(0.01)
    assert not used & {t.ident for t in threading.enumerate()}


async def test_a_lockout_blocks_the_guessing_source_never_the_owner_elsewhere(box: Box,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    for i in range(MAX_FAILURES):
        with pytest.raises(Unauthorized):
            await box.auth.login("admin", f"guess {i}", "198.51.100.7")
    with pytest.raises(LoginLocked):
        await box.auth.login("admin", ADMIN_PASSWORD, "198.51.100.7")
    assert any("198.51.100.7 blocked" in r.getMessage() for r in caplog.records)
    token, session = await box.auth.login("admin", ADMIN_PASSWORD, "10.0.0.9")  # the owner, at their own desk
    assert session.user == "admin" and box.auth.authenticate(token) == session


async def test_a_session_ends_after_the_idle_time_and_stays_while_used(box: Box) -> None:
    from appliance.auth.errors import Unauthorized as Expired
    from appliance.auth.service import IDLE_SECONDS

    clock = box.auth.clock
    assert isinstance(clock, ManualClock)
    token, _ = await box.auth.login("admin", ADMIN_PASSWORD, "10.0.0.5")
    for _ in range(4):  # used every so often: it lives past the idle time in total
        clock.advance(IDLE_SECONDS * 0.9)
        box.auth.authenticate(token)
    clock.advance(IDLE_SECONDS + 1)
    with pytest.raises(Expired):
        box.auth.authenticate(token)


async def test_the_csrf_token_belongs_to_its_session(box: Box) -> None:
    one, _ = await box.auth.login("admin", ADMIN_PASSWORD, "10.0.0.5")
    two, _ = await box.auth.login("admin", ADMIN_PASSWORD, "10.0.0.5")
    assert box.auth.csrf_valid(one, box.auth.csrf_token(one))
    assert not box.auth.csrf_valid(one, box.auth.csrf_token(two))
    assert not box.auth.csrf_valid(one, "") and not box.auth.csrf_valid(one, None)
