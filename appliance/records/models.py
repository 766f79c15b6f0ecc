"""Record rows as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """Who changed what, with the state before and after (secrets already removed)."""

    at: float
    actor: str
    action: str  # create | update | delete | leave | reinstate | set_password | import | setup | login ...
    kind: str
    key: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    source: str = ""  # remote address or "cli"
    id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    items: tuple[Any, ...]
    total: int
    offset: int
    limit: int
