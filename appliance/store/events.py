"""Events the configuration store publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChanged(Event):
    """An entity was created, updated, deleted (or a staff member left / was reinstated)."""

    topic: ClassVar[str] = "config.changed"
    kind: str
    key: str
    action: str  # create | update | delete | import


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigReplaced(Event):
    """The whole configuration was replaced (import, first-start seeding)."""

    topic: ClassVar[str] = "config.replaced"
    entities: int
