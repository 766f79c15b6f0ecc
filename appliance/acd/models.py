"""ACD configuration and the read-only views the engine hands out.

Everything here is a frozen dataclass with plain typed fields (str, int, float, bool, tuples, enums and
nested frozen dataclasses) so the domain/config layer can validate stored queues and staff with a pydantic
`TypeAdapter` and map them onto these without a second schema. The engine never mutates them; a change of
configuration is a new object handed to `AcdEngine.configure`.

Seed terms: 队列 queue, 座席 agent, 技能 skill, 座席等级 level (0 lowest .. 9 highest), 座席归属地 locality,
专属座席 dedicated account manager, 后处理 wrap-up, 置忙 pause, 最小置忙时长 minimum busy duration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Strategy(StrEnum):
    """The one mandatory distribution strategy of a queue (唯一策略)."""

    LOGIN_ORDER = "login_order"  # 座席登录顺序分配: earliest logged-in idle agent first
    FEWEST_ANSWERED = "fewest_answered"  # 最少应答次数: fewest calls answered in this queue since login
    LONGEST_IDLE = "longest_idle"  # 最长闲时: idle for the longest time
    RANDOM = "random"  # 随机分配: uniform among idle eligible agents (seeded RNG)
    RING_ALL = "ring_all"  # ring every idle eligible agent, first to answer wins
    ROUND_ROBIN = "round_robin"  # round robin with memory: next agent after the one offered last


class Modifier(StrEnum):
    """Optional preferences applied before the strategy (非唯一策略), in this fixed precedence."""

    ACCOUNT_MANAGER = "account_manager"  # 专属座席: the caller's own agent when logged in and free
    LAST_SERVED = "last_served"  # 上次服务优先: the agent who served this caller last in this queue
    LOCALITY = "locality"  # 座席归属地优先: an agent whose locality equals the caller's area
    LEVEL = "level"  # 座席等级优先: higher level (9) before lower (0)


class QueueOrder(StrEnum):
    FIFO = "fifo"  # 先进先出 (default)
    LIFO = "lifo"  # 后进先出


class OverflowKind(StrEnum):
    VOICEMAIL = "voicemail"  # 转语音留言: target is the mailbox
    IVR = "ivr"  # target is an IVR node id
    QUEUE = "queue"  # 转其他队列: target is another queue id; the call stays in the ACD
    HANGUP = "hangup"  # 挂断呼叫
    EXTERNAL = "external"  # 转外线: target is an external number


class VipSource(StrEnum):
    GLOBAL_LIST = "global_list"  # 全局VIP客户
    QUEUE_LIST = "queue_list"  # 为特定队列指定VIP用户
    DID = "did"  # VIP接入号
    CRM = "crm"  # 第三方VIP (HTTP look-up; never blocks routing)


class AgentKind(StrEnum):
    NORMAL = "normal"  # 普通座席
    SUPERVISOR = "supervisor"  # 班长座席


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    IDLE = "idle"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"  # 忙碌/置忙 with a reason code
    DISCONNECTED = "disconnected"  # brief network loss: state kept for the grace period


@dataclass(frozen=True, slots=True)
class OverflowAction:
    kind: OverflowKind = OverflowKind.HANGUP
    target: str = ""


@dataclass(frozen=True, slots=True)
class SkillLevel:
    skill: str
    level: int = 0  # 0..9


@dataclass(frozen=True, slots=True)
class SkillRequirement:
    skill: str
    min_level: int = 0  # 0..9: the agent's level in `skill` must be at least this


@dataclass(frozen=True, slots=True)
class PauseReason:
    """A configurable busy state (自定义座席状态)."""

    code: str
    name: str = ""
    name_zh: str = ""


@dataclass(frozen=True, slots=True)
class QueueConfig:
    id: str
    name: str = ""
    priority: int = 0  # an agent in several queues serves the higher-priority queue first
    strategy: Strategy = Strategy.LONGEST_IDLE
    modifiers: tuple[Modifier, ...] = ()
    order: QueueOrder = QueueOrder.FIFO
    required_skills: tuple[SkillRequirement, ...] = ()  # default when the call does not name its own
    ring_timeout: float = 20.0  # seconds an agent rings before the call goes to the next agent
    max_misses: int = 0  # consecutive unanswered offers before the agent is set busy; 0: never
    wrap_up: float = 0.0  # seconds of after-call work (后处理); 0: idle right after the call
    wrap_up_manual: bool = False  # wrap-up lasts until the agent ends it
    max_wait: float | None = None  # 最大等待时长 while agents are busy
    on_max_wait: OverflowAction = OverflowAction()
    max_wait_no_agent: float | None = None  # 无座席等待时长: no agent able to serve the call logged in
    on_no_agent: OverflowAction = OverflowAction()
    max_length: int | None = None  # 最大排队人数
    on_full: OverflowAction = OverflowAction()
    announce_interval: float | None = None  # 播报队列位置 every N seconds while waiting
    announce_on_entry: bool = False
    voicemail_key: str = ""  # key offered during the announcement to leave a voicemail ("" = not offered)
    voicemail_box: str = ""
    callback_key: str = ""  # key offered to be called back instead of waiting ("" = not offered)
    announce_agent_number: bool = False  # 接通播报工号
    vip_sources: tuple[VipSource, ...] = (VipSource.GLOBAL_LIST, VipSource.QUEUE_LIST, VipSource.DID)
    vip_numbers: tuple[str, ...] = ()  # this queue's VIP callers
    vip_priority: int = 10  # priority given to a VIP caller in this queue
    initial_handle_estimate: float = 180.0  # seconds, seeds the estimated-wait average


@dataclass(frozen=True, slots=True)
class AgentProfile:
    id: str
    number: str = ""  # 工号, announced to the caller when configured
    name: str = ""
    group: str = ""  # 座席组
    kind: AgentKind = AgentKind.NORMAL
    level: int = 0  # 座席等级 0..9
    locality: str = ""  # 座席归属地 (compared with the caller's area)
    skills: tuple[SkillLevel, ...] = ()
    queues: tuple[str, ...] = ()


DEFAULT_PAUSE_REASONS: tuple[PauseReason, ...] = (
    PauseReason("busy", "Busy", "忙碌"),
    PauseReason("break", "Break", "休息"),
    PauseReason("meal", "Meal", "用餐"),
    PauseReason("training", "Training", "培训"),
    PauseReason("away", "Away", "离开"),
)


@dataclass(frozen=True, slots=True)
class AcdSettings:
    pause_reasons: tuple[PauseReason, ...] = DEFAULT_PAUSE_REASONS
    min_busy: float = 0.0  # 最小置忙时长: an unpause sooner than this after the pause is refused
    disconnect_grace: float = 60.0  # 座席状态保留: seconds a disconnected agent keeps its state
    reserved_idle_for_inbound: int = 0  # 保留最少空闲座席数 when outbound campaigns ask for agents
    vip_numbers: tuple[str, ...] = ()  # global VIP list
    vip_priority: int = 10
    vip_lookup_timeout: float = 1.5  # seconds a CRM answer is waited for before it is ignored
    max_overflow_hops: int = 5  # queue-to-queue overflows before the call is hung up (loop guard)
    last_served_memory: int = 100_000  # callers remembered per queue for the sticky modifier


@dataclass(frozen=True, slots=True)
class AcdConfig:
    settings: AcdSettings = AcdSettings()
    queues: tuple[QueueConfig, ...] = ()
    agents: tuple[AgentProfile, ...] = ()


# Read-only views for the wallboard, supervisors and tests.


@dataclass(frozen=True, slots=True)
class AgentView:
    id: str
    state: AgentState
    reason: str  # pause reason or the cause of the last transition
    since: float  # monotonic time the state began
    logged_in_at: float | None
    answered: int
    misses: int  # consecutive unanswered offers
    offered_call: str | None
    current_call: str | None
    idle_since: float | None


@dataclass(frozen=True, slots=True)
class CallView:
    id: str
    queue_id: str
    caller: str
    priority: int
    returned: bool
    offered_to: tuple[str, ...]
    arrived_at: float
    enqueued_at: float
    callback_number: str
    requirements: tuple[SkillRequirement, ...]
    missed_by: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class QueueView:
    id: str
    waiting: int
    logged_in: int
    idle: int
    longest_wait: float
