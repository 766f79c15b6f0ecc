"""A call's media events: digits heard on an endpoint, the end of a prompt on the caller (the IVR's next
prompt, or the next step after a controller prompt), a leg whose RTP stopped, and a recording that failed.

A leg's listening quality is not taken from here: the engine's `media.leg_quality` comes before or after the
call ends depending on who hung up. The leg's provider keeps what it measured in `CallLeg.mos` when it releases
the leg's media, and the registry copies that as the endpoint is forgotten (`CallRegistry.release_endpoint`)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.calls.context import CallContext
from appliance.calls.digits import Digits
from appliance.calls.ending import CallEnding
from appliance.calls.ivr_calls import CallIvr
from appliance.calls.live import LiveCall
from appliance.calls.models import LegState
from appliance.calls.playback import Playback
from appliance.events import Event
from appliance.media import events as media_events


@dataclass
class MediaEventHandler:
    ctx: CallContext
    digits: Digits
    ivr: CallIvr
    playback: Playback
    ending: CallEnding

    async def handle(self, live: LiveCall, event: Event) -> None:
        call = live.call
        if isinstance(event, media_events.DtmfReceived):
            state = _leg_at(live, event.endpoint_id)
            if state is not None:
                await self.digits.pressed(live, state, event.digit)
        elif isinstance(event, media_events.PlaybackFinished):
            if event.endpoint_id != live.caller_endpoint:
                return
            if live.playlist is not None:
                if not event.interrupted:  # barge-in: the digit that interrupted it goes to the IVR
                    self.ivr.play_next(live)
            elif not event.interrupted:
                await self.playback.finished(live)
        elif isinstance(event, media_events.RtpTimeout):
            state = _leg_at(live, event.endpoint_id)
            if state is not None and state.ended_at is None:
                call.note(self.ctx.clock.wall(), "rtp_timeout", state.party)
                await self.ending.end(live, "system", "rtp_timeout")
        elif isinstance(event, media_events.RecordingStopped) and event.error:
            call.note(self.ctx.clock.wall(), "recording_failed", event.error)


def _leg_at(live: LiveCall, endpoint_id: str) -> LegState | None:
    return next((s for s in live.call.legs.values() if s.endpoint_id == endpoint_id), None)
