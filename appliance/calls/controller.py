"""Call control: legs, media endpoints, routing, IVR and ACD joined into calls.

Each call is an actor (`actor.py`): one task reads the call's inbox of typed messages (`messages.py`: leg
events for its legs, media events for its endpoints, IVR actions, ACD actions, timers, API commands, requests
from other calls) and handles them one at a time, so no two handlers of the same call ever interleave around
an `await`. Handlers talk to the engines directly: the legs (whatever carries them: SIP, E1/PRI, analog; each
sends at once), the media engine, the ACD engine (pure, synchronous) and the IVR runner of the call.

The inbound path: access number → time routing → IVR flow → queue (skill, priority, VIP) → the ACD offers
the call → the agent's phone rings (ring timeout: next agent, the call stays first in line) → the agent
answers → the caller hears the agent's number (接通播报工号) → bridge → recording per the queue's policy →
hang-up → the agent's wrap-up → CDR.

`CallController` is the façade the API, the service and the composition root use: it builds the parts of
call control around one shared `CallContext`, takes events in, and dispatches each call's messages to the
part that handles them. The parts, each in its module:

| part | module |
|---|---|
| new calls, routing, dialling out, calls the box places | `call_setup` |
| the caller's and other legs: answer, reject, ring, drop | `leg_control` |
| bridge, recording, hold | `bridging` |
| controller prompts and music | `playback` |
| IVR sessions | `ivr_calls` |
| queueing (the caller's side of the ACD) | `queueing` |
| offers and the serving agent (the agent's side) | `agent_offers` |
| what the ACD decided | `acd_actions` |
| CRM VIP look-ups | `crm_vip` |
| callbacks | `callbacks` |
| voicemail | `voicemail_flow` |
| blind and attended transfers | `transfers` |
| consultation and conference | `consultation` |
| supervisors | `supervision` |
| feature codes dialled from phones | `phone_features` |
| agents' state commands | `agent_commands` |
| leg events, media events, digits | `leg_event_handling`, `media_event_handling`, `digits` |
| end of call: clean-up steps, CDR, `calls.ended` | `ending` |
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, assert_never

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.calls.acd_actions import AcdActionHandler
from appliance.calls.actor import CallActors
from appliance.calls.agent_commands import AgentCommands
from appliance.calls.agent_offers import AgentOffers
from appliance.calls.bridging import Bridging
from appliance.calls.call_setup import CallSetup
from appliance.calls.callbacks import Callbacks
from appliance.calls.consultation import Consultation
from appliance.calls.context import CallContext, CallEngines
from appliance.calls.crm_vip import CrmVipLookups
from appliance.calls.digits import Digits
from appliance.calls.ending import CallEnding
from appliance.calls.ivr_calls import CallIvr
from appliance.calls.leg_control import LegControl
from appliance.calls.leg_event_handling import LegEventHandler
from appliance.calls.live import LiveCall
from appliance.calls.media_event_handling import MediaEventHandler
from appliance.calls.messages import (
    AcdActionArrived,
    Adopt,
    ApiConference,
    ApiConsult,
    ApiHangup,
    ApiHold,
    ApiMarkIntended,
    ApiTransfer,
    CallMessage,
    ConsultComplete,
    ConsultReturn,
    HandOver,
    IvrActionArrived,
    LegEventArrived,
    MediaEventArrived,
    MonitorGone,
    Shutdown,
    TakeOver,
    TargetEnded,
    TimerFired,
    VipResult,
)
from appliance.calls.models import Call, CallPhase, LegRole
from appliance.calls.phone_features import PhoneFeatures
from appliance.calls.playback import Playback
from appliance.calls.queueing import Queueing
from appliance.calls.registry import CallRegistry
from appliance.calls.supervision import MONITOR_MODES, Supervision
from appliance.calls.transfers import Transfers
from appliance.calls.views import agent_views, queue_views
from appliance.calls.voicemail_flow import VoicemailFlow
from appliance.errors import Conflict, NotFound
from appliance.events import Event
from appliance.legs import events as leg_events
from appliance.tasks import cancel_and_wait

log = logging.getLogger(__name__)


@dataclass
class CallController(CallEngines):
    _acd_task: asyncio.Task[None] | None = field(default=None, init=False)
    _subs: list[Any] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        """Build the parts, each after the parts it uses. Parts with end-of-call clean-up register it as they
        are built, and the steps run in that order: voicemail, queueing, IVR, the serving agent, consulted and
        conferenced agents, supervision."""
        ctx = self._ctx = CallContext.around(self)
        playback = Playback(ctx)
        self._bridging = bridging = Bridging(ctx, playback)
        self._ending = ending = CallEnding(ctx, bridging)
        self._legs = legs = LegControl(ctx, bridging, ending)
        self._actors = CallActors(ctx.registry, ending, self._handle)
        self._agent_commands = agent_commands = AgentCommands(ctx)
        self._vip = vip = CrmVipLookups(ctx)
        voicemail = VoicemailFlow(ctx, playback, bridging, ending)
        queueing = Queueing(ctx, playback, ending)
        self._ivr = ivr = CallIvr(ctx, playback, legs, queueing, voicemail, ending)
        offers = AgentOffers(ctx, playback, legs, bridging, queueing, ivr, ending)
        callbacks = Callbacks(ctx, playback, legs, bridging, queueing, offers, ending)
        self._acd_actions = AcdActionHandler(ctx, queueing, offers, callbacks, vip, ivr, voicemail, legs,
                                             ending)
        self._transfers = transfers = Transfers(ctx, playback, legs, bridging, queueing, ivr, offers, ending)
        self._consultation = consultation = Consultation(ctx, legs, bridging, transfers, offers, ending)
        self._supervision = supervision = Supervision(ctx, playback, legs, transfers, offers, ending)
        features = PhoneFeatures(ctx, playback, legs, agent_commands, supervision, ending)
        self._setup = CallSetup(ctx, self._actors, playback, legs, ivr, queueing, voicemail, features, ending)
        digits = Digits(ctx, supervision, ivr, queueing, voicemail)
        self._leg_events = LegEventHandler(ctx, digits, bridging, offers, callbacks, transfers, consultation,
                                           ending)
        self._media_events = MediaEventHandler(ctx, digits, ivr, playback, ending)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._subs.append(self.bus.subscribe(self.on_media_event, {"media.*"}))
        self._acd_task = asyncio.create_task(self._ctx.run_acd_timers(), name="acd-timers")

    async def stop(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs.clear()
        await self._actors.stop()
        await cancel_and_wait(self._acd_task)
        self._acd_task = None
        await self._vip.close()

    @property
    def registry(self) -> CallRegistry:
        """The live calls and which call each leg and media endpoint belongs to."""
        return self._ctx.registry

    @property
    def active_calls(self) -> list[Call]:
        return [live.call for live in self._ctx.registry.calls.values()]

    def call(self, call_id: str) -> Call | None:
        live = self._ctx.registry.calls.get(call_id)
        return live.call if live else None

    @property
    def completed(self) -> int:
        """Calls ended since start (the service's health counter)."""
        return self._ending.completed

    # ------------------------------------------------------------------ agents (API, supervisors)

    def agent_login(self, agent_id: str, extension: str | None = None) -> str:
        """Log an agent in at `extension` (None: the extension bound in the staff record); returns it."""
        return self._agent_commands.login(agent_id, extension)

    def agent_logout(self, agent_id: str) -> None:
        self._agent_commands.logout(agent_id)

    def default_pause_reason(self) -> str:
        return self._agent_commands.default_pause_reason()

    def agent_pause(self, agent_id: str, reason: str | None = None) -> None:
        self._agent_commands.pause(agent_id, reason)

    def agent_unpause(self, agent_id: str) -> None:
        self._agent_commands.unpause(agent_id)

    def agent_end_wrap_up(self, agent_id: str) -> None:
        self._agent_commands.end_wrap_up(agent_id)

    def force_agent(self, agent_id: str, state: str, supervisor_id: str, reason: str | None = None) -> None:
        """Supervisor: force an agent idle, busy or logged out (强制置闲 / 置忙 / 下线)."""
        self._agent_commands.force(agent_id, state, supervisor_id, reason)

    def agent_views(self) -> list[dict[str, Any]]:
        """Every agent the ACD knows: state, reason, since (wall clock), phone, current call."""
        return agent_views(self._ctx)

    def queue_views(self) -> list[dict[str, Any]]:
        return queue_views(self._ctx)

    # ------------------------------------------------------------------ calls (API, supervisors)

    def hangup(self, call_id: str) -> None:
        self._command(call_id, ApiHangup())

    def transfer(self, call_id: str, target: str) -> None:
        """Blind transfer of the caller to a queue, agent, extension, IVR flow, access number or number."""
        self._command(call_id, ApiTransfer(target))

    def hold(self, call_id: str, on: bool) -> None:
        self._command(call_id, ApiHold(on))

    def consult(self, call_id: str, target: str) -> None:
        self._connected(call_id)
        self._command(call_id, ApiConsult(target))

    def consult_return(self, call_id: str) -> None:
        self._command(call_id, ConsultReturn())

    def consult_complete(self, call_id: str) -> None:
        self._command(call_id, ConsultComplete())

    def conference(self, call_id: str, target: str) -> None:
        self._connected(call_id)
        self._command(call_id, ApiConference(target))

    def mark_intended(self, call_id: str, by: str) -> None:
        """The caller is an intended customer (意向客户), as the agent's * key says from the phone."""
        self._command(call_id, ApiMarkIntended(by))

    def monitor(self, call_id: str, extension: str, mode: str) -> str:
        """Ring a supervisor's extension and, once answered, join the call to listen, whisper or barge."""
        target = self._connected(call_id)
        if not target.call.agent:
            raise NotFound("call with an agent", call_id)
        if mode not in MONITOR_MODES:
            raise Conflict(f"unknown monitor mode {mode!r}", f"未知的监控方式 {mode!r}")
        agent = target.call.agent

        async def join(live: LiveCall) -> None:
            await self._supervision.start_monitor(live, extension, agent, mode)

        return self._setup.originated(extension, f"monitor:{agent}", join)

    def monitor_mode(self, monitor_call_id: str, mode: str) -> str:
        """Switch a supervisor's monitoring call (from `monitor`) to another mode without dropping it; returns
        the monitored agent."""
        live = self._ctx.registry.calls.get(monitor_call_id)
        if live is None:
            raise NotFound("call", monitor_call_id)
        if live.monitor is None:
            raise Conflict(f"call {monitor_call_id} is not monitoring a call (yet)",
                           f"通话 {monitor_call_id} (尚)未在监控通话")
        if mode not in MONITOR_MODES:
            raise Conflict(f"unknown monitor mode {mode!r}", f"未知的监控方式 {mode!r}")
        if live.monitor.mode == "take_over":  # the agent has gone: the supervisor is the caller's party now
            raise Conflict("the caller was taken over: there is no agent's call to monitor any more",
                           "已强拆接管客户,不再有可监控的座席通话")

        async def switch() -> None:  # inside the supervisor call's actor, like its keys 1-3
            await self._supervision.switch_mode(live, mode)

        self._command(monitor_call_id, TimerFired(switch))
        return live.monitor.agent

    def move_waiting(self, call_id: str, by: str, *, queue_id: str = "", agent_id: str = "") -> None:
        """班长调度: a waiting call goes to another queue (keeping its arrival time) or to one agent's phone."""
        live = self._ctx.registry.calls.get(call_id)
        if live is None:
            raise NotFound("call", call_id)
        if live.call.phase != CallPhase.QUEUED or not live.in_acd or self.acd.call_view(call_id) is None:
            raise Conflict(f"call {call_id} is not waiting in a queue ({live.call.phase.value})",
                           f"通话 {call_id} 不在排队({live.call.phase.value})")
        self._ctx.acd_command(C.SupervisorMovedCall(call_id, queue_id=queue_id, agent_id=agent_id))

        async def follow() -> None:  # inside the call's actor, after the offers the ACD withdrew
            await self._supervision.moved(live, queue_id, agent_id, by)

        self._command(call_id, TimerFired(follow))

    def originate(self, extension: str, number: str) -> str:
        """Click-to-dial: ring the agent's extension, then call `number` from it."""
        if self.store.find("extensions", extension) is None:
            raise NotFound("extension", extension)

        async def dial(live: LiveCall) -> None:
            live.call.callee = number
            if self.store.find("extensions", number) is not None:
                await self._legs.ring_extension(live, number, LegRole.CALLEE)
            else:
                await self._legs.ring_external(live, number)

        return self._setup.originated(extension, number, dial)

    def _connected(self, call_id: str) -> LiveCall:
        live = self._ctx.registry.calls.get(call_id)
        if live is None:
            raise NotFound("call", call_id)
        if live.call.phase != CallPhase.CONNECTED or live.call.bridge_id is None:
            raise Conflict(f"call {call_id} is not connected ({live.call.phase.value})",
                           f"通话 {call_id} 未接通({live.call.phase.value})")
        return live

    def _command(self, call_id: str, message: CallMessage) -> None:
        if not self.submit(call_id, message):
            raise NotFound("call", call_id)

    # ------------------------------------------------------------------ intake (any task)

    def on_leg_event(self, event: Event) -> None:
        """Every leg provider's events (the `LegFactory`'s one sink)."""
        if isinstance(event, leg_events.LegIncoming):
            self._setup.incoming(event)
            return
        if isinstance(event, leg_events.EndpointReachable):
            self._agent_commands.phone_reachable(event)
            return
        leg_id = getattr(event, "leg_id", None)
        call_id = self._ctx.registry.call_of_leg(leg_id) if leg_id else None
        if call_id is not None:
            self._ctx.post(call_id, LegEventArrived(event))

    def on_media_event(self, event: Event) -> None:
        endpoint_id = getattr(event, "endpoint_id", None)
        call_id = self._ctx.registry.call_of_endpoint(endpoint_id) if endpoint_id else None
        if call_id is not None:
            self._ctx.post(call_id, MediaEventArrived(event))

    def submit(self, call_id: str, message: CallMessage) -> bool:
        """A message for a call's inbox (an API command: hang up, hold ...); False when the call is gone."""
        return self._ctx.post(call_id, message)

    def acd_command(self, command: C.Command) -> list[A.Action]:
        return self._ctx.acd_command(command)

    def dispatch_acd(self, actions: list[A.Action]) -> None:
        self._ctx.dispatch_acd(actions)

    # ------------------------------------------------------------------ one message of one call

    async def _handle(self, live: LiveCall, message: CallMessage) -> None:
        log.debug("call %s [%s]: %s", live.call.id, live.call.phase.value, type(message).__name__)
        match message:
            case LegEventArrived(event=event):
                await self._leg_events.handle(live, event)
            case MediaEventArrived(event=event):
                await self._media_events.handle(live, event)
            case IvrActionArrived(action=ivr_action):
                await self._ivr.on_action(live, ivr_action)
            case AcdActionArrived(action=acd_action):
                await self._acd_actions.handle(live, acd_action)
            case VipResult(result=result):
                self._vip.result(live, result)
            case TimerFired(fire=fire):
                await fire()
            case ApiHangup():
                await self._ending.end(live, "api", "hangup_api")
            case ApiTransfer(target=target):
                await self._transfers.transfer(live, target, by="api")
            case ApiHold(on=on):
                await self._bridging.hold_from_desk(live, on)
            case ApiConsult(target=target):
                await self._consultation.consult(live, target)
            case ConsultReturn():
                await self._consultation.back_to_caller(live)
            case ConsultComplete():
                await self._consultation.complete(live)
            case ApiConference(target=target):
                await self._consultation.conference(live, target)
            case ApiMarkIntended(by=by):
                live.call.intended_customer = True
                live.call.note(self._ctx.clock.wall(), "intended_customer", by)
            case HandOver(to_call=to_call, agent_leg=agent_leg):
                await self._transfers.hand_over(live, to_call, agent_leg)
            case Adopt(leg_id=leg_id, state=state):
                await self._transfers.adopt(live, leg_id, state)
            case TakeOver(supervisor_call=supervisor_call):
                await self._supervision.take_over(live, supervisor_call)
            case MonitorGone(supervisor_call=supervisor_call):
                self._supervision.monitor_gone(live, supervisor_call)
            case TargetEnded():
                await self._ending.end(live, "system", "monitored_call_ended")
            case Shutdown():
                await self._ending.end(live, "system", "shutdown")
            case _:
                assert_never(message)
