"""Our own Q.931 stacks back to back (user and network, LAPD between them) with injected time: T305, T308,
T310, T313, STATUS ENQUIRY, an unknown call reference, data link failure with T309, and overlap receiving."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.e1 import q921, q931_model
from drivers.e1.pri import PriStack
from drivers.e1.q931_codec import MT, Message, Number, decode, encode
from drivers.hal.crc import add_fcs


@dataclass
class Pair:
    user: PriStack = field(default_factory=lambda: PriStack("user", timers=q931_model.Timers()))
    net: PriStack = field(default_factory=lambda: PriStack("network", timers=q931_model.Timers(), overlap_digits=0))
    now: float = 0.0
    events: dict[str, list[object]] = field(default_factory=lambda: {"user": [], "network": []})
    sent: dict[str, list[str]] = field(default_factory=lambda: {"user": [], "network": []})
    cut: bool = False  # frames are lost both ways

    def __post_init__(self) -> None:
        for stack in (self.user, self.net):
            stack.tap = lambda frame, s, at, who=stack.role: self._tap(who, frame, s)
        self.user.start(0.0)
        self.net.start(0.0)
        self.settle()

    def _tap(self, who: str, frame: bytes, sent: bool) -> None:
        if sent and len(frame) > 4 and frame[2] & 1 == 0:
            self.sent[who].append(MT(decode(frame[4:]).type).name)

    def settle(self) -> None:
        for _ in range(100):
            moved = False
            for a, b in ((self.user, self.net), (self.net, self.user)):
                frames, events = a.take()
                self.events[a.role] += events
                for f in frames:
                    moved = True
                    if not self.cut:
                        b.receive(f, self.now)
            if not moved:
                return

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            deadlines = [d for d in (self.user.next_deadline(), self.net.next_deadline()) if d is not None and d <= end]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            for s in (self.user, self.net):
                d = s.next_deadline()
                if d is not None and d <= self.now:
                    s.handle_timeout(self.now)
            self.settle()
        self.now = end

    def deaf(self, stack: PriStack) -> None:
        """Its Q.931 hears nothing more (its LAPD still acknowledges): a silent peer at layer 3."""
        stack.q931.receive = lambda data, now: []  # type: ignore[method-assign]

    def of(self, who: str, kind: type) -> list[object]:
        return [e for e in self.events[who] if isinstance(e, kind)]


def call_up_to(p: Pair, state: str) -> tuple[int, int]:
    """A call from the network to the user, taken as far as `state`; (network call id, user call id)."""
    cid, out = p.net.q931.setup(p.now, Number("8000"), calling=Number("02150001234"), channel=1)
    p.net.feed(out, p.now)
    p.settle()
    uid = p.of("user", q931_model.IncomingCall)[-1].call  # type: ignore[attr-defined]
    if state in ("proceeding", "connect"):
        p.user.feed(p.user.q931.proceeding(uid, p.now), p.now)
    if state == "connect":
        p.user.feed(p.user.q931.connect(uid, p.now), p.now)
    p.settle()
    return cid, uid


def test_t313_user_connect_without_connect_ack_is_cleared_with_cause_102() -> None:
    p = Pair()
    _cid, uid = call_up_to(p, "proceeding")
    p.deaf(p.net)  # the CONNECT is never answered
    p.user.feed(p.user.q931.connect(uid, p.now), p.now)
    p.settle()
    p.advance(3.9)
    assert not p.of("user", q931_model.Cleared)
    p.advance(0.2)  # T313 = 4 s
    assert p.of("user", q931_model.Cleared) == [q931_model.Cleared(uid, q931_model.RECOVERY_ON_TIMER, True, 1)]
    assert p.sent["user"][-1] == "DISCONNECT"


def test_t310_proceeding_without_alerting_or_connect_is_disconnected() -> None:
    p = Pair()
    uid, out = p.user.q931.setup(p.now, Number("13800138000"), channel=5)
    p.user.feed(out, p.now)
    p.settle()
    nid = p.of("network", q931_model.IncomingCall)[-1].call  # type: ignore[attr-defined]
    p.net.feed(p.net.q931.proceeding(nid, p.now), p.now)
    p.settle()
    assert p.of("user", q931_model.Proceeding) == [q931_model.Proceeding(uid, 5)]
    p.advance(29.9)
    assert not p.of("user", q931_model.Cleared)
    p.advance(0.2)  # T310 = 30 s
    assert p.of("user", q931_model.Cleared)[0].cause == q931_model.RECOVERY_ON_TIMER  # type: ignore[attr-defined]
    assert p.of("network", q931_model.Cleared)[0].cause == q931_model.RECOVERY_ON_TIMER  # type: ignore[attr-defined]
    assert not p.user.q931.busy and not p.net.q931.busy


def test_t305_and_t308_release_when_the_peer_is_silent_and_block_the_channel() -> None:
    p = Pair()
    _cid, uid = call_up_to(p, "connect")
    p.deaf(p.net)  # the network's layer 3 says nothing more
    p.user.feed(p.user.q931.hangup(uid, 16, p.now), p.now)
    p.settle()
    assert p.sent["user"][-1] == "DISCONNECT"
    p.advance(30.1)  # T305: RELEASE
    assert p.sent["user"][-1] == "RELEASE"
    p.advance(4.1)  # T308 once: RELEASE again
    assert p.sent["user"][-2:] == ["RELEASE", "RELEASE"]
    p.advance(4.1)  # T308 twice: the channel is taken out of service until restarted
    assert 1 in p.user.q931.blocked and not p.user.q931.calls
    p.user.feed(p.user.q931.restart(p.now, [1]), p.now)  # (RESTART ACK never comes from a deaf peer)
    p.advance(120.1)  # T316: RESTART once more
    assert p.sent["user"][-2:] == ["RESTART", "RESTART"]
    assert not p.user.q931.blocked  # (restarting the channel brought it back on our side)


def test_status_enquiry_is_answered_with_the_call_state() -> None:
    p = Pair()
    cid, _uid = call_up_to(p, "connect")
    p.net.feed(p.net.q931.status_enquiry(cid, p.now), p.now)
    p.settle()
    status = p.of("network", q931_model.StatusReceived)
    assert status == [q931_model.StatusReceived(cid, q931_model.STATUS_ENQUIRY_RESPONSE, 10)]


def test_a_message_for_an_unknown_call_reference_gets_release_complete_81() -> None:
    p = Pair()
    p.net.feed([q931_model.Send(encode(m := Message(MT.DISCONNECT, 77, False)), m)], p.now)
    p.settle()
    assert p.sent["user"][-1] == "RELEASE_COMPLETE"
    assert not p.user.q931.calls


def test_data_link_failure_clears_calls_not_active_and_t309_the_active_ones() -> None:
    p = Pair()
    call_up_to(p, "connect")
    _, setup = p.net.q931.setup(p.now, Number("8001"), channel=2)
    p.net.feed(setup, p.now)
    p.settle()
    p.cut = True
    p.advance(60)  # T203 polls, N200 tries: the link goes down on both sides
    assert p.of("user", q921.Released)
    cleared = p.of("user", q931_model.Cleared)
    assert [c.channel for c in cleared] == [2]  # type: ignore[attr-defined]
    p.advance(90)  # T309: the active call goes too
    assert sorted(c.channel for c in p.of("user", q931_model.Cleared)) == [1, 2]  # type: ignore[attr-defined]
    p.cut = False
    p.advance(10)
    assert p.user.lapd.up and p.net.lapd.up  # persistent: the link comes back by itself


def test_overlap_receiving_collects_the_number_from_information_messages() -> None:
    p = Pair()
    p.user.q931.overlap_digits = 4
    cid, out = p.net.q931.setup(p.now, Number("80"), channel=3, sending_complete=False)
    p.net.feed(out, p.now)
    p.settle()
    assert not p.of("user", q931_model.IncomingCall) and p.sent["user"][-1] == "SETUP_ACKNOWLEDGE"
    for digit in "01":
        info = Message(MT.INFORMATION, p.net.q931.calls[cid].cref, False, called=Number(digit))
        p.net.feed([q931_model.Send(encode(info), info)], p.now)
        p.settle()
    assert [e.called.digits for e in p.of("user", q931_model.IncomingCall)] == ["8001"]  # type: ignore[attr-defined]
    assert add_fcs(b"\x00\x01\x7f")  # (the FCS helper the stacks use, importable beside them)
