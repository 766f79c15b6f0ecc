"""IVR figures from journey records (seed 002/003 "IVR指标"): per call outcome counts, time spent in the
IVR, and per node how often callers reached it, timed out, pressed a wrong key or hung up there — the
numbers that show which menu loses callers. Pure: the records store or a report feeds it rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from appliance.ivr.journey import ExitReason, JourneyStep, JourneySummary, StepKind


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStats:
    flow: str
    node: str
    entered: int
    timeouts: int
    invalid: int
    abandoned_here: int


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrStats:
    calls: int  # IVR进线数
    outcomes: dict[ExitReason, int]
    total_seconds: float  # IVR时长
    nodes: tuple[NodeStats, ...]

    @property
    def abandoned(self) -> int:  # IVR放弃数
        return self.outcomes.get(ExitReason.ABANDONED, 0)

    @property
    def self_served(self) -> int:
        return self.outcomes.get(ExitReason.SELF_SERVED, 0)

    @property
    def average_seconds(self) -> float:
        return self.total_seconds / self.calls if self.calls else 0.0

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.calls if self.calls else 0.0


def summarise(summaries: Iterable[JourneySummary], steps: Iterable[JourneyStep] = ()) -> IvrStats:
    outcomes: Counter[ExitReason] = Counter()
    abandoned_at: Counter[tuple[str, str]] = Counter()
    calls = 0
    total = 0.0
    for s in summaries:
        calls += 1
        total += s.duration
        outcomes[s.exit_reason] += 1
        if s.exit_reason is ExitReason.ABANDONED:
            abandoned_at[(s.last_flow, s.last_node)] += 1
    entered: Counter[tuple[str, str]] = Counter()
    timeouts: Counter[tuple[str, str]] = Counter()
    invalid: Counter[tuple[str, str]] = Counter()
    order: dict[tuple[str, str], None] = {}
    for st in steps:
        key = (st.flow, st.node)
        if st.kind is StepKind.NODE_ENTERED:
            entered[key] += 1
            order.setdefault(key, None)
        elif st.kind is StepKind.TIMEOUT:
            timeouts[key] += 1
        elif st.kind is StepKind.INVALID:
            invalid[key] += 1
    for key in abandoned_at:
        order.setdefault(key, None)
    nodes = tuple(
        NodeStats(
            flow=flow,
            node=node,
            entered=entered[(flow, node)],
            timeouts=timeouts[(flow, node)],
            invalid=invalid[(flow, node)],
            abandoned_here=abandoned_at[(flow, node)],
        )
        for flow, node in order
    )
    return IvrStats(calls=calls, outcomes=dict(outcomes), total_seconds=total, nodes=nodes)
