"""Events the media engine publishes on the appliance event bus (topics "media.*")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfReceived(Event):
    topic: ClassVar[str] = "media.dtmf"
    endpoint_id: str
    digit: str
    source: str  # "rfc4733" or "inband"


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpTimeout(Event):
    topic: ClassVar[str] = "media.rtp_timeout"
    endpoint_id: str
    silent_for: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(Event):
    topic: ClassVar[str] = "media.playback_finished"
    endpoint_id: str
    what: str
    interrupted: bool  # stopped by barge-in or by call control before its end


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStopped(Event):
    topic: ClassVar[str] = "media.recording_stopped"
    recording_id: str
    path: str
    seconds: float
    error: str | None  # "No space left on device" when the disk filled; the call stays up


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerLatched(Event):
    topic: ClassVar[str] = "media.peer_latched"
    endpoint_id: str
    address: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LegQuality(Event):
    """Per-leg figures when an endpoint is released: for the CDR."""

    topic: ClassVar[str] = "media.leg_quality"
    endpoint_id: str
    packets_received: int
    packets_lost: int
    jitter_ms: float
    round_trip_ms: float | None
    r_factor: float
    mos: float
