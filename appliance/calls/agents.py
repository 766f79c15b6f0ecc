"""Which phone each agent is on.

An agent rings at the extension they logged in from with the feature code (电话座席: `*11*<agent>*<PIN>`),
or, failing that, at the extension permanently bound to them in the staff record. `*11` alone on a
permanently bound phone logs its own agent in (the phone is authenticated and the binding is deliberate).
The PIN's scrypt runs on the `PasswordHasher`'s threads, never on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.domain import models as m
from appliance.errors import ApplianceError, Forbidden
from appliance.security.passwords import PasswordHasher
from appliance.store.config_store import ConfigStore


class LoginRefused(ApplianceError):
    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message, message_zh, error_id="login_refused", http_status=403)


@dataclass
class AgentDirectory:
    store: ConfigStore
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    _logged_at: dict[str, str] = field(default_factory=dict)  # agent id → extension

    def extension_of(self, agent_id: str) -> str | None:
        if agent_id in self._logged_at:
            return self._logged_at[agent_id]
        staff = self.store.find("staff", agent_id)
        return staff.extension if staff is not None else None

    def agent_at(self, extension: str) -> str | None:
        for agent_id, ext in self._logged_at.items():
            if ext == extension:
                return agent_id
        for staff in self.store.list("staff"):
            if staff.extension == extension and staff.status == m.StaffStatus.ACTIVE:
                return str(staff.employee_no)
        return None

    async def check_login(self, extension: str, args: tuple[str, ...]) -> str:
        """Who may log in at `extension`: `args` is () on a bound phone, or (agent id, PIN). Binds nothing."""
        if not args:
            agent_id = self.agent_at(extension)
            if agent_id is None:
                raise LoginRefused("enter your agent number and PIN: *11*agent*PIN", "请输入工号和密码: *11*工号*密码")
            return agent_id
        if len(args) != 2:
            raise LoginRefused("enter your agent number and PIN: *11*agent*PIN", "请输入工号和密码: *11*工号*密码")
        agent_id, pin = args
        staff = self.store.find("staff", agent_id)
        # An unknown agent and a wrong PIN are refused the same way, after the same scrypt work.
        stored = staff.pin_hash if staff is not None and staff.status == m.StaffStatus.ACTIVE else ""
        if not await self.hasher.verify(pin, stored) or staff is None:
            raise LoginRefused("agent number or PIN is wrong", "工号或密码错误")
        if staff.role not in (m.Role.AGENT, m.Role.SUPERVISOR):
            raise Forbidden("this person is not an agent", "该员工不是座席")
        return agent_id

    def bind(self, agent_id: str, extension: str) -> None:
        self._logged_at[agent_id] = extension

    def logout(self, agent_id: str) -> None:
        self._logged_at.pop(agent_id, None)

    def bindings(self) -> dict[str, str]:
        return dict(self._logged_at)
