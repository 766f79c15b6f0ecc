"""A call in an IVR flow: the session runs in `appliance.ivr`; call control plays its prompts on the caller,
feeds it the caller's digits and the prompts' ends, and carries out where the flow sends the caller."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall, Playlist
from appliance.calls.messages import IvrActionArrived
from appliance.calls.models import CallPhase, LegRole
from appliance.calls.playback import Playback
from appliance.calls.queueing import Queueing
from appliance.calls.voicemail_flow import VoicemailFlow
from appliance.ivr import actions as ivr_actions
from appliance.ivr.inputs import CallArrived as IvrCallArrived
from appliance.ivr.inputs import CallerHungUp as IvrCallerHungUp
from appliance.ivr.inputs import DigitPressed, PromptFinished


@dataclass
class CallIvr:
    ctx: CallContext
    playback: Playback
    legs: LegControl
    queueing: Queueing
    voicemail: VoicemailFlow
    ending: CallEnding

    def __post_init__(self) -> None:
        self.ending.register(self._close_on_end)

    async def start(self, live: LiveCall, flow: str) -> None:
        call = live.call
        call.phase = CallPhase.IVR
        call.flow = call.flow or flow  # the CDR names the entry flow; later ones extend the path
        arrived = IvrCallArrived(call_id=call.id, caller=call.caller, did=call.did, flow=flow,
                                 language=call.language, vip=call.vip)  # type: ignore[arg-type]

        def deliver(action: ivr_actions.Action) -> None:
            self.ctx.post(call.id, IvrActionArrived(action))

        live.ivr = await self.ctx.ivr.open_session(arrived, deliver)

    async def on_action(self, live: LiveCall, action: ivr_actions.Action) -> None:
        call = live.call
        if call.phase == CallPhase.ENDED:
            return
        if isinstance(action, ivr_actions.Play):
            files = [self.ctx.prompts.resolve(p, action.language) for p in action.prompts]
            live.playlist = Playlist(action.play_id, files, action.barge_in)
            self.play_next(live)
        elif isinstance(action, ivr_actions.StopPlayback):
            live.playlist = None
            self.playback.stop_playing(live)
        elif isinstance(action, ivr_actions.SetLanguage):
            call.language = action.language
        elif isinstance(action, ivr_actions.RecordSurvey):
            call.survey_score = action.score
        elif isinstance(action, ivr_actions.CaptureCallback):
            call.variables["callback_number"] = action.number
            live.callback_confirmed = True  # the callback step plays its own confirmation
        elif action.final:
            self._leave(live, action)
            await self._follow(live, action)

    async def _follow(self, live: LiveCall, action: ivr_actions.Action) -> None:
        """Where the flow sent the caller when it finished."""
        call = live.call
        if isinstance(action, ivr_actions.TransferToQueue):
            call.variables.update(action.variables)
            self.queueing.enter(live, action.queue, priority=action.priority, vip=action.vip or call.vip,
                                skill=action.skill)
        elif isinstance(action, ivr_actions.TransferToExtension):
            await self.legs.ring_extension(live, action.extension, LegRole.CALLEE)
        elif isinstance(action, ivr_actions.TransferToVoicemail):
            await self.voicemail.start(live, action.box, greeting=False)  # the flow spoke already
        elif isinstance(action, ivr_actions.TransferToExternal):
            await self.legs.ring_external(live, action.number)
        elif isinstance(action, ivr_actions.Hangup):
            await self.ending.end(live, "system", f"ivr_{action.reason}")

    def _leave(self, live: LiveCall, action: ivr_actions.Action) -> None:
        """The session is over: the CDR takes its path and exit, and its prompt stops."""
        call = live.call
        if live.ivr is not None:
            summary = live.ivr.session.summary
            if summary is not None:
                call.ivr_path.extend(summary.path)
                call.ivr_exit = summary.exit_reason.value
            live.ivr = None
        live.playlist = None
        self.playback.stop_playing(live)
        call.note(self.ctx.clock.wall(), "ivr_exit", type(action).__name__)

    def play_next(self, live: LiveCall) -> None:
        """The next prompt of the flow's `Play`; the flow hears when the last one has finished."""
        playlist = live.playlist
        endpoint = live.caller_endpoint
        if playlist is None or endpoint is None:
            return
        if not playlist.files:
            live.playlist = None
            if live.ivr is not None:
                live.ivr.feed(PromptFinished(play_id=playlist.play_id))
            return
        path = playlist.files.pop(0)
        self.ctx.media.play(endpoint, prompt=path, barge_in=playlist.barge_in)

    def key_pressed(self, live: LiveCall, digit: str) -> None:
        if live.ivr is not None:
            live.call.ivr_keys += digit
            live.ivr.feed(DigitPressed(digit=digit))

    async def _close_on_end(self, live: LiveCall) -> None:
        """The caller hung up in the flow (or the call was ended): the session hears it and closes."""
        if live.ivr is not None:
            live.ivr.feed(IvrCallerHungUp())
            self._leave(live, ivr_actions.Hangup(reason="caller_hung_up"))
            await self.ctx.ivr.close_session(live.call.id)
            live.call.ivr_exit = live.call.ivr_exit or "abandoned"
