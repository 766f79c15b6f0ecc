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


@dataclass(frozen=True, slots=True)
class DataScope:
    """Whose records a session may see (seed 000: department → work group → self).

    Admins and QA see everyone; a supervisor sees the work groups they manage and themself; an agent only
    themself. Enforced where the data is read, for the API and the pages alike."""

    everyone: bool = False
    work_groups: frozenset[str] = frozenset()
    staff: str | None = None

    def sees_staff(self, employee_no: str, work_group: str | None) -> bool:
        return self.everyone or employee_no == self.staff or (work_group is not None and
                                                               work_group in self.work_groups)


EVERYONE = DataScope(everyone=True)


# What each role may do through the API: read configuration, change it, act on calls and agents.
READ_CONFIG = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.QA})
WRITE_CONFIG = frozenset({Role.ADMIN})
ANY_ROLE = frozenset(Role)
