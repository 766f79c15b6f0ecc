"""Web sign-in attacks against the real `appliance run`, from many loopback addresses with a browser-less
client: the attacking source is slowed and blocked while the owner at their usual address signs in; an
attack spread over 20 addresses is reported (audit log, event stream) although no single source crossed its
limit; the admin lists and lifts blocks through the API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import websockets.sync.client

from appliance.auth.lockout import LockoutPolicy
from tests.e2e.harness import ADMIN_PASSWORD, RunningAppliance
from tests.security.hostile import running, send, send_json

pytestmark = [pytest.mark.slow]

P = LockoutPolicy()
OWNER = "127.0.0.1"  # where the admin signed in when the box was set up


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    yield from running(tmp_path_factory)


def login(box: RunningAppliance, password: str, source: str, name: str = "admin") -> tuple[int, Any, float]:
    started = time.monotonic()
    code, data = send_json(box.http_port, "POST", "/api/v1/login", {"name": name, "password": password},
                           source=source)
    return code, data, time.monotonic() - started


def audit(box: RunningAppliance) -> list[tuple[str, str, str]]:
    _, page = box.api("GET", "/api/v1/audit?kind=login_block&limit=100")
    return [(e["actor"], e["action"], e["key"]) for e in reversed(page["items"])]


def test_the_attacking_source_is_slowed_and_blocked_while_the_owner_signs_in(box: RunningAppliance) -> None:
    attacker = "127.0.0.2"
    answers = [login(box, f"guess {i}", attacker) for i in range(P.max_failures)]
    assert [code for code, _, _ in answers] == [401] * P.max_failures
    # the first few answered at once, then each later than the one before
    took = [secs for _, _, secs in answers]
    assert max(took[:P.free_failures]) < 1.0
    assert took[P.free_failures + 3] >= 1.8 and took[-1] >= 1.8
    code, data, _ = login(box, ADMIN_PASSWORD, attacker)  # even the right password, from there
    assert code == 429 and data["error_id"] == "login_locked" and data["details"]["retry_after"] > 200
    code, data, secs = login(box, ADMIN_PASSWORD, OWNER)
    assert code == 200 and data["user"] == "admin" and secs < 2.0
    code, _, _ = login(box, ADMIN_PASSWORD, "127.0.0.3")  # a new address of the owner's is not refused either
    assert code == 200
    assert ("system", "block", f"admin@{attacker}") in audit(box)

    # the admin sees the block and lifts it; the lift is audited and the source may try again
    _, blocks = box.api("GET", "/api/v1/security/login-blocks")
    assert [(b["source"], b["account"], b["scope"]) for b in blocks["items"]] == [(attacker, "admin", "pair")]
    code, lifted = box.api("POST", "/api/v1/security/login-blocks/lift", {"source": attacker, "account": "admin"})
    assert code == 200 and lifted == {"lifted": 1}
    _, blocks = box.api("GET", "/api/v1/security/login-blocks")
    assert blocks["items"] == []
    assert audit(box)[-1] == ("admin", "unblock", f"admin@{attacker}")
    code, _, _ = login(box, ADMIN_PASSWORD, attacker)
    assert code == 200
    code, data = box.api("POST", "/api/v1/security/login-blocks/lift", {"account": 7})
    assert code == 422 and {f["field"] for f in data["details"]["fields"]} == {"source", "account"}


def test_a_spread_attack_from_20_addresses_is_reported_and_the_owner_keeps_working(box: RunningAppliance) -> None:
    attackers = [f"127.0.1.{i + 1}" for i in range(20)]
    url = f"ws://127.0.0.1:{box.http_port}/api/v1/events?topics=auth.*"
    with websockets.sync.client.connect(url, additional_headers={"Authorization": f"Bearer {box.token}"},
                                        open_timeout=10) as stream:
        with ThreadPoolExecutor(max_workers=20) as pool:
            for round_ in range(2):
                codes = list(pool.map(lambda src, r=round_: login(box, f"guess {r}", src)[0], attackers))
                assert codes == [401] * 20
        attack = None
        deadline = time.monotonic() + 10
        while attack is None and time.monotonic() < deadline:
            message = json.loads(stream.recv(timeout=10))
            if message.get("topic") == "auth.login_under_attack":
                attack = message
    assert attack is not None and attack["account"] == "admin"
    assert len(set(attack["sources"]) & set(attackers)) >= P.spread_sources  # (and the earlier test's attacker)
    assert ("system", "attack", "admin") in audit(box)
    # strangers are slowed now, though none reached its own limit; the owner's address is not
    code, _, secs = login(box, "guess 3", "127.0.1.50")
    assert code == 401 and secs >= P.spread_delay * 0.9
    code, _, secs = login(box, ADMIN_PASSWORD, OWNER)
    assert code == 200 and secs < P.spread_delay
    _, blocks = box.api("GET", "/api/v1/security/login-blocks")
    assert blocks["items"] == []


def test_the_thresholds_are_read_and_changed_through_the_api(box: RunningAppliance) -> None:
    code, policy = box.api("GET", "/api/v1/security/login-policy")
    assert code == 200 and policy == P.to_dict()
    code, policy = box.api("PATCH", "/api/v1/security/login-policy", {"max_failures": 4})
    assert code == 200 and policy["max_failures"] == 4
    code, data = box.api("PATCH", "/api/v1/security/login-policy", {"max_failures": 0, "colour": "red"})
    assert code == 422 and {f["field"] for f in data["details"]["fields"]} == {"max_failures", "colour"}
    code, data = send(box.http_port, "GET", "/api/v1/security/login-blocks")
    assert code == 401
    for i in range(4):
        login(box, f"guess {i}", "127.0.0.9", name="nobody")
    code, _, _ = login(box, "guess", "127.0.0.9", name="nobody")
    assert code == 429
