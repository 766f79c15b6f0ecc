"""The catalogue of configuration entity kinds.

One `EntityKind` per kind says how it is keyed, which fields refer to other kinds (checked on every
write and on delete), which fields are secrets never sent out, and whether it may be deleted. The store,
the REST API and the OpenAPI document are all driven from this list, so adding a kind is one entry here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from appliance.domain import models as m
from appliance.errors import FieldError
from appliance.ivr import models as ivr
from appliance.ivr.validation import validate_flow
from appliance.routing import models as routing
from appliance.routing.validation import validate_routing, validate_schedule

Snapshot = dict[str, dict[str, Any]]


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
    """`field` of an entity names entities of kind `target`: checked on write, and blocks their deletion.

    `report=False` when the kind's own `check` already reports a missing target more precisely (a node
    path rather than the whole `nodes` list); the reference then only protects against deletion."""

    field: str
    target: str  # kind name
    keys: Callable[[Any], Iterable[str]]
    report: bool = True


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
    # Rules that need other entities (graph checks of a flow, destinations of a DID); run on every write.
    check: Callable[[Any, Snapshot], list[FieldError]] | None = None
    versioned: bool = False  # the entity has a `version` the store increments on every update

    def key_of(self, entity: Any) -> str:
        return str(getattr(entity, self.key))


def ref(field_name: str, target: str, many: bool = False, sub: str | None = None) -> Reference:
    return Reference(field_name, target, _many(field_name, sub) if many else _one(field_name))


def _check_blacklist(entry: routing.BlacklistEntry, snapshot: Snapshot) -> list[FieldError]:
    if re.fullmatch(r"\+?[0-9]{1,32}", entry.number):
        return []
    return [FieldError("number", "pattern", "number: digits only, optionally a leading +",
                       "number: 只能是数字,可带前导 +")]


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
            ref("survey_flow", "ivr_flows"),
        ),
        filters=("strategy",),
    ),
    EntityKind("vip_list", m.VipEntry, "number", "VIP entry", "VIP 客户", (ref("queues", "queues", many=True),)),
    EntityKind("blacklist", routing.BlacklistEntry, "number", "blacklist entry", "黑名单",
               check=_check_blacklist),
    EntityKind("trunks", m.Trunk, "id", "trunk", "中继", secret_fields=frozenset({"secret"}), filters=("kind",)),
    EntityKind("pause_reasons", m.PauseReason, "code", "pause reason", "置忙原因"),
    EntityKind("users", m.User, "name", "user", "用户", (ref("staff", "staff"),), frozenset({"password_hash"}),
               filters=("role",)),
)


def _flow_refs(kind: str) -> Callable[[Any], Iterable[str]]:
    attr = {"queue": "queue", "extension": "extension", "voicemail": "box", "goto_flow": "flow"}[kind]

    def get(flow: ivr.Flow) -> Iterable[str]:
        return [getattr(n, attr) for n in flow.nodes if n.kind == kind]

    return get


def _did_refs(kind: str) -> Callable[[Any], Iterable[str]]:
    def get(did: routing.AccessNumber) -> Iterable[str]:
        dests = [r.destination for r in did.routes] + [did.default]
        return [d.target for d in dests if d.kind == kind and d.target]

    return get


def _check_flow(flow: ivr.Flow, snapshot: Snapshot) -> list[FieldError]:
    return validate_flow(
        flow,
        known_queues=snapshot.get("queues", {}).keys(),
        known_flows=snapshot.get("ivr_flows", {}).keys(),
        known_extensions=snapshot.get("extensions", {}).keys(),
        known_voicemail_boxes=snapshot.get("voicemail_boxes", {}).keys(),
        known_schedules=snapshot.get("schedules", {}).keys(),
    )


def _check_schedule(schedule: routing.Schedule, snapshot: Snapshot) -> list[FieldError]:
    return [FieldError(e.field.lstrip("."), e.rule, e.message, e.message_zh) for e in validate_schedule(schedule, "")]


def _check_did(did: routing.AccessNumber, snapshot: Snapshot) -> list[FieldError]:
    config = routing.RoutingConfig(schedules=tuple(snapshot.get("schedules", {}).values()), access_numbers=(did,))
    prefix = "access_numbers.0."
    return [
        FieldError(e.field.removeprefix(prefix), e.rule, e.message, e.message_zh)
        for e in validate_routing(
            config,
            known_flows=snapshot.get("ivr_flows", {}).keys(),
            known_queues=snapshot.get("queues", {}).keys(),
            known_extensions=snapshot.get("extensions", {}).keys(),
            known_voicemail_boxes=snapshot.get("voicemail_boxes", {}).keys(),
        )
        if e.field.startswith(prefix)
    ]


ROUTING_KINDS: tuple[EntityKind, ...] = (
    EntityKind("schedules", routing.Schedule, "name", "schedule", "时间表", check=_check_schedule),
    EntityKind(
        "ivr_flows", ivr.Flow, "name", "IVR flow", "语音导航流程",
        (
            Reference("nodes", "queues", _flow_refs("queue"), report=False),
            Reference("nodes", "extensions", _flow_refs("extension"), report=False),
            Reference("nodes", "voicemail_boxes", _flow_refs("voicemail"), report=False),
            Reference("nodes", "ivr_flows", _flow_refs("goto_flow"), report=False),
        ),
        check=_check_flow,
        versioned=True,
    ),
    EntityKind(
        "dids", routing.AccessNumber, "number", "access number", "接入号",
        (
            Reference("schedule", "schedules", _one("schedule"), report=False),
            Reference("routes", "ivr_flows", _did_refs("flow"), report=False),
            Reference("routes", "queues", _did_refs("queue"), report=False),
            Reference("routes", "extensions", _did_refs("extension"), report=False),
            Reference("routes", "voicemail_boxes", _did_refs("voicemail"), report=False),
        ),
        check=_check_did,
        filters=("vip",),
    ),
)


def all_kinds() -> tuple[EntityKind, ...]:
    """Every kind the store holds."""
    return CORE_KINDS + ROUTING_KINDS
