"""Remote answer (the BroadSoft talk event) in the sans-IO core: the phone's Allow-Events in its 18x, the
NOTIFY we send inside the early dialog, and what its answer (or silence) is reported as."""

from __future__ import annotations

import pytest

from appliance.sip import events as ev
from appliance.sip.core import SipCore
from appliance.sip.errors import LocalProtocolError
from appliance.sip.message import SipMessage
from appliance.sip.parser import parse
from appliance.sip.talk import allowed_events
from appliance.sip.transaction import Address
from tests.sip.test_core import PHONE, SDP, make_core, out, register


def _ring(core: SipCore, invite: SipMessage, status: int, now: float, *, tag: str = "ph1",
          allow_events: str | None = "talk, hold, conference", header: str = "Allow-Events") -> None:
    extra = f"{header}: {allow_events}\r\n" if allow_events is not None else ""
    text = (f"SIP/2.0 {status} Ringing\r\nVia: {invite.get_all('via')[0]}\r\nFrom: {invite['from']}\r\n"
            f"To: {invite['to']};tag={tag}\r\nCall-ID: {invite.call_id}\r\nCSeq: {invite['cseq']}\r\n"
            f"Contact: <sip:1001@192.168.1.50:40000>\r\n{extra}Content-Length: 0\r\n\r\n")
    core.receive(text.encode(), PHONE, now)


def _answer(core: SipCore, request: SipMessage, status: int, now: float) -> None:
    text = (f"SIP/2.0 {status} X\r\nVia: {request.get_all('via')[0]}\r\nFrom: {request['from']}\r\n"
            f"To: {request['to']}\r\nCall-ID: {request.call_id}\r\nCSeq: {request['cseq']}\r\n"
            f"Content-Length: 0\r\n\r\n")
    core.receive(text.encode(), PHONE, now)


def _ringing_leg(allow_events: str | None = "talk, hold, conference",
                 header: str = "Allow-Events") -> tuple[SipCore, str, SipMessage, list[object]]:
    core = make_core()
    register(core, "1001", "pw1001", 0.0)
    leg = core.create_leg(1.0, callee="1001", sdp_offer=SDP, caller="0105551234", extension="1001")
    (invite, _), = out(core)[0]
    _ring(core, invite, 180, 1.1, allow_events=allow_events, header=header)
    return core, leg, invite, out(core)[1]


def test_allow_events_are_case_insensitive_tokens_over_every_header() -> None:
    msg = parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
                b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nAllow-Events: TALK , Hold\r\n"
                b"u: conference;x=1, dialog\r\nContent-Length: 0\r\n\r\n")
    assert allowed_events(msg) == {"talk", "hold", "conference", "dialog"}
    assert allowed_events(parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
                                b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\n"
                                b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")) == frozenset()
    # "talking" or "x-talk" are other packages, not talk
    assert "talk" not in allowed_events(parse(
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nAllow-Events: talking, x-talk\r\n"
        b"Content-Length: 0\r\n\r\n"))


def test_the_leg_remembers_talk_and_the_notify_goes_in_the_early_dialog() -> None:
    core, leg, invite, events = _ringing_leg("Talk, Hold, Conference", header="ALLOW-EVENTS")
    (progress,) = [e for e in events if isinstance(e, ev.LegProgress)]
    assert "talk" in progress.allow_events and "hold" in progress.allow_events
    assert core.leg_info(leg).peer_events >= {"talk", "hold", "conference"}

    core.remote_answer(leg, 2.0)
    (notify, dest), = out(core)[0]
    assert dest == PHONE
    assert notify.method == "NOTIFY" and notify.uri == "sip:1001@192.168.1.50:40000"  # the 180's Contact
    assert notify.call_id == invite.call_id
    assert notify.from_.tag == invite.from_.tag and notify.from_.tag
    assert notify.to.tag == "ph1"  # the early dialog's remote tag, from the 180
    assert notify.cseq == (invite.cseq[0] + 1, "NOTIFY")
    assert notify["event"] == "talk" and notify["subscription-state"] == "active"
    assert notify.body == b"" and notify.get("content-type") is None and notify["content-length"] == "0"
    assert notify.get("contact") is not None

    _answer(core, notify, 200, 2.05)
    (result,) = [e for e in out(core)[1] if isinstance(e, ev.RemoteAnswerResult)]
    assert result.leg_id == leg and result.accepted and result.status == 200
    # the phone then goes off-hook: its 200 OK to the INVITE is an ordinary answer
    text = (f"SIP/2.0 200 OK\r\nVia: {invite.get_all('via')[0]}\r\nFrom: {invite['from']}\r\n"
            f"To: {invite['to']};tag=ph1\r\nCall-ID: {invite.call_id}\r\nCSeq: {invite['cseq']}\r\n"
            f"Contact: <sip:1001@192.168.1.50:40000>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(SDP)}\r\n\r\n").encode() + SDP
    core.receive(text, PHONE, 2.3)
    packets, events = out(core)
    assert [m.method for m, _ in packets] == ["ACK"]
    assert [e.leg_id for e in events if isinstance(e, ev.LegAnswered)] == [leg]


def test_a_refusal_is_reported_and_the_leg_keeps_ringing() -> None:
    core, leg, _, _ = _ringing_leg()
    core.remote_answer(leg, 2.0)
    (notify, _), = out(core)[0]
    core.remote_answer(leg, 2.01)  # a second click while the first waits: nothing more is sent
    assert out(core)[0] == []
    _answer(core, notify, 489, 2.1)  # Bad Event: the phone would not
    (result,) = [e for e in out(core)[1] if isinstance(e, ev.RemoteAnswerResult)]
    assert not result.accepted and result.status == 489
    assert core.leg_info(leg).state.value == "out_early"
    core.remote_answer(leg, 3.0)  # may be tried again
    (again, _), = out(core)[0]
    assert again.method == "NOTIFY" and again.cseq[0] == notify.cseq[0] + 1


def test_a_phone_that_never_answers_the_notify_is_a_timeout() -> None:
    core, leg, _, _ = _ringing_leg()
    core.remote_answer(leg, 2.0)
    out(core)
    results: list[ev.RemoteAnswerResult] = []
    t = 2.0
    while t < 40.0 and not results:
        deadline = core.next_deadline()
        assert deadline is not None
        t = deadline
        core.handle_timeout(t)
        results += [e for e in out(core)[1] if isinstance(e, ev.RemoteAnswerResult)]
    (result,) = results
    assert not result.accepted and result.status == 408
    assert t == pytest.approx(2.0 + 32.0)  # Timer F = 64*T1
    assert core.leg_info(leg).talk_tx is None


def test_no_talk_no_dialog_or_not_ringing_is_refused_before_sending() -> None:
    core, leg, _, _ = _ringing_leg(allow_events="hold, conference")
    with pytest.raises(LocalProtocolError, match="remote answer"):
        core.remote_answer(leg, 2.0)
    core2, leg2, _, _ = _ringing_leg(allow_events=None)
    with pytest.raises(LocalProtocolError):
        core2.remote_answer(leg2, 2.0)
    # an INVITE with no 18x yet has no early dialog to send in
    core3 = make_core()
    register(core3, "1001", "pw1001", 0.0)
    leg3 = core3.create_leg(1.0, callee="1001", sdp_offer=SDP, caller="x", extension="1001")
    out(core3)
    with pytest.raises(LocalProtocolError, match="not ringing"):
        core3.remote_answer(leg3, 1.5)
    assert out(core)[0] == [] and out(core2)[0] == [] and out(core3)[0] == []


def test_a_forked_leg_asks_the_phone_that_offered_talk() -> None:
    core = make_core()
    desk_phone = Address("UDP", "192.168.1.51", 40002)
    register(core, "1001", "pw1001", 0.0)
    register(core, "1001", "pw1001", 0.0, src=desk_phone)
    leg = core.create_leg(1.0, callee="1001", sdp_offer=SDP, caller="x", extension="1001")
    invites = {dest: m for m, dest in out(core)[0]}
    assert set(invites) == {PHONE, desk_phone}
    _ring(core, invites[PHONE], 180, 1.1, tag="soft", allow_events=None)  # a softphone without talk
    text = (f"SIP/2.0 180 Ringing\r\nVia: {invites[desk_phone].get_all('via')[0]}\r\n"
            f"From: {invites[desk_phone]['from']}\r\nTo: {invites[desk_phone]['to']};tag=desk\r\n"
            f"Call-ID: {invites[desk_phone].call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@192.168.1.51:40002>\r\n"
            f"Allow-Events: talk\r\nContent-Length: 0\r\n\r\n")
    core.receive(text.encode(), desk_phone, 1.2)
    progress = [e for e in out(core)[1] if isinstance(e, ev.LegProgress)]
    assert [p.leg_id for p in progress] == [leg, leg] and "talk" in progress[-1].allow_events
    core.remote_answer(leg, 2.0)
    (notify, dest), = out(core)[0]
    assert dest == desk_phone and notify.to.tag == "desk" and notify.call_id == invites[desk_phone].call_id
    assert notify["event"] == "talk"
