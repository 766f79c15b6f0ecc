"""Leaving a voicemail message: greeting, beep, then record until the caller presses #, hangs up, or the limit.

A message is deposited only when something was recorded; a call that ends while recording deposits what it
has (the caller hanging up is the usual way to finish).
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.calls.bridging import Bridging
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.live import LiveCall, VoicemailTake
from appliance.calls.models import CallPhase
from appliance.calls.playback import Playback

VOICEMAIL_MAX_S = 120.0
WAV_HEADER_BYTES = 44  # a file no larger holds no audio


@dataclass
class VoicemailFlow:
    ctx: CallContext
    playback: Playback
    bridging: Bridging
    ending: CallEnding

    def __post_init__(self) -> None:
        self.ending.register(self._deposit_on_end)

    async def start(self, live: LiveCall, box: str, *, greeting: bool = True) -> None:
        """Greeting (unless the IVR flow already spoke), the beep, then record until #, hang-up or the limit."""
        call = live.call
        call.phase = CallPhase.VOICEMAIL
        files = []
        if greeting:
            files.append(self.ctx.prompts.resolve("voicemail_greeting", call.language))  # type: ignore[arg-type]
        files.append(self.ctx.assets.beep)

        async def record() -> None:
            endpoint = live.caller_endpoint
            if endpoint is None or call.phase != CallPhase.VOICEMAIL:
                return
            message_id, path = self.ctx.voicemail.new_file(box)
            live.voicemail = VoicemailTake(message_id, path, box)
            call.recording_id = self.ctx.media.start_recording(endpoint, None, path)
            call.note(self.ctx.clock.wall(), "voicemail_recording", box)
            self.ctx.later(live, VOICEMAIL_MAX_S, lambda: self.finish(live))

        await self.playback.play_then(live, files, record)

    async def finish(self, live: LiveCall) -> None:
        """Stop recording and deposit the message; the call ends unless it is ending already."""
        call = live.call
        take = live.voicemail
        if take is None:
            return
        live.voicemail = None
        self.bridging.stop_recording(call)
        if take.path.exists() and take.path.stat().st_size > WAV_HEADER_BYTES:
            message = self.ctx.voicemail.deposit(take.message_id, take.box, call.caller, call.id, take.path,
                                                 call.caller_name)
            call.voicemail_id = message.id
            call.disposition = "voicemail"
        if call.phase == CallPhase.VOICEMAIL:
            await self.ending.end(live, "system", "voicemail_done")

    async def _deposit_on_end(self, live: LiveCall) -> None:
        if live.voicemail is not None:
            await self.finish(live)
