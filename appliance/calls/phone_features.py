"""A phone dialled a feature code (电话座席: agents and supervisors need no PC): the call is answered, the code
carried out, and the result spoken before the call ends. The monitor codes instead join the supervisor's
call to the agent's (see `supervision`)."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.calls import feature_codes as fc
from appliance.calls.agent_commands import AgentCommands
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall
from appliance.calls.models import CallPhase, Direction
from appliance.calls.playback import Playback
from appliance.calls.supervision import Supervision
from appliance.errors import ApplianceError

FEATURE_PROMPT_GRACE_S = 8.0  # the call ends this long after the result, even if its prompt never finishes
MONITOR_FEATURES = {fc.Feature.LISTEN: "listen", fc.Feature.WHISPER: "whisper", fc.Feature.BARGE: "barge",
                    fc.Feature.TAKE_OVER: "take_over"}
FORCED_STATES = {fc.Feature.FORCE_IDLE: ("idle", "置闲"), fc.Feature.FORCE_BUSY: ("busy", "置忙"),
                 fc.Feature.FORCE_LOGOUT: ("logged_out", "下线")}


@dataclass
class PhoneFeatures:
    ctx: CallContext
    playback: Playback
    legs: LegControl
    agents: AgentCommands
    supervision: Supervision
    ending: CallEnding

    async def dialled(self, live: LiveCall, extension: str, request: fc.FeatureRequest) -> None:
        call = live.call
        call.phase = CallPhase.FEATURE
        call.direction = Direction.INTERNAL
        if not await self.legs.answer_caller(live):
            return
        call.phase = CallPhase.FEATURE
        if request.feature in MONITOR_FEATURES:
            await self.supervision.start_monitor(live, extension, request.args[0] if request.args else "",
                                                 MONITOR_FEATURES[request.feature])
            return
        message_en, message_zh = await self._carry_out(extension, request)
        call.note(self.ctx.clock.wall(), "feature", f"{request.feature}: {message_en}")
        language = call.language
        try:
            path = await self.playback.speak(message_zh if language != "en" else message_en, language)
        except ApplianceError:
            await self.ending.end(live, "system", "feature_done")
            return
        self.ctx.later(live, FEATURE_PROMPT_GRACE_S, lambda: self.ending.end(live, "system", "feature_done"))
        await self.playback.play_then(live, [path], lambda: self.ending.end(live, "system", "feature_done"))

    async def _carry_out(self, extension: str, request: fc.FeatureRequest) -> tuple[str, str]:
        """Carry out a feature code; returns what to tell the person (English, Chinese)."""
        feature = request.feature
        try:
            if feature == fc.Feature.AGENT_LOGIN:
                logged_in = await self.ctx.agents.check_login(extension, request.args)
                self.agents.login_at(logged_in, extension)
                return f"Agent {logged_in} logged in.", f"座席{' '.join(logged_in)}登录成功。"
            if feature in fc.SUPERVISOR_ONLY:
                return self._force_from_phone(extension, feature, request.args[0] if request.args else "")
            agent_id = self.ctx.agents.agent_at(extension)
            if agent_id is None:
                return "No agent is logged in on this phone.", "本话机没有登录座席。"
            if feature == fc.Feature.AGENT_LOGOUT:
                self.agents.logout(agent_id)
                return f"Agent {agent_id} logged out.", "座席已退出。"
            if feature == fc.Feature.PAUSE:
                self.agents.pause(agent_id, request.args[0] if request.args else None)
                return "You are now busy.", "已置忙。"
            if feature == fc.Feature.UNPAUSE:
                self.agents.unpause(agent_id)
                return "You are now available.", "已置闲。"
            if feature == fc.Feature.WRAP_UP_DONE:
                self.agents.end_wrap_up(agent_id)
                return "Ready for the next call.", "已结束后处理。"
            return "Unknown feature.", "未知的功能码。"
        except ApplianceError as exc:
            return exc.message, exc.message_zh or exc.message

    def _force_from_phone(self, extension: str, feature: fc.Feature, agent_id: str) -> tuple[str, str]:
        supervisor, en, zh = self.supervision.supervisor_at(extension, agent_id)
        if supervisor is None:
            return en, zh
        state, state_zh = FORCED_STATES.get(feature, FORCED_STATES[fc.Feature.FORCE_LOGOUT])
        self.agents.force(agent_id, state, supervisor)
        return f"Agent {agent_id} is now {state}.", f"座席{' '.join(agent_id)}已强制{state_zh}。"
