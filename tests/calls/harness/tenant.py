"""The configuration the harness starts from: the demo tenant, plus a SIP trunk for calls to numbers.

The demo tenant (appliance.demo): DID 8000 → IVR `main` (1 sales, 2 support, 0 operator 1901) in work hours,
off hours → voicemail `general`; queues `sales` (1001 1002 1003) and `support` (1003 1004 1005), ring
timeout 15 s, wrap-up 10 s, survey after the agent hangs up first; supervisor 1901. Its PIN hashes (scrypt)
are made once per test run.
"""

from __future__ import annotations

import functools
from typing import Any

from appliance.demo import TIME_ZONE, demo_entities
from appliance.domain import models as m
from appliance.store.migrations import DEFAULT_REALM

TRUNK = "carrier"


@functools.cache
def _demo() -> dict[str, tuple[Any, ...]]:
    entities = demo_entities(DEFAULT_REALM, {"extensions": {}, "pins": {}})
    return {kind: tuple(items) for kind, items in entities.items()}


def tenant() -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """(entities by kind, settings) for a new harness."""
    entities = {kind: list(items) for kind, items in _demo().items()}
    entities["trunks"] = [m.Trunk(id=TRUNK, name="Carrier", host="carrier.example")]
    settings = {"seeded": True, "sip_realm": DEFAULT_REALM, "time_zone": TIME_ZONE, "tone_plan": "cn",
                "language": "zh-CN", "blacklist_treatment": {"action": "prompt", "prompt": "blacklisted"}}
    return entities, settings
