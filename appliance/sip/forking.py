"""Parallel forking of an outbound leg to an extension with several registered contacts.

Every contact rings at once, as RFC 3261 §16.7 describes for a proxy: the first branch to answer wins and
the others are cancelled; when every branch fails, one failure is reported, chosen as in §16.7 step 6 (a 6xx
first, then busy, then the lowest). Call control sees one leg, the group's `main` id: events of the branches
are re-labelled with it and filtered (after an answer only the winner speaks), and commands for `main` go to
the winner (or the first branch while ringing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as dc_replace

from appliance.events import Event
from appliance.sip import events as ev
from appliance.sip.dialog import Leg, LegState


@dataclass(eq=False)
class ForkGroup:
    main: str
    branches: list[str]
    winner: str | None = None
    statuses: list[int] | None = None
    done: bool = False


class Forks:
    """The fork groups of the core; `legs` is the core's leg table (read to see which branches still ring)."""

    def __init__(self, legs: dict[str, Leg]) -> None:
        self._legs = legs
        self._groups: dict[str, ForkGroup] = {}  # main leg id -> group
        self._fork_of: dict[str, ForkGroup] = {}  # branch leg id -> group
        self.pending_hangups: list[str] = []  # losing branches, ended once the current input is handled

    def start(self, main: str) -> ForkGroup:
        g = ForkGroup(main, [])
        self._groups[main] = g
        return g

    def add_branch(self, g: ForkGroup, branch: str) -> None:
        g.branches.append(branch)
        self._fork_of[branch] = g

    def is_branch(self, leg_id: str) -> bool:
        return leg_id in self._fork_of

    def target(self, leg_id: str) -> str:
        """The leg a command for `leg_id` goes to: a forked leg's winner, or its first branch while ringing."""
        g = self._groups.get(leg_id)
        return leg_id if g is None else g.winner or g.branches[0]

    def candidates(self, leg_id: str) -> list[str]:
        """The legs a request for `leg_id` could go to: a forked leg's winner, or every branch while ringing
        (a request only some phones can take, like remote answer, picks among them)."""
        g = self._groups.get(leg_id)
        return [leg_id] if g is None else [g.winner] if g.winner else list(g.branches)

    def branch_event(self, branch: str, event: Event) -> Event | None:
        """What call control hears of `event` from `branch`: the event re-labelled as the main leg, or None."""
        g = self._fork_of[branch]
        if g.done and branch != g.winner:
            return None
        if isinstance(event, ev.LegAnswered):
            if g.winner is not None:
                return None
            g.winner = branch
            for other in g.branches:
                if other != branch:
                    self._hangup_branch(other)
        elif isinstance(event, ev.LegEnded):
            if branch != g.winner:
                if g.winner is not None:
                    return None
                g.statuses = [*(g.statuses or []), event.status]
                if any(b in self._legs and self._legs[b].state is not LegState.ENDED for b in g.branches):
                    return None  # others still ringing
                g.done = True
                return ev.LegEnded(leg_id=g.main, cause=event.cause, status=best_status(g.statuses))
            g.done = True
        elif g.winner is not None and (isinstance(event, ev.LegProgress) or branch != g.winner):
            return None  # after the answer only the winner speaks, and no more ringing
        return dc_replace(event, leg_id=g.main)  # type: ignore[call-arg]

    def _hangup_branch(self, branch: str) -> None:
        leg = self._legs.get(branch)
        if leg is not None and leg.state is not LegState.ENDED:
            self.pending_hangups.append(branch)

    def hangup_unanswered(self, main: str, hangup: Callable[[str], None], emit: Callable[[Event], None]) -> bool:
        """Call control hangs up `main`: when it is a group no branch answered, every branch is hung up and
        one LegEnded reported for `main`; True then. False for a plain leg or an answered group."""
        g = self._groups.get(main)
        if g is None or g.winner is not None:
            return False
        if not g.done:
            g.done = True
            for b in g.branches:
                hangup(b)
            emit(ev.LegEnded(leg_id=g.main, cause="hangup_local", status=0))
        return True

    def forget(self, leg_id: str) -> None:
        g = self._fork_of.pop(leg_id, None)
        if g is not None and not any(b in self._fork_of for b in g.branches):
            self._groups.pop(g.main, None)


def best_status(statuses: list[int]) -> int:
    """The response a forked leg reports when every branch failed: a 6xx wins, then busy, then the lowest
    other failure; 480 when nothing better is known."""
    real = [s for s in statuses if s >= 300]
    six = [s for s in real if s >= 600]
    if six:
        return min(six)
    if 486 in real:
        return 486
    return min(real) if real else 480
