"""Flow versions. A call pins the `FlowLibrary` snapshot current when it entered the IVR, so editing a flow
(or a sub-flow it jumps to) never changes a call already in progress; new calls get the new version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from appliance.errors import NotFound
from appliance.ivr.models import Flow


@dataclass(frozen=True)
class FlowLibrary:
    """An immutable snapshot: flow name → the version current at snapshot time."""

    flows: Mapping[str, Flow] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, name: str) -> Flow:
        flow = self.flows.get(name)
        if flow is None:
            raise NotFound("flow", name)
        return flow

    def names(self) -> frozenset[str]:
        return frozenset(self.flows)


class FlowRepository:
    """Every published version of every flow; `snapshot()` is what a new call uses."""

    def __init__(self, flows: Iterable[Flow] = ()) -> None:
        self._history: dict[str, list[Flow]] = {}
        self._snapshot = FlowLibrary()
        for flow in flows:
            self.publish(flow)

    def publish(self, flow: Flow) -> Flow:
        """Store `flow` as the next version of its name and return it with that version number.

        The configuration store numbers a flow's versions; its number is kept when it is ahead, so the
        version in an IVR journey is the one the API and the editor show, also after a restart."""
        versions = self._history.setdefault(flow.name, [])
        following = versions[-1].version + 1 if versions else 1
        stored = dataclasses.replace(flow, version=max(flow.version, following))
        versions.append(stored)
        # A new mapping each time: snapshots handed out earlier stay exactly as they were.
        current = {name: hist[-1] for name, hist in self._history.items()}
        self._snapshot = FlowLibrary(MappingProxyType(current))
        return stored

    def remove(self, name: str) -> None:
        if name not in self._history:
            raise NotFound("flow", name)
        del self._history[name]
        current = {n: hist[-1] for n, hist in self._history.items()}
        self._snapshot = FlowLibrary(MappingProxyType(current))

    def snapshot(self) -> FlowLibrary:
        return self._snapshot

    def versions(self, name: str) -> tuple[Flow, ...]:
        if name not in self._history:
            raise NotFound("flow", name)
        return tuple(self._history[name])
