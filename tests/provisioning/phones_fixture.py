"""A data directory with the demo tenant and a phone service over it, for the provisioning tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from appliance.configuration.service import Actor
from provisioning.phones.models import parse_phone
from provisioning.phones.service import PhoneService

ACTOR = Actor("admin", "test")
PHONES = [
    {"mac": "80:5E:C0:00:10:01", "extension": "1001", "vendor": "yealink", "model": "T54W",
     "line_keys": [{"kind": "blf", "value": "1002", "label": "Li"}, {"kind": "login"}, {"kind": "pause"}]},
    {"mac": "c0-74-ad-00-10-02", "extension": "1002", "vendor": "grandstream", "model": "GXP2170",
     "line_keys": [{"kind": "blf", "value": "1001"}, {"kind": "logout"}]},
    {"mac": "0004f2001003", "extension": "1003", "vendor": "polycom", "model": "VVX450",
     "line_keys": [{"kind": "blf", "value": "1004", "label": "Wang"}, {"kind": "unpause"}]},
    {"mac": "aa:bb:cc:00:10:04", "extension": "1004", "vendor": "generic", "label": "Front desk & <lobby>"},
    {"mac": "aa:bb:cc:00:10:05", "extension": "1005", "vendor": "generic"},
]


@dataclass
class Fetch:
    code: int
    body: bytes


async def curl(url: str, *extra: str) -> Fetch:
    """curl in a subprocess the event loop waits for (the server under test runs on the same loop)."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "-k", "-m", "10", "-o", "-", "-w", "\n%{http_code}", *extra, url,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    body, _, code = out.rpartition(b"\n")
    return Fetch(int(code or 0), body)


async def add_demo_phones(service: PhoneService) -> dict[str, Any]:
    records = await service.add([parse_phone(p) for p in PHONES], ACTOR)
    return {r.phone.extension: r for r in records}
