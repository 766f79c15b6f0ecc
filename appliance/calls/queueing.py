"""The caller's side of the ACD: entering a queue (skill, priority, VIP, the customer's area and account
manager), music and position announcements while waiting, the queue's keys (voicemail, callback), and
leaving the queue — answered, overflowed, called back, or hung up."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.models import SkillRequirement
from appliance.calls import events as E
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.live import LiveCall
from appliance.calls.models import CallPhase
from appliance.calls.playback import Playback
from appliance.errors import ApplianceError


@dataclass
class Queueing:
    ctx: CallContext
    playback: Playback
    ending: CallEnding

    def __post_init__(self) -> None:
        self.ending.register(self._caller_left_queue)

    def enter(self, live: LiveCall, queue_id: str, *, priority: int = 0, vip: bool = False, skill: str = "",
              music: bool = True) -> None:
        call = live.call
        call.phase = CallPhase.QUEUED
        call.queue = queue_id
        call.queued_at = self.ctx.clock.wall()
        live.in_acd = True
        customer = self.ctx.customer_of(call.caller)
        skills = (SkillRequirement(skill, 0),) if skill else None
        self.ctx.publish(E.CallQueued(call_id=call.id, queue=queue_id, caller=call.caller, priority=priority,
                                      vip=vip))
        self.ctx.acd_command(C.CallArrived(
            call_id=call.id, queue_id=queue_id, caller=call.caller, did=call.did, did_vip=vip,
            priority=priority, skills=skills, area=customer.area if customer else "",
            account_manager=(customer.account_manager or "") if customer else "",
        ))
        number = call.variables.get("callback_number")
        if number and live.in_acd:  # the caller left a number in the IVR: call back instead of waiting
            actions = self.ctx.acd_command(C.CallbackRequested(call_id=call.id, number=number))
            # a ticket: the caller, told already, is let go (AcceptCallback) and hears no music or position
            live.callback_ticket = any(isinstance(a, A.AcceptCallback) for a in actions)
        endpoint = live.caller_endpoint
        if endpoint is not None and music and not live.callback_ticket:
            self.playback.play_music(endpoint, queue_id)

    def dequeued(self, live: LiveCall, reason: str, agent: str = "") -> None:
        """The call leaves the ACD: answered, overflow, callback, or the caller hung up (abandoned)."""
        call = live.call
        live.in_acd = False
        if reason in ("overflow", "caller"):
            live.left_queue_by = reason
        now = self.ctx.clock.wall()
        waited = round(now - (call.queued_at or now), 3)
        self.ctx.publish(E.CallDequeued(call_id=call.id, queue=call.queue, reason=reason, agent=agent,
                                        waited=waited))

    def voicemail_box(self, queue_id: str) -> str:
        """Where the queue's callers leave messages when it overflows to voicemail."""
        queue = self.ctx.store.find("queues", queue_id)
        return (queue.voicemail_box if queue is not None else None) or "general"

    async def announce_position(self, live: LiveCall, action: A.AnnouncePosition) -> None:
        call = live.call
        if live.callback_ticket:
            return  # asked for as the call arrived, before the ACD knew it would be a ticket
        minutes = max(1, round(action.estimated_wait / 60))
        if call.language == "en":
            text = f"You are number {action.position} in line. The expected wait is about {minutes} minutes."
        else:
            text = f"您前面还有{action.position - 1}位客户在等待,预计等待{minutes}分钟。"
        try:
            path = await self.playback.speak(text, call.language)
        except ApplianceError:
            return
        endpoint = live.caller_endpoint
        if endpoint is None or call.phase != CallPhase.QUEUED:
            return

        async def back_to_music() -> None:
            if call.phase == CallPhase.QUEUED and endpoint is not None:
                self.playback.play_music(endpoint, call.queue)

        await self.playback.play_then(live, [path], back_to_music)

    def key_pressed(self, live: LiveCall, digit: str) -> None:
        """A waiting caller's key: the queue's voicemail key or its callback key (回拨)."""
        call = live.call
        queue = self.ctx.store.find("queues", call.queue)
        if queue is not None and queue.voicemail_key and digit == queue.voicemail_key:
            self.ctx.acd_command(C.CallerChoseVoicemail(call_id=call.id))
        elif queue is not None and queue.callback_key and digit == queue.callback_key:
            number = call.variables.get("callback_number") or call.caller
            self.ctx.acd_command(C.CallbackRequested(call_id=call.id, number=number))

    async def _caller_left_queue(self, live: LiveCall) -> None:
        if live.in_acd:
            self.dequeued(live, "caller")
            # The ACD takes the one that fits the call and ignores the other: a waiting caller hung up, or a
            # callback ticket cancelled (its caller was let go on purpose).
            for command in (C.CallerHungUp(call_id=live.call.id), C.CallbackCancelled(call_id=live.call.id)):
                with contextlib.suppress(ApplianceError, KeyError):
                    self.ctx.acd_command(command)
