"""Remote answer between the SIP leg provider and call control, without sockets: the provider turns the talk
capability and the NOTIFY's outcome into leg events, and call control picks the ringing agent leg to answer,
tells the desk once, and refuses clearly what it cannot do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from appliance.calls import events as E
from appliance.calls import remote_answer
from appliance.calls.context import CallContext
from appliance.calls.live import LiveCall
from appliance.calls.models import Call, Direction, LegRole, LegState
from appliance.calls.registry import CallRegistry
from appliance.clock import ManualClock
from appliance.errors import Conflict, NotFound
from appliance.events import Event
from appliance.legs import events as leg_events
from appliance.legs.models import CallLeg
from appliance.sip import events as sip_events
from appliance.sip.errors import LocalProtocolError
from appliance.sip.leg_provider import SipLeg, SipLegProvider


@dataclass
class FakeSip:
    asked: list[str] = field(default_factory=list)
    fail: bool = False
    on_event: Any = None

    def remote_answer(self, leg_id: str) -> None:
        if self.fail:
            raise LocalProtocolError(f"leg {leg_id} is not ringing (state connected)")
        self.asked.append(leg_id)


def provider_with_leg() -> tuple[SipLegProvider, SipLeg, FakeSip, list[Event]]:
    sip = FakeSip()
    provider = SipLegProvider(cast(Any, sip), cast(Any, None), cast(Any, None))
    seen: list[Event] = []
    provider.attach(seen.append)
    leg = SipLeg(provider, "leg1", outbound=True)
    provider._legs[leg.leg_id] = leg
    return provider, leg, sip, seen


def test_the_provider_keeps_the_talk_capability_and_reports_refusals() -> None:
    provider, leg, sip, seen = provider_with_leg()
    with pytest.raises(Conflict, match="does not support"):
        leg.answer_remotely()  # nothing said yet: nothing is sent
    provider.on_sip_event(sip_events.LegProgress(leg_id="leg1", status=180, sdp=b"", allow_events=("hold", "talk")))
    provider.on_sip_event(sip_events.LegProgress(leg_id="leg1", status=183, sdp=b""))  # leaves it out: kept
    assert [e.remote_answer for e in seen if isinstance(e, leg_events.LegProgress)] == [True, True]
    leg.answer_remotely()
    assert sip.asked == ["leg1"]
    provider.on_sip_event(sip_events.RemoteAnswerResult(leg_id="leg1", status=200, accepted=True))
    provider.on_sip_event(sip_events.RemoteAnswerResult(leg_id="leg1", status=408, accepted=False))
    provider.on_sip_event(sip_events.RemoteAnswerResult(leg_id="leg1", status=603, accepted=False))
    assert [e.reason for e in seen if isinstance(e, leg_events.LegRemoteAnswerRefused)] == ["no answer", "SIP 603"]
    sip.fail = True  # it stopped ringing meanwhile
    with pytest.raises(Conflict, match="no longer rings"):
        leg.answer_remotely()


def test_a_phone_without_talk_is_not_answerable() -> None:
    provider, leg, _, seen = provider_with_leg()
    provider.on_sip_event(sip_events.LegProgress(leg_id="leg1", status=180, sdp=b"", allow_events=("hold",)))
    assert [e.remote_answer for e in seen if isinstance(e, leg_events.LegProgress)] == [False]
    assert leg.remote_answer is False


@dataclass
class Leg:
    leg_id: str
    remote_answer: bool = False
    asked: int = 0
    kind: str = "sip"
    endpoint_id: str | None = None
    mos: float | None = None

    def answer_remotely(self) -> None:
        self.asked += 1


@dataclass
class Ctx:
    clock: ManualClock = field(default_factory=lambda: ManualClock(now=10.0))
    published: list[Event] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        self.published.append(event)


def a_call(*legs: tuple[str, str, bool]) -> tuple[CallRegistry, LiveCall]:
    call = Call("c1", Direction.INBOUND, "13800000000", "8000", 990.0, "caller", queue="sales")
    for leg_id, agent, answerable in legs:
        call.legs[leg_id] = LegState(cast(CallLeg, Leg(leg_id, answerable)), LegRole.AGENT, agent, 995.0,
                                     agent_id=agent)
    registry = CallRegistry()
    live = LiveCall(call)
    registry.calls[call.id] = live
    return registry, live


def test_call_control_tells_the_desk_once_and_answers_the_agents_ringing_leg() -> None:
    registry, live = a_call(("a1", "1001", True), ("a2", "1002", False))
    ctx = Ctx()
    state = live.call.legs["a1"]
    for _ in range(2):  # a 180 then a 183: one calls.ringing with remote_answer
        remote_answer.progress(cast(CallContext, ctx), live, state,
                               leg_events.LegProgress(leg_id="a1", remote_answer=True))
    remote_answer.progress(cast(CallContext, ctx), live, live.call.legs["a2"], leg_events.LegProgress(leg_id="a2"))
    (ringing,) = ctx.published
    assert isinstance(ringing, E.CallRinging)
    assert (ringing.call_id, ringing.agent, ringing.role, ringing.remote_answer) == ("c1", "1001", "agent", True)
    assert ringing.caller == "13800000000" and ringing.queue == "sales"

    with pytest.raises(Conflict, match="several"):
        remote_answer.answer(registry, ctx.clock, "c1", None)  # two phones ring: say whose
    with pytest.raises(Conflict, match="does not support"):
        remote_answer.answer(registry, ctx.clock, "c1", "1002")
    assert remote_answer.answer(registry, ctx.clock, "c1", "1001") == "1001"
    assert cast(Leg, state.leg).asked == 1
    assert ("remote_answer", "1001") in [(what, detail) for _, what, detail in live.call.timeline]

    state.answered_at = 1001.0  # the phone went off-hook: nothing of 1001's rings any more
    with pytest.raises(Conflict, match="not ringing"):
        remote_answer.answer(registry, ctx.clock, "c1", "1001")
    with pytest.raises(NotFound):
        remote_answer.answer(registry, ctx.clock, "gone", "1001")


def test_a_refusal_is_kept_in_the_timeline() -> None:
    _, live = a_call(("a1", "1001", True))
    ctx = Ctx()
    remote_answer.refused(cast(CallContext, ctx), live, live.call.legs["a1"],
                          leg_events.LegRemoteAnswerRefused(leg_id="a1", reason="SIP 603"))
    assert live.call.timeline[-1][1:] == ("remote_answer_refused", "1001: SIP 603")
