"""The alarm table: pure logic over measures, conditions and an injected time (no I/O, no clock reads).

A measure crossing its threshold raises an alarm and clears it only below the clear level (hysteresis).
A condition that keeps coming back is damped: after `flap_limit` raises within `flap_window` seconds the
alarm is marked flapping and notifies nothing more until it has held one state for `flap_hold` seconds;
then one notice tells its state, if that differs from what was last told. The table itself always counts
every raise, so the NOC sees how often it happened without a storm of traps.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from appliance.monitoring.models import Alarm, Severity, Threshold

MAX_CLEARED_ROWS = 500  # cleared rows beyond this are forgotten, oldest first


@dataclass(frozen=True, slots=True)
class AlarmNotice:
    """Something to tell the NOC (a trap) and the log: `alarm` was raised, or cleared."""

    raised: bool
    alarm: Alarm


class AlarmTable:
    def __init__(self, alarms: Iterable[Alarm] = (), *, flap_window: float = 60.0, flap_limit: int = 3,
                 flap_hold: float = 30.0) -> None:
        self._rows: dict[tuple[str, str], Alarm] = {a.key: replace(a, flapping=False) for a in alarms}
        self._next_id = max((a.id for a in self._rows.values()), default=0) + 1
        self._raises: dict[tuple[str, str], deque[float]] = {}
        self._told: dict[tuple[str, str], bool] = {k: a.active for k, a in self._rows.items()}
        self._held: dict[tuple[str, str], float] = {}
        self.flap_window, self.flap_limit, self.flap_hold = flap_window, flap_limit, flap_hold
        self.changes = 0  # grows on every change of a row: the owner persists when it moved

    # ---- reading

    def rows(self) -> list[Alarm]:
        return sorted(self._rows.values(), key=lambda a: a.id)

    def active(self) -> list[Alarm]:
        return [a for a in self.rows() if a.active]

    def get(self, name: str, source: str) -> Alarm | None:
        return self._rows.get((name, source))

    # ---- inputs

    def measure(self, threshold: Threshold, source: str, value: float, now: float, what: str) -> list[AlarmNotice]:
        """Feed one measured value; `what` names it in words ("CPU usage", "disk /var")."""
        row = self._rows.get((threshold.name, source))
        active = row is not None and row.active
        if not threshold.enabled:
            return self.clear(threshold.name, source, now, f"{what}: threshold disabled", value) if active else []
        if not active and value >= threshold.set_level:
            text = f"{what} {value:g} reached {threshold.set_level:g}"
            return self.raise_(threshold.name, source, threshold.severity, now, text, value)
        if active and value <= threshold.clear_level:
            return self.clear(threshold.name, source, now, f"{what} {value:g} back to {threshold.clear_level:g}",
                              value)
        if row is not None and row.value != value and active:
            self._rows[row.key] = replace(row, value=value)  # live value, not a change worth persisting
        return []

    def raise_(self, name: str, source: str, severity: Severity, now: float, text: str,
               value: float | None = None) -> list[AlarmNotice]:
        key = (name, source)
        row = self._rows.get(key)
        if row is not None and row.active:
            return []
        if row is None:
            row = Alarm(self._next_id, name, source, severity, True, now, None, 1, text, value)
            self._next_id += 1
        else:
            row = replace(row, severity=severity, active=True, raised_at=now, cleared_at=None, count=row.count + 1,
                          text=text, value=value)
        self._rows[key] = row
        self.changes += 1
        raises = self._raises.setdefault(key, deque())
        raises.append(now)
        while raises and raises[0] < now - self.flap_window:
            raises.popleft()
        return self._tell(key, now, len(raises) > self.flap_limit)

    def clear(self, name: str, source: str, now: float, text: str, value: float | None = None) -> list[AlarmNotice]:
        key = (name, source)
        row = self._rows.get(key)
        if row is None or not row.active:
            return []
        self._rows[key] = replace(row, active=False, cleared_at=now, text=text, value=value)
        self.changes += 1
        self._prune()
        return self._tell(key, now, False)

    def _tell(self, key: tuple[str, str], now: float, flapping: bool) -> list[AlarmNotice]:
        if key in self._held or flapping:
            self._held[key] = now + self.flap_hold  # quiet until it holds one state this long
            self._rows[key] = replace(self._rows[key], flapping=True)
            return []
        row = self._rows[key]
        if self._told.get(key, False) == row.active:
            return []
        self._told[key] = row.active
        return [AlarmNotice(row.active, row)]

    # ---- time

    def next_deadline(self) -> float | None:
        return min(self._held.values(), default=None)

    def handle_timeout(self, now: float) -> list[AlarmNotice]:
        out: list[AlarmNotice] = []
        for key, until in list(self._held.items()):
            if now < until:
                continue
            del self._held[key]
            row = self._rows[key] = replace(self._rows[key], flapping=False)
            self.changes += 1
            if self._told.get(key, False) != row.active:
                self._told[key] = row.active
                out.append(AlarmNotice(row.active, row))
        return out

    def _prune(self) -> None:
        cleared = [a for a in self._rows.values() if not a.active]
        if len(cleared) > MAX_CLEARED_ROWS:
            for a in sorted(cleared, key=lambda a: a.cleared_at or 0.0)[: len(cleared) - MAX_CLEARED_ROWS]:
                del self._rows[a.key]

    # ---- persistence (the bytes; the service writes them atomically off the loop)

    def dumps(self) -> bytes:
        return json.dumps({"version": 1, "alarms": [a.to_json() for a in self.rows()]}, indent=1).encode()

    @staticmethod
    def loads(data: bytes) -> list[Alarm]:
        doc: Any = json.loads(data)
        return [Alarm.from_json(a) for a in doc.get("alarms", [])]
