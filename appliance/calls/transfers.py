"""Transfers: blind (from the desk or a phone's REFER) to a queue, agent, extension, IVR flow, access number or
number; attended, where the caller's call adopts the party the agent consulted on another call. The serving
agent is released either way, and the caller's data, recording and CDR travel along. A blind transfer to a
phone that cannot ring leaves the caller with the transferring agent; one whose phone rings but does not answer
sends the caller back to the queue they came from. The CDR keeps the failed attempt either way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.calls import events as E
from appliance.calls.agent_offers import AgentOffers
from appliance.calls.bridging import Bridging
from appliance.calls.context import CallContext
from appliance.calls.ending import CallEnding
from appliance.calls.ivr_calls import CallIvr
from appliance.calls.leg_control import LegControl
from appliance.calls.live import LiveCall
from appliance.calls.messages import Adopt, HandOver
from appliance.calls.models import Call, CallPhase, LegRole, LegState
from appliance.calls.playback import Playback
from appliance.calls.queueing import Queueing
from appliance.legs import events as leg_events
from appliance.legs.causes import Cause
from appliance.legs.models import LegRefused

TARGET_KINDS = ("queue", "agent", "extension", "flow", "did", "external")
REFER_HANG_UP_GRACE_S = 10.0  # a phone that asked for the transfer hangs up itself; after this we do


@dataclass
class Transfers:
    ctx: CallContext
    playback: Playback
    legs: LegControl
    bridging: Bridging
    queueing: Queueing
    ivr: CallIvr
    offers: AgentOffers
    ending: CallEnding

    def resolve_target(self, target: str) -> tuple[str, str]:
        """What a transfer target names: a queue, an agent, an extension, an IVR flow, an access number, or
        else an external number. `queue:x`, `flow:x`, `agent:x` force the kind."""
        store = self.ctx.store
        kind, _, value = target.partition(":")
        if value and kind in TARGET_KINDS:
            return kind, value
        if store.find("queues", target) is not None:
            return "queue", target
        if store.find("ivr_flows", target) is not None:
            return "flow", target
        staff = store.find("staff", target)
        if staff is not None and self.ctx.agents.extension_of(target):
            return "agent", target
        if store.find("extensions", target) is not None:
            return "extension", target
        if store.find("dids", target) is not None:
            return "did", target
        return "external", target

    def record(self, call: Call, kind: str, by: str | None, from_agent: str, to: str) -> None:
        """The CDR's transfer list and the public event say the same."""
        entry: dict[str, Any] = {"at": round(self.ctx.clock.wall(), 3), "kind": kind}
        if by is not None:
            entry["by"] = by
        entry.update({"from": from_agent, "to": to})
        call.transfers.append(entry)
        self.ctx.publish(E.CallTransferred(call_id=call.id, kind=kind, by=by or from_agent, agent=from_agent,
                                           to=to))

    # ---------------------------------------------------------------- blind

    async def transfer(self, live: LiveCall, target: str, by: str, kind: str = "blind",
                       drop_agent_leg: bool = True) -> bool:
        """Send the caller elsewhere; the serving agent is released. Caller data and the CDR travel along.
        After a REFER the phone hangs up its own leg once told the transfer worked (`drop_agent_leg=False`).

        A phone (an agent's or an extension's) is rung before the agent is released. When it cannot ring (not
        registered, refused at once) nothing changes: the caller stays with the transferring agent, the
        transfer is reported failed (False: the phone that asked hears so) and the CDR's transfers and
        timeline say it failed. When it rings but does not answer, the agent has gone already: the caller goes
        back to the queue they came from (`target_missed`)."""
        call = live.call
        where, value = self.resolve_target(target)
        to = f"{where}:{value}"
        rung: str | None = None
        if where in ("agent", "extension"):
            extension = (self.ctx.agents.extension_of(value) or "") if where == "agent" else value
            role = LegRole.AGENT if where == "agent" else LegRole.CALLEE
            try:
                rung = await self.legs.ring(live, role, extension, extension=extension,
                                            agent_id=value if where == "agent" else None)
            except LegRefused as exc:
                self._failed(call, kind, by, to, exc.cause.slug)
                return False
        agent_leg = call.agent_leg
        from_agent = self.offers.release_agent(live)
        self.record(call, kind, by, from_agent, to)
        call.note(self.ctx.clock.wall(), "transfer", f"{kind} {from_agent or by} → {to}")
        if agent_leg is not None:
            if drop_agent_leg:
                await self.legs.drop_leg(live, agent_leg, "transferred")
            else:
                self.ctx.later(live, REFER_HANG_UP_GRACE_S,
                               lambda: self.legs.drop_leg(live, agent_leg, "transferred"))
        call.agent, call.agent_answered_at = "", None
        self.bridging.unbridge(call)
        if rung is not None:
            live.transfer_leg = rung
            call.phase = CallPhase.RINGING
            caller_ep = live.caller_endpoint
            if where == "agent" and caller_ep is not None:  # (ring() plays it for an extension)
                self.ctx.media.play(caller_ep, tone="ringback")  # until the phone answers
        elif where == "queue":
            self.queueing.enter(live, value, vip=call.vip)
        elif where == "flow":
            await self.ivr.start(live, value)
        elif where == "did":
            call.did = value
            decision = self.ctx.router().route(did=value, caller=call.caller, wall=self.ctx.clock.wall())
            if decision.destination.kind == "flow":
                await self.ivr.start(live, decision.destination.target)
            elif decision.destination.kind == "queue":
                self.queueing.enter(live, decision.destination.target, vip=decision.vip)
            else:
                await self.ending.end(live, "system", "transfer_unroutable")
                return False
        else:
            await self.legs.ring_external(live, value)
        return True

    def _failed(self, call: Call, kind: str, by: str, to: str, reason: str) -> None:
        """A transfer that could not even start: the CDR keeps the attempt, the public event says nothing
        moved."""
        call.transfers.append({"at": round(self.ctx.clock.wall(), 3), "kind": kind, "by": by,
                               "from": call.agent, "to": to, "failed": reason})
        call.note(self.ctx.clock.wall(), "transfer_failed", f"{kind} {call.agent or by} → {to}: {reason}")

    async def target_missed(self, live: LiveCall, state: LegState, cause: Cause) -> None:
        """The phone a blind transfer rang did not answer (busy, declined, no answer). The transferring agent
        has gone: the caller goes back to the queue they came from (queued again, with music); a call that came
        through no queue ends as an unanswered call to that phone does."""
        call = live.call
        live.transfer_leg = None
        if call.transfers:
            call.transfers[-1]["failed"] = cause.slug
        call.note(self.ctx.clock.wall(), "transfer_failed", f"{state.party}: {cause.slug}")
        if call.queue and not live.caller_gone:
            self.queueing.enter(live, call.queue, vip=call.vip)
            return
        no_answer = cause in (Cause.NO_ANSWER, Cause.NO_USER_RESPONDING)
        call.disposition = "no_answer" if no_answer else "failed"
        await self.ending.end(live, "system", f"callee_{cause.slug}")

    # ---------------------------------------------------------------- asked by a phone (REFER)

    async def on_refer(self, live: LiveCall, leg_id: str, state: LegState,
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
            registry = self.ctx.registry
            other_id = registry.call_of_leg(event.replaces_leg) or ""
            other = registry.calls.get(other_id)
            if other is None or other_id == call.id:
                state.leg.transfer_progress(Cause.INVALID_CALL_REFERENCE)
                return
            if transferring:  # on the caller's dialog: the consultation call hands its far party over
                self.ctx.post(other_id, HandOver(call.id, event.replaces_leg))
            elif other.call.agent_leg == event.replaces_leg:
                # on the consultation's dialog, naming the agent's leg of the caller's call: the mirror image
                self.ctx.post(call.id, HandOver(other_id, leg_id))
            else:
                state.leg.transfer_progress(Cause.FACILITY_REJECTED)
                return
            state.leg.transfer_progress(None)
            return
        if not transferring:
            state.leg.transfer_progress(Cause.FACILITY_REJECTED)
            return
        target = event.target or ""
        ok = await self.transfer(live, target, by=state.agent_id or state.party, drop_agent_leg=False)
        state.leg.transfer_progress(None if ok else Cause.TEMPORARY_FAILURE)

    # ---------------------------------------------------------------- attended

    async def hand_over(self, live: LiveCall, to_call: str, agent_leg: str) -> None:
        """Attended transfer, consultation side: give our far party (the consulted person) to `to_call` and
        end this call; the transferring agent's legs go away."""
        call = live.call
        party = next((leg_id for leg_id, st in call.legs.items()
                      if leg_id != agent_leg and st.ended_at is None and st.answered_at is not None), None)
        if party is None:
            return
        state = call.legs.pop(party)
        self.bridging.unbridge(call)
        if state.endpoint_id is not None:
            self.ctx.registry.map_endpoint(state.endpoint_id, to_call)
        self.ctx.registry.map_leg(party, to_call)
        call.note(self.ctx.clock.wall(), "handed_over", f"{state.party} → {to_call}")
        self.ctx.post(to_call, Adopt(party, state))
        await self.ending.end(live, "system", "attended_transfer")

    async def adopt(self, live: LiveCall, leg_id: str, state: LegState) -> None:
        """Attended transfer, caller side: the consulted party becomes the one the caller talks to."""
        call = live.call
        from_agent = self.offers.release_agent(live)
        old = next((lid for lid, st in call.legs.items() if st.role == LegRole.AGENT and st.ended_at is None),
                   None)
        if old is not None:  # the transferring agent's leg is still up
            await self.legs.drop_leg(live, old, "transferred")
        call.legs[leg_id] = state
        self.record(call, "attended", None, from_agent, state.agent_id or state.party)
        self.playback.stop_playing(live)
        self.bridging.unbridge(call)
        self.bridging.hold_changed(live, False)  # a phone's hold (re-INVITE) is still open: count it in the CDR
        new_agent = state.agent_id or self.ctx.agents.agent_at(state.party)
        state.role = LegRole.AGENT if new_agent else LegRole.CALLEE
        if new_agent:
            state.agent_id = new_agent
            self.offers.agent_joined(live, new_agent, leg_id)
        await self.bridging.connect(live, leg_id, state)
