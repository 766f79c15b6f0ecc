"""What the REST API and the CLI call to change configuration.

Adds to the store what only an edge knows: who is acting (for the audit log), write-only secrets (an
extension's SIP password becomes digest HA1s, a user's password and an agent's phone PIN become scrypt
hashes — none is ever returned), and the staff rules (never deleted: they leave and can be reinstated,
with every employment period kept).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum
from functools import partial
from typing import Any

from appliance.auth.models import EVERYONE, DataScope
from appliance.clock import Clock
from appliance.configuration.settings import GlobalSettings, current, merged
from appliance.domain import models as m
from appliance.domain.kinds import EntityKind
from appliance.domain.models import Role
from appliance.domain.validation import dump, parse
from appliance.errors import Conflict, FieldError, NotFound, ValidationFailed
from appliance.records.models import AuditEntry, Page
from appliance.records.sqlite_store import RecordStore
from appliance.security.passwords import hash_password, sip_ha1
from appliance.store.config_store import ConfigStore
from appliance.store.migrations import DEFAULT_REALM

MIN_PASSWORD = 8
# The first guesses of every password-spraying tool; refused whatever the rule above says.
COMMON_PASSWORDS = frozenset({"password1", "passw0rd", "password123", "admin123", "admin1234", "abc12345",
                              "12345678a", "a12345678", "qwerty123", "1qaz2wsx", "p@ssw0rd", "123456789a",
                              "iloveyou1", "welcome1", "changeme1"})
# The write-only input of each kind that has one (the API field; what is stored is derived from it).
WRITE_ONLY_INPUT = {"extensions": "password", "users": "password", "staff": "pin", "trunks": "password"}


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    source: str = ""


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    value = _plain(value)
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value).lower())


def _need(ok: bool, field: str, rule: str, en: str, zh: str) -> None:
    if not ok:
        raise ValidationFailed([FieldError(field, rule, f"{field}: {en}", f"{field}: {zh}")])


def check_password(password: Any, field: str = "password") -> str:
    _need(isinstance(password, str), field, "type", "must be text", "应为文本")
    assert isinstance(password, str)
    _need(len(password) >= MIN_PASSWORD, field, "min_length", f"at least {MIN_PASSWORD} characters",
          f"至少 {MIN_PASSWORD} 个字符")
    _need(len(password) <= 128, field, "max_length", "at most 128 characters", "最多 128 个字符")
    classes = sum((any(c.isalpha() for c in password), any(c.isdigit() for c in password),
                   any(not c.isalnum() for c in password)))
    # A long passphrase is strong with letters alone; a short password needs a second kind of character.
    _need((classes >= 2 or len(password) >= 16) and len(set(password)) >= 4
          and password.lower() not in COMMON_PASSWORDS, field, "weak",
          "too easy to guess: use letters with digits or symbols, or a passphrase of 16 characters or more",
          "过于简单:请混合字母与数字或符号,或使用 16 个字符以上的口令短语")
    return password


def check_pin(pin: Any, field: str = "pin") -> str:
    _need(isinstance(pin, str) and pin.isdigit() and 4 <= len(pin) <= 8, field, "pattern",
          "4 to 8 digits", "应为 4 到 8 位数字")
    assert isinstance(pin, str)
    return pin


@dataclass
class ConfigService:
    store: ConfigStore
    records: RecordStore
    clock: Clock

    @property
    def realm(self) -> str:
        return str(self.store.settings.get("sip_realm", DEFAULT_REALM))

    # ---- views ----------------------------------------------------------------------------------------

    def public(self, kind: EntityKind, entity: Any) -> dict[str, Any]:
        data = dump(kind.model, entity)
        for name in kind.secret_fields:
            data.pop(name, None)
        if kind.name == "extensions":
            data["has_password"] = bool(entity.ha1_md5)
        elif kind.name == "users":
            data["has_password"] = bool(entity.password_hash)
        elif kind.name == "staff":
            data["has_pin"] = bool(entity.pin_hash)
        elif kind.name == "trunks":
            data["has_password"] = bool(entity.secret)
        return data

    def list(
        self, kind_name: str, *, offset: int = 0, limit: int = 50, filters: dict[str, str] | None = None,
        q: str | None = None, sort: str | None = None, scope: DataScope = EVERYONE,
    ) -> Page:
        """A page of `kind_name`, filtered, searched (`q` in any field) and sorted (`sort` = field, or
        `-field` for descending; the kind's natural key order otherwise), within `scope`."""
        kind = self.store.kind(kind_name)
        entities = [e for e in self.store.list(kind.name) if self._in_scope(kind, e, scope)]
        for name, value in (filters or {}).items():
            entities = [e for e in entities if str(_plain(getattr(e, name, None))) == value]
        if sort:
            name = sort.lstrip("-")
            if name not in {f.name for f in fields(kind.model)}:
                raise ValidationFailed([FieldError("sort", "choice", f"sort: {name!r} is not a field of {kind.title}",
                                                   f"sort: {name!r} 不是{kind.title_zh}的字段")])
            entities.sort(key=lambda e: _sort_key(getattr(e, name)), reverse=sort.startswith("-"))
        if q:  # a search reads every field's text, so every entity is turned into JSON
            needle = q.lower()
            items = [i for i in map(partial(self.public, kind), entities)
                     if any(needle in str(v).lower() for v in i.values())]
            return Page(items=tuple(items[offset: offset + limit]), total=len(items), offset=offset, limit=limit)
        # Only the page shown is turned into JSON: a list of thousands costs a sort, not thousands of dumps.
        shown = tuple(self.public(kind, e) for e in entities[offset: offset + limit])
        return Page(items=shown, total=len(entities), offset=offset, limit=limit)

    def get(self, kind_name: str, key: str, scope: DataScope = EVERYONE) -> dict[str, Any]:
        kind = self.store.kind(kind_name)
        entity = self.store.get(kind.name, key)
        if not self._in_scope(kind, entity, scope):
            raise NotFound(kind.title, key)  # outside the scope it does not exist, rather than "forbidden"
        return self.public(kind, entity)

    def scope_of(self, role: Role, staff: str | None) -> DataScope:
        if role in (Role.ADMIN, Role.QA):
            return EVERYONE
        if role == Role.SUPERVISOR and staff:
            person = self.store.find("staff", staff)
            return DataScope(work_groups=frozenset(person.managed_groups if person else ()), staff=staff)
        return DataScope(staff=staff)

    @staticmethod
    def _in_scope(kind: EntityKind, entity: Any, scope: DataScope) -> bool:
        if scope.everyone or kind.name != "staff":
            return True
        return scope.sees_staff(entity.employee_no, entity.work_group)

    # ---- changes --------------------------------------------------------------------------------------

    async def create(self, kind_name: str, data: Any, actor: Actor) -> dict[str, Any]:
        kind = self.store.kind(kind_name)
        entity = self._from_input(kind, data, before=None)
        await self.store.create(kind.name, entity)
        after = self.public(kind, entity)
        self._audit(actor, "create", kind.name, kind.key_of(entity), None, after)
        return after

    async def update(self, kind_name: str, key: str, data: Any, actor: Actor, *, merge: bool) -> dict[str, Any]:
        kind = self.store.kind(kind_name)
        before_entity = self.store.get(kind.name, key)
        before = self.public(kind, before_entity)
        if not isinstance(data, dict):
            parse(kind.model, data)  # raises the standard "body must be an object" error
        body = {**before, **data} if merge else dict(data)
        body.setdefault(kind.key, key)
        _need(str(body.get(kind.key)) == key, kind.key, "immutable", "the key cannot be changed", "主键不能修改")
        for ro in ("has_password", "has_pin"):
            body.pop(ro, None)
        if kind.name == "staff":
            # status and employment history change only through leave/reinstate
            for protected in ("status", "employment"):
                if protected in data and data[protected] != before.get(protected):
                    _need(False, protected, "read_only", "changes only through leave/reinstate",
                          "只能通过离职/复职修改")
                body[protected] = before[protected]
        entity = self._from_input(kind, body, before=before_entity)
        _, stored = await self.store.update(kind.name, entity)
        after = self.public(kind, stored)
        self._audit(actor, "update", kind.name, key, before, after)
        return after

    async def delete(self, kind_name: str, key: str, actor: Actor) -> None:
        kind = self.store.kind(kind_name)
        if kind.name == "users" and key == "admin":
            raise Conflict("the admin account cannot be deleted", "管理员账号不能删除")
        before = await self.store.delete(kind.name, key)
        self._audit(actor, "delete", kind.name, key, self.public(kind, before), None)

    async def leave(self, employee_no: str, reason: str, actor: Actor) -> dict[str, Any]:
        kind = self.store.kind("staff")
        staff: m.Staff = self.store.get("staff", employee_no)
        if staff.status == m.StaffStatus.LEFT:
            raise Conflict(f"staff member {employee_no} has already left", f"员工 {employee_no} 已离职")
        now = self.clock.wall()
        periods = list(staff.employment) or [m.EmploymentPeriod(joined=now)]
        periods[-1] = replace(periods[-1], left=now, reason=reason[:500])
        updated = replace(staff, status=m.StaffStatus.LEFT, employment=tuple(periods))
        return await self._replace_staff(kind, staff, updated, "leave", actor)

    async def reinstate(self, employee_no: str, actor: Actor) -> dict[str, Any]:
        kind = self.store.kind("staff")
        staff: m.Staff = self.store.get("staff", employee_no)
        if staff.status == m.StaffStatus.ACTIVE:
            raise Conflict(f"staff member {employee_no} is active", f"员工 {employee_no} 在职")
        periods = (*staff.employment, m.EmploymentPeriod(joined=self.clock.wall()))
        updated = replace(staff, status=m.StaffStatus.ACTIVE, employment=periods)
        return await self._replace_staff(kind, staff, updated, "reinstate", actor)

    async def set_secret(self, kind_name: str, key: str, secret: Any, actor: Actor) -> None:
        """Set an extension's SIP password, a user's login password or a staff member's phone PIN."""
        kind = self.store.kind(kind_name)
        if kind.name not in WRITE_ONLY_INPUT:
            raise Conflict(f"a {kind.title} has no secret", f"{kind.title_zh}没有密码")
        entity = replace(self.store.get(kind.name, key), **self._stored_secret(kind.name, key, secret))
        await self.store.update(kind.name, entity)
        self._audit(actor, "set_secret", kind.name, key, None, None)

    async def set_language(self, user: str, language: Any, actor: Actor) -> None:
        """A user's own language choice: the one change every role may make to their account."""
        _need(language in ("zh_CN", "en"), "language", "choice", "zh_CN or en", "应为 zh_CN 或 en")
        before = self.store.get("users", user)
        await self.store.update("users", replace(before, language=language))
        self._audit(actor, "update", "users", user, {"language": before.language}, {"language": language})

    def settings(self) -> GlobalSettings:
        return current(self.store.settings)

    async def change_settings(self, change: Any, actor: Actor) -> GlobalSettings:
        before = dump(GlobalSettings, self.settings())
        after = merged(self.store.settings, change)
        await self.store.set_settings(**dump(GlobalSettings, after))
        self._audit(actor, "update", "settings", "global", before, dump(GlobalSettings, after))
        return after

    async def replace_setting(self, key: str, before: dict[str, Any], after: dict[str, Any], actor: Actor) -> None:
        """One setting kept as an object of its own (a policy its owner has validated), stored and audited."""
        await self.store.set_settings(**{key: after})
        self._audit(actor, "update", "settings", key, before, after)

    async def import_config(self, data: Any, actor: Actor) -> int:
        """Replace the whole configuration from an export; validated in full first, nothing changes on error."""
        entities, settings = self.store.parse_export(data)
        count = await self.store.replace_all(entities, settings)
        self._audit(actor, "import", "config", "*", None, {"entities": count})
        return count

    # ---- internals -----

    def _stored_secret(self, kind: str, key: str, secret: Any) -> dict[str, str]:
        """A write-only input as it is stored: digest HA1s, a scrypt hash, or (trunks) the secret itself."""
        if kind == "extensions":
            password = check_password(secret)
            return {"ha1_md5": sip_ha1(key, self.realm, password, "MD5"),
                    "ha1_sha256": sip_ha1(key, self.realm, password, "SHA-256")}
        if kind == "users":
            return {"password_hash": hash_password(check_password(secret))}
        if kind == "staff":
            return {"pin_hash": hash_password(check_pin(secret))}
        _need(isinstance(secret, str) and 0 < len(secret) <= 128, "password", "max_length", "1 to 128 characters",
              "1 到 128 个字符")
        return {"secret": str(secret)}

    # -------------------------------------------------------------------------------------------------

    async def _replace_staff(
        self, kind: EntityKind, before: m.Staff, after: m.Staff, action: str, actor: Actor
    ) -> dict[str, Any]:
        await self.store.update(kind.name, after)
        view = self.public(kind, after)
        self._audit(actor, action, kind.name, after.employee_no, self.public(kind, before), view)
        return view

    def _from_input(self, kind: EntityKind, data: Any, before: Any | None) -> Any:
        """Validate API input; write-only secrets become hashes; stored secrets are kept on update."""
        if not isinstance(data, dict):
            return parse(kind.model, data, kind.title)
        body = dict(data)
        problems = [
            FieldError(name, "read_only", f"{name}: cannot be set directly", f"{name}: 不能直接设置")
            for name in kind.secret_fields if name in body
        ]
        if problems:
            raise ValidationFailed(problems, kind.title)
        if before is not None:
            for name in kind.secret_fields:
                body[name] = getattr(before, name)
        field_name = WRITE_ONLY_INPUT.get(kind.name)
        if field_name is not None and field_name in body:
            body.update(self._stored_secret(kind.name, str(body.get(kind.key, "")), body.pop(field_name)))
        if kind.name == "staff" and before is None:
            body.pop("status", None)
            body.pop("employment", None)
            entity = parse(kind.model, body, kind.title)
            return replace(entity, employment=(m.EmploymentPeriod(joined=self.clock.wall()),))
        return parse(kind.model, body, kind.title)

    def _audit(
        self, actor: Actor, action: str, kind: str, key: str,
        before: dict[str, Any] | None, after: dict[str, Any] | None,
    ) -> None:
        self.records.append_audit(
            AuditEntry(at=self.clock.wall(), actor=actor.name, action=action, kind=kind, key=key,
                       before=before, after=after, source=actor.source)
        )
