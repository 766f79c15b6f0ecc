"""E1 span alarms from line defects, sans-IO: the failure declaration of ITU-T G.775 / ETSI EN 300 417-1-1
(§8.1 "defect persistence": a defect present for 2.5 ± 0.5 s is declared a failure — an alarm — and a
failure is cleared after the defect has been absent for 10 ± 0.5 s).

The card's framer reports defects as it detects them (G.775 §5: LOS after 10-255 zeros, AIS when fewer than
3 zeros in each of two 512-bit periods; G.706 §4.1.1 LOF after three wrong frame alignment signals, §4.2
CRC-4 multiframe loss; G.704 §2.3.2 RAI, the far end's A bit). Here each defect is integrated on its own;
LOS, AIS and LOF are the "red" alarms that take the span out of service, RAI the "yellow" one; the card
sends RAI back itself while it sees a red defect (G.732 §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.hal.models import Defect

SET_S = 2.5
CLEAR_S = 10.0
RED = frozenset({Defect.LOS, Defect.AIS, Defect.LOF})


@dataclass(frozen=True, slots=True)
class AlarmChange:
    alarm: Defect
    raised: bool
    at: float


@dataclass
class SpanAlarms:
    set_s: float = SET_S
    clear_s: float = CLEAR_S
    active: set[Defect] = field(default_factory=set)  # declared alarms
    _present: set[Defect] = field(default_factory=set)  # defects the card reports now
    _since: dict[Defect, float] = field(default_factory=dict)  # when each defect appeared or went

    def defects(self, defects: frozenset[Defect], now: float) -> list[AlarmChange]:
        for d in Defect:
            was, now_present = d in self._present, d in defects
            if was != now_present:
                self._since[d] = now
        self._present = set(defects)
        return self.handle_timeout(now)

    def next_deadline(self) -> float | None:
        times = []
        for d, since in self._since.items():
            if d in self._present and d not in self.active:
                times.append(since + self.set_s)
            elif d not in self._present and d in self.active:
                times.append(since + self.clear_s)
        return min(times) if times else None

    def handle_timeout(self, now: float) -> list[AlarmChange]:
        out = []
        for d in Defect:
            since = self._since.get(d)
            if since is None:
                continue
            if d in self._present and d not in self.active and now >= since + self.set_s:
                self.active.add(d)
                out.append(AlarmChange(d, True, since + self.set_s))
            elif d not in self._present and d in self.active and now >= since + self.clear_s:
                self.active.discard(d)
                out.append(AlarmChange(d, False, since + self.clear_s))
        return out

    @property
    def red(self) -> bool:
        return bool(self.active & RED)
