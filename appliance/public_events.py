"""The public event contract: which bus events leave the process, in what shape, under which version.

The bus carries many internal facts (SIP transactions, leg events, media packets' figures); only the events
listed here are public. They go out on the WebSocket stream (`/api/v1/events`) — and later to SNMP traps and
webhooks — as JSON objects that validate against the JSON Schemas served at `/api/v1/events/schemas`
(generated from the same frozen dataclasses, so the schema and what is sent cannot disagree). Each message
carries `topic`, `at` (wall-clock seconds), `v` (the contract version) and the event's fields.

Versioning: `VERSION` is "major.minor". Adding an event or an optional field raises the minor version;
renaming or removing a field or changing its type raises the major version. docs/EVENTS.md lists the topics.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any

from pydantic import TypeAdapter

from appliance.acd import events as acd_events
from appliance.auth import events as auth_events
from appliance.backups.events import PUBLIC_BACKUP_EVENTS
from appliance.calls.events import PUBLIC_CALL_EVENTS
from appliance.customers import events as customer_events
from appliance.events import Event
from appliance.firmware.events import PUBLIC_FIRMWARE_EVENTS
from appliance.ivr import events as ivr_events
from appliance.monitoring import events as monitoring_events
from appliance.records import events as records_events
from appliance.voicemail import events as voicemail_events
from drivers.analog import events as analog_events
from drivers.e1 import events as e1_events

VERSION = "1.5"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _events_of(module: ModuleType) -> tuple[type[Event], ...]:
    return tuple(cls for _, cls in inspect.getmembers(module, inspect.isclass)
                 if issubclass(cls, Event) and cls is not Event and cls.__module__ == module.__name__)


PUBLIC_EVENTS: tuple[type[Event], ...] = (
    *PUBLIC_CALL_EVENTS, *_events_of(acd_events), *_events_of(voicemail_events), *_events_of(records_events),
    *_events_of(monitoring_events), auth_events.LoginBlocked, auth_events.LoginUnblocked,
    auth_events.LoginUnderAttack,
    *PUBLIC_BACKUP_EVENTS,
    *PUBLIC_FIRMWARE_EVENTS,
    *_events_of(customer_events),
    *_events_of(e1_events), *_events_of(analog_events),
    # a journey's start and end (the monitor's IVR entries and abandons); its steps stay internal
    ivr_events.IvrStarted, ivr_events.IvrEnded,
)

# Built once at import (read-only afterwards): a TypeAdapter is costly to make and cheap to use.
_ADAPTERS: Mapping[str, TypeAdapter[Any]] = MappingProxyType({cls.topic: TypeAdapter(cls) for cls in PUBLIC_EVENTS})


def topics() -> tuple[str, ...]:
    return tuple(sorted(_ADAPTERS))


def is_public(topic: str) -> bool:
    return topic in _ADAPTERS


def public_topics(patterns: Iterable[str] | None) -> set[str]:
    """The public topics a subscription names ("acd.*", "calls.ended"; None: all of them)."""
    if patterns is None:
        return set(_ADAPTERS)
    wanted = set()
    for pattern in patterns:
        if pattern.endswith(".*"):
            wanted |= {t for t in _ADAPTERS if t.startswith(pattern[:-1])}
        elif pattern in _ADAPTERS:
            wanted.add(pattern)
    return wanted


def to_public(event: Event) -> dict[str, Any]:
    """The event as the contract says it goes on the wire (KeyError for an event that is not public)."""
    data: dict[str, Any] = _ADAPTERS[event.topic].dump_python(event, mode="json")
    return {"topic": event.topic, "v": VERSION, **data}


def schema(topic: str) -> dict[str, Any]:
    adapter = _ADAPTERS[topic]
    body: dict[str, Any] = adapter.json_schema(mode="serialization")
    body["properties"] = {"topic": {"const": topic}, "v": {"type": "string"}, **body.get("properties", {})}
    body["required"] = ["topic", "v", *body.get("required", []), "at"]
    body["title"] = topic
    body["additionalProperties"] = False  # a field that is not in the contract is a bug, not an extension
    return body


def schemas() -> dict[str, Any]:
    """Every public event's JSON Schema, keyed by topic (served beside the OpenAPI document)."""
    return {"$schema": SCHEMA_DIALECT, "version": VERSION,
            "events": {topic: schema(topic) for topic in topics()}}
