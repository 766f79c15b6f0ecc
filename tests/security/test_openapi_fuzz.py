"""OpenAPI fuzzing: every route of the served document, unauthenticated and as the admin, against the real
`appliance run`.

Schemathesis generates requests from each operation's documented parameters and body (valid ones, and
invalid ones that break the schema) and checks each answer: never a 5xx, only documented status codes and
content types, and bodies that match their schema. Operations are driven one by one from the served document
(Schemathesis' lazy pytest fixture does not run under this pytest), with a bounded number of examples each so
the whole run stays within a couple of minutes on two cores; every failing operation is reported, not only
the first.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.harness import RunningAppliance
from tests.security.hostile import running

pytestmark = [pytest.mark.slow, pytest.mark.interop]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The WebSocket stream answers an upgrade, not a plain request; its own tests cover it.
NOT_HTTP = {("GET", "/api/v1/events")}
# Logging out would end the session the admin run fuzzes with (it is fuzzed without one).
KEEPS_SESSION = {("POST", "/api/v1/logout")}


@pytest.fixture(scope="module")
def fuzz_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    yield from running(tmp_path_factory)


def fuzz(box: RunningAppliance, headers: dict[str, str], examples: int, statuses: Counter[int],
         skip: set[tuple[str, str]] = NOT_HTTP) -> dict[str, str]:
    """Each operation's failures (the shrunk example and the broken check), by "METHOD path"; `statuses`
    counts the answers' status codes."""
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{box.http_port}/api/v1/openapi.json")
    failures: dict[str, str] = {}
    slowest: list[tuple[float, str]] = []
    ran = 0
    for result in schema.get_all_operations():
        operation: Any = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if (operation.method.upper(), operation.path) in skip:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
            def run(case: schemathesis.Case) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)
                statuses[response.status_code] += 1

            started = time.monotonic()
            try:
                run()
            except Unsatisfiable:
                pass  # no invalid request exists for an operation without parameters or body
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failure is collected, then reported together
                failures[f"{label} ({mode.value})"] = "".join(traceback.format_exception(exc))[-3000:]
            ran += 1
            slowest.append((time.monotonic() - started, f"{label} ({mode.value})"))
    print("slowest:", ", ".join(f"{what} {secs:.1f} s" for secs, what in sorted(slowest)[-8:]))
    assert ran > 2 * len(schema.raw_schema["paths"]), ran  # the document was read: about 200 operations, two modes each
    return failures


def test_every_route_unauthenticated(fuzz_box: RunningAppliance) -> None:
    statuses: Counter[int] = Counter()
    failures = fuzz(fuzz_box, {}, 5, statuses)
    print("unauthenticated:", dict(sorted(statuses.items())))
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert fuzz_box.proc.poll() is None
    assert statuses[401] > 500 and statuses[200] >= 3  # the public routes answered, the rest refused


def test_every_route_as_admin(fuzz_box: RunningAppliance) -> None:
    statuses: Counter[int] = Counter()
    failures = fuzz(fuzz_box, {"Authorization": f"Bearer {fuzz_box.token}"}, 8, statuses, NOT_HTTP | KEEPS_SESSION)
    print("as admin:", dict(sorted(statuses.items())))
    print("failing:", sorted(failures))
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert fuzz_box.proc.poll() is None
    assert sum(n for s, n in statuses.items() if s < 300) > 300 and statuses[422] > 300
