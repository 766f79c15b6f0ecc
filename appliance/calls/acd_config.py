"""Configuration entities → the ACD engine's configuration.

The store holds queues, staff, VIP entries and pause reasons as an admin edits them; the ACD takes one
`AcdConfig`. This is the only translation between the two, run at start and on every `config.changed`.
Staff who left, and QA/admin staff, are not agents; a queue's members are its agents.

Settings read here: `crm_vip_url` (第三方VIP: when set, every queue also asks this CRM whether a caller is a
VIP, see `appliance.crm.vip_lookup`) and `crm_vip_timeout_s` (how long an answer is waited for; default 1.5).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from appliance.acd import models as acd
from appliance.domain import models as m

CRM_VIP_URL = "crm_vip_url"
CRM_VIP_TIMEOUT = "crm_vip_timeout_s"
CRM_VIP_DEFAULT_TIMEOUT = 1.5


def crm_vip_url(settings: dict[str, Any]) -> str:
    """The CRM's VIP look-up URL, or "" when none (or something that is not an HTTP URL) is configured."""
    url = settings.get(CRM_VIP_URL)
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    return ""


def crm_vip_timeout(settings: dict[str, Any]) -> float:
    """Seconds a CRM answer is waited for; a caller waits in the queue meanwhile, so kept within 0.1-10 s."""
    value = settings.get(CRM_VIP_TIMEOUT, CRM_VIP_DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return CRM_VIP_DEFAULT_TIMEOUT
    return min(10.0, max(0.1, float(value)))


def _overflow(o: m.Overflow) -> acd.OverflowAction:
    return acd.OverflowAction(kind=o.kind, target=o.target)


def _limit(seconds: int) -> float | None:
    return float(seconds) if seconds > 0 else None


def queue_config(q: m.Queue, vip_entries: Iterable[m.VipEntry] = (), *, crm: bool = False) -> acd.QueueConfig:
    vip = tuple(dict.fromkeys((*q.vip_numbers, *(v.number for v in vip_entries if q.id in v.queues))))
    sources = (acd.VipSource.GLOBAL_LIST, acd.VipSource.QUEUE_LIST, acd.VipSource.DID) + (
        (acd.VipSource.CRM,) if crm else ())
    return acd.QueueConfig(
        id=q.id,
        name=q.name,
        priority=q.priority,
        strategy=q.strategy,
        modifiers=tuple(q.modifiers),
        order=q.order,
        required_skills=(acd.SkillRequirement(q.required_skill, q.min_skill_level),) if q.required_skill else (),
        ring_timeout=float(q.ring_timeout_s),
        max_misses=q.misses_before_busy,
        wrap_up=float(q.wrap_up_s),
        wrap_up_manual=q.manual_wrap_up,
        max_wait=_limit(q.max_wait_s),
        on_max_wait=_overflow(q.on_max_wait),
        max_wait_no_agent=_limit(q.max_wait_no_agent_s),
        on_no_agent=_overflow(q.on_no_agent),
        max_length=q.max_length,
        on_full=_overflow(q.on_full),
        announce_interval=_limit(q.announce_every_s),
        announce_on_entry=q.announce_on_entry,
        voicemail_key=q.voicemail_key,
        voicemail_box=q.voicemail_box or "",
        callback_key=q.callback_key,
        announce_agent_number=q.announce_agent_id,
        vip_numbers=vip,
        vip_priority=q.vip_priority,
        vip_sources=sources,
    )


def agent_profile(s: m.Staff, queues: Iterable[m.Queue]) -> acd.AgentProfile:
    return acd.AgentProfile(
        id=s.employee_no,
        number=s.employee_no,
        name=s.name,
        group=s.work_group or "",
        kind=acd.AgentKind.SUPERVISOR if s.role == m.Role.SUPERVISOR else acd.AgentKind.NORMAL,
        level=s.level,
        locality=s.locality,
        skills=tuple(acd.SkillLevel(k.skill, k.level) for k in s.skills),
        queues=tuple(q.id for q in queues if s.employee_no in q.members),
    )


def acd_config(entities: dict[str, list[Any]], settings: dict[str, Any]) -> acd.AcdConfig:
    """`entities` maps kind names to their entities (the store's snapshot)."""
    queues: list[m.Queue] = entities.get("queues", [])
    vip: list[m.VipEntry] = entities.get("vip_list", [])
    staff: list[m.Staff] = entities.get("staff", [])
    reasons: list[m.PauseReason] = entities.get("pause_reasons", [])
    agents = [
        agent_profile(s, queues) for s in staff
        if s.status == m.StaffStatus.ACTIVE and s.role in (m.Role.AGENT, m.Role.SUPERVISOR)
    ]
    acd_settings = acd.AcdSettings(
        pause_reasons=tuple(acd.PauseReason(r.code, r.name, r.name_zh) for r in reasons)
        or acd.DEFAULT_PAUSE_REASONS,
        min_busy=float(settings.get("min_busy_s", 0)),
        disconnect_grace=float(settings.get("disconnect_grace_s", 60)),
        reserved_idle_for_inbound=int(settings.get("reserved_idle_for_inbound", 0)),
        vip_numbers=tuple(v.number for v in vip if not v.queues),
        vip_lookup_timeout=crm_vip_timeout(settings),
    )
    crm = bool(crm_vip_url(settings))
    return acd.AcdConfig(
        settings=acd_settings,
        queues=tuple(queue_config(q, vip, crm=crm) for q in queues),
        agents=tuple(agents),
    )
