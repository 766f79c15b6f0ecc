"""A voicemail message."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailMessage:
    id: str
    box: str
    caller: str
    call_id: str
    received_at: float
    duration_s: float
    file: str  # relative to the data directory
    caller_name: str = ""
    handled: bool = False
    note: str = ""
    handled_by: str = ""
    handled_at: float | None = None
