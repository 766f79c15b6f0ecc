"""The ACD engine's working records: queues, pools, agents and calls as the engine keeps them.

Mutable and internal to the engine's modules (the outside world sees `appliance.acd.models` views). Plain
slotted dataclasses with no behaviour of their own beyond what a record can answer about itself, so each
collaborator (queueing, strategies, agent states, offers, callbacks) reads and writes the same facts without
hidden copies.

A *pool* is one queue plus one skill requirement (the queue's default or the call's own). It holds the
logged-in agents able to serve it (`members`), those of them idle in strategy order (`idle`, plus one index
per locality when the locality modifier is on) and its waiting calls in service order (`calls`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.acd.index import AgentIndex, CallList
from appliance.acd.models import AgentProfile, AgentState, QueueConfig, SkillRequirement

Requirement = tuple[SkillRequirement, ...]

# Timer kinds: call timers below 10, agent timers from 10, so one heap entry names its owner's registry.
RING, MAX_WAIT, NO_AGENT, ANNOUNCE, VIP = 0, 1, 2, 3, 4
WRAP, GRACE = 10, 11
FIRST_AGENT_TIMER = WRAP

SYSTEM = "system"  # the `by` of automatic state changes
NO_ANSWER_REASON = "no_answer"  # the pause reason given after too many misses


def normalise_requirement(req: Requirement) -> Requirement:
    """One canonical form per requirement so equal needs share one pool."""
    best: dict[str, int] = {}
    for r in req:
        best[r.skill] = max(best.get(r.skill, 0), r.min_level)
    return tuple(SkillRequirement(s, lvl) for s, lvl in sorted(best.items()))


@dataclass(slots=True, eq=False)
class Pool:
    queue: Queue
    req: Requirement
    members: set[str] = field(default_factory=set)
    idle: AgentIndex = field(default_factory=AgentIndex)
    by_area: dict[str, AgentIndex] = field(default_factory=dict)
    calls: CallList = field(default_factory=CallList)


@dataclass(slots=True, eq=False)
class Queue:
    cfg: QueueConfig
    vip_numbers: frozenset[str]
    req: Requirement  # the queue's default requirement, normalised once
    active: bool = True
    pools: dict[Requirement, Pool] = field(default_factory=dict)
    logged_in: set[str] = field(default_factory=set)
    member_pos: dict[str, int] = field(default_factory=dict)
    rr_last: float = float("-inf")
    last_served: dict[str, str] = field(default_factory=dict)
    avg_handle: float = 180.0
    waiting: int = 0


@dataclass(slots=True, eq=False)
class Agent:
    profile: AgentProfile
    skills: dict[str, int]
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    login_seq: int = 0
    logged_in_at: float | None = None
    answered: int = 0
    answered_by_queue: dict[str, int] = field(default_factory=dict)
    idle_since: float | None = None
    misses: int = 0
    offered_call: str | None = None
    current_call: str | None = None
    call_queue: str | None = None  # queue of the current call, for its wrap-up rule
    call_started: float = 0.0
    pools: list[Pool] = field(default_factory=list)
    indexed: bool = False
    paused_at: float = 0.0
    pending_pause: str = ""  # pause asked for during a call, applied when it ends
    pending_by: str = ""
    resume_state: AgentState = AgentState.IDLE  # state to return to after a disconnect or other call
    resume_reason: str = ""
    timers: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, profile: AgentProfile) -> Agent:
        return cls(profile, skill_map(profile))

    def satisfies(self, req: Requirement) -> bool:
        skills = self.skills
        return all(skills.get(r.skill, -1) >= r.min_level for r in req)


@dataclass(slots=True, eq=False)
class Call:
    id: str
    queue: Queue
    pool: Pool
    caller: str
    area: str
    account_manager: str
    own_req: Requirement | None
    priority: int
    vip_source: str
    arrived_at: float
    enqueued_at: float = 0.0
    seq: int = 0
    returned: bool = False
    waiting: bool = False
    offered_to: list[str] = field(default_factory=list)
    attempts: int = 0
    missed_by: set[str] = field(default_factory=set)
    callback_number: str = ""
    expired: str = ""  # limit reached while ringing: acted on if the offer fails
    hops: int = 0
    vip_pending: bool = False
    timers: dict[int, int] = field(default_factory=dict)


def skill_map(profile: AgentProfile) -> dict[str, int]:
    skills: dict[str, int] = {}
    for s in profile.skills:
        skills[s.skill] = max(skills.get(s.skill, 0), s.level)
    return skills
