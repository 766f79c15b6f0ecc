"""Callbacks (回呼): a waiting caller leaves a number and hangs up; the ticket keeps the call's place.

When an agent answers the ticket, call control connects the agent first and then dials the number
(`DialCallback`, see `Dispatcher.on_offer_answered`). One ticket per number at a time: the registry of
numbers lives in the shared context so that a call leaving the ACD by any path frees its number.
"""

from __future__ import annotations

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd import events as E
from appliance.acd.context import Context
from appliance.acd.dispatch import Dispatcher
from appliance.acd.queueing import Queueing


class Callbacks:
    def __init__(self, ctx: Context, queueing: Queueing, dispatcher: Dispatcher) -> None:
        self._ctx = ctx
        self._queueing = queueing
        self._dispatch = dispatcher

    def on_requested(self, cmd: C.CallbackRequested) -> None:
        ctx = self._ctx
        call = ctx.calls.get(cmd.call_id)
        reason = ""
        if call is None or not call.waiting:
            reason = "not_waiting"
        elif call.callback_number:
            reason = "duplicate"
        elif not call.queue.cfg.callback_key:
            reason = "not_offered"
        elif cmd.number in ctx.callbacks:
            reason = "duplicate"
        if reason:
            ctx.out.append(A.RefuseCallback(cmd.call_id, cmd.number, reason))
            ctx.emit(E.CallbackRefused(at=ctx.wall(), call_id=cmd.call_id, number=cmd.number, reason=reason))
            return
        assert call is not None
        call.callback_number = cmd.number
        ctx.callbacks[cmd.number] = call.id
        # The caller has hung up on purpose: no waiting limit or announcement applies to a ticket.
        self._queueing.drop_wait_timers(call)
        ctx.counters.callbacks_registered += 1
        ctx.out.append(A.AcceptCallback(call.id, cmd.number))
        ctx.emit(
            E.CallbackRegistered(
                at=ctx.wall(), call_id=call.id, queue_id=call.queue.cfg.id, number=cmd.number,
                position=self._queueing.position(call),
            )
        )

    def on_cancelled(self, cmd: C.CallbackCancelled) -> None:
        self._dispatch.leave(cmd.call_id, "callback_cancelled", callback=True)
