"""Events the record journal publishes (topic "records.*") for alarms, SNMP traps and the health page.

The journal never loses a row it accepted: when the record store refuses writes (disk full, I/O error) it
keeps them and retries; these events say when that starts and ends, and when it had to refuse new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsWriteFailed(Event):
    """Writing to the record store failed; published once per outage (the first failure), not per retry."""

    topic: ClassVar[str] = "records.write_failed"
    disk_full: bool  # ENOSPC / SQLITE_FULL: freeing space ends it
    error: str
    backlog: int  # rows accepted and waiting to be written


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsWriteRecovered(Event):
    """Writes succeed again after a failure; every row accepted meanwhile is being written, in order."""

    topic: ClassVar[str] = "records.write_recovered"
    failed_for: float  # seconds since the first failure
    failures: int  # write attempts that failed during the outage
    backlog: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsBacklogFull(Event):
    """The journal holds as many unwritten rows as it may: new rows are refused (and counted) until there is
    room again. Published once each time the backlog fills."""

    topic: ClassVar[str] = "records.backlog_full"
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsCallCompleted(Event):
    """An agent's part of a queue call is over, as the queue log records it (COMPLETEAGENT, COMPLETECALLER,
    TRANSFER): published when the journal makes the line, so a live board counts what the reports will."""

    topic: ClassVar[str] = "records.call_completed"
    call_id: str
    queue: str
    agent: str
    completed_by: str  # complete_agent, complete_caller, complete_system or transfer
    talk: float  # seconds from the agent's answer to the end of their part, hold excluded
    hold: float
