"""Voicemail events (`voicemail.*`): a new message (for the wallboard, SNMP and e-mail), and one handled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailReceived(Event):
    topic: ClassVar[str] = "voicemail.new"
    message_id: str
    box: str
    caller: str
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailHandled(Event):
    topic: ClassVar[str] = "voicemail.handled"
    message_id: str
    box: str
    by: str
