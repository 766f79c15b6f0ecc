"""Sessions and role rules."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.domain.models import Role


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: Role
    expires: float
    staff: str | None = None


# What each role may do through the API: read configuration, change it, act on calls and agents.
READ_CONFIG = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.QA})
WRITE_CONFIG = frozenset({Role.ADMIN})
ANY_ROLE = frozenset(Role)
