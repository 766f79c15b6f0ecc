"""The catalogue of configuration entity kinds.

One `EntityKind` per kind says how it is keyed, which fields refer to other kinds (checked on every
write and on delete), which fields are secrets never sent out, and whether it may be deleted. The store,
the REST API and the OpenAPI document are all driven from this list, so adding a kind is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from appliance.domain import models as m


def _one(name: str) -> Callable[[Any], Iterable[str]]:
    def get(entity: Any) -> Iterable[str]:
        value = getattr(entity, name)
        return [value] if value else []

    return get


def _many(name: str, sub: str | None = None) -> Callable[[Any], Iterable[str]]:
    def get(entity: Any) -> Iterable[str]:
        items = getattr(entity, name)
        return [getattr(i, sub) for i in items] if sub else list(items)

    return get


@dataclass(frozen=True, slots=True)
class Reference:
    field: str
    target: str  # kind name
    keys: Callable[[Any], Iterable[str]]


@dataclass(frozen=True, slots=True)
class EntityKind:
    name: str  # URL segment and table name
    model: type[Any]
    key: str
    title: str
    title_zh: str
    references: tuple[Reference, ...] = ()
    secret_fields: frozenset[str] = frozenset()
    deletable: bool = True
    filters: tuple[str, ...] = ()  # fields a list may be filtered on (exact match)
    extra: dict[str, Any] = field(default_factory=dict)

    def key_of(self, entity: Any) -> str:
        return str(getattr(entity, self.key))


def ref(field_name: str, target: str, many: bool = False, sub: str | None = None) -> Reference:
    return Reference(field_name, target, _many(field_name, sub) if many else _one(field_name))


CORE_KINDS: tuple[EntityKind, ...] = (
    EntityKind("departments", m.Department, "id", "department", "部门", (ref("parent", "departments"),)),
    EntityKind("work_groups", m.WorkGroup, "id", "work group", "座席组", (ref("department", "departments"),)),
    EntityKind("skills", m.Skill, "id", "skill", "技能"),
    EntityKind("extensions", m.Extension, "number", "extension", "分机",
               (ref("voicemail_box", "voicemail_boxes"),), frozenset({"ha1_md5", "ha1_sha256"})),
    EntityKind(
        "staff", m.Staff, "employee_no", "staff member", "员工",
        (
            ref("department", "departments"),
            ref("work_group", "work_groups"),
            ref("skills", "skills", many=True, sub="skill"),
            ref("extension", "extensions"),
            ref("managed_groups", "work_groups", many=True),
            ref("managed_queues", "queues", many=True),
        ),
        frozenset({"pin_hash"}),
        deletable=False,
        filters=("role", "status", "department", "work_group"),
    ),
    EntityKind("voicemail_boxes", m.VoicemailBox, "id", "voicemail box", "语音信箱",
               (ref("owner_queue", "queues"), ref("owner_staff", "staff"))),
    EntityKind(
        "queues", m.Queue, "id", "queue", "队列",
        (
            ref("members", "staff", many=True),
            ref("required_skill", "skills"),
            ref("voicemail_box", "voicemail_boxes"),
        ),
        filters=("strategy",),
    ),
    EntityKind("vip_list", m.VipEntry, "number", "VIP entry", "VIP 客户", (ref("queues", "queues", many=True),)),
    EntityKind("blacklist", m.BlacklistEntry, "number", "blacklist entry", "黑名单"),
    EntityKind("trunks", m.Trunk, "id", "trunk", "中继", filters=("kind",)),
    EntityKind("customers", m.Customer, "id", "customer", "客户", (ref("account_manager", "staff"),)),
    EntityKind("pause_reasons", m.PauseReason, "code", "pause reason", "置忙原因"),
    EntityKind("users", m.User, "name", "user", "用户", (ref("staff", "staff"),), frozenset({"password_hash"}),
               filters=("role",)),
)


def all_kinds() -> tuple[EntityKind, ...]:
    """Every kind the store holds."""
    return CORE_KINDS
