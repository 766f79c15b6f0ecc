"""Joining the caller with the party it talks to: the media bridge, the recording the queue's policy asks for,
and hold (the caller leaves the bridge and hears the queue's music)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from appliance.calls import events as E
from appliance.calls.context import CallContext
from appliance.calls.live import LiveCall
from appliance.calls.models import Call, CallPhase, Direction, LegState
from appliance.calls.playback import Playback
from appliance.domain import models as m
from appliance.errors import ApplianceError, Conflict


@dataclass
class Bridging:
    ctx: CallContext
    playback: Playback

    def answer_caller_if_pending(self, live: LiveCall) -> None:
        """Answer a caller whose media is open but who was left ringing (internal and outbound calls are answered
        when the far party answers)."""
        call = live.call
        state = call.legs[call.caller_leg]
        if state.answered_at is not None or not live.answer_pending:
            return
        live.answer_pending = False
        state.leg.answer()
        state.answered_at = call.answered_at = self.ctx.clock.wall()

    async def connect(self, live: LiveCall, leg_id: str, state: LegState) -> None:
        """Bridge the caller with `leg_id` and start recording per policy."""
        call = live.call
        caller_ep = live.caller_endpoint
        if caller_ep is None or state.endpoint_id is None or state.ended_at is not None:
            return
        self.playback.stop_playing(live)
        self.answer_caller_if_pending(live)
        call.phase = CallPhase.CONNECTED
        call.bridge_id = self.ctx.media.bridge(caller_ep, state.endpoint_id)
        call.note(self.ctx.clock.wall(), "bridged", state.party)
        if self._should_record(call):
            day = time.strftime("%Y%m%d", time.localtime(self.ctx.clock.wall()))
            recordings = self.ctx.recordings_dir
            path = recordings / day / f"{call.id}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():  # a second segment of the same call (after a transfer or hold)
                path = path.with_name(f"{call.id}-{len(call.recordings) + 1}.wav")
            call.recording_id = self.ctx.media.start_recording(caller_ep, state.endpoint_id, path)
            call.recordings.append(str(path.relative_to(recordings.parent)))
        self.ctx.publish(E.CallBridged(call_id=call.id, party=state.party, agent=call.agent,
                                       recording=call.recording_id is not None))

    def _should_record(self, call: Call) -> bool:
        queue = self.ctx.store.find("queues", call.queue) if call.queue else None
        policy = queue.recording if queue is not None else m.RecordingPolicy.ALL
        if policy == m.RecordingPolicy.NONE:
            return False
        return not (policy == m.RecordingPolicy.INBOUND and call.direction != Direction.INBOUND)

    def stop_recording(self, call: Call) -> None:
        if call.recording_id is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.ctx.media.stop_recording(call.recording_id)
            call.recording_id = None

    def unbridge(self, call: Call) -> None:
        if call.bridge_id is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.ctx.media.unbridge(call.bridge_id)
            call.bridge_id = None

    # ---------------------------------------------------------------- hold

    def hold_changed(self, live: LiveCall, held: bool) -> None:
        """The caller is held or taken off hold (by a phone, the desk or a consultation): the CDR counts the
        time, the public event says it, and a held caller hears music."""
        call = live.call
        now = self.ctx.clock.wall()
        if held and call.hold_started is None:
            call.hold_started = now
            call.note(now, "hold")
            self.ctx.publish(E.CallHeld(call_id=call.id, held=True, agent=call.agent))
            endpoint = live.caller_endpoint
            if endpoint is not None and call.bridge_id is not None:
                self.playback.play_music(endpoint, call.queue)
        elif not held and call.hold_started is not None:
            call.hold_seconds += now - call.hold_started
            call.hold_started = None
            call.note(now, "unhold")
            self.ctx.publish(E.CallHeld(call_id=call.id, held=False, agent=call.agent))
            self.playback.stop_playing(live)

    def hold_caller(self, live: LiveCall) -> None:
        """Take the caller out of the bridge and play the queue's music (hold, or while the agent consults)."""
        call = live.call
        if call.bridge_id is not None:
            self.ctx.media.unbridge(call.bridge_id)
            call.bridge_id = None
        self.hold_changed(live, True)
        caller_ep = live.caller_endpoint
        if caller_ep is not None:
            self.playback.play_music(caller_ep, call.queue)

    async def hold_from_desk(self, live: LiveCall, on: bool) -> None:
        """Hold from the agent desk: the caller hears music, the agent hears nothing; unhold reconnects."""
        call = live.call
        if call.agent_leg is None:
            raise Conflict("no agent is talking to the caller", "座席未与客户通话")
        agent_state = call.legs[call.agent_leg]
        if on and call.bridge_id is not None:
            self.hold_caller(live)
        elif not on and call.bridge_id is None:
            self.hold_changed(live, False)
            await self.connect(live, call.agent_leg, agent_state)
