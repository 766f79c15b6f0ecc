"""Call control: legs, media endpoints, routing, IVR and ACD joined into calls.

Each call is an actor: one task reads the call's inbox (leg events for its legs, media events for its
endpoints, IVR actions, ACD actions, API commands) and handles them one at a time, so no two handlers of the
same call ever interleave around an `await`. Handlers talk to the engines directly: the legs (whatever
carries them: SIP, E1/PRI, analog; each sends at once), the media engine, the ACD engine (pure, synchronous) and the IVR runner of the call.

The inbound path: access number → time routing → IVR flow → queue (skill, priority, VIP) → the ACD offers
the call → the agent's phone rings (ring timeout: next agent, the call stays first in line) → the agent
answers → the caller hears the agent's number (接通播报工号) → bridge → recording per the queue's policy →
hang-up → the agent's wrap-up → CDR.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.engine import AcdEngine
from appliance.acd.models import SkillRequirement
from appliance.calls import events as E
from appliance.calls import feature_codes as fc
from appliance.calls.acd_config import crm_vip_url
from appliance.calls.agents import AgentDirectory
from appliance.calls.assets import MediaAssets
from appliance.calls.cdr import build_cdr, missed_reasons
from appliance.calls.dialplan import may_dial
from appliance.calls.models import Call, CallPhase, Direction, LegRole, LegState
from appliance.clock import Clock
from appliance.crm.vip_lookup import CrmVipLookup
from appliance.domain import models as m
from appliance.errors import ApplianceError, Conflict, NotFound
from appliance.events import Event, EventBus
from appliance.ivr import actions as ivr_actions
from appliance.ivr.inputs import CallArrived as IvrCallArrived
from appliance.ivr.inputs import CallerHungUp as IvrCallerHungUp
from appliance.ivr.inputs import DigitPressed, PromptFinished
from appliance.ivr.runner import IvrRunner
from appliance.ivr.service import IvrService
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.factory import LegFactory
from appliance.legs.models import CallLeg, LegRefused, OutboundLeg
from appliance.media import events as media_events
from appliance.media.models import PartyMask
from appliance.media.service import MediaEngine
from appliance.prompts.store import PromptStore
from appliance.routing.router import Router
from appliance.store.config_store import ConfigStore
from appliance.voicemail.service import VoicemailService

log = logging.getLogger(__name__)

VOICEMAIL_MAX_S = 120.0
CALLBACK_ATTEMPTS = 3  # tries to reach a customer who asked to be called back
CALLBACK_RETRY_S = 120.0
FEATURE_PROMPT_GRACE_S = 8.0
ABANDON_PHASES = frozenset({CallPhase.IVR, CallPhase.QUEUED, CallPhase.RINGING, CallPhase.ROUTING})
EXTENSION_KIND = "sip"  # the leg kind of our extensions (IP phones; analog phones on FXS ports come later)


@dataclass
class _Playlist:
    """IVR prompts of one `Play` action, played one after another on the caller's endpoint."""

    play_id: int
    files: list[Path]
    barge_in: bool


@dataclass
class _Monitor:
    """A supervisor's call joined to an agent's call (监听 / 密语 / 强插 / 强拆)."""

    target: str  # the monitored call
    agent: str
    mode: str  # listen | whisper | barge | take_over


MONITOR_FEATURES = {fc.Feature.LISTEN: "listen", fc.Feature.WHISPER: "whisper", fc.Feature.BARGE: "barge",
                    fc.Feature.TAKE_OVER: "take_over"}
MONITOR_KEYS = {"1": "listen", "2": "whisper", "3": "barge"}  # a supervisor switches mode with these


@dataclass
class _Live:
    """What the controller keeps beside a `Call` while it runs."""

    call: Call
    inbox: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    ivr: IvrRunner | None = None
    playlist: _Playlist | None = None
    after_play: Callable[[], Any] | None = None  # what to do when a controller prompt finishes
    unanswered_offers: int = 0
    left_queue_by: str = ""
    in_acd: bool = False
    voicemail: tuple[str, Path, str] | None = None  # message id, file, box
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    feature: fc.FeatureRequest | None = None
    consult_leg: str | None = None
    consult_agent_ep: str | None = None
    consult_bridge: str | None = None
    conference_legs: set[str] = field(default_factory=set)
    on_caller_answer: Callable[[_Live], Any] | None = None  # originated calls: what follows the answer
    answer_pending: bool = False  # the inbound caller's media is open: answer it when the call is answered
    callback_attempts: int = 0
    callback_leg: str | None = None
    monitor: _Monitor | None = None  # this call is a supervisor listening to another
    monitored_by: set[str] = field(default_factory=set)  # supervisor calls listening to this one


@dataclass
class CallController:
    legs: LegFactory
    media: MediaEngine
    acd: AcdEngine
    ivr: IvrService
    store: ConfigStore
    prompts: PromptStore
    voicemail: VoicemailService
    bus: EventBus
    clock: Clock
    router: Callable[[], Router]
    agents: AgentDirectory
    recordings_dir: Path
    assets: MediaAssets
    _calls: dict[str, _Live] = field(default_factory=dict)
    _by_leg: dict[str, str] = field(default_factory=dict)
    _by_endpoint: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _acd_wake: asyncio.Event = field(default_factory=asyncio.Event)
    _acd_task: asyncio.Task[None] | None = None
    _subs: list[Any] = field(default_factory=list)
    _crm: CrmVipLookup | None = None  # the CRM VIP client for `_crm_url`, made at the first look-up
    _crm_url: str = ""
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    completed: int = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._subs.append(self.bus.subscribe(self.on_media_event, {"media.*"}))
        self._acd_task = asyncio.create_task(self._acd_timers(), name="acd-timers")

    async def stop(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs.clear()
        for live in list(self._calls.values()):
            self._post(live.call.id, "shutdown", None)
        tasks = [live.task for live in self._calls.values() if live.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for task in tasks:
            task.cancel()
        if self._acd_task is not None:
            self._acd_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acd_task
            self._acd_task = None
        if self._crm is not None:
            await self._crm.aclose()
            self._crm, self._crm_url = None, ""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    @property
    def active_calls(self) -> list[Call]:
        return [live.call for live in self._calls.values()]

    def call(self, call_id: str) -> Call | None:
        live = self._calls.get(call_id)
        return live.call if live else None

    # ------------------------------------------------------------------ public commands (API, supervisors)

    def agent_login(self, agent_id: str, extension: str | None = None) -> str:
        """Log an agent in at `extension` (None: the extension bound in the staff record); returns it."""
        staff = self.store.find("staff", agent_id)
        if staff is None or staff.status != m.StaffStatus.ACTIVE:
            raise NotFound("agent", agent_id)
        target = extension or staff.extension
        if not target or self.store.find("extensions", target) is None:
            raise Conflict(f"agent {agent_id} has no phone: give an extension", f"座席 {agent_id} 没有话机,请指定分机")
        self.acd_command(C.AgentLoggedIn(agent_id=agent_id))  # refused → no binding is left behind
        self.agents.bind(agent_id, target)
        return str(target)

    def agent_logout(self, agent_id: str) -> None:
        self.acd_command(C.AgentLoggedOut(agent_id=agent_id))
        self.agents.logout(agent_id)

    def default_pause_reason(self) -> str:
        reasons = self.store.list("pause_reasons")
        return str(reasons[0].code) if reasons else "busy"

    def agent_pause(self, agent_id: str, reason: str | None = None) -> None:
        self.acd_command(C.AgentPaused(agent_id=agent_id, reason=reason or self.default_pause_reason()))

    def agent_unpause(self, agent_id: str) -> None:
        self.acd_command(C.AgentUnpaused(agent_id=agent_id))

    def agent_end_wrap_up(self, agent_id: str) -> None:
        self.acd_command(C.WrapUpEnded(agent_id=agent_id))

    def force_agent(self, agent_id: str, state: str, supervisor_id: str, reason: str | None = None) -> None:
        """Supervisor: force an agent idle, busy or logged out (强制置闲 / 置忙 / 下线)."""
        if state == "idle":
            self.acd_command(C.SupervisorForcedIdle(agent_id=agent_id, supervisor_id=supervisor_id))
        elif state == "busy":
            self.acd_command(C.SupervisorForcedBusy(agent_id=agent_id, supervisor_id=supervisor_id,
                                                    reason=reason or self.default_pause_reason()))
        elif state == "logged_out":
            self.acd_command(C.SupervisorForcedLogout(agent_id=agent_id, supervisor_id=supervisor_id))
            self.agents.logout(agent_id)
        else:
            raise Conflict(f"cannot force an agent to {state!r}", f"不能将座席强制为 {state!r}")

    def hangup(self, call_id: str) -> None:
        self._command(call_id, "hangup")

    def transfer(self, call_id: str, target: str) -> None:
        """Blind transfer of the caller to a queue, agent, extension, IVR flow, access number or number."""
        self._command(call_id, "transfer", target)

    def hold(self, call_id: str, on: bool) -> None:
        self._command(call_id, "hold", on)

    def consult(self, call_id: str, target: str) -> None:
        self._connected(call_id)
        self._command(call_id, "consult", target)

    def consult_return(self, call_id: str) -> None:
        self._command(call_id, "consult_return")

    def consult_complete(self, call_id: str) -> None:
        self._command(call_id, "consult_complete")

    def conference(self, call_id: str, target: str) -> None:
        self._connected(call_id)
        self._command(call_id, "conference", target)

    def _connected(self, call_id: str) -> _Live:
        live = self._calls.get(call_id)
        if live is None:
            raise NotFound("call", call_id)
        if live.call.phase != CallPhase.CONNECTED or live.call.bridge_id is None:
            raise Conflict(f"call {call_id} is not connected ({live.call.phase.value})",
                           f"通话 {call_id} 未接通({live.call.phase.value})")
        return live

    def monitor(self, call_id: str, extension: str, mode: str) -> str:
        """Ring a supervisor's extension and, once answered, join the call to listen, whisper or barge."""
        target = self._connected(call_id)
        if not target.call.agent:
            raise NotFound("call with an agent", call_id)
        if mode not in ("listen", "whisper", "barge", "take_over"):
            raise Conflict(f"unknown monitor mode {mode!r}", f"未知的监控方式 {mode!r}")
        agent = target.call.agent

        async def join(live: _Live) -> None:
            await self._start_monitor(live, extension, agent, mode)

        return self._new_originated(extension, f"monitor:{agent}", join)

    def originate(self, extension: str, number: str) -> str:
        """Click-to-dial: ring the agent's extension, then call `number` from it."""
        if self.store.find("extensions", extension) is None:
            raise NotFound("extension", extension)

        async def dial(live: _Live) -> None:
            live.call.callee = number
            if self.store.find("extensions", number) is not None:
                await self._ring_extension(live, number, LegRole.CALLEE)
            else:
                await self._ring_external(live, number)

        return self._new_originated(extension, number, dial)

    def _command(self, call_id: str, kind: str, payload: Any = None) -> None:
        if not self.submit(call_id, kind, payload):
            raise NotFound("call", call_id)

    def agent_views(self) -> list[dict[str, Any]]:
        """Every agent the ACD knows: state, reason, since (wall clock), phone, current call."""
        now_mono, now_wall = self.clock.monotonic(), self.clock.wall()
        out = []
        for agent_id in sorted(self.acd.agent_ids()):
            view = self.acd.agent_view(agent_id)
            out.append({
                "agent": agent_id,
                "state": view.state.value,
                "reason": view.reason,
                "since": round(now_wall - (now_mono - view.since), 3),
                "answered": view.answered,
                "misses": view.misses,
                "extension": self.agents.extension_of(agent_id),
                "call": view.current_call or view.offered_call,
            })
        return out

    def queue_views(self) -> list[dict[str, Any]]:
        out = []
        for queue in self.store.list("queues"):
            try:
                view = self.acd.queue_view(queue.id)
            except (KeyError, ApplianceError):
                continue
            out.append({"queue": queue.id, "name": queue.name, "waiting": view.waiting,
                        "logged_in": view.logged_in, "idle": view.idle,
                        "longest_wait": round(view.longest_wait, 3)})
        return out

    # ------------------------------------------------------------------ intake (any task)

    def on_leg_event(self, event: Event) -> None:
        """Every leg provider's events (the `LegFactory`'s one sink)."""
        if isinstance(event, leg_events.LegIncoming):
            self._new_call(event)
            return
        if isinstance(event, leg_events.EndpointReachable):
            self._endpoint_reachable(event)
            return
        leg_id = getattr(event, "leg_id", None)
        call_id = self._by_leg.get(leg_id) if leg_id else None
        if call_id is not None:
            self._post(call_id, "leg", event)

    def _endpoint_reachable(self, event: leg_events.EndpointReachable) -> None:
        """An agent whose phone could not be rung is offered calls again once it registers."""
        agent_id = self.agents.agent_at(event.extension)
        if agent_id is None or not event.reachable:
            return
        with contextlib.suppress(ApplianceError, KeyError):
            if self.acd.agent_view(agent_id).reason == "phone_unreachable":
                self.acd_command(C.AgentReconnected(agent_id=agent_id))

    def on_media_event(self, event: Event) -> None:
        endpoint_id = getattr(event, "endpoint_id", None)
        call_id = self._by_endpoint.get(endpoint_id) if endpoint_id else None
        if call_id is not None:
            self._post(call_id, "media", event)

    def submit(self, call_id: str, command: str, payload: Any = None) -> bool:
        """An API command for a call (hang up, hold ...); False when the call is gone."""
        return self._post(call_id, command, payload)

    def _post(self, call_id: str, kind: str, payload: Any) -> bool:
        live = self._calls.get(call_id)
        if live is None:
            return False
        live.inbox.put_nowait((kind, payload))
        return True

    # ------------------------------------------------------------------ ACD

    def acd_command(self, command: C.Command) -> list[A.Action]:
        actions = self.acd.handle(command, self.clock.monotonic())
        self.dispatch_acd(actions)
        self._acd_wake.set()
        return actions

    def dispatch_acd(self, actions: list[A.Action]) -> None:
        for action in actions:
            call_id = getattr(action, "call_id", None)
            if call_id is not None:
                if not self._post(call_id, "acd", action):
                    log.warning("ACD action for a call that is gone: %s", action)
            else:
                log.debug("ACD action without a call: %s", action)

    async def _acd_timers(self) -> None:
        while True:
            deadline = self.acd.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock.monotonic())
            # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancel that arrives as the event is set
            # (a call ending during stop() sets it), and stop() would then wait for this task for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._acd_wake.wait()
            self._acd_wake.clear()
            if deadline is not None and self.clock.monotonic() >= deadline:
                try:
                    self.dispatch_acd(self.acd.handle_timeout(self.clock.monotonic()))
                except Exception:
                    log.exception("ACD timer handling failed")

    # ------------------------------------------------------------------ the call actor

    def _publish(self, event: Event) -> None:
        """A public `calls.*` event, stamped with the wall clock (the journal writes `calls.ended` as the CDR)."""
        self.bus.publish(dataclasses.replace(event, at=self.clock.wall()))

    def _offered(self, call: Call, leg_kind: str) -> None:
        self._publish(E.CallOffered(call_id=call.id, direction=call.direction.value, caller=call.caller,
                                    caller_name=call.caller_name, callee=call.callee, trunk=call.trunk,
                                    leg_kind=leg_kind))

    def _new_call(self, event: leg_events.LegIncoming) -> None:
        call_id = f"c{int(self.clock.wall())}-{next(self._ids)}"
        direction = Direction.INBOUND if event.trunk or not event.extension else Direction.INTERNAL
        call = Call(id=call_id, direction=direction, caller=event.caller, caller_name=event.caller_name or "",
                    callee=event.callee, started_at=self.clock.wall(), caller_leg=event.leg_id,
                    trunk=event.trunk or "", extension=event.extension or "")
        call.legs[event.leg_id] = LegState(self.legs.leg(event.kind, event.leg_id), LegRole.CALLER, event.caller,
                                           self.clock.wall())
        live = _Live(call)
        self._calls[call_id] = live
        self._by_leg[event.leg_id] = call_id
        call.note(self.clock.wall(), "incoming", f"{event.caller} → {event.callee} via {event.trunk or 'ext'}")
        self._offered(call, event.kind)
        live.task = asyncio.create_task(self._run(live, lambda: self._route(live, event)), name=f"call-{call_id}")

    def _new_originated(self, extension: str, target: str, first: Callable[[_Live], Any]) -> str:
        """A call the box places: it rings `extension` first, then `first(live)` runs once it answers."""
        call_id = f"c{int(self.clock.wall())}-{next(self._ids)}"
        call = Call(id=call_id, direction=Direction.INTERNAL, caller=extension, callee=target,
                    started_at=self.clock.wall(), caller_leg="", extension=extension)
        live = _Live(call)
        self._calls[call_id] = live
        call.note(self.clock.wall(), "originate", f"{extension} → {target}")
        self._offered(call, EXTENSION_KIND)
        live.task = asyncio.create_task(self._run(live, lambda: self._originate(live, extension, first)),
                                        name=f"call-{call_id}")
        return call_id

    async def _originate(self, live: _Live, extension: str, first: Callable[[_Live], Any]) -> None:
        call = live.call
        try:
            leg = await self.legs.create(EXTENSION_KIND, OutboundLeg(callee=extension, caller=call.callee,
                                                                     extension=extension))
        except LegRefused:
            await self._end(live, "system", "unreachable")
            return
        call.caller_leg = leg.leg_id
        self._adopt_leg(live, leg, LegState(leg, LegRole.CALLER, extension, self.clock.wall()))
        live.on_caller_answer = first

    async def _run(self, live: _Live, begin: Callable[[], Any]) -> None:
        call = live.call
        try:
            await begin()
            while call.phase != CallPhase.ENDED:
                kind, payload = await live.inbox.get()
                try:
                    await self._handle(live, kind, payload)
                except ApplianceError as exc:
                    log.warning("call %s: %s", call.id, exc.message)
                except Exception:
                    log.exception("call %s: handling %s failed", call.id, kind)
        except Exception:
            log.exception("call %s failed", call.id)
            await self._end(live, "system", "internal_error")
        finally:
            if call.phase != CallPhase.ENDED:
                await self._end(live, "system", "shutdown")

    async def _handle(self, live: _Live, kind: str, payload: Any) -> None:
        log.debug("call %s [%s]: %s %s", live.call.id, live.call.phase.value, kind, type(payload).__name__)
        if kind == "leg":
            await self._on_leg(live, payload)
        elif kind == "media":
            await self._on_media(live, payload)
        elif kind == "ivr":
            await self._on_ivr(live, payload)
        elif kind == "acd":
            await self._on_acd(live, payload)
        elif kind == "timer":
            await payload()
        elif kind == "hangup":
            await self._end(live, "api", "hangup_api")
        elif kind == "transfer":
            await self._transfer(live, str(payload), by="api")
        elif kind == "hold":
            await self._api_hold(live, bool(payload))
        elif kind == "consult":
            await self._consult(live, str(payload))
        elif kind == "consult_return":
            await self._consult_return(live)
        elif kind == "consult_complete":
            await self._consult_complete(live)
        elif kind == "conference":
            await self._conference(live, str(payload))
        elif kind == "hand_over":
            await self._hand_over(live, *payload)
        elif kind == "adopt":
            await self._adopt(live, *payload)
        elif kind == "take_over":
            await self._take_over(live, payload)
        elif kind == "monitor_gone":
            self._monitor_gone(live, payload)
        elif kind == "target_ended":
            await self._end(live, "system", "monitored_call_ended")
        elif kind == "vip_result":
            self._vip_result(live, payload)
        elif kind == "shutdown":
            await self._end(live, "system", "shutdown")

    def _later(self, live: _Live, seconds: float, fn: Callable[[], Any]) -> None:
        loop = asyncio.get_running_loop()
        live.timers.append(loop.call_later(seconds, self._post, live.call.id, "timer", fn))

    # ------------------------------------------------------------------ routing a new call

    async def _route(self, live: _Live, incoming: leg_events.LegIncoming) -> None:
        call = live.call
        callee = incoming.callee
        if incoming.extension:
            request = fc.parse(callee)
            if request is not None:
                await self._feature(live, incoming, request)
                return
            if self.store.find("extensions", callee) is not None:
                if (await self._answer_caller(live, now=False)
                        and await self._ring_extension(live, callee, LegRole.CALLEE) is None):
                    call.disposition = "unavailable"
                    await self._end(live, "system", "callee_not_registered")
                return
            if self.store.find("dids", callee) is None:
                await self._dial_out(live, incoming, callee)
                return
        decision = self.router().route(did=callee, caller=incoming.caller, wall=self.clock.wall())
        call.direction = Direction.INBOUND  # a call to an access number is a customer's, whoever places it
        call.did = callee
        call.vip = decision.vip
        call.language = decision.language
        call.note(self.clock.wall(), "routed", f"{decision.period.value if decision.period else ''} → "
                  f"{decision.destination.kind}:{decision.destination.target}")
        if decision.reject:
            await self._reject(live, decision.reject_cause, "rejected")
            return
        if not decision.known_did and decision.destination.kind == "hangup":
            await self._reject(live, Cause.UNALLOCATED_NUMBER, "unknown_number")
            return
        if not await self._answer_caller(live):
            return
        dest = decision.destination
        if dest.kind == "flow":
            await self._start_ivr(live, dest.target)
        elif dest.kind == "queue":
            self._enter_queue(live, dest.target, priority=dest.priority, vip=decision.vip)
        elif dest.kind == "extension":
            await self._ring_extension(live, dest.target, LegRole.CALLEE)
        elif dest.kind == "voicemail":
            await self._start_voicemail(live, dest.target)
        elif dest.kind == "prompt":
            prompt = self.prompts.resolve(dest.target, decision.language)
            await self._play_then(live, [prompt], lambda: self._end(live, "system", "prompt_played"))
        else:
            await self._end(live, "system", "no_destination")

    async def _reject(self, live: _Live, cause: Cause, reason: str) -> None:
        live.call.legs[live.call.caller_leg].leg.reject(cause)
        live.call.disposition = "rejected"
        await self._end(live, "system", reason, hang_up_caller=False)

    async def _answer_caller(self, live: _Live, *, now: bool = True) -> bool:
        """Open the caller's media and answer it (or, with `now=False`, say it rings and answer when the far
        party answers — internal and outbound calls); refused (no codec in common...) when media cannot be."""
        call = live.call
        state = call.legs[call.caller_leg]
        try:
            endpoint_id = await state.leg.open_media()
        except LegRefused as exc:
            log.info("call %s: no media (%s)", call.id, exc)
            await self._reject(live, exc.cause, "not_acceptable")
            return False
        state.endpoint_id = endpoint_id
        self._by_endpoint[endpoint_id] = call.id
        if call.phase == CallPhase.ENDED:
            return False
        live.answer_pending = True
        if now:
            self._answer_caller_now(live)
        else:
            state.leg.progress()
        return True

    def _answer_caller_now(self, live: _Live) -> None:
        call = live.call
        state = call.legs[call.caller_leg]
        if state.answered_at is not None or not live.answer_pending:
            return
        live.answer_pending = False
        state.leg.answer()
        state.answered_at = call.answered_at = self.clock.wall()

    # ------------------------------------------------------------------ IVR

    async def _start_ivr(self, live: _Live, flow: str) -> None:
        call = live.call
        call.phase = CallPhase.IVR
        call.flow = call.flow or flow  # the CDR names the entry flow; later ones extend the path
        arrived = IvrCallArrived(call_id=call.id, caller=call.caller, did=call.did, flow=flow,
                                 language=call.language, vip=call.vip)  # type: ignore[arg-type]
        def deliver(action: ivr_actions.Action) -> None:
            self._post(call.id, "ivr", action)

        live.ivr = await self.ivr.open_session(arrived, deliver)

    async def _on_ivr(self, live: _Live, action: ivr_actions.Action) -> None:
        call = live.call
        if call.phase == CallPhase.ENDED:
            return
        if isinstance(action, ivr_actions.Play):
            files = [self.prompts.resolve(p, action.language) for p in action.prompts]
            live.playlist = _Playlist(action.play_id, files, action.barge_in)
            self._play_next(live)
        elif isinstance(action, ivr_actions.StopPlayback):
            live.playlist = None
            self._stop_playing(live)
        elif isinstance(action, ivr_actions.SetLanguage):
            call.language = action.language
        elif isinstance(action, ivr_actions.RecordSurvey):
            call.survey_score = action.score
        elif isinstance(action, ivr_actions.CaptureCallback):
            call.variables["callback_number"] = action.number
        elif action.final:
            self._leave_ivr(live, action)
            if isinstance(action, ivr_actions.TransferToQueue):
                call.variables.update(action.variables)
                self._enter_queue(live, action.queue, priority=action.priority, vip=action.vip or call.vip,
                                  skill=action.skill)
            elif isinstance(action, ivr_actions.TransferToExtension):
                await self._ring_extension(live, action.extension, LegRole.CALLEE)
            elif isinstance(action, ivr_actions.TransferToVoicemail):
                await self._start_voicemail(live, action.box, greeting=False)  # the flow spoke already
            elif isinstance(action, ivr_actions.TransferToExternal):
                await self._ring_external(live, action.number)
            elif isinstance(action, ivr_actions.Hangup):
                await self._end(live, "system", f"ivr_{action.reason}")

    def _leave_ivr(self, live: _Live, action: ivr_actions.Action) -> None:
        call = live.call
        if live.ivr is not None:
            summary = live.ivr.session.summary
            if summary is not None:
                call.ivr_path.extend(summary.path)
                call.ivr_exit = summary.exit_reason.value
            live.ivr = None
        live.playlist = None
        self._stop_playing(live)
        call.note(self.clock.wall(), "ivr_exit", type(action).__name__)

    def _play_next(self, live: _Live) -> None:
        playlist = live.playlist
        endpoint = self._caller_endpoint(live)
        if playlist is None or endpoint is None:
            return
        if not playlist.files:
            live.playlist = None
            if live.ivr is not None:
                live.ivr.feed(PromptFinished(play_id=playlist.play_id))
            return
        path = playlist.files.pop(0)
        self.media.play(endpoint, prompt=path, barge_in=playlist.barge_in)

    def _stop_playing(self, live: _Live) -> None:
        endpoint = self._caller_endpoint(live)
        if endpoint is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.stop_playing(endpoint)

    async def _play_then(self, live: _Live, files: list[Path], then: Callable[[], Any]) -> None:
        """Controller prompts (not IVR): play files in order on the caller, then call `then`."""
        endpoint = self._caller_endpoint(live)
        if endpoint is None:
            return
        remaining = list(files)

        async def step() -> None:
            if remaining:
                self.media.play(endpoint, prompt=remaining.pop(0))
            else:
                live.after_play = None
                result = then()
                if asyncio.iscoroutine(result):
                    await result

        live.after_play = step
        await step()

    async def _speak(self, text: str, language: str) -> Path:
        key = await self.prompts.speak(text, language)  # type: ignore[arg-type]
        return self.prompts.resolve(key, language)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ queue and agents

    def _enter_queue(self, live: _Live, queue_id: str, *, priority: int = 0, vip: bool = False,
                     skill: str = "", music: bool = True) -> None:
        call = live.call
        call.phase = CallPhase.QUEUED
        call.queue = queue_id
        call.queued_at = self.clock.wall()
        live.in_acd = True
        endpoint = self._caller_endpoint(live)
        if endpoint is not None and music:
            self.media.play(endpoint, prompt=self._queue_music(queue_id), loop=True)
        customer = self._customer(call.caller)
        skills = (SkillRequirement(skill, 0),) if skill else None
        self._publish(E.CallQueued(call_id=call.id, queue=queue_id, caller=call.caller, priority=priority,
                                   vip=vip))
        self.acd_command(C.CallArrived(
            call_id=call.id, queue_id=queue_id, caller=call.caller, did=call.did, did_vip=vip,
            priority=priority, skills=skills, area=customer.area if customer else "",
            account_manager=(customer.account_manager or "") if customer else "",
        ))
        number = call.variables.get("callback_number")
        if number and live.in_acd:  # the caller left a number in the IVR: call back instead of waiting
            self.acd_command(C.CallbackRequested(call_id=call.id, number=number))

    def _dequeued(self, live: _Live, reason: str, agent: str = "") -> None:
        """The call leaves the ACD: answered, overflow, callback, or the caller hung up (abandoned)."""
        call = live.call
        live.in_acd = False
        if reason in ("overflow", "caller"):
            live.left_queue_by = reason
        waited = round(self.clock.wall() - (call.queued_at or self.clock.wall()), 3)
        self._publish(E.CallDequeued(call_id=call.id, queue=call.queue, reason=reason, agent=agent, waited=waited))

    def _queue_music(self, queue_id: str) -> Path:
        queue = self.store.find("queues", queue_id)
        if queue is not None and queue.music not in ("", "default"):
            with contextlib.suppress(ApplianceError):
                return self.prompts.resolve(queue.music, "zh-CN")
        return self.assets.hold_music

    def _customer(self, number: str) -> m.Customer | None:
        for customer in self.store.list("customers"):
            if number in customer.phones:
                return customer  # type: ignore[no-any-return]
        return None

    async def _on_acd(self, live: _Live, action: A.Action) -> None:
        call = live.call
        if call.phase == CallPhase.ENDED:
            return
        if isinstance(action, A.OfferCall):
            await self._offer(live, action.agent_id)
        elif isinstance(action, A.RingAll):
            for agent_id in action.agent_ids:
                await self._offer(live, agent_id)
        elif isinstance(action, A.CancelOffer):
            for leg_id, state in list(call.legs.items()):
                if state.role == LegRole.AGENT and state.agent_id == action.agent_id and not state.answered:
                    live.unanswered_offers += 1
                    call.note(self.clock.wall(), "offer_cancelled", f"{action.agent_id}: {action.reason}")
                    await self._drop_leg(live, leg_id, "offer_cancelled")
        elif isinstance(action, A.AnnouncePosition):
            await self._announce_position(live, action)
        elif isinstance(action, A.OverflowCall) and self._caller_gone(live):
            self._dequeued(live, "overflow")  # a callback ticket that waited too long: nobody left to send anywhere
            await self._end(live, "system", f"callback_{action.reason}")
        elif isinstance(action, A.OverflowCall):
            self._dequeued(live, "overflow")
            call.note(self.clock.wall(), "overflow", f"{action.reason} → {action.kind}:{action.target}")
            if action.kind == "voicemail":
                box = action.target or self._queue_box(call.queue)
                await self._start_voicemail(live, box)
            elif action.kind == "external":
                await self._ring_external(live, action.target)
            elif action.kind == "ivr":
                flow = action.target.split(":", 1)[0]
                await self._start_ivr(live, flow)
            else:
                await self._end(live, "system", f"overflow_{action.reason}")
        elif isinstance(action, A.HangUpCall):
            self._dequeued(live, "overflow")
            await self._end(live, "system", action.reason)
        elif isinstance(action, A.LookupVip):
            self._lookup_vip(action)
        elif isinstance(action, A.AcceptCallback):
            await self._callback_accepted(live, action.number)
        elif isinstance(action, A.RefuseCallback):
            call.note(self.clock.wall(), "callback_refused", action.reason)
        elif isinstance(action, A.DialCallback):
            await self._dial_callback(live, action.number)

    def _lookup_vip(self, action: A.LookupVip) -> None:
        """第三方VIP: ask the CRM in the background. The call keeps queueing at normal priority meanwhile (its
        actor must not wait on a web server); the answer comes back through the call's inbox."""
        url = crm_vip_url(self.store.settings)
        if not url:  # the CRM was unset since the queue configuration asked for it
            self.acd_command(C.VipLookupResult(call_id=action.call_id, vip=False))
            return
        if self._crm is None or self._crm_url != url:
            if self._crm is not None:  # a new URL: its look-ups under way end, and the ACD's deadline covers them
                task = asyncio.get_running_loop().create_task(self._crm.aclose())
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            self._crm, self._crm_url = CrmVipLookup(url), url

        def deliver(result: C.VipLookupResult) -> None:
            self._post(action.call_id, "vip_result", result)  # a call that ended meanwhile needs no answer

        self._crm.spawn(action, deliver)

    def _vip_result(self, live: _Live, result: C.VipLookupResult) -> None:
        call = live.call
        call.note(self.clock.wall(), "crm_vip", "vip" if result.vip else "not vip")
        if result.vip:
            call.vip = True
        if live.in_acd:  # the engine ignores an answer after its own deadline (normal priority stands)
            self.acd_command(result)

    def _queue_box(self, queue_id: str) -> str:
        queue = self.store.find("queues", queue_id)
        return (queue.voicemail_box if queue is not None else None) or "general"

    async def _announce_position(self, live: _Live, action: A.AnnouncePosition) -> None:
        call = live.call
        minutes = max(1, round(action.estimated_wait / 60))
        if call.language == "en":
            text = f"You are number {action.position} in line. The expected wait is about {minutes} minutes."
        else:
            text = f"您前面还有{action.position - 1}位客户在等待,预计等待{minutes}分钟。"
        try:
            path = await self._speak(text, call.language)
        except ApplianceError:
            return
        endpoint = self._caller_endpoint(live)
        if endpoint is None or call.phase != CallPhase.QUEUED:
            return

        async def back_to_music() -> None:
            if call.phase == CallPhase.QUEUED and endpoint is not None:
                self.media.play(endpoint, prompt=self._queue_music(call.queue), loop=True)

        await self._play_then(live, [path], back_to_music)

    async def _offer(self, live: _Live, agent_id: str) -> None:
        call = live.call
        extension = self.agents.extension_of(agent_id)
        if extension is None:
            self.acd_command(C.OfferFailed(call_id=call.id, agent_id=agent_id, reason="no_phone"))
            return
        call.offered_agents.append(agent_id)
        call.note(self.clock.wall(), "offered", f"{agent_id} at {extension}")
        try:
            await self._ring(live, LegRole.AGENT, extension, extension=extension, agent_id=agent_id)
        except LegRefused as exc:
            # Nothing rang (e.g. the phone is not registered): the ACD hears it at once, not after the ring
            # time-out, and offers the call to the next agent.
            reason = "phone_unreachable" if exc.cause == Cause.SUBSCRIBER_ABSENT else exc.cause.slug
            call.note(self.clock.wall(), "offer_failed", f"{agent_id}: {reason}")
            self.acd_command(C.OfferFailed(call_id=call.id, agent_id=agent_id, reason=reason))

    async def _ring_extension(self, live: _Live, extension: str, role: LegRole,
                              agent_id: str | None = None) -> str | None:
        """Ring an extension with a new leg of this call; returns the leg id (None: it could not ring)."""
        try:
            return await self._ring(live, role, extension, extension=extension, agent_id=agent_id)
        except LegRefused:
            return None

    async def _ring_external(self, live: _Live, number: str) -> None:
        """Call a PSTN number through the first enabled trunk whose driver is installed, showing the trunk's
        caller ID."""
        call = live.call
        trunk = next((t for t in self.store.list("trunks")
                      if t.enabled and self.legs.provides(t.kind.value)
                      and (t.kind != m.TrunkKind.SIP or t.host)), None)
        if trunk is None:
            call.note(self.clock.wall(), "no_trunk", number)
            await self._end(live, "system", "no_trunk")
            return
        caller_id = trunk.outbound_caller_id or call.did or call.caller
        call.trunk = call.trunk or trunk.id
        try:
            await self._ring(live, LegRole.CALLEE, number, trunk=trunk.id, caller=caller_id,
                             kind=trunk.kind.value)
        except LegRefused as exc:
            call.note(self.clock.wall(), "trunk_failed", exc.cause.slug)
            await self._end(live, "system", "trunk_failed")

    async def _ring(self, live: _Live, role: LegRole, callee: str, *, extension: str | None = None,
                    trunk: str | None = None, agent_id: str | None = None, caller: str | None = None,
                    kind: str = EXTENSION_KIND) -> str:
        """A new outbound leg of this call with its media; `LegRefused` (logged) when nothing could ring."""
        call = live.call
        try:
            leg = await self.legs.create(kind, OutboundLeg(
                callee=callee, caller=caller or call.caller, caller_name=call.caller_name or None,
                extension=extension, trunk=trunk))
        except LegRefused as exc:
            log.info("call %s: cannot ring %s: %s", call.id, callee, exc.message)
            raise
        self._adopt_leg(live, leg, LegState(leg, role, callee, self.clock.wall(), agent_id=agent_id))
        self._publish(E.CallRinging(call_id=call.id, role=role.value, party=callee, agent=agent_id or "",
                                    caller=call.caller, caller_name=call.caller_name, queue=call.queue,
                                    variables={k: str(v) for k, v in call.variables.items()}))
        call.note(self.clock.wall(), "ringing", f"{role.value} {callee}" + (f" via {trunk}" if trunk else ""))
        if role == LegRole.CALLEE:
            call.phase = CallPhase.RINGING
            caller_state = call.legs.get(call.caller_leg)
            caller_ep = self._caller_endpoint(live)
            if caller_ep is not None and caller_state is not None and caller_state.answered_at is not None:
                self.media.play(caller_ep, tone="ringback")  # an unanswered phone plays its own ringback
        return leg.leg_id

    def _adopt_leg(self, live: _Live, leg: CallLeg, state: LegState) -> None:
        """A new leg of this call (its media opened by its provider): its events and media come here."""
        state.endpoint_id = leg.endpoint_id
        live.call.legs[leg.leg_id] = state
        self._by_leg[leg.leg_id] = live.call.id
        if leg.endpoint_id is not None:
            self._by_endpoint[leg.endpoint_id] = live.call.id

    async def _dial_out(self, live: _Live, incoming: leg_events.LegIncoming, number: str) -> None:
        """An extension dialled a number that is not ours: permission first (toll fraud), then a trunk."""
        call = live.call
        call.direction = Direction.OUTBOUND
        ext = self.store.find("extensions", incoming.extension or "")
        person = next((s for s in self.store.list("staff") if s.extension == incoming.extension), None)
        allowed = max((x.dial_class for x in (ext, person) if x is not None),
                      key=lambda c: list(m.DialClass).index(c), default=m.DialClass.INTERNAL)
        decision = may_dial(allowed, number, set(e.number for e in self.store.list("extensions")))
        call.note(self.clock.wall(), "dial_out", f"{number}: {decision.number_class} needs {decision.required}")
        if not decision.allowed:
            await self._reject(live, Cause.OUTGOING_CALL_BARRED, "dial_not_allowed")
            return
        if await self._answer_caller(live, now=False):
            await self._ring_external(live, decision.number)

    # ------------------------------------------------------------------ leg events of this call

    async def _on_leg(self, live: _Live, event: Event) -> None:
        call = live.call
        leg_id = getattr(event, "leg_id", "")
        state = call.legs.get(leg_id)
        if state is None:
            return
        now = self.clock.wall()
        if isinstance(event, leg_events.LegAnswered):
            if state.role == LegRole.CALLER and leg_id == live.callback_leg:
                state.answered_at = call.answered_at = now
                self._answered(call, state)
                live.callback_leg = None
                call.note(now, "callback_answered", state.party)
                agent_state = call.legs.get(call.agent_leg or "")
                if agent_state is not None:
                    if agent_state.endpoint_id is not None:
                        self.media.stop_playing(agent_state.endpoint_id)  # the ringback the agent heard
                    await self._connect(live, call.agent_leg or "", agent_state)
                return
            if state.role == LegRole.CALLER:
                if live.on_caller_answer is None or state.answered_at is not None:
                    return
                state.answered_at = call.answered_at = now
                self._answered(call, state)
                follow, live.on_caller_answer = live.on_caller_answer, None
                await follow(live)
                return
            state.answered_at = now
            self._answered(call, state)
            if state.role == LegRole.AGENT and call.agent_leg is None and call.phase == CallPhase.RINGING:
                # a direct transfer to an agent (not through the ACD): the agent is now on this call
                agent_id = state.agent_id or ""
                with contextlib.suppress(ApplianceError, KeyError):
                    self.acd_command(C.AgentStartedOtherCall(agent_id=agent_id, call_id=call.id, kind="transfer"))
                call.agent, call.agent_leg, call.agent_answered_at = agent_id, leg_id, now
                await self._connect(live, leg_id, state)
            elif state.role == LegRole.AGENT:
                await self._agent_answered(live, leg_id, state)
            elif state.role == LegRole.CALLEE:
                await self._connect(live, leg_id, state)
            elif state.role == LegRole.CONSULT and leg_id in live.conference_legs:
                if call.bridge_id is not None and state.endpoint_id is not None:
                    self.media.add_party(call.bridge_id, state.endpoint_id, PartyMask.everyone())
            elif state.role == LegRole.CONSULT:
                await self._consult_answered(live, leg_id, state)
        elif isinstance(event, leg_events.LegEnded):
            await self._leg_ended(live, leg_id, state, event)
        elif isinstance(event, leg_events.LegDtmf):
            await self._digit(live, state, event.digit)
        elif isinstance(event, leg_events.LegTransferRequested):
            await self._on_refer(live, leg_id, state, event)
        elif isinstance(event, leg_events.LegHoldChanged) and state.role in (LegRole.AGENT, LegRole.CALLER):
            self._hold_changed(live, event.held)

    def _answered(self, call: Call, state: LegState) -> None:
        self._publish(E.CallAnswered(call_id=call.id, role=state.role.value, party=state.party,
                                     agent=state.agent_id or ""))

    def _hold_changed(self, live: _Live, held: bool) -> None:
        call = live.call
        now = self.clock.wall()
        if held and call.hold_started is None:
            call.hold_started = now
            call.note(now, "hold")
            self._publish(E.CallHeld(call_id=call.id, held=True, agent=call.agent))
            endpoint = self._caller_endpoint(live)
            if endpoint is not None and call.bridge_id is not None:
                self.media.play(endpoint, prompt=self._queue_music(call.queue), loop=True)
        elif not held and call.hold_started is not None:
            call.hold_seconds += now - call.hold_started
            call.hold_started = None
            call.note(now, "unhold")
            self._publish(E.CallHeld(call_id=call.id, held=False, agent=call.agent))
            self._stop_playing(live)

    async def _agent_answered(self, live: _Live, leg_id: str, state: LegState) -> None:
        call = live.call
        if call.agent_leg is not None or call.phase != CallPhase.QUEUED:
            await self._drop_leg(live, leg_id, "late_answer")
            return
        if self._caller_gone(live):
            # a callback ticket: the agent is connected first, then the ACD asks us to dial the customer
            agent_id = state.agent_id or ""
            call.agent, call.agent_leg, call.agent_answered_at = agent_id, leg_id, self.clock.wall()
            call.phase = CallPhase.RINGING
            self._dequeued(live, "callback", agent_id)
            call.note(call.agent_answered_at, "agent_answered", f"{agent_id} (callback)")
            self.acd_command(C.OfferAnswered(call_id=call.id, agent_id=agent_id))
            return
        agent_id = state.agent_id or ""
        self.acd_command(C.OfferAnswered(call_id=call.id, agent_id=agent_id))
        self._dequeued(live, "answered", agent_id)
        call.agent = agent_id
        call.agent_leg = leg_id
        call.agent_answered_at = self.clock.wall()
        call.phase = CallPhase.ANSWERED
        call.note(call.agent_answered_at, "agent_answered", agent_id)
        for other_id, other in list(call.legs.items()):  # ring-all: the others stop ringing
            if other.role == LegRole.AGENT and other_id != leg_id and other.ended_at is None:
                await self._drop_leg(live, other_id, "answered_elsewhere")
        queue = self.store.find("queues", call.queue)
        if queue is not None and queue.announce_agent_id:
            text = (f"{' '.join(agent_id)}号座席为您服务" if call.language != "en"
                    else f"Agent {' '.join(agent_id)} is now serving you.")
            try:
                path = await self._speak(text, call.language)
            except ApplianceError:
                path = None
            if path is not None and call.phase == CallPhase.ANSWERED:
                await self._play_then(live, [path], lambda: self._connect(live, leg_id, state))
                return
        await self._connect(live, leg_id, state)

    async def _connect(self, live: _Live, leg_id: str, state: LegState) -> None:
        """Bridge the caller with `leg_id` and start recording per policy."""
        call = live.call
        caller_ep = self._caller_endpoint(live)
        if caller_ep is None or state.endpoint_id is None or state.ended_at is not None:
            return
        self._stop_playing(live)
        self._answer_caller_now(live)
        call.phase = CallPhase.CONNECTED
        call.bridge_id = self.media.bridge(caller_ep, state.endpoint_id)
        call.note(self.clock.wall(), "bridged", state.party)
        if self._should_record(call):
            day = time.strftime("%Y%m%d", time.localtime(self.clock.wall()))
            path = self.recordings_dir / day / f"{call.id}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():  # a second segment of the same call (after a transfer or hold)
                path = path.with_name(f"{call.id}-{len(call.recordings) + 1}.wav")
            call.recording_id = self.media.start_recording(caller_ep, state.endpoint_id, path)
            call.recordings.append(str(path.relative_to(self.recordings_dir.parent)))
        self._publish(E.CallBridged(call_id=call.id, party=state.party, agent=call.agent,
                                    recording=call.recording_id is not None))

    def _should_record(self, call: Call) -> bool:
        queue = self.store.find("queues", call.queue) if call.queue else None
        policy = queue.recording if queue is not None else m.RecordingPolicy.ALL
        if policy == m.RecordingPolicy.NONE:
            return False
        return not (policy == m.RecordingPolicy.INBOUND and call.direction != Direction.INBOUND)

    async def _leg_ended(self, live: _Live, leg_id: str, state: LegState, event: leg_events.LegEnded) -> None:
        call = live.call
        if state.ended_at is not None:
            return  # we ended it ourselves (offer withdrawn, call over): already accounted for
        state.ended_at = self.clock.wall()
        cause = event.cause.slug
        state.cause = cause
        self._release_endpoint(state)
        if state.role == LegRole.CALLER:
            if leg_id == live.callback_leg and state.answered_at is None:
                live.callback_leg = None
                await self._callback_failed(live, cause)
                return
            call.hangup_side = "caller" if event.remote else "system"
            await self._end(live, call.hangup_side, cause, hang_up_caller=False)
            return
        if state.role == LegRole.AGENT:
            if leg_id == call.agent_leg:
                call.hangup_side = "agent"
                queue = self.store.find("queues", call.queue) if call.queue else None
                caller = call.legs.get(call.caller_leg)
                if (queue is not None and queue.survey_flow and call.survey_score is None and caller is not None
                        and caller.answered_at is not None and caller.ended_at is None):
                    # The agent hung up first: the caller is asked to rate the service (满意度调查).
                    self._release_agent(live, "agent_hung_up")
                    if call.bridge_id is not None:
                        with contextlib.suppress(ApplianceError, KeyError):
                            self.media.unbridge(call.bridge_id)
                        call.bridge_id = None
                    call.note(self.clock.wall(), "survey", queue.survey_flow)
                    await self._start_ivr(live, queue.survey_flow)
                    return
                await self._end(live, "agent", cause)
            elif call.phase == CallPhase.QUEUED and state.answered_at is None:
                live.unanswered_offers += 1
                if event.remote:  # the phone refused or timed out (we withdraw offers ourselves otherwise)
                    self.acd_command(C.OfferFailed(call_id=call.id, agent_id=state.agent_id or "", reason=cause))
            return
        if state.role == LegRole.CONSULT:
            live.conference_legs.discard(leg_id)
            if leg_id == live.consult_leg:
                live.consult_leg = None
                await self._consult_return(live)
            return
        if state.role == LegRole.CALLEE:
            if state.answered_at is not None:
                call.hangup_side = "callee"
                await self._end(live, "callee", cause)
            else:
                no_answer = event.cause in (Cause.NO_ANSWER, Cause.NO_USER_RESPONDING)
                call.disposition = "no_answer" if no_answer else "failed"
                await self._end(live, "system", f"callee_{cause}")

    async def _digit(self, live: _Live, state: LegState, digit: str) -> None:
        call = live.call
        if state.role == LegRole.CALLER and live.monitor is not None:
            mode = MONITOR_KEYS.get(digit)
            if mode is not None and mode != live.monitor.mode:
                await self._set_monitor_mode(live, mode)
            return
        if state.role == LegRole.CALLER:
            if call.phase == CallPhase.IVR and live.ivr is not None:
                call.ivr_keys += digit
                live.ivr.feed(DigitPressed(digit=digit))
            elif call.phase == CallPhase.QUEUED:
                queue = self.store.find("queues", call.queue)
                if queue is not None and queue.voicemail_key and digit == queue.voicemail_key:
                    self.acd_command(C.CallerChoseVoicemail(call_id=call.id))
                elif queue is not None and queue.callback_key and digit == queue.callback_key:
                    number = call.variables.get("callback_number") or call.caller
                    self.acd_command(C.CallbackRequested(call_id=call.id, number=number))
            elif call.phase == CallPhase.VOICEMAIL and digit == "#":
                await self._finish_voicemail(live)
        elif state.role == LegRole.AGENT and digit == "*" and call.phase == CallPhase.CONNECTED:
            call.intended_customer = True  # 意向客户: the agent pressed * during the call
            call.note(self.clock.wall(), "intended_customer", state.agent_id or "")

    # ------------------------------------------------------------------ media events of this call

    async def _on_media(self, live: _Live, event: Event) -> None:
        call = live.call
        if isinstance(event, media_events.DtmfReceived):
            state = next((s for s in call.legs.values() if s.endpoint_id == event.endpoint_id), None)
            if state is not None:
                await self._digit(live, state, event.digit)
        elif isinstance(event, media_events.PlaybackFinished):
            if event.endpoint_id != self._caller_endpoint(live):
                return
            if live.playlist is not None:
                if event.interrupted:
                    return  # barge-in: the digit that interrupted it goes to the IVR
                self._play_next(live)
            elif live.after_play is not None and not event.interrupted:
                await live.after_play()
        elif isinstance(event, media_events.RtpTimeout):
            state = next((s for s in call.legs.values() if s.endpoint_id == event.endpoint_id), None)
            if state is not None and state.ended_at is None:
                call.note(self.clock.wall(), "rtp_timeout", state.party)
                await self._end(live, "system", "rtp_timeout")
        elif isinstance(event, media_events.LegQuality):
            for state in call.legs.values():
                if state.endpoint_id == event.endpoint_id:
                    state.mos = event.mos
        elif isinstance(event, media_events.RecordingStopped) and event.error:
            call.note(self.clock.wall(), "recording_failed", event.error)

    # ------------------------------------------------------------------ voicemail

    async def _start_voicemail(self, live: _Live, box: str, *, greeting: bool = True) -> None:
        """Greeting (unless the IVR flow already spoke), the beep, then record until #, hang-up or the limit."""
        call = live.call
        call.phase = CallPhase.VOICEMAIL
        files = [self.prompts.resolve("voicemail_greeting", call.language)] if greeting else []  # type: ignore[arg-type]
        files.append(self.assets.beep)

        async def record() -> None:
            endpoint = self._caller_endpoint(live)
            if endpoint is None or call.phase != CallPhase.VOICEMAIL:
                return
            message_id, path = self.voicemail.new_file(box)
            live.voicemail = (message_id, path, box)
            call.recording_id = self.media.start_recording(endpoint, None, path)
            call.note(self.clock.wall(), "voicemail_recording", box)

            async def limit() -> None:
                await self._finish_voicemail(live)

            self._later(live, VOICEMAIL_MAX_S, limit)

        await self._play_then(live, files, record)

    async def _finish_voicemail(self, live: _Live) -> None:
        call = live.call
        if live.voicemail is None:
            return
        message_id, path, box = live.voicemail
        live.voicemail = None
        if call.recording_id is not None:
            self.media.stop_recording(call.recording_id)
            call.recording_id = None
        if path.exists() and path.stat().st_size > 44:
            message = self.voicemail.deposit(message_id, box, call.caller, call.id, path, call.caller_name)
            call.voicemail_id = message.id
            call.disposition = "voicemail"
        if call.phase == CallPhase.VOICEMAIL:
            await self._end(live, "system", "voicemail_done")

    # ------------------------------------------------------------------ feature codes

    async def _feature(self, live: _Live, incoming: leg_events.LegIncoming, request: fc.FeatureRequest) -> None:
        call = live.call
        call.phase = CallPhase.FEATURE
        call.direction = Direction.INTERNAL
        live.feature = request
        if not await self._answer_caller(live):
            return
        call.phase = CallPhase.FEATURE
        extension = incoming.extension or ""
        if request.feature in MONITOR_FEATURES:
            await self._start_monitor(live, extension, request.args[0] if request.args else "",
                                      MONITOR_FEATURES[request.feature])
            return
        message_en, message_zh = await self._run_feature(extension, request)
        call.note(self.clock.wall(), "feature", f"{request.feature}: {message_en}")
        language = call.language
        try:
            path = await self._speak(message_zh if language != "en" else message_en, language)
        except ApplianceError:
            await self._end(live, "system", "feature_done")
            return
        self._later(live, FEATURE_PROMPT_GRACE_S, lambda: self._end(live, "system", "feature_done"))
        await self._play_then(live, [path], lambda: self._end(live, "system", "feature_done"))

    async def _run_feature(self, extension: str, request: fc.FeatureRequest) -> tuple[str, str]:
        """Carry out a feature code; returns what to tell the person (English, Chinese)."""
        feature = request.feature
        try:
            if feature == fc.Feature.AGENT_LOGIN:
                logged_in = await self.agents.check_login(extension, request.args)
                self.acd_command(C.AgentLoggedIn(agent_id=logged_in))
                self.agents.bind(logged_in, extension)
                return f"Agent {logged_in} logged in.", f"座席{' '.join(logged_in)}登录成功。"
            if feature in fc.SUPERVISOR_ONLY:
                return self._force_from_phone(extension, feature, request.args[0] if request.args else "")
            agent_id = self.agents.agent_at(extension)
            if agent_id is None:
                return "No agent is logged in on this phone.", "本话机没有登录座席。"
            if feature == fc.Feature.AGENT_LOGOUT:
                self.acd_command(C.AgentLoggedOut(agent_id=agent_id))
                self.agents.logout(agent_id)
                return f"Agent {agent_id} logged out.", "座席已退出。"
            if feature == fc.Feature.PAUSE:
                self.agent_pause(agent_id, request.args[0] if request.args else None)
                return "You are now busy.", "已置忙。"
            if feature == fc.Feature.UNPAUSE:
                self.acd_command(C.AgentUnpaused(agent_id=agent_id))
                return "You are now available.", "已置闲。"
            if feature == fc.Feature.WRAP_UP_DONE:
                self.acd_command(C.WrapUpEnded(agent_id=agent_id))
                return "Ready for the next call.", "已结束后处理。"
            return "Unknown feature.", "未知的功能码。"
        except ApplianceError as exc:
            return exc.message, exc.message_zh or exc.message

    # ------------------------------------------------------------------ transfers, consultation, conference

    def _resolve_target(self, target: str) -> tuple[str, str]:
        """What a transfer target names: a queue, an agent, an extension, an IVR flow, an access number, or
        else an external number. `queue:x`, `flow:x`, `agent:x` force the kind."""
        kind, _, value = target.partition(":")
        if value and kind in ("queue", "agent", "extension", "flow", "did", "external"):
            return kind, value
        if self.store.find("queues", target) is not None:
            return "queue", target
        if self.store.find("ivr_flows", target) is not None:
            return "flow", target
        staff = self.store.find("staff", target)
        if staff is not None and self.agents.extension_of(target):
            return "agent", target
        if self.store.find("extensions", target) is not None:
            return "extension", target
        if self.store.find("dids", target) is not None:
            return "did", target
        return "external", target

    def _release_agent(self, live: _Live, cause: str) -> str:
        """The serving agent leaves the call (transfer, completed consultation): wrap-up starts."""
        call = live.call
        agent_id = call.agent
        if call.agent_leg is not None:
            leg_id, call.agent_leg = call.agent_leg, None
            if call.bridge_id is not None:
                state = call.legs.get(leg_id)
                if state is not None and state.endpoint_id is not None:
                    with contextlib.suppress(ApplianceError, KeyError):
                        self.media.remove_party(call.bridge_id, state.endpoint_id)
        if agent_id and call.agent_answered_at is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.acd_command(C.CallCompleted(agent_id=agent_id, call_id=call.id))
        self._stop_recording(live)
        return agent_id

    def _stop_recording(self, live: _Live) -> None:
        call = live.call
        if call.recording_id is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.stop_recording(call.recording_id)
            call.recording_id = None

    async def _transfer(self, live: _Live, target: str, by: str, kind: str = "blind",
                        drop_agent_leg: bool = True) -> bool:
        """Send the caller elsewhere; the serving agent is released. Caller data and the CDR travel along.
        After a REFER the phone hangs up its own leg once told the transfer worked (`drop_agent_leg=False`)."""
        call = live.call
        where, value = self._resolve_target(target)
        agent_leg = call.agent_leg
        from_agent = self._release_agent(live, "transferred")
        self._transferred(call, kind, by, from_agent, f"{where}:{value}")
        call.note(self.clock.wall(), "transfer", f"{kind} {from_agent or by} → {where}:{value}")
        if agent_leg is not None:
            if drop_agent_leg:
                await self._drop_leg(live, agent_leg, "transferred")
            else:
                self._later(live, 10.0, lambda: self._drop_leg(live, agent_leg, "transferred"))
        call.agent, call.agent_answered_at = "", None
        if call.bridge_id is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.unbridge(call.bridge_id)
            call.bridge_id = None
        if where == "queue":
            self._enter_queue(live, value, vip=call.vip)
        elif where == "flow":
            await self._start_ivr(live, value)
        elif where == "did":
            call.did = value
            decision = self.router().route(did=value, caller=call.caller, wall=self.clock.wall())
            if decision.destination.kind == "flow":
                await self._start_ivr(live, decision.destination.target)
            elif decision.destination.kind == "queue":
                self._enter_queue(live, decision.destination.target, vip=decision.vip)
            else:
                await self._end(live, "system", "transfer_unroutable")
                return False
        elif where == "agent":
            extension = self.agents.extension_of(value) or ""
            if await self._ring_extension(live, extension, LegRole.AGENT, agent_id=value) is None:
                await self._end(live, "system", "transfer_failed")
                return False
            call.phase = CallPhase.RINGING
        elif where == "extension":
            await self._ring_extension(live, value, LegRole.CALLEE)
        else:
            await self._ring_external(live, value)
        return True

    def _transferred(self, call: Call, kind: str, by: str | None, from_agent: str, to: str) -> None:
        """The CDR's transfer list and the public event say the same."""
        entry: dict[str, Any] = {"at": round(self.clock.wall(), 3), "kind": kind}
        if by is not None:
            entry["by"] = by
        entry.update({"from": from_agent, "to": to})
        call.transfers.append(entry)
        self._publish(E.CallTransferred(call_id=call.id, kind=kind, by=by or from_agent, agent=from_agent, to=to))

    async def _on_refer(self, live: _Live, leg_id: str, state: LegState,
                        event: leg_events.LegTransferRequested) -> None:
        """A phone asked to transfer (REFER): blind, or attended with Replaces naming our other call.

        Attended (RFC 5589 §7): the phone has two calls through us, the caller's (held) and the consultation.
        Most phones send the REFER on the caller's dialog with Replaces naming the consultation; some send it
        on the consultation's dialog with Replaces naming the caller's. Either way the caller's call lives on
        (its queue, CDR and recording) and adopts the consulted party; the consultation call ends."""
        call = live.call
        transferring = state.role in (LegRole.AGENT, LegRole.CALLEE)
        # The SIP layer already answered 202 and reported "100 Trying"; the final report follows the outcome.
        if event.replaces_leg:
            other_id = self._by_leg.get(event.replaces_leg, "")
            other = self._calls.get(other_id)
            if other is None or other_id == call.id:
                state.leg.transfer_progress(Cause.INVALID_CALL_REFERENCE)
                return
            if transferring:  # on the caller's dialog: the consultation call hands its far party over
                self._post(other_id, "hand_over", (call.id, event.replaces_leg))
            elif other.call.agent_leg == event.replaces_leg:
                # on the consultation's dialog, naming the agent's leg of the caller's call: the mirror image
                self._post(call.id, "hand_over", (other_id, leg_id))
            else:
                state.leg.transfer_progress(Cause.FACILITY_REJECTED)
                return
            state.leg.transfer_progress(None)
            return
        if not transferring:
            state.leg.transfer_progress(Cause.FACILITY_REJECTED)
            return
        target = event.target or ""
        ok = await self._transfer(live, target, by=state.agent_id or state.party, drop_agent_leg=False)
        state.leg.transfer_progress(None if ok else Cause.TEMPORARY_FAILURE)

    async def _hand_over(self, live: _Live, to_call: str, agent_leg: str) -> None:
        """Attended transfer, consultation side: give our far party (the consulted person) to `to_call` and
        end this call; the transferring agent's legs go away."""
        call = live.call
        party = next((leg_id for leg_id, st in call.legs.items()
                      if leg_id != agent_leg and st.ended_at is None and st.answered_at is not None), None)
        if party is None:
            return
        state = call.legs.pop(party)
        if call.bridge_id is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.unbridge(call.bridge_id)
            call.bridge_id = None
        if state.endpoint_id is not None:
            self._by_endpoint[state.endpoint_id] = to_call
        self._by_leg[party] = to_call
        call.note(self.clock.wall(), "handed_over", f"{state.party} → {to_call}")
        self._post(to_call, "adopt", (party, state))
        await self._end(live, "system", "attended_transfer")

    async def _adopt(self, live: _Live, leg_id: str, state: LegState) -> None:
        """Attended transfer, caller side: the consulted party becomes the one the caller talks to."""
        call = live.call
        from_agent = self._release_agent(live, "transferred")
        if call.agent_leg is None:
            old = next((lid for lid, st in call.legs.items() if st.role == LegRole.AGENT and st.ended_at is None),
                       None)
            if old is not None:
                await self._drop_leg(live, old, "transferred")
        call.legs[leg_id] = state
        self._transferred(call, "attended", None, from_agent, state.agent_id or state.party)
        self._stop_playing(live)
        if call.bridge_id is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.unbridge(call.bridge_id)
            call.bridge_id = None
        self._hold_changed(live, False)  # a phone's hold (re-INVITE) is still open: count it in the CDR
        new_agent = state.agent_id or self.agents.agent_at(state.party)
        state.role = LegRole.AGENT if new_agent else LegRole.CALLEE
        if new_agent:
            state.agent_id = new_agent
            call.agent, call.agent_leg, call.agent_answered_at = new_agent, leg_id, self.clock.wall()
            # The ACD did not route this call to the new agent: without telling it, it would offer the agent
            # another caller meanwhile and ignore the CallCompleted at the end.
            with contextlib.suppress(ApplianceError, KeyError):
                self.acd_command(C.AgentStartedOtherCall(agent_id=new_agent, call_id=call.id, kind="transfer"))
        await self._connect(live, leg_id, state)

    async def _consult(self, live: _Live, target: str) -> None:
        """询问: the caller waits with music while the agent talks to someone else on a new leg."""
        call = live.call
        if call.agent_leg is None or call.bridge_id is None:
            raise Conflict("no agent is talking to the caller", "座席未与客户通话")
        where, value = self._resolve_target(target)
        extension = self.agents.extension_of(value) if where == "agent" else value
        agent_state = call.legs[call.agent_leg]
        self._hold_caller(live)
        leg_id = await self._ring_extension(live, extension or "", LegRole.CONSULT,
                                            agent_id=value if where == "agent" else None)
        call.note(self.clock.wall(), "consult", f"{call.agent} → {where}:{value}")
        if leg_id is None:
            await self._consult_return(live)
            return
        live.consult_leg = leg_id
        live.consult_agent_ep = agent_state.endpoint_id

    async def _consult_answered(self, live: _Live, leg_id: str, state: LegState) -> None:
        live.call.note(self.clock.wall(), "consult_answered", state.party)
        if live.consult_agent_ep is not None and state.endpoint_id is not None:
            live.consult_bridge = self.media.bridge(live.consult_agent_ep, state.endpoint_id)

    async def _consult_return(self, live: _Live) -> None:
        """The consultation is over: back to the caller (询问后返回)."""
        call = live.call
        if live.consult_bridge is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.unbridge(live.consult_bridge)
            live.consult_bridge = None
        if live.consult_leg is not None:
            await self._drop_leg(live, live.consult_leg, "consult_ended")
            live.consult_leg = None
        self._hold_changed(live, False)
        if call.agent_leg is not None:
            await self._connect(live, call.agent_leg, call.legs[call.agent_leg])

    async def _consult_complete(self, live: _Live) -> None:
        """询问转: the caller goes to the consulted party; the agent leaves."""
        call = live.call
        leg_id = live.consult_leg
        if leg_id is None:
            raise Conflict("there is no consultation to complete", "没有正在进行的询问")
        if live.consult_bridge is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.unbridge(live.consult_bridge)
            live.consult_bridge = None
        live.consult_leg = None
        state = call.legs.pop(leg_id)
        self._hold_changed(live, False)
        await self._adopt(live, leg_id, state)

    async def _conference(self, live: _Live, target: str) -> None:
        """三方通话: ring a third party into the caller's bridge; anyone may leave, the rest stay."""
        call = live.call
        if call.bridge_id is None:
            raise Conflict("the call is not connected", "通话未接通")
        where, value = self._resolve_target(target)
        extension = self.agents.extension_of(value) if where == "agent" else value
        leg_id = await self._ring_extension(live, extension or "", LegRole.CONSULT,
                                            agent_id=value if where == "agent" else None)
        if leg_id is None:
            raise Conflict(f"cannot ring {target}", f"无法呼叫 {target}")
        live.conference_legs.add(leg_id)
        call.note(self.clock.wall(), "conference", f"{where}:{value}")

    def _hold_caller(self, live: _Live) -> None:
        """Take the caller out of the bridge and play the queue's music (hold, or while the agent consults)."""
        call = live.call
        if call.bridge_id is not None:
            self.media.unbridge(call.bridge_id)
            call.bridge_id = None
        self._hold_changed(live, True)
        caller_ep = self._caller_endpoint(live)
        if caller_ep is not None:
            self.media.play(caller_ep, prompt=self._queue_music(call.queue), loop=True)

    async def _api_hold(self, live: _Live, on: bool) -> None:
        """Hold from the agent desk: the caller hears music, the agent hears nothing; unhold reconnects."""
        call = live.call
        if call.agent_leg is None:
            raise Conflict("no agent is talking to the caller", "座席未与客户通话")
        agent_state = call.legs[call.agent_leg]
        if on and call.bridge_id is not None:
            self._hold_caller(live)
        elif not on and call.bridge_id is None:
            self._hold_changed(live, False)
            await self._connect(live, call.agent_leg, agent_state)

    # ------------------------------------------------------------------ callbacks (回拨)

    def _caller_gone(self, live: _Live) -> bool:
        state = live.call.legs.get(live.call.caller_leg)
        return state is None or state.ended_at is not None

    async def _callback_accepted(self, live: _Live, number: str) -> None:
        """The ACD keeps the caller's place: confirm, let the caller go, keep the call open for the ticket."""
        call = live.call
        call.variables["callback_number"] = number
        call.note(self.clock.wall(), "callback_registered", number)
        saved = self.prompts.resolve("callback_saved", call.language)  # type: ignore[arg-type]

        async def release() -> None:
            await self._drop_leg(live, call.caller_leg, "callback_registered")

        await self._play_then(live, [saved], release)

    async def _dial_callback(self, live: _Live, number: str) -> None:
        """The agent answered the ticket: now call the customer and connect them (agent first, then customer)."""
        call = live.call
        live.callback_attempts += 1
        call.note(self.clock.wall(), "callback_dial", f"{number} (attempt {live.callback_attempts})")
        agent_state = call.legs.get(call.agent_leg or "")
        if agent_state is not None and agent_state.endpoint_id is not None:
            self.media.play(agent_state.endpoint_id, tone="ringback")
        if self.store.find("extensions", number) is not None:
            leg_id = await self._ring_extension(live, number, LegRole.CALLEE)
        else:
            before = set(call.legs)
            await self._ring_external(live, number)
            leg_id = next((k for k in call.legs if k not in before), None)
        if leg_id is not None:
            call.caller_leg = leg_id  # the customer is the caller of this call from now on
            state = call.legs[leg_id]
            state.role = LegRole.CALLER
            live.callback_leg = leg_id

    async def _callback_failed(self, live: _Live, cause: str) -> None:
        """The customer did not answer: the agent is released; try again later, a few times."""
        call = live.call
        self._release_agent(live, "callback_failed")
        if call.agent_leg is not None:
            await self._drop_leg(live, call.agent_leg, "callback_failed")
        call.agent, call.agent_leg, call.agent_answered_at = "", None, None
        number = call.variables.get("callback_number", "")
        if live.callback_attempts >= CALLBACK_ATTEMPTS or not number:
            call.disposition = "callback_failed"
            await self._end(live, "system", f"callback_{cause}")
            return
        call.note(self.clock.wall(), "callback_retry", f"in {CALLBACK_RETRY_S:.0f} s")
        call.phase = CallPhase.QUEUED

        async def again() -> None:
            self._enter_queue(live, call.queue, vip=call.vip, music=False)

        self._later(live, CALLBACK_RETRY_S, again)

    # ------------------------------------------------------------------ supervisors

    def _supervisor_at(self, extension: str, agent_id: str) -> tuple[str | None, str, str]:
        """(supervisor id, refusal en, refusal zh): a supervisor may act on agents of the groups they manage
        (all agents when they manage none in particular)."""
        person = next((p for p in self.store.list("staff")
                       if p.extension == extension and p.status == m.StaffStatus.ACTIVE), None)
        bound = self.agents.agent_at(extension)
        if person is None and bound is not None:
            person = self.store.find("staff", bound)
        if person is None or person.role not in (m.Role.SUPERVISOR, m.Role.ADMIN):
            return None, "Only a supervisor may do this.", "只有班长座席可以进行此操作。"
        agent = self.store.find("staff", agent_id)
        if agent is None:
            return None, f"There is no agent {agent_id}.", f"没有座席{agent_id}。"
        if person.managed_groups and agent.work_group not in person.managed_groups:
            return None, f"Agent {agent_id} is not in your groups.", f"座席{agent_id}不在您管理的座席组。"
        return str(person.employee_no), "", ""

    def _force_from_phone(self, extension: str, feature: fc.Feature, agent_id: str) -> tuple[str, str]:
        supervisor, en, zh = self._supervisor_at(extension, agent_id)
        if supervisor is None:
            return en, zh
        state = {fc.Feature.FORCE_IDLE: "idle", fc.Feature.FORCE_BUSY: "busy"}.get(feature, "logged_out")
        self.force_agent(agent_id, state, supervisor)
        return f"Agent {agent_id} is now {state}.", f"座席{' '.join(agent_id)}已强制{ {'idle': '置闲', 'busy': '置忙'}.get(state, '下线')}。"

    def _agent_call(self, agent_id: str) -> _Live | None:
        for other in self._calls.values():
            if other.call.agent == agent_id and other.call.phase == CallPhase.CONNECTED and other.call.bridge_id:
                return other
        return None

    async def _start_monitor(self, live: _Live, extension: str, agent_id: str, mode: str) -> None:
        """A supervisor's phone joins an agent's call: listen, whisper, barge, or take the caller over."""
        call = live.call
        supervisor, en, zh = self._supervisor_at(extension, agent_id)
        target = self._agent_call(agent_id) if supervisor is not None else None
        if supervisor is not None and target is None:
            en, zh = f"Agent {agent_id} is not on a call.", f"座席{' '.join(agent_id)}当前没有通话。"
        if supervisor is None or target is None:
            path = await self._speak(zh if call.language != "en" else en, call.language)
            await self._play_then(live, [path], lambda: self._end(live, "system", "monitor_refused"))
            return
        call.phase = CallPhase.CONNECTED
        call.agent = supervisor
        live.monitor = _Monitor(target.call.id, agent_id, "listen")
        target.monitored_by.add(call.id)
        call.note(self.clock.wall(), "monitor", f"{mode} {agent_id} on {target.call.id}")
        target.call.note(self.clock.wall(), "monitored", f"{mode} by {supervisor}")
        self._publish(E.MonitorStarted(call_id=target.call.id, supervisor=supervisor, agent=agent_id, mode=mode))
        endpoint = self._caller_endpoint(live)
        if endpoint is not None and target.call.bridge_id is not None:
            self.media.add_party(target.call.bridge_id, endpoint, self._mask(target, "listen"))
        await self._set_monitor_mode(live, mode)

    def _mask(self, target: _Live, mode: str) -> PartyMask:
        if mode == "listen":
            return PartyMask.listen()
        if mode == "whisper":
            agent_leg = target.call.legs.get(target.call.agent_leg or "")
            if agent_leg is not None and agent_leg.endpoint_id is not None:
                return PartyMask.whisper(agent_leg.endpoint_id)
        return PartyMask.barge()

    async def _set_monitor_mode(self, live: _Live, mode: str) -> None:
        monitor = live.monitor
        if monitor is None:
            return
        target = self._calls.get(monitor.target)
        endpoint = self._caller_endpoint(live)
        if target is None or endpoint is None or target.call.bridge_id is None:
            return
        monitor.mode = mode
        live.call.note(self.clock.wall(), "monitor_mode", mode)
        if mode == "take_over":
            self._post(target.call.id, "take_over", live.call.id)
            return
        self.media.set_mask(target.call.bridge_id, endpoint, self._mask(target, mode))

    async def _take_over(self, live: _Live, supervisor_call: str) -> None:
        """强拆: the agent is released, the supervisor who barged in stays with the caller."""
        call = live.call
        sup = self._calls.get(supervisor_call)
        if sup is None or call.agent_leg is None:
            return
        agent_id = call.agent
        self._transferred(call, "take_over", None, agent_id, sup.call.agent)
        await self._drop_leg(live, call.agent_leg, "taken_over")
        with contextlib.suppress(ApplianceError, KeyError):
            self.acd_command(C.CallCompleted(agent_id=agent_id, call_id=call.id))
        call.agent_leg = None
        endpoint = self._caller_endpoint(sup)
        if endpoint is not None and call.bridge_id is not None:
            self.media.set_mask(call.bridge_id, endpoint, PartyMask.barge())
        call.note(self.clock.wall(), "taken_over", f"{agent_id} → {sup.call.agent}")

    def _monitor_gone(self, live: _Live, supervisor_call: str) -> None:
        """A supervisor left this call; after a take-over the caller would be alone, so the call ends."""
        live.monitored_by.discard(supervisor_call)
        call = live.call
        if call.agent_leg is None and call.phase == CallPhase.CONNECTED:
            self._post(call.id, "hangup", None)

    # ------------------------------------------------------------------ ending

    async def _drop_leg(self, live: _Live, leg_id: str, cause: str) -> None:
        state = live.call.legs.get(leg_id)
        if state is None or state.ended_at is not None:
            return
        state.ended_at = self.clock.wall()
        state.cause = cause
        with contextlib.suppress(ApplianceError, KeyError):
            state.leg.hangup()
        self._release_endpoint(state)

    def _release_endpoint(self, state: LegState) -> None:
        """The leg's media is gone (its provider released it as the leg ended): forget it, keep its quality."""
        endpoint_id = state.endpoint_id
        if endpoint_id is None:
            return
        state.endpoint_id = None
        if state.leg.mos is not None:
            state.mos = state.leg.mos
        self._by_endpoint.pop(endpoint_id, None)

    async def _end(self, live: _Live, side: str, cause: str, *, hang_up_caller: bool = True) -> None:
        call = live.call
        if call.phase == CallPhase.ENDED:
            return
        previous = call.phase
        call.phase = CallPhase.ENDED
        now = self.clock.wall()
        call.ended_at = now
        call.hangup_side = call.hangup_side or side
        call.hangup_cause = call.hangup_cause or cause
        call.note(now, "ended", f"{side}: {cause}")
        for handle in live.timers:
            handle.cancel()
        if live.voicemail is not None:
            await self._finish_voicemail(live)
        if call.recording_id is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.stop_recording(call.recording_id)
            call.recording_id = None
        if live.ivr is not None:
            live.ivr.feed(IvrCallerHungUp())
            self._leave_ivr(live, ivr_actions.Hangup(reason="caller_hung_up"))
            await self.ivr.close_session(call.id)
            call.ivr_exit = call.ivr_exit or "abandoned"
        if live.in_acd:
            self._dequeued(live, "caller")
            with contextlib.suppress(ApplianceError, KeyError):
                self.acd_command(C.CallerHungUp(call_id=call.id))
        if call.agent and call.agent_answered_at is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.acd_command(C.CallCompleted(agent_id=call.agent, call_id=call.id))
        if live.monitor is not None:
            target = self._calls.get(live.monitor.target)
            endpoint = self._caller_endpoint(live)
            if target is not None and target.call.bridge_id is not None and endpoint is not None:
                with contextlib.suppress(ApplianceError, KeyError):
                    self.media.remove_party(target.call.bridge_id, endpoint)
            self._post(live.monitor.target, "monitor_gone", call.id)
            live.monitor = None
        for supervisor_call in list(live.monitored_by):
            self._post(supervisor_call, "target_ended", call.id)
        if call.bridge_id is not None:
            with contextlib.suppress(ApplianceError, KeyError):
                self.media.unbridge(call.bridge_id)
            call.bridge_id = None
        for leg_id, state in call.legs.items():
            if state.ended_at is None:
                state.ended_at = now
                state.cause = state.cause or cause
                if state.role != LegRole.CALLER or hang_up_caller:
                    with contextlib.suppress(ApplianceError, KeyError):
                        state.leg.hangup()
            self._release_endpoint(state)
            self._by_leg.pop(leg_id, None)
        if not call.disposition:
            if call.agent_answered_at is not None or (previous == CallPhase.CONNECTED):
                call.disposition = "answered"
            elif previous == CallPhase.FEATURE:
                call.disposition = "feature"
            elif call.ivr_exit == "self_served":
                call.disposition = "self_served"
            else:
                call.disposition = "abandoned" if side == "caller" else "ended"
        missed = missed_reasons(call, live.unanswered_offers, live.left_queue_by)
        if call.disposition == "abandoned" and previous in ABANDON_PHASES:
            self._publish(E.CallAbandoned(call_id=call.id, queue=call.queue, phase=previous.value,
                                          waited=round(now - (call.queued_at or call.started_at), 3)))
        cdr = build_cdr(call, missed)
        self._publish(E.CallEnded(call_id=call.id, agent=call.agent, disposition=call.disposition,
                                  hangup_side=call.hangup_side, hangup_cause=call.hangup_cause,
                                  duration=float(cdr["duration"] or 0.0), cdr=cdr))  # the journal writes the CDR
        self._calls.pop(call.id, None)
        self.completed += 1

    def _caller_endpoint(self, live: _Live) -> str | None:
        state = live.call.legs.get(live.call.caller_leg)
        return state.endpoint_id if state is not None else None
