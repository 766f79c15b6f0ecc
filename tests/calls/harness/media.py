"""A media engine without sockets: it keeps the bookkeeping call control relies on and nothing else.

It offers the calls `CallController` makes of `appliance.media.MediaEngine` (play, stop_playing, bridge,
add_party, set_mask, remove_party, unbridge, start_recording, stop_recording, send_dtmf) and the two the leg
providers make (allocate, release), and is as strict as the real engine where call control could be wrong:
an unknown endpoint or bridge is `NotFound`, an endpoint already in another bridge is `Conflict`. Like the
real engine it publishes `media.playback_finished` when a prompt is replaced or stopped, `media.leg_quality`
when an endpoint is released and `media.recording_stopped` when a recording ends.

What the far end would make happen is the test's to say: `finish` (a prompt played to its end) and `digit`
(a digit heard, RFC 4733 or in-band). Recordings write a WAV file as long as the virtual time they lasted
(8 kHz stereo silence), so a voicemail deposit or a recording download finds a real file.
"""

from __future__ import annotations

import itertools
import wave
from dataclasses import dataclass, field
from pathlib import Path

from appliance.clock import ManualClock
from appliance.events import EventBus
from appliance.media.errors import endpoint_busy, unknown_bridge, unknown_endpoint
from appliance.media.events import DtmfReceived, LegQuality, PlaybackFinished, RecordingStopped
from appliance.media.models import PartyMask

MOS = 4.3  # what every fake endpoint reports when released
RECORDING_CAP_S = 600.0  # a recording's file never holds more than this (keeps runaway tests small)


@dataclass
class Playing:
    what: str  # the prompt's file stem, "tone:<name>", or "tts:<text>" for synthesized speech
    path: Path | None
    loop: bool
    barge_in: bool


@dataclass
class Recording:
    recording_id: str
    caller: str
    agent: str | None
    path: Path
    started: float


@dataclass
class FakeMedia:
    bus: EventBus
    clock: ManualClock
    describe: dict[str, str] = field(default_factory=dict)  # prompt file stem → what to call it ("tts:...")
    endpoints: set[str] = field(default_factory=set)
    allocated: list[str] = field(default_factory=list)  # every endpoint ever allocated, in order
    released: list[str] = field(default_factory=list)
    bridges: dict[str, dict[str, PartyMask]] = field(default_factory=dict)
    playing: dict[str, Playing] = field(default_factory=dict)
    played: dict[str, list[str]] = field(default_factory=dict)  # endpoint → everything started on it
    recordings: dict[str, Recording] = field(default_factory=dict)
    finished_recordings: list[Recording] = field(default_factory=list)
    dtmf_sent: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ---------------------------------------------------------------- endpoints (the leg providers' side)

    def allocate(self) -> str:
        endpoint_id = f"ep{next(self._ids)}"
        self.endpoints.add(endpoint_id)
        self.allocated.append(endpoint_id)
        return endpoint_id

    def release(self, endpoint_id: str) -> LegQuality | None:
        if endpoint_id not in self.endpoints:
            return None
        for recording in [r for r in self.recordings.values() if endpoint_id in (r.caller, r.agent)]:
            self.stop_recording(recording.recording_id)
        if endpoint_id in self.playing:
            self._finish(endpoint_id, interrupted=True)
        bridge_id = self.bridge_of(endpoint_id)
        if bridge_id is not None:
            self._leave(bridge_id, endpoint_id)
        self.endpoints.discard(endpoint_id)
        self.released.append(endpoint_id)
        event = LegQuality(at=self.clock.wall(), endpoint_id=endpoint_id, packets_received=0, packets_lost=0,
                           jitter_ms=0.0, round_trip_ms=None, r_factor=90.0, mos=MOS)
        self.bus.publish(event)
        return event

    def _endpoint(self, endpoint_id: str) -> str:
        if endpoint_id not in self.endpoints:
            raise unknown_endpoint(endpoint_id)
        return endpoint_id

    # ---------------------------------------------------------------- bridges

    def bridge_of(self, endpoint_id: str) -> str | None:
        return next((b for b, parties in self.bridges.items() if endpoint_id in parties), None)

    def bridge(self, *endpoint_ids: str, masks: dict[str, PartyMask] | None = None) -> str:
        bridge_id = f"br{next(self._ids)}"
        self.bridges[bridge_id] = {}
        for endpoint_id in endpoint_ids:
            self.add_party(bridge_id, endpoint_id, (masks or {}).get(endpoint_id))
        return bridge_id

    def add_party(self, bridge_id: str, endpoint_id: str, mask: PartyMask | None = None) -> None:
        parties = self._bridge(bridge_id)
        current = self.bridge_of(self._endpoint(endpoint_id))
        if current is not None and current != bridge_id:
            raise endpoint_busy(endpoint_id, current)
        parties[endpoint_id] = mask or PartyMask()

    def set_mask(self, bridge_id: str, endpoint_id: str, mask: PartyMask) -> None:
        parties = self._bridge(bridge_id)
        if endpoint_id not in parties:
            raise unknown_endpoint(endpoint_id)
        parties[endpoint_id] = mask

    def remove_party(self, bridge_id: str, endpoint_id: str) -> None:
        self._bridge(bridge_id)
        self._endpoint(endpoint_id)
        if self.bridge_of(endpoint_id) == bridge_id:
            self._leave(bridge_id, endpoint_id)

    def unbridge(self, bridge_id: str) -> None:
        self.bridges.pop(bridge_id, None)

    def _bridge(self, bridge_id: str) -> dict[str, PartyMask]:
        parties = self.bridges.get(bridge_id)
        if parties is None:
            raise unknown_bridge(bridge_id)
        return parties

    def _leave(self, bridge_id: str, endpoint_id: str) -> None:
        parties = self.bridges[bridge_id]
        parties.pop(endpoint_id, None)
        if not parties:  # the real engine forgets a bridge its last party left
            del self.bridges[bridge_id]

    # ---------------------------------------------------------------- prompts, tones, DTMF

    def play(self, endpoint_id: str, *, prompt: Path | None = None, tone: str | None = None, loop: bool = False,
             barge_in: bool = False) -> None:
        self._endpoint(endpoint_id)
        if prompt is None and tone is None:
            raise ValueError("play needs a prompt or a tone")
        if endpoint_id in self.playing:
            self._finish(endpoint_id, interrupted=True)
        what = f"tone:{tone}" if prompt is None else self.describe.get(prompt.stem, prompt.stem)
        self.playing[endpoint_id] = Playing(what, prompt, loop, barge_in)
        self.played.setdefault(endpoint_id, []).append(what)

    def stop_playing(self, endpoint_id: str) -> None:
        self._endpoint(endpoint_id)
        if endpoint_id in self.playing:
            self._finish(endpoint_id, interrupted=True)

    def send_dtmf(self, endpoint_id: str, digits: str, duration_ms: int = 100) -> None:
        self.dtmf_sent[self._endpoint(endpoint_id)] = self.dtmf_sent.get(endpoint_id, "") + digits

    def _finish(self, endpoint_id: str, *, interrupted: bool) -> None:
        playing = self.playing.pop(endpoint_id)
        self.bus.publish(PlaybackFinished(at=self.clock.wall(), endpoint_id=endpoint_id,
                                          what=str(playing.path or playing.what), interrupted=interrupted))

    # ---------------------------------------------------------------- recording

    def start_recording(self, caller_id: str, agent_id: str | None, path: Path, *, mp3: bool = False) -> str:
        self._endpoint(caller_id)
        if agent_id is not None:
            self._endpoint(agent_id)
        recording_id = f"rec{next(self._ids)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_silence(path, 0.0)
        self.recordings[recording_id] = Recording(recording_id, caller_id, agent_id, path, self.clock.monotonic())
        return recording_id

    def stop_recording(self, recording_id: str) -> None:
        recording = self.recordings.pop(recording_id, None)
        if recording is None:
            return
        seconds = min(RECORDING_CAP_S, self.clock.monotonic() - recording.started)
        _write_silence(recording.path, seconds)
        self.finished_recordings.append(recording)
        self.bus.publish(RecordingStopped(at=self.clock.wall(), recording_id=recording_id,
                                          path=str(recording.path), seconds=round(seconds, 2), error=None))

    # ---------------------------------------------------------------- what the far end makes happen

    def finish(self, endpoint_id: str) -> str:
        """The prompt playing on `endpoint_id` reached its end; returns what it was."""
        playing = self.playing.get(endpoint_id)
        if playing is None or playing.loop or playing.path is None:
            raise AssertionError(f"no prompt that can finish plays on {endpoint_id}: {playing}")
        self._finish(endpoint_id, interrupted=False)
        return playing.what

    def digit(self, endpoint_id: str, digit: str, source: str = "rfc4733") -> None:
        """A digit heard from the leg: it ends a prompt that allows barge-in, as the real engine does."""
        playing = self.playing.get(self._endpoint(endpoint_id))
        if playing is not None and playing.barge_in:
            self._finish(endpoint_id, interrupted=True)
        self.bus.publish(DtmfReceived(at=self.clock.wall(), endpoint_id=endpoint_id, digit=digit, source=source))

    # ---------------------------------------------------------------- what tests read

    def hears(self, endpoint_id: str | None) -> str | None:
        playing = self.playing.get(endpoint_id or "")
        return playing.what if playing is not None else None

    def parties(self, endpoint_id: str | None) -> dict[str, PartyMask]:
        """The parties of the bridge `endpoint_id` is in ({} when it is in none)."""
        bridge_id = self.bridge_of(endpoint_id or "")
        return dict(self.bridges[bridge_id]) if bridge_id is not None else {}

    def leftovers(self) -> dict[str, object]:
        """Whatever is still allocated, bridged, played or recorded (empty when a test cleaned up)."""
        left: dict[str, object] = {"endpoints": sorted(self.endpoints), "bridges": dict(self.bridges),
                                   "playing": dict(self.playing), "recordings": dict(self.recordings)}
        return {k: v for k, v in left.items() if v}


def _write_silence(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(4 * int(8000 * seconds)))
