"""What an agent has written about a call while it is up: the customer it is about and the notes typed so far.

The agent desk saves these as the agent types, keyed by the call's id. When the call is transferred (blind,
attended, or by consulting first) the call keeps its id, so the next agent's desk reads the same record and
notes back (seed 004, 来电弹屏: 电话转接后客户资料协同转移到目标座席). Who wrote is kept too, so the agent
who handed the call on can still read and finish the notes in wrap-up.

The notes live in memory only for as long as a call is worked on: the lasting record is the service record
the desk saves with the customer (`appliance.customers`). The store is bounded (the oldest notes are
forgotten first), so a box that runs for months never grows with it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace

from appliance.clock import Clock

MAX_NOTES_CHARS = 4000
MAX_CALLS = 5000  # far more calls than a box has up and in wrap-up at once


@dataclass(frozen=True, slots=True)
class CallNote:
    call_id: str
    customer_id: str = ""
    notes: str = ""
    updated_at: float | None = None
    updated_by: str = ""
    writers: tuple[str, ...] = ()  # the agents (or logins) who wrote, oldest first

    def to_dict(self) -> dict[str, object]:
        return {"call_id": self.call_id, "customer_id": self.customer_id, "notes": self.notes,
                "updated_at": self.updated_at, "updated_by": self.updated_by, "writers": list(self.writers)}


@dataclass
class CallNotes:
    clock: Clock
    limit: int = MAX_CALLS
    _notes: OrderedDict[str, CallNote] = field(default_factory=OrderedDict)

    def get(self, call_id: str) -> CallNote:
        """The call's notes (an empty record when nobody has written any)."""
        return self._notes.get(call_id) or CallNote(call_id)

    def written_by(self, call_id: str, who: str) -> bool:
        note = self._notes.get(call_id)
        return note is not None and who in note.writers

    def save(self, call_id: str, who: str, *, notes: str | None = None, customer_id: str | None = None) -> CallNote:
        """Replace the notes and/or the customer (None: keep what is there)."""
        note = self.get(call_id)
        note = replace(note, notes=note.notes if notes is None else notes,
                       customer_id=note.customer_id if customer_id is None else customer_id,
                       updated_at=round(self.clock.wall(), 3), updated_by=who,
                       writers=note.writers if who in note.writers else (*note.writers, who))
        self._notes[call_id] = note
        self._notes.move_to_end(call_id)
        while len(self._notes) > self.limit:
            self._notes.popitem(last=False)
        return note

    def __len__(self) -> int:
        return len(self._notes)
