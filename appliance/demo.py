"""The demo tenant seeded at first start, so a new user can make a call at once.

DID 8000 → IVR `main` (1 sales, 2 support, 0 operator) in work hours (Mon-Fri 09:00-18:00, Asia/Shanghai),
off hours → voicemail; queues `sales` and `support`; agents 1001-1005 with SIP extensions and generated
passwords; supervisor 1901. The generated secrets are written once to `demo-credentials.json` (mode 0600)
in the data directory — the store itself keeps only hashes — so `appliance demo info` can show them.
"""

from __future__ import annotations

import json
import secrets as secrets_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.domain import models as m
from appliance.ivr.demo import demo_flows, demo_routing
from appliance.security.passwords import generate_password, hash_password, sip_ha1
from appliance.store.atomic import atomic_write_text
from appliance.store.migrations import DEFAULT_REALM

if TYPE_CHECKING:
    from appliance.app import Core

CREDENTIALS_FILE = "demo-credentials.json"
TIME_ZONE = "Asia/Shanghai"

AGENTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    # employee number, name, skills, locality (area code)
    ("1001", "张伟", ("sales",), "010"),
    ("1002", "王芳", ("sales",), "021"),
    ("1003", "李娜", ("sales", "support"), "010"),
    ("1004", "刘洋", ("support",), "020"),
    ("1005", "陈静", ("support",), "0755"),
)
SUPERVISOR = ("1901", "赵敏")
PAUSE_REASONS = (("1", "Break", "休息"), ("2", "Training", "培训"), ("3", "Meeting", "开会"), ("4", "Meal", "用餐"))


def demo_entities(realm: str, secrets: dict[str, dict[str, str]]) -> dict[str, list[Any]]:
    """The demo entities; `secrets` receives the generated SIP passwords and phone PINs."""
    extensions: list[m.Extension] = []
    staff: list[m.Staff] = []
    for number, name, skills, locality in (*AGENTS, (*SUPERVISOR, ("sales", "support"), "010")):
        password = generate_password()
        pin = "".join(str(secrets_module.randbelow(10)) for _ in range(4))
        secrets["extensions"][number] = password
        secrets["pins"][number] = pin
        extensions.append(m.Extension(
            number=number, name=name, ha1_md5=sip_ha1(number, realm, password, "MD5"),
            ha1_sha256=sip_ha1(number, realm, password, "SHA-256"), allowed_networks=(),
        ))
        is_supervisor = number == SUPERVISOR[0]
        staff.append(m.Staff(
            employee_no=number, name=name,
            role=m.Role.SUPERVISOR if is_supervisor else m.Role.AGENT,
            department="service",
            work_group=None if is_supervisor else ("sales-team" if "sales" in skills[:1] else "support-team"),
            skills=tuple(m.SkillLevel(skill=s, level=7 if i == 0 else 4) for i, s in enumerate(skills)),
            level=5, locality=locality, extension=number,
            managed_groups=("sales-team", "support-team") if is_supervisor else (),
            managed_queues=("sales", "support") if is_supervisor else (),
            employment=(m.EmploymentPeriod(joined=0.0),),
            pin_hash=hash_password(pin),
        ))
    routing = demo_routing()
    queue_defaults: dict[str, Any] = {"strategy": m.Strategy.LONGEST_IDLE, "ring_timeout_s": 15, "wrap_up_s": 10,
                                      "survey_flow": "survey"}
    return {
        "departments": [m.Department(id="service", name="客服部")],
        "work_groups": [
            m.WorkGroup(id="sales-team", name="销售组", department="service"),
            m.WorkGroup(id="support-team", name="技术支持组", department="service"),
        ],
        "skills": [m.Skill(id="sales", name="销售"), m.Skill(id="support", name="技术支持")],
        "extensions": extensions,
        "staff": staff,
        "voicemail_boxes": [
            m.VoicemailBox(id="general", name="总机留言"),
            m.VoicemailBox(id="sales", name="销售留言", owner_queue="sales"),
            m.VoicemailBox(id="support", name="技术支持留言", owner_queue="support"),
        ],
        "queues": [
            m.Queue(id="sales", name="销售", members=("1001", "1002", "1003"), required_skill="sales",
                    voicemail_box="sales",
                    on_max_wait=m.Overflow(kind=m.OverflowKind.VOICEMAIL, target="sales"),
                    on_no_agent=m.Overflow(kind=m.OverflowKind.VOICEMAIL, target="sales"),
                    on_full=m.Overflow(kind=m.OverflowKind.VOICEMAIL, target="sales"), **queue_defaults),
            m.Queue(id="support", name="技术支持", members=("1003", "1004", "1005"), required_skill="support",
                    voicemail_box="support",
                    on_max_wait=m.Overflow(kind=m.OverflowKind.VOICEMAIL, target="support"),
                    on_no_agent=m.Overflow(kind=m.OverflowKind.VOICEMAIL, target="support"),
                    on_full=m.Overflow(kind=m.OverflowKind.VOICEMAIL, target="support"), **queue_defaults),
        ],
        "pause_reasons": [m.PauseReason(code=c, name=en, name_zh=zh) for c, en, zh in PAUSE_REASONS],
        "schedules": list(routing.schedules),
        "dids": list(routing.access_numbers),
        "ivr_flows": list(demo_flows()),
    }


async def seed_if_empty(core: Core) -> bool:
    """Seed the demo tenant into an empty store (first start). Returns whether it seeded."""
    store = core.store
    if store.settings.get("seeded") or any(store.list(k) for k in ("staff", "queues", "extensions")):
        return False
    realm = str(store.settings.get("sip_realm", DEFAULT_REALM))
    secrets: dict[str, dict[str, str]] = {"extensions": {}, "pins": {}}
    entities = demo_entities(realm, secrets)
    entities["users"] = store.list("users")  # keep the admin account
    settings = {**store.settings, "seeded": True, "blacklist_treatment": {"action": "prompt", "prompt": "blacklisted"}, "sip_realm": realm, "time_zone": TIME_ZONE, "tone_plan": "cn",
                "language": "zh-CN"}
    atomic_write_text(core.data_dir / CREDENTIALS_FILE, json.dumps(secrets, indent=1), mode=0o600)
    await store.replace_all(entities, settings)
    return True


def demo_info(data_dir: Path, entities: dict[str, list[Any]], settings: dict[str, Any], sip_port: int,
              bind: str) -> str:
    """What `appliance demo info` prints."""
    path = Path(data_dir) / CREDENTIALS_FILE
    secrets: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {"extensions": {},
                                                                                             "pins": {}}
    realm = settings.get("sip_realm", DEFAULT_REALM)
    lines = [
        "Demo tenant / 演示租户",
        f"  SIP server / SIP 服务器: {bind}:{sip_port} (UDP/TCP), realm {realm}",
        "  Access number / 接入号: 8000 → IVR main: 1 sales / 销售, 2 support / 技术支持, 0 operator / 总机 (1901)",
        f"  Work hours / 工作时间: Mon-Fri 09:00-18:00 ({settings.get('time_zone', TIME_ZONE)}); "
        "off hours → voicemail / 非工作时间转语音信箱",
        "  Queues / 队列: " + ", ".join(f"{q.id} ({q.name}: {' '.join(q.members)})" for q in entities["queues"]),
        "",
        f"  {'ext/分机':<10}{'name/姓名':<12}{'role/角色':<12}{'SIP password/密码':<20}{'PIN'}",
    ]
    names = {s.employee_no: s for s in entities["staff"]}
    for ext in entities["extensions"]:
        person = names.get(ext.number)
        password = secrets["extensions"].get(ext.number, "(changed / 已修改)")
        lines.append(
            f"  {ext.number:<10}{(person.name if person else ext.name):<10}"
            f"{(person.role.value if person else ''):<12}{password:<20}{secrets['pins'].get(ext.number, '')}"
        )
    lines += ["", "Register a softphone with user = extension, password as above; dial 8000."]
    return "\n".join(lines)
