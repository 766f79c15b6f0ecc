"""Configuration entities.

Plain frozen dataclasses with constraints in `Annotated` metadata: the rest of the appliance uses them as
ordinary typed values, and `appliance.domain.validation` checks untrusted input against the same
annotations once, at the edge. Identifiers are short slugs or digit strings an installer can type on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, with_config

# The ACD's own vocabulary is the one stored and shown: one set of names from the engine to the API.
from appliance.acd.models import Modifier as Modifier
from appliance.acd.models import OverflowKind as OverflowKind
from appliance.acd.models import QueueOrder as QueueOrder
from appliance.acd.models import Strategy as Strategy

Slug = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Digits = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[0-9]+$")]
PhoneNumber = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^\+?[0-9*#]+$")]
Name = Annotated[str, Field(min_length=1, max_length=80)]
Text = Annotated[str, Field(max_length=500)]
Level = Annotated[int, Field(ge=0, le=9)]
Seconds = Annotated[int, Field(ge=0, le=86_400)]
Cidr = Annotated[str, Field(min_length=1, max_length=49, pattern=r"^[0-9a-fA-F:.]+(/[0-9]{1,3})?$")]

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"


class StaffStatus(StrEnum):
    ACTIVE = "active"
    LEFT = "left"


class LoginMode(StrEnum):
    """How an agent works (seed: 座席登录方式)."""

    EXTENSION = "extension"  # a phone bound permanently or by feature-code login
    UNBOUND = "unbound"  # no phone: monitoring only
    SOFTPHONE = "softphone"  # the agent desk's built-in phone


class RecordingPolicy(StrEnum):
    ALL = "all"
    NONE = "none"
    INBOUND = "inbound"


class DialClass(StrEnum):
    """Outbound dialling permission, widest last (toll fraud is real: the default is the narrowest)."""

    INTERNAL = "internal"
    LOCAL = "local"
    NATIONAL = "national"
    INTERNATIONAL = "international"


class TrunkKind(StrEnum):
    SIP = "sip"
    E1_PRI = "e1_pri"
    FXO = "fxo"


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


class SrtpPolicy(StrEnum):
    """Media encryption of a phone's or trunk's calls (SRTP keyed by SDES, RFC 4568; keys only over TLS)."""

    OFF = "off"  # plain RTP only; an RTP/SAVP offer is refused
    OFFERED = "offered"  # SRTP when the peer takes it over TLS, else RTP
    REQUIRED = "required"  # SRTP or no call: an offer of plain RTP is refused with 488


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Department:
    id: Slug
    name: Name
    parent: Slug | None = None


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class WorkGroup:
    """座席组: an agent belongs to exactly one; a supervisor manages some."""

    id: Slug
    name: Name
    department: Slug | None = None


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Skill:
    id: Slug
    name: Name
    description: Text = ""


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class SkillLevel:
    skill: Slug
    level: Level = 5


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class EmploymentPeriod:
    joined: float
    left: float | None = None
    reason: Text = ""


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Staff:
    """A person: agent, supervisor, QA or admin. Never deleted — they leave and can be reinstated."""

    employee_no: Digits
    name: Name
    role: Role = Role.AGENT
    department: Slug | None = None
    work_group: Slug | None = None
    skills: tuple[SkillLevel, ...] = ()
    level: Level = 0  # 座席等级, 0 lowest, 9 highest
    locality: Annotated[str, Field(max_length=20)] = ""  # area code or region for locality-first routing
    login_mode: LoginMode = LoginMode.EXTENSION
    extension: Digits | None = None  # permanent binding; feature-code login binds at run time instead
    managed_groups: tuple[Slug, ...] = ()  # supervisors: the work groups they manage
    managed_queues: tuple[Slug, ...] = ()
    dial_class: DialClass = DialClass.INTERNAL
    status: StaffStatus = StaffStatus.ACTIVE
    employment: tuple[EmploymentPeriod, ...] = ()
    pin_hash: str = ""  # phone login PIN, hashed; set through its own endpoint


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Overflow:
    kind: OverflowKind = OverflowKind.HANGUP
    target: Annotated[str, Field(max_length=64)] = ""  # box, flow[:node], queue id or number


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    id: Slug
    name: Name
    strategy: Strategy = Strategy.LONGEST_IDLE
    modifiers: tuple[Modifier, ...] = ()
    priority: Level = 5
    members: tuple[Digits, ...] = ()  # employee numbers
    required_skill: Slug | None = None
    min_skill_level: Level = 0
    order: QueueOrder = QueueOrder.FIFO
    vip_numbers: tuple[PhoneNumber, ...] = ()
    max_wait_s: Seconds = 300  # 0: no limit
    on_max_wait: Overflow = field(default_factory=lambda: Overflow(kind=OverflowKind.VOICEMAIL))
    max_wait_no_agent_s: Seconds = 30  # 0: no limit
    on_no_agent: Overflow = field(default_factory=lambda: Overflow(kind=OverflowKind.VOICEMAIL))
    max_length: Annotated[int, Field(ge=1, le=10_000)] = 100
    on_full: Overflow = field(default_factory=lambda: Overflow(kind=OverflowKind.VOICEMAIL))
    announce_every_s: Seconds = 30  # 播报队列位置 every N seconds; 0: never
    announce_on_entry: bool = True
    voicemail_key: Annotated[str, Field(max_length=1, pattern=r"^[0-9*#]?$")] = ""  # offered while waiting
    callback_key: Annotated[str, Field(max_length=1, pattern=r"^[0-9*#]?$")] = ""
    vip_priority: Annotated[int, Field(ge=0, le=100)] = 10
    ring_timeout_s: Annotated[int, Field(ge=5, le=300)] = 15
    misses_before_busy: Annotated[int, Field(ge=0, le=20)] = 3
    wrap_up_s: Seconds = 10
    manual_wrap_up: bool = False
    announce_agent_id: bool = True
    recording: RecordingPolicy = RecordingPolicy.ALL
    music: Annotated[str, Field(max_length=64)] = "default"
    survey_flow: Slug | None = None  # run for the caller when the agent hangs up first (满意度调查)
    voicemail_box: Slug | None = None


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class VipEntry:
    """A VIP caller: global (no queues) or for the listed queues."""

    number: PhoneNumber
    name: Annotated[str, Field(max_length=80)] = ""
    queues: tuple[Slug, ...] = ()
    note: Text = ""


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Extension:
    """A SIP extension (IP phone, ATA port or softphone). The password is stored only as digest HA1s."""

    number: Digits
    name: Annotated[str, Field(max_length=80)] = ""
    allowed_networks: tuple[Cidr, ...] = ()  # empty: anywhere
    transport: Transport = Transport.UDP
    srtp: SrtpPolicy = SrtpPolicy.OFFERED
    dial_class: DialClass = DialClass.INTERNAL
    voicemail_box: Slug | None = None
    ha1_md5: str = ""
    ha1_sha256: str = ""


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class CallerIdRule:
    """Rewrite the caller ID presented on a trunk: strip a prefix, add one, or replace it outright."""

    match_prefix: Annotated[str, Field(max_length=20, pattern=r"^[0-9+]*$")] = ""
    strip: Annotated[int, Field(ge=0, le=20)] = 0
    prepend: Annotated[str, Field(max_length=20, pattern=r"^[0-9+]*$")] = ""
    replace_with: Annotated[str, Field(max_length=32, pattern=r"^[0-9+]*$")] = ""


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Trunk:
    """A line to the PSTN: a SIP provider, an E1/PRI span or an FXO port."""

    id: Slug
    name: Name
    kind: TrunkKind = TrunkKind.SIP
    enabled: bool = True
    # SIP
    host: Annotated[str, Field(max_length=253)] = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 5060
    transport: Transport = Transport.UDP
    srtp: SrtpPolicy = SrtpPolicy.OFFERED
    username: Annotated[str, Field(max_length=64)] = ""
    register: bool = False
    ip_auth_networks: tuple[Cidr, ...] = ()
    # E1/PRI and FXO
    span: Annotated[int, Field(ge=0, le=64)] = 0
    port_number: Annotated[int, Field(ge=0, le=64)] = 0
    crc4: bool = True
    # both
    caller_id_rules: tuple[CallerIdRule, ...] = ()  # applied to our caller ID on outbound calls
    outbound_caller_id: Annotated[str, Field(max_length=32, pattern=r"^[0-9+]*$")] = ""  # the number shown
    max_channels: Annotated[int, Field(ge=1, le=1000)] = 30
    # The carrier's digest password: a client must present it, so it is kept (never shown by the API).
    secret: Annotated[str, Field(max_length=128)] = ""


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class PauseReason:
    """A custom busy state (自定义座席状态); the code is what an agent dials after the pause feature code."""

    code: Annotated[str, Field(min_length=1, max_length=2, pattern=r"^[0-9]+$")]
    name: Name
    name_zh: Name


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailBox:
    id: Slug
    name: Name
    owner_queue: Slug | None = None
    owner_staff: Digits | None = None
    max_message_s: Annotated[int, Field(ge=10, le=600)] = 120


@with_config(STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A login account for the web UI and API. `admin` exists from the start, without a password."""

    name: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
    role: Role = Role.AGENT
    staff: Digits | None = None  # the person behind the account, if any
    disabled: bool = False
    language: Annotated[str, Field(pattern=r"^(|zh_CN|en)$")] = ""  # the web UI's language; "": the box's default
    password_hash: str = ""
