"""The sign-in lockout: the pure policy (pairs, sprays, spread attacks, lifts, bounds), then the auth service
around it (audit log, bus events, progressive delay, the policy kept in the settings)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.auth.errors import LoginLocked, Unauthorized
from appliance.auth.events import LoginBlocked, LoginUnblocked, LoginUnderAttack
from appliance.auth.lockout import Lockout, LockoutPolicy
from appliance.auth.service import POLICY_SETTING, AuthService
from appliance.clock import ManualClock
from appliance.configuration.service import Actor, ConfigService
from appliance.domain import models as m
from appliance.domain.kinds import all_kinds
from appliance.errors import ValidationFailed
from appliance.events import Event, EventBus
from appliance.records.sqlite_store import RecordStore
from appliance.security.passwords import PasswordHasher
from appliance.store.config_store import ConfigStore

P = LockoutPolicy()


def fail(lock: Lockout, source: str, account: str, now: float, times: int) -> list[float]:
    return [lock.failure(source, account, now).delay for _ in range(times)]


# ---- the policy alone


def test_a_pair_is_slowed_then_blocked_and_nobody_else_is() -> None:
    lock = Lockout()
    delays = fail(lock, "198.51.100.7", "1001", 0.0, P.max_failures - 1)
    assert delays == [0.0] * P.free_failures + [0.25, 0.5, 1.0, 2.0]  # doubling from base_delay, capped
    assert lock.blocked("198.51.100.7", "1001", 0.0) is None
    outcome = lock.failure("198.51.100.7", "1001", 0.0)
    assert outcome.block is not None and outcome.block.seconds == P.block_seconds
    assert lock.blocked("198.51.100.7", "1001", 1.0) == outcome.block
    # the owner elsewhere, and the attacker against another account, are not refused
    assert lock.blocked("10.0.0.9", "1001", 1.0) is None
    assert lock.blocked("198.51.100.7", "1002", 1.0) is None
    assert lock.blocked("198.51.100.7", "1001", P.block_seconds + 1) is None


def test_each_new_block_of_a_pair_lasts_twice_as_long_up_to_the_cap() -> None:
    lock = Lockout()
    now, lengths = 0.0, []
    for _ in range(6):
        outcome = None
        for _ in range(P.max_failures):
            outcome = lock.failure("198.51.100.7", "1001", now)
        assert outcome is not None and outcome.block is not None
        lengths.append(outcome.block.seconds)
        now = outcome.block.until + 1
    assert lengths == [300.0, 600.0, 1200.0, 2400.0, 3600.0, 3600.0]


def test_a_source_spraying_many_accounts_is_blocked_as_a_whole() -> None:
    lock = Lockout()
    lock.success("203.0.113.5", "owner", 0.0)  # someone who signs in from that (shared) address
    blocks = [lock.failure("203.0.113.5", f"user{i}", 0.0).block for i in range(P.source_max_failures)]
    assert blocks[:-1] == [None] * (P.source_max_failures - 1)
    last = blocks[-1]
    assert last is not None and last.account == "" and last.to_dict(0.0)["scope"] == "source"
    assert lock.blocked("203.0.113.5", "anyone", 1.0) == last
    assert lock.blocked("203.0.113.6", "anyone", 1.0) is None
    assert lock.blocked("203.0.113.5", "owner", 1.0) is None  # spared: it signed in from there before


def test_an_attack_spread_over_many_sources_is_reported_once_and_slows_only_strangers() -> None:
    lock = Lockout()
    lock.success("10.0.0.9", "admin", 0.0)  # the owner's usual address
    attacks = []
    for round_ in range(2):
        for i in range(20):
            outcome = lock.failure(f"192.0.2.{i + 1}", "admin", 1.0 + round_)
            if outcome.attack is not None:
                attacks.append(outcome.attack)
    assert len(attacks) == 1
    attack = attacks[0]
    assert attack.account == "admin" and attack.failures == P.spread_failures
    assert len(attack.sources) == P.spread_failures  # one failure from each of 20 sources
    assert lock.under_attack("admin", 2.0)
    # no single source came near its own limit, yet each stranger is now slowed; the owner is not
    assert lock.failure("192.0.2.99", "admin", 3.0).delay == P.spread_delay
    assert lock.failure("10.0.0.9", "admin", 3.0).delay == 0.0
    assert lock.blocks(3.0) == []
    assert not lock.under_attack("admin", 2.0 + P.window)


def test_a_few_sources_failing_now_and_then_are_no_attack() -> None:
    lock = Lockout()
    outcomes = [lock.failure(f"192.0.2.{i % 3}", "admin", float(i)) for i in range(40)]
    assert all(o.attack is None for o in outcomes)


def test_blocks_are_listed_lifted_and_reported_once_when_they_expire() -> None:
    lock = Lockout()
    fail(lock, "198.51.100.7", "1001", 0.0, P.max_failures)
    fail(lock, "198.51.100.7", "1002", 0.0, P.max_failures)
    fail(lock, "198.51.100.8", "1001", 0.0, P.max_failures)
    assert [(b.source, b.account) for b in lock.blocks(1.0)] == [
        ("198.51.100.7", "1001"), ("198.51.100.7", "1002"), ("198.51.100.8", "1001")]
    lifted = lock.lift("198.51.100.7", "1002")
    assert [(b.source, b.account) for b in lifted] == [("198.51.100.7", "1002")]
    assert lock.blocked("198.51.100.7", "1002", 1.0) is None
    assert lock.failure("198.51.100.7", "1002", 1.0).delay == 0.0  # the count starts again
    assert [b.account for b in lock.lift("198.51.100.8", None)] == ["1001"]
    assert lock.expired(P.block_seconds - 1) == []
    assert [(b.source, b.account) for b in lock.expired(P.block_seconds + 1)] == [("198.51.100.7", "1001")]
    assert lock.expired(P.block_seconds + 2) == []


def test_the_tables_stay_bounded_under_a_flood_of_made_up_names() -> None:
    lock = Lockout(LockoutPolicy(max_tracked=100))
    for i in range(5000):
        lock.failure(f"10.{i // 250}.{i % 250}.1", "x" * 1000 + str(i), float(i))
    assert max(len(lock._pairs), len(lock._sources), len(lock._spread.targets())) <= 100
    assert all(len(account) <= 64 for _, account in lock._pairs)


def test_the_policy_is_checked_field_by_field() -> None:
    assert LockoutPolicy.parse({"max_failures": 5, "block_seconds": 60}).max_failures == 5
    with pytest.raises(ValidationFailed) as exc:
        LockoutPolicy.parse({"max_failures": 0, "window": "long", "colour": 1, "free_failures": 2.5})
    assert sorted((e.field, e.rule) for e in exc.value.errors) == [
        ("colour", "unknown"), ("free_failures", "range"), ("max_failures", "range"), ("window", "range")]
    with pytest.raises(ValidationFailed) as exc:
        LockoutPolicy.parse({"base_delay": 20, "max_delay": 10})
    assert [(e.field, e.rule) for e in exc.value.errors] == [("base_delay", "order")]
    with pytest.raises(ValidationFailed):
        LockoutPolicy.parse([1, 2])
    with pytest.raises(ValidationFailed):
        LockoutPolicy.parse({"max_failures": True})


# ---- the service around it


@dataclass
class Box:
    auth: AuthService
    clock: ManualClock
    records: RecordStore
    store: ConfigStore
    events: list[Event] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    clock = ManualClock()
    store = ConfigStore.open(tmp_path, all_kinds())
    records = RecordStore.open(tmp_path / "records.sqlite3")
    config = ConfigService(store, records, clock)
    bus = EventBus()
    hasher = PasswordHasher()
    auth = AuthService(config, clock, hasher, bus=bus)
    b = Box(auth, clock, records, store)

    async def sleep(seconds: float) -> None:
        b.slept.append(seconds)

    auth.sleep = sleep
    bus.subscribe(b.events.append, {"auth.login_blocked", "auth.login_unblocked", "auth.login_under_attack"})
    await auth.ensure_admin()
    await config.set_secret("users", "admin", "the right password", Actor("admin"))
    await store.create("users", m.User(name="sup", role=m.Role.SUPERVISOR))
    await config.set_secret("users", "sup", "another password", Actor("admin"))
    try:
        yield b
    finally:
        hasher.close()
        records.close()
        store.close()


def audit(b: Box) -> list[tuple[str, str, str]]:
    page = b.records.audit(kind="login_block", limit=100)
    return [(e.actor, e.action, e.key) for e in reversed(page.items)]


async def test_an_attacker_is_slowed_and_blocked_while_the_owner_signs_in_elsewhere(box: Box) -> None:
    for i in range(P.max_failures):
        with pytest.raises(Unauthorized):
            await box.auth.login("admin", f"guess {i}", "198.51.100.7")
    assert box.slept == [0.25, 0.5, 1.0, 2.0, 2.0]
    with pytest.raises(LoginLocked) as exc:
        await box.auth.login("admin", "the right password", "198.51.100.7")
    assert exc.value.details["retry_after"] == int(P.block_seconds) + 1
    _, session = await box.auth.login("admin", "the right password", "10.0.0.9")  # the owner
    assert session.user == "admin"
    _, session = await box.auth.login("sup", "another password", "198.51.100.7")  # same source, other account
    assert session.user == "sup"
    assert audit(box) == [("system", "block", "admin@198.51.100.7")]
    blocked = [e for e in box.events if isinstance(e, LoginBlocked)]
    assert [(e.source, e.account, e.failures, e.seconds) for e in blocked] == [
        ("198.51.100.7", "admin", P.max_failures, P.block_seconds)]
    assert blocked[0].at == box.clock.wall()
    # the block ends by itself: the end is audited and published once
    box.clock.advance(P.block_seconds + 1)
    assert box.auth.blocks() == []
    assert audit(box)[-1] == ("system", "unblock", "admin@198.51.100.7")
    assert [e.reason for e in box.events if isinstance(e, LoginUnblocked)] == ["expired"]


async def test_the_admin_lists_and_lifts_blocks_and_each_lift_is_audited(box: Box) -> None:
    for i in range(P.max_failures):
        with pytest.raises(Unauthorized):
            await box.auth.login("sup", f"guess {i}", "198.51.100.7")
    [listed] = box.auth.blocks()
    assert listed["source"] == "198.51.100.7" and listed["account"] == "sup" and listed["scope"] == "pair"
    assert listed["seconds_left"] == P.block_seconds
    assert box.auth.lift("198.51.100.7", "admin", Actor("admin", "10.0.0.9")) == 0  # not that pair
    assert box.auth.lift("198.51.100.7", None, Actor("admin", "10.0.0.9")) == 1
    assert box.auth.blocks() == []
    assert audit(box)[-1] == ("admin", "unblock", "sup@198.51.100.7")
    _, session = await box.auth.login("sup", "another password", "198.51.100.7")
    assert session.user == "sup"


async def test_a_spread_attack_raises_the_event_and_the_owner_is_not_slowed(box: Box) -> None:
    await box.auth.login("admin", "the right password", "10.0.0.9")
    for round_ in range(2):
        for i in range(20):
            with pytest.raises(Unauthorized):
                await box.auth.login("admin", f"guess {round_} {i}", f"192.0.2.{i + 1}")
    [attack] = [e for e in box.events if isinstance(e, LoginUnderAttack)]
    assert attack.account == "admin" and len(attack.sources) == 20 and attack.failures == P.spread_failures
    assert ("system", "attack", "admin") in audit(box)
    assert box.slept and set(box.slept) == {P.spread_delay}  # every stranger after the detection
    box.slept.clear()
    with pytest.raises(Unauthorized):
        await box.auth.login("admin", "a typo", "10.0.0.9")  # the owner mistyping: answered at once
    assert box.slept == []
    assert box.auth.blocks() == []  # nobody is blocked: no single source crossed its limit


async def test_setup_token_guesses_count_like_failed_sign_ins(tmp_path: Path) -> None:
    clock = ManualClock()
    store = ConfigStore.open(tmp_path, all_kinds())
    records = RecordStore.open(tmp_path / "records.sqlite3")
    hasher = PasswordHasher()
    auth = AuthService(ConfigService(store, records, clock), clock, hasher)

    async def no_sleep(seconds: float) -> None:
        return None

    auth.sleep = no_sleep
    try:
        await auth.ensure_admin()
        token = auth.issue_setup_token()
        for i in range(P.max_failures):
            with pytest.raises(Unauthorized):
                await auth.complete_setup(f"guess {i}", "a long password", "198.51.100.7")
        with pytest.raises(LoginLocked):
            await auth.complete_setup(str(token), "a long password", "198.51.100.7")
        await auth.complete_setup(str(token), "a long password", "10.0.0.9")
        assert not auth.setup_required
    finally:
        hasher.close()
        records.close()
        store.close()


async def test_the_policy_is_changed_audited_kept_and_read_back_at_the_next_start(box: Box) -> None:
    policy = await box.auth.set_policy({"max_failures": 3, "block_seconds": 60}, Actor("admin", "10.0.0.9"))
    assert policy.max_failures == 3 and box.auth.policy == policy
    assert box.store.settings[POLICY_SETTING]["max_failures"] == 3
    entry = box.records.audit(kind="settings", key=POLICY_SETTING).items[0]
    assert entry.before is not None and entry.after is not None
    assert (entry.before["max_failures"], entry.after["max_failures"]) == (P.max_failures, 3)
    with pytest.raises(ValidationFailed):
        await box.auth.set_policy({"max_failures": -1}, Actor("admin"))
    assert box.auth.policy == policy
    again = AuthService(box.auth.config, box.clock, box.auth.hasher)
    assert again.policy == policy
    for i in range(3):
        with pytest.raises(Unauthorized):
            await box.auth.login("sup", f"guess {i}", "198.51.100.7")
    assert box.auth.blocks()[0]["seconds_left"] == 60
