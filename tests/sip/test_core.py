"""The sans-IO core driven directly: bytes and `now` in, bytes and events out, no sockets, no clock."""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import replace

import pytest

from appliance.sip import events as ev
from appliance.sip.core import SipCore
from appliance.sip.digest import DigestClient, InMemoryCredentials
from appliance.sip.errors import LocalProtocolError
from appliance.sip.header_values import parse_name_addr
from appliance.sip.message import SipMessage
from appliance.sip.models import CallerIdRule, SipConfig, TrunkConfig
from appliance.sip.parser import parse
from appliance.sip.registrar import Registrar
from appliance.sip.sdp import parse_sdp
from appliance.sip.security import SecurityPolicy
from appliance.sip.transaction import Address

REALM = "pbx.test"
PHONE = Address("UDP", "192.168.1.50", 40000)
CARRIER = Address("UDP", "203.0.113.10", 5060)
SDP = (b"v=0\r\no=- 1 1 IN IP4 192.168.1.50\r\ns=-\r\nc=IN IP4 192.168.1.50\r\nt=0 0\r\n"
       b"m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
ANSWER = (b"v=0\r\no=- 7 7 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
          b"m=audio 7000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
_n = itertools.count(1)


def make_core(**kw: object) -> SipCore:
    creds = InMemoryCredentials()
    creds.add("1001", "pw1001", REALM)
    creds.add("1002", "pw1002", REALM)
    trunk = TrunkConfig(name="carrier", host=CARRIER.host, port=CARRIER.port, username="acct", password="tpw",
                        ip_networks=(ipaddress.ip_network("203.0.113.0/24"),),
                        inbound_caller_id=(CallerIdRule("0086", 4, "0"),),
                        outbound_caller_id=(CallerIdRule("", 0, "+8610"),))
    cfg = SipConfig(realm=REALM, trunks=(trunk,), qualify_interval=0, auth_algorithms=("MD5", "SHA-256"),
                    security=SecurityPolicy(max_failures=3, block_seconds=60))
    cfg = replace(cfg, **kw)  # type: ignore[arg-type]
    core = SipCore(cfg, creds, Registrar(), secret=b"s" * 32)
    core.set_local_address("UDP", "10.0.0.1", 5060)
    core.start(0.0)
    return core


def out(core: SipCore) -> tuple[list[tuple[SipMessage, Address]], list[object]]:
    packets, events = core.drain()
    return [(parse(d), a) for d, a in packets], list(events)


def req(method: str, uri: str, src: Address, *, to: str, frm: str, call_id: str | None = None, cseq: int = 1,
        headers: list[tuple[str, str]] | None = None, body: bytes = b"", branch: str | None = None) -> bytes:
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {src.host}:{src.port};branch={branch or 'z9hG4bK' + str(next(_n))};rport",
        "Max-Forwards: 70", f"From: {frm}", f"To: {to}", f"Call-ID: {call_id or 'c' + str(next(_n))}",
        f"CSeq: {cseq} {method}",
    ]
    lines += [f"{k}: {v}" for k, v in headers or []]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def register(core: SipCore, user: str, password: str, now: float, contact: str | None = None,
             expires: int = 300, src: Address = PHONE) -> SipMessage:
    call_id = f"reg-{user}-{src.port}"
    contact = contact or f"<sip:{user}@{src.host}:{src.port}>"
    base = dict(to=f"<sip:{user}@{REALM}>", frm=f"<sip:{user}@{REALM}>;tag=r{user}", call_id=call_id)
    first = next(_n)
    core.receive(req("REGISTER", f"sip:{REALM}", src, cseq=first, headers=[("Contact", contact),
                     ("Expires", str(expires))], **base), src, now)
    (challenge, _), = out(core)[0]
    assert challenge.status == 401
    client = DigestClient(user, password)
    auth = client.authorization(DigestClient.pick(challenge.get_all("www-authenticate")) or "", "REGISTER",
                                f"sip:{REALM}")
    core.receive(req("REGISTER", f"sip:{REALM}", src, cseq=first + 1, headers=[
        ("Contact", contact), ("Expires", str(expires)), ("Authorization", auth or "")], **base), src, now)
    (resp, _), = out(core)[0]
    return resp


def test_register_challenge_then_bindings() -> None:
    core = make_core()
    resp = register(core, "1001", "pw1001", 1.0)
    assert resp.status == 200
    assert parse_name_addr(resp["contact"]).params["expires"] == "300"
    via = resp.vias[0]
    assert via.params["rport"] == "40000" and via.params["received"] == "192.168.1.50"
    b = core.registrar.lookup("1001", 2.0)
    assert len(b) == 1 and b[0].source == PHONE
    # a second phone for the same extension: two contacts
    other = Address("UDP", "192.168.1.51", 40002)
    assert register(core, "1001", "pw1001", 3.0, src=other).status == 200
    assert len(core.registrar.lookup("1001", 4.0)) == 2
    # too brief
    assert register(core, "1001", "pw1001", 5.0, expires=10).status == 423
    # '*' removes them all
    assert register(core, "1001", "pw1001", 6.0, contact="*", expires=0).status == 200
    assert core.registrar.lookup("1001", 7.0) == []


def test_registration_expires_and_snapshot_restores() -> None:
    core = make_core()
    register(core, "1002", "pw1002", 0.0, expires=120)
    text = core.registrar.snapshot(20.0)
    fresh = Registrar()
    assert fresh.restore(text, 1000.0, elapsed=50.0) == 1
    (b,) = fresh.lookup("1002", 1000.0)
    assert b.expires_at == pytest.approx(1000.0 + 120 - 20 - 50) and b.source == PHONE
    core.handle_timeout(200.0)
    _, events = out(core)
    assert any(isinstance(e, ev.RegistrationChanged) and e.expires == 0 for e in events)


def test_wrong_password_and_unknown_user_are_indistinguishable_then_blocked() -> None:
    core = make_core()
    a = register(core, "1001", "wrong", 1.0)
    b = register(core, "7777", "pw1001", 1.0, src=Address("UDP", "192.168.1.60", 5060))
    assert a.status == b.status == 403
    assert [k for k, _ in a.headers if k != "via"] == [k for k, _ in b.headers if k != "via"]
    assert a.reason == b.reason and a.body == b.body
    assert register(core, "1001", "wrong", 2.0).status == 403
    assert register(core, "1001", "wrong", 3.0).status == 403  # third failure from PHONE: now blocked
    core.receive(req("OPTIONS", f"sip:{REALM}", PHONE, to=f"<sip:{REALM}>", frm="<sip:x@y>;tag=1"), PHONE, 4.0)
    packets, _ = out(core)
    assert packets == []  # a blocked source is dropped silently
    other = Address("UDP", "192.168.1.61", 5060)
    core.receive(req("OPTIONS", f"sip:{REALM}", other, to=f"<sip:{REALM}>", frm="<sip:x@y>;tag=1"), other, 4.0)
    assert [m.status for m, _ in out(core)[0]] == [200]  # everyone else is still served


def test_guessing_blocks_the_source_and_never_the_extension(caplog: pytest.LogCaptureFixture) -> None:
    core = make_core()
    seen: list[object] = []
    for i in range(3):
        src = Address("UDP", "192.168.9.9", 6000 + i)
        call_id = f"bad{i}"
        base = dict(to=f"<sip:1001@{REALM}>", frm=f"<sip:1001@{REALM}>;tag=x", call_id=call_id)
        core.receive(req("REGISTER", f"sip:{REALM}", src, **base), src, float(i))
        (ch, _), = out(core)[0]
        auth = DigestClient("1001", "bad").authorization(ch.get_all("www-authenticate")[0], "REGISTER", f"sip:{REALM}")
        with caplog.at_level("WARNING"):
            core.receive(req("REGISTER", f"sip:{REALM}", src, cseq=2, headers=[("Authorization", auth or "")],
                             **base), src, float(i))
        packets, events = out(core)
        assert packets[0][0].status == 403
        seen += events
    blocked = [e for e in seen if isinstance(e, ev.AuthBlocked)]
    assert [(e.kind, e.key) for e in blocked] == [("source", "192.168.9.9")]
    # one source is not an attack spread over many: it is blocked, and nothing more is reported
    assert [e for e in seen if isinstance(e, ev.ExtensionUnderAttack)] == []
    assert any("192.168.9.9 blocked" in r.message for r in caplog.records)
    # the phone with the right password, from its own address, keeps its service
    assert register(core, "1001", "pw1001", 5.0, src=Address("UDP", "192.168.1.70", 5060)).status == 200


def test_rate_limit_per_source() -> None:
    core = make_core(security=SecurityPolicy(rate_per_source=5, burst_per_source=5))
    answered = 0
    events: list[object] = []
    for i in range(20):
        core.receive(req("OPTIONS", f"sip:{REALM}", PHONE, to=f"<sip:{REALM}>", frm=f"<sip:x@y>;tag={i}"), PHONE,
                     1.0)
        p, e = out(core)
        answered += len(p)
        events += e
    assert answered == 5
    assert sum(isinstance(e, ev.RateLimited) for e in events) == 1


def inbound_call(core: SipCore, now: float = 0.0, headers: list[tuple[str, str]] | None = None,
                 ) -> tuple[ev.IncomingCall, bytes, str]:
    call_id = f"in{next(_n)}"
    data = req("INVITE", f"sip:0105551234@{REALM}", CARRIER, to=f"<sip:0105551234@{REALM}>",
               frm="\"Carrier\" <sip:008613900000000@203.0.113.10>;tag=cc", call_id=call_id,
               headers=[("Contact", "<sip:gw@203.0.113.10>"), *(headers or [])], body=SDP)
    core.receive(data, CARRIER, now)
    packets, events = out(core)
    assert [m.status for m, _ in packets] == [100]
    (call,) = [e for e in events if isinstance(e, ev.IncomingCall)]
    return call, data, call_id


def test_inbound_call_answer_2xx_retransmission_ack_and_bye() -> None:
    core = make_core()
    call, _, call_id = inbound_call(core)
    assert call.trunk == "carrier" and call.extension is None
    assert call.caller == "013900000000" and call.callee == "0105551234" and call.caller_name == "Carrier"
    core.answer(call.leg_id, ANSWER, 1.0)
    packets, events = out(core)
    ok = packets[0][0]
    assert ok.status == 200 and ok.body == ANSWER and packets[0][1] == CARRIER
    assert any(isinstance(e, ev.LegAnswered) for e in events)
    with pytest.raises(LocalProtocolError):
        core.answer(call.leg_id, ANSWER, 1.1)
    core.handle_timeout(1.5)  # no ACK yet: 2xx retransmitted at T1
    assert [m.status for m, _ in out(core)[0]] == [200]
    to_tag = ok.to.tag
    ack = req("ACK", "sip:appliance@10.0.0.1", CARRIER, to=f"<sip:0105551234@{REALM}>;tag={to_tag}",
              frm="<sip:008613900000000@203.0.113.10>;tag=cc", call_id=call_id)
    core.receive(ack, CARRIER, 1.6)
    core.handle_timeout(10.0)
    assert out(core)[0] == []  # ACK stopped the retransmissions
    bye = req("BYE", "sip:appliance@10.0.0.1", CARRIER, to=f"<sip:0105551234@{REALM}>;tag={to_tag}",
              frm="<sip:008613900000000@203.0.113.10>;tag=cc", call_id=call_id, cseq=2)
    core.receive(bye, CARRIER, 11.0)
    packets, events = out(core)
    assert packets[0][0].status == 200
    assert [(e.cause) for e in events if isinstance(e, ev.LegEnded)] == ["hangup_remote"]


def test_cancel_before_answer() -> None:
    core = make_core()
    call, data, call_id = inbound_call(core)
    core.progress(call.leg_id, None, 0.1, 180)
    (ringing, _), = out(core)[0]
    assert ringing.status == 180
    invite = parse(data)
    cancel = req("CANCEL", invite.uri, CARRIER, to=invite["to"], frm=invite["from"], call_id=call_id,
                 branch=invite.vias[0].branch)
    core.receive(cancel, CARRIER, 0.5)
    packets, events = out(core)
    assert sorted(m.status for m, _ in packets) == [200, 487]
    assert [e.cause for e in events if isinstance(e, ev.LegEnded)] == ["cancelled"]


def connected_inbound(core: SipCore) -> tuple[str, str, str]:
    call, _, call_id = inbound_call(core)
    core.answer(call.leg_id, ANSWER, 0.0)
    (ok, _), = out(core)[0]
    to_tag = ok.to.tag or ""
    core.receive(req("ACK", "sip:appliance@10.0.0.1", CARRIER, to=f"<sip:x@{REALM}>;tag={to_tag}",
                     frm="<sip:y@203.0.113.10>;tag=cc", call_id=call_id), CARRIER, 0.1)
    out(core)
    return call.leg_id, call_id, to_tag


def in_dialog(method: str, call_id: str, to_tag: str, cseq: int, headers: list[tuple[str, str]] | None = None,
              body: bytes = b"", ctype: str | None = None) -> bytes:
    data = req(method, "sip:appliance@10.0.0.1", CARRIER, to=f"<sip:x@{REALM}>;tag={to_tag}",
               frm="<sip:y@203.0.113.10>;tag=cc", call_id=call_id, cseq=cseq, headers=headers, body=body)
    if ctype:
        data = data.replace(b"Content-Type: application/sdp", f"Content-Type: {ctype}".encode())
    return data


def test_hold_unhold_by_us_and_by_the_far_end() -> None:
    core = make_core()
    leg, call_id, to_tag = connected_inbound(core)
    core.hold(leg, 1.0)
    (reinvite, dest), = out(core)[0]
    assert reinvite.method == "INVITE" and dest == CARRIER
    sd = parse_sdp(reinvite.body)
    assert sd.direction == "sendonly" and sd.version > 7
    assert reinvite.get("to", "").endswith("tag=cc") and reinvite.uri == "sip:gw@203.0.113.10"
    resp = (f"SIP/2.0 200 OK\r\nVia: {reinvite.get_all('via')[0]}\r\nFrom: {reinvite['from']}\r\n"
            f"To: {reinvite['to']}\r\nCall-ID: {call_id}\r\nCSeq: {reinvite['cseq']}\r\nContent-Length: 0\r\n\r\n")
    core.receive(resp.encode(), CARRIER, 1.1)
    (ack, _), = out(core)[0]
    assert ack.method == "ACK" and ack.cseq == (reinvite.cseq[0], "ACK")
    # the far end holds us: we answer recvonly from our own description and tell call control
    held = SDP.replace(b"a=sendrecv", b"a=sendonly").replace(b"o=- 1 1", b"o=- 1 2")
    core.receive(in_dialog("INVITE", call_id, to_tag, 5, body=held), CARRIER, 2.0)
    packets, events = out(core)
    ok = next(m for m, _ in packets if m.status == 200)
    assert parse_sdp(ok.body).direction == "recvonly"
    assert [e.direction for e in events if isinstance(e, ev.LegMediaChanged)] == ["sendonly"]


def test_dtmf_info_both_ways() -> None:
    core = make_core()
    leg, call_id, to_tag = connected_inbound(core)
    core.receive(in_dialog("INFO", call_id, to_tag, 3, body=b"Signal=5\r\nDuration=120\r\n",
                           ctype="application/dtmf-relay"), CARRIER, 1.0)
    packets, events = out(core)
    assert packets[0][0].status == 200
    assert [(e.digit, e.duration_ms) for e in events if isinstance(e, ev.DtmfReceived)] == [("5", 120)]
    core.send_dtmf(leg, "#", 2.0)
    (info, _), = out(core)[0]
    assert info.method == "INFO" and info.body == b"Signal=#\r\nDuration=160\r\n"
    with pytest.raises(LocalProtocolError):
        core.send_dtmf(leg, "x", 2.0)


def test_refer_with_notify_sipfrag() -> None:
    core = make_core()
    leg, call_id, to_tag = connected_inbound(core)
    core.receive(in_dialog("REFER", call_id, to_tag, 4, headers=[("Refer-To", "<sip:2001@pbx.test>")]),
                 CARRIER, 1.0)
    packets, events = out(core)
    assert [m.status or m.method for m, _ in packets] == [202, "NOTIFY"]
    assert packets[1][0].body.startswith(b"SIP/2.0 100")
    (t,) = [e for e in events if isinstance(e, ev.TransferRequested)]
    assert t.target_user == "2001" and t.replaces_leg is None
    core.transfer_progress(leg, 200, 2.0)
    (notify, _), = out(core)[0]
    assert notify.body.startswith(b"SIP/2.0 200") and notify["subscription-state"].startswith("terminated")


def test_attended_refer_names_our_other_leg() -> None:
    core = make_core()
    _leg_a, call_a, tag_a = connected_inbound(core)
    leg_b, call_b, tag_b = connected_inbound(core)
    replaces = f"{call_b}%3Bto-tag%3D{tag_b}%3Bfrom-tag%3Dcc"
    core.receive(in_dialog("REFER", call_a, tag_a, 4,
                           headers=[("Refer-To", f"<sip:2001@pbx.test?Replaces={replaces}>")]), CARRIER, 1.0)
    _, events = out(core)
    (t,) = [e for e in events if isinstance(e, ev.TransferRequested)]
    assert t.replaces_leg == leg_b
    # and an INVITE with Replaces for leg_b is reported as replacing it
    core.receive(req("INVITE", f"sip:1@{REALM}", CARRIER, to=f"<sip:1@{REALM}>", frm="<sip:z@203.0.113.10>;tag=zz",
                     headers=[("Replaces", f"{call_b};to-tag={tag_b};from-tag=cc")], body=SDP), CARRIER, 2.0)
    _, events = out(core)
    (c,) = [e for e in events if isinstance(e, ev.IncomingCall)]
    assert c.replaces == leg_b


def answer_challenge(core: SipCore, invite: SipMessage, resp_status: int, now: float) -> SipMessage:
    challenge = (f"SIP/2.0 {resp_status} Auth\r\nVia: {invite.get_all('via')[0]}\r\nFrom: {invite['from']}\r\n"
                 f"To: {invite['to']};tag=prov\r\nCall-ID: {invite.call_id}\r\nCSeq: {invite['cseq']}\r\n"
                 f'Proxy-Authenticate: Digest realm="carrier", nonce="n1", qop="auth", algorithm=MD5\r\n'
                 f"Content-Length: 0\r\n\r\n")
    core.receive(challenge.encode(), CARRIER, now)
    packets, _ = out(core)
    methods = [m.method for m, _ in packets]
    assert methods == ["ACK", "INVITE"]
    return packets[1][0]


def respond(core: SipCore, r: SipMessage, status: int, now: float, tag: str = "far", body: bytes = b"",
            extra: str = "") -> None:
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    text = (f"SIP/2.0 {status} X\r\nVia: {r.get_all('via')[0]}\r\nFrom: {r['from']}\r\nTo: {r['to']};tag={tag}\r\n"
            f"Call-ID: {r.call_id}\r\nCSeq: {r['cseq']}\r\nContact: <sip:far@203.0.113.10>\r\n{extra}{ctype}"
            f"Content-Length: {len(body)}\r\n\r\n")
    core.receive(text.encode() + body, CARRIER, now)


def test_outbound_through_trunk_with_auth_caller_id_and_hangup() -> None:
    core = make_core()
    leg = core.create_leg(0.0, callee="013912345678", sdp_offer=SDP, caller="55501", trunk="carrier")
    (invite, dest), = out(core)[0]
    assert dest == CARRIER and invite.uri == "sip:013912345678@203.0.113.10:5060"
    assert parse_name_addr(invite["from"]).uri.startswith("sip:+861055501@")
    authed = answer_challenge(core, invite, 407, 0.1)
    assert "Digest username=\"acct\"" in (authed.get("proxy-authorization") or "")
    assert authed.cseq[0] == 2 and authed.call_id == invite.call_id
    respond(core, authed, 180, 0.2)
    _, events = out(core)
    assert [e.status for e in events if isinstance(e, ev.LegProgress)] == [180]
    respond(core, authed, 200, 0.3, body=ANSWER)
    packets, events = out(core)
    assert [m.method for m, _ in packets] == ["ACK"] and packets[0][0].uri == "sip:far@203.0.113.10"
    assert [e.sdp for e in events if isinstance(e, ev.LegAnswered)] == [ANSWER]
    core.hangup(leg, 5.0)
    packets, events = out(core)
    assert [m.method for m, _ in packets] == ["BYE"]
    assert [e.cause for e in events if isinstance(e, ev.LegEnded)] == ["hangup_local"]


def test_outbound_to_registered_extension_uses_the_nat_address_and_cancel() -> None:
    core = make_core()
    register(core, "1001", "pw1001", 0.0, contact="<sip:1001@10.9.9.9:5060>")  # private Contact
    leg = core.create_leg(1.0, callee="1001", sdp_offer=SDP, caller="0105551234", extension="1001")
    (invite, dest), = out(core)[0]
    assert dest == PHONE and invite.uri == "sip:1001@10.9.9.9:5060"
    core.hangup(leg, 1.1)  # before any provisional: CANCEL waits for one (§9.1)
    assert out(core)[0] == []
    respond(core, invite, 180, 1.2)
    (cancel, _), = out(core)[0]
    assert cancel.method == "CANCEL" and cancel.vias[0].branch == invite.vias[0].branch
    with pytest.raises(LocalProtocolError):
        core.create_leg(2.0, callee="1002", sdp_offer=SDP, caller="x", extension="1002")


def test_invite_timeout_retransmits_then_ends() -> None:
    core = make_core()
    leg = core.create_leg(0.0, callee="1", sdp_offer=SDP, caller="2", trunk="carrier")
    out(core)
    sent_at: list[float] = []
    t = 0.0
    events: list[object] = []
    while t < 40.0:
        dl = core.next_deadline()
        assert dl is not None
        t = dl
        core.handle_timeout(t)
        packets, evs = out(core)
        events += evs
        if any(m.method == "INVITE" for m, _ in packets):
            sent_at.append(t)
        if any(isinstance(e, ev.LegEnded) for e in evs):
            break
    assert sent_at[:4] == [0.5, 1.5, 3.5, 7.5]  # Timer A doubling
    assert [e.cause for e in events if isinstance(e, ev.LegEnded) and e.leg_id == leg] == ["timeout"]
    assert t == pytest.approx(32.0)  # Timer B = 64*T1


def test_session_timer_tears_down_a_dead_call() -> None:
    core = make_core()
    call, _, call_id = inbound_call(core, headers=[("Session-Expires", "90;refresher=uac"), ("Supported", "timer")])
    core.answer(call.leg_id, ANSWER, 0.0)
    (ok, _), = out(core)[0]
    assert ok["session-expires"] == "90;refresher=uac" and "timer" in ok.option_tags("require")
    core.receive(req("ACK", "sip:appliance@10.0.0.1", CARRIER, to=f"<sip:x@{REALM}>;tag={ok.to.tag}",
                     frm="<sip:y@203.0.113.10>;tag=cc", call_id=call_id), CARRIER, 0.1)
    core.handle_timeout(59.0)
    assert not any(isinstance(e, ev.LegEnded) for e in out(core)[1])
    core.handle_timeout(61.0)  # 90 - min(32, 30) = 60 s without a refresh
    packets, events = out(core)
    assert [m.method for m, _ in packets] == ["BYE"]
    assert [e.cause for e in events if isinstance(e, ev.LegEnded)] == ["session_expired"]


def test_session_interval_too_small_is_422() -> None:
    core = make_core()
    core.receive(req("INVITE", f"sip:1@{REALM}", CARRIER, to=f"<sip:1@{REALM}>", frm="<sip:z@x>;tag=1",
                     headers=[("Session-Expires", "30")], body=SDP), CARRIER, 0.0)
    packets, _ = out(core)
    assert packets[-1][0].status == 422 and packets[-1][0]["min-se"] == "90"


def test_reliable_early_media_with_prack() -> None:
    core = make_core()
    call, _, call_id = inbound_call(core, headers=[("Supported", "100rel, timer")])
    core.progress(call.leg_id, ANSWER, 0.0)
    (p183, _), = out(core)[0]
    assert p183.status == 183 and "100rel" in p183.option_tags("require") and p183["rseq"] == "1"
    core.handle_timeout(0.5)
    assert [m.status for m, _ in out(core)[0]] == [183]  # retransmitted until PRACK
    core.receive(in_dialog("PRACK", call_id, p183.to.tag or "", 2, headers=[("RAck", "1 1 INVITE")]), CARRIER, 0.7)
    assert [m.status for m, _ in out(core)[0]] == [200]
    core.handle_timeout(3.0)
    assert out(core)[0] == []


def test_trunk_registration_refresh_and_backoff() -> None:
    core = make_core()
    core.config = replace(core.config)
    trunk = replace(core.config.trunks[0], register=True, register_expires=120)
    core = make_core(trunks=(trunk,))
    core.handle_timeout(0.0)
    (reg, dest), = out(core)[0]
    assert reg.method == "REGISTER" and dest == CARRIER
    text = (f"SIP/2.0 401 Unauthorized\r\nVia: {reg.get_all('via')[0]}\r\nFrom: {reg['from']}\r\n"
            f"To: {reg['to']};tag=p\r\nCall-ID: {reg.call_id}\r\nCSeq: {reg['cseq']}\r\n"
            f'WWW-Authenticate: Digest realm="carrier", nonce="abc", algorithm=MD5\r\nContent-Length: 0\r\n\r\n')
    core.receive(text.encode(), CARRIER, 0.1)
    (reg2, _), = out(core)[0]
    assert reg2.get("authorization", "").startswith('Digest username="acct"')
    respond(core, reg2, 200, 0.2, extra="Expires: 120\r\n")
    _, events = out(core)
    assert [e.registered for e in events if isinstance(e, ev.TrunkRegistrationChanged)] == [True]
    core.handle_timeout(59.0)
    assert out(core)[0] == []
    core.handle_timeout(60.3)  # refresh at half the interval
    (reg3, _), = out(core)[0]
    assert reg3.method == "REGISTER"
    respond(core, reg3, 503, 60.4)
    _, events = out(core)
    (down,) = [e for e in events if isinstance(e, ev.TrunkRegistrationChanged)]
    assert not down.registered and down.retry_in == 30.0


def test_unknown_leg_and_illegal_commands_are_local_errors() -> None:
    core = make_core()
    with pytest.raises(LocalProtocolError):
        core.answer("nope", ANSWER, 0.0)
    call, _, _ = inbound_call(core)
    with pytest.raises(LocalProtocolError):
        core.hold(call.leg_id, 0.1)  # not connected yet
    with pytest.raises(LocalProtocolError):
        core.reject(call.leg_id, 200, 0.1)


def test_invite_without_credentials_is_challenged_with_407() -> None:
    core = make_core()
    core.receive(req("INVITE", f"sip:1002@{REALM}", PHONE, to=f"<sip:1002@{REALM}>", frm=f"<sip:1001@{REALM}>;tag=a",
                     body=SDP), PHONE, 0.0)
    (resp, _), = out(core)[0]
    assert resp.status == 407 and len(resp.get_all("proxy-authenticate")) == 2


def test_qualify_marks_unreachable_contacts() -> None:
    core = make_core(qualify_interval=30.0)
    register(core, "1001", "pw1001", 0.0)
    events: list[object] = []
    t = 0.0
    while t < 200.0:
        dl = core.next_deadline()
        assert dl is not None
        t = dl
        core.handle_timeout(t)
        _, evs = out(core)
        events += evs
    reach = [e for e in events if isinstance(e, ev.ContactReachability)]
    assert reach and reach[0].reachable is False and reach[0].extension == "1001"


def two_phones(core: SipCore) -> tuple[Address, Address]:
    a, b = PHONE, Address("UDP", "192.168.1.77", 41000)
    assert register(core, "1001", "pw1001", 0.0, src=a).status == 200
    assert register(core, "1001", "pw1001", 0.0, src=b).status == 200
    return a, b


def test_forking_first_answer_wins_and_the_other_branch_is_cancelled() -> None:
    core = make_core()
    a, b = two_phones(core)
    leg = core.create_leg(1.0, callee="1001", sdp_offer=SDP, caller="0105551234", extension="1001")
    packets, _ = out(core)
    invites = {dest: m for m, dest in packets}
    assert set(invites) == {a, b} and all(m.method == "INVITE" for m in invites.values())
    respond(core, invites[a], 180, 1.1, tag="ta")
    respond(core, invites[b], 180, 1.1, tag="tb")
    _, events = out(core)
    assert [e.leg_id for e in events if isinstance(e, ev.LegProgress)] == [leg, leg]
    respond(core, invites[b], 200, 1.5, tag="tb", body=ANSWER)
    packets, events = out(core)
    sent = sorted((m.method or "", d.host) for m, d in packets)
    assert sent == [("ACK", b.host), ("CANCEL", a.host)]
    assert [(e.leg_id, e.sdp) for e in events if isinstance(e, ev.LegAnswered)] == [(leg, ANSWER)]
    respond(core, invites[a], 487, 1.6, tag="ta")  # the cancelled branch ends quietly
    _, events = out(core)
    assert not any(isinstance(e, ev.LegEnded) for e in events)
    core.hangup(leg, 5.0)
    packets, events = out(core)
    assert [(m.method, d) for m, d in packets] == [("BYE", b)]
    assert [(e.leg_id, e.cause) for e in events if isinstance(e, ev.LegEnded)] == [(leg, "hangup_local")]


def test_forking_reports_the_best_failure_once() -> None:
    core = make_core()
    a, b = two_phones(core)
    leg = core.create_leg(1.0, callee="1001", sdp_offer=SDP, caller="x", extension="1001")
    invites = {dest: m for m, dest in out(core)[0]}
    respond(core, invites[a], 486, 1.2, tag="ta")
    _, events = out(core)
    assert not any(isinstance(e, ev.LegEnded) for e in events)  # the other phone still rings
    respond(core, invites[b], 603, 1.3, tag="tb")
    _, events = out(core)
    assert [(e.leg_id, e.status) for e in events if isinstance(e, ev.LegEnded)] == [(leg, 603)]


def test_hanging_up_a_ringing_fork_cancels_every_branch() -> None:
    core = make_core()
    two_phones(core)
    leg = core.create_leg(1.0, callee="1001", sdp_offer=SDP, caller="x", extension="1001")
    invites = {dest: m for m, dest in out(core)[0]}
    for dest, m in invites.items():
        respond(core, m, 180, 1.1, tag=f"t{dest.port}")
    out(core)
    core.hangup(leg, 2.0)
    packets, events = out(core)
    assert sorted(m.method or "" for m, _ in packets) == ["CANCEL", "CANCEL"]
    assert [(e.leg_id, e.cause) for e in events if isinstance(e, ev.LegEnded)] == [(leg, "hangup_local")]


def test_we_ask_for_a_session_timer_when_the_caller_supports_one() -> None:
    core = make_core()
    call, _, _ = inbound_call(core, headers=[("Supported", "timer")])
    core.answer(call.leg_id, ANSWER, 0.0)
    (ok, _), = out(core)[0]
    assert ok["session-expires"] == "1800;refresher=uac" and "timer" in ok.option_tags("require")


def test_outbound_session_refresh_uses_update_when_allowed() -> None:
    core = make_core()
    leg = core.create_leg(0.0, callee="5", sdp_offer=SDP, caller="6", trunk="carrier")
    (invite, _), = out(core)[0]
    assert invite["session-expires"] == "1800"
    respond(core, invite, 200, 0.1, body=ANSWER,
            extra="Session-Expires: 120;refresher=uac\r\nRequire: timer\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n")
    out(core)
    core.handle_timeout(59.0)
    assert out(core)[0] == []
    core.handle_timeout(60.2)  # we are the refresher: SE/2
    (update, _), = out(core)[0]
    assert update.method == "UPDATE" and update["session-expires"].startswith("120")
    respond(core, update, 200, 60.3, extra="Session-Expires: 120;refresher=uac\r\n")
    _, events = out(core)
    assert not any(isinstance(e, ev.LegEnded) for e in events)
    assert core.leg_info(leg).state.value == "connected"


def test_sending_refer_blind_and_attended_and_hearing_the_outcome() -> None:
    core = make_core()
    leg_a, call_a, tag_a = connected_inbound(core)
    leg_b, call_b, tag_b = connected_inbound(core)
    core.refer(leg_a, "sip:2001@pbx.test", 1.0)
    (refer, dest), = out(core)[0]
    assert refer.method == "REFER" and dest == CARRIER and refer["refer-to"] == "<sip:2001@pbx.test>"
    respond(core, refer, 202, 1.1, tag="cc")
    notify = in_dialog("NOTIFY", call_a, tag_a, 9, headers=[("Event", "refer"),
                       ("Subscription-State", "terminated")], body=b"SIP/2.0 200 OK\r\n", ctype="message/sipfrag")
    core.receive(notify, CARRIER, 1.5)
    packets, events = out(core)
    assert [m.status for m, _ in packets] == [200]
    assert [(e.leg_id, e.status) for e in events if isinstance(e, ev.TransferProgress)] == [(leg_a, 200)]
    # attended: the far end of leg_a is asked to replace leg_b's dialog (tags as leg_b's far end sees them)
    core.refer(leg_a, "sip:far@203.0.113.10", 2.0, replaces_leg=leg_b)
    (refer2, _), = out(core)[0]
    target = parse_name_addr(refer2["refer-to"]).uri
    assert target.startswith("sip:far@203.0.113.10?Replaces=")
    assert f"{call_b}%3Bto-tag%3Dcc%3Bfrom-tag%3D{tag_b}" in target
    # a refusal is reported too
    respond(core, refer2, 603, 2.1, tag="cc")
    _, events = out(core)
    assert [(e.leg_id, e.status) for e in events if isinstance(e, ev.TransferProgress)] == [(leg_a, 603)]


def test_transport_failure_ends_an_outbound_leg_as_503() -> None:
    core = make_core()
    core.set_local_address("TCP", "10.0.0.1", 5060)
    leg = core.create_leg(0.0, callee="x", sdp_offer=SDP, caller="y", uri="sip:x@198.51.100.7:5080;transport=tcp")
    (invite, dest), = out(core)[0]
    assert dest == Address("TCP", "198.51.100.7", 5080) and invite.vias[0].transport == "TCP"
    core.transport_error(dest, 0.5)  # the shell could not connect
    _, events = out(core)
    assert [(e.leg_id, e.cause, e.status) for e in events if isinstance(e, ev.LegEnded)] == \
        [(leg, "transport_error", 503)]


def test_bye_on_an_early_dialog_ends_the_invite_with_487() -> None:
    core = make_core()
    call, _, call_id = inbound_call(core)
    core.progress(call.leg_id, ANSWER, 0.1)
    (p183, _), = out(core)[0]
    core.receive(in_dialog("BYE", call_id, p183.to.tag or "", 2), CARRIER, 0.5)
    packets, events = out(core)
    assert sorted((m.status, m.cseq[1]) for m, _ in packets) == [(200, "BYE"), (487, "INVITE")]
    assert [(e.cause, e.status) for e in events if isinstance(e, ev.LegEnded)] == [("cancelled", 487)]


def test_forgotten_calls_are_freed_without_the_cyclic_collector() -> None:
    """Once the core forgets an ended leg, reference counting alone frees it: no cycle through its
    transactions keeps a call's messages alive until a full garbage collection."""
    import gc
    import weakref

    core = make_core()
    register(core, "1001", "pw1001", 0.0, contact="<sip:1001@10.9.9.9:5060>")
    out_id = core.create_leg(1.0, callee="1001", sdp_offer=SDP, caller="0105551234", extension="1001")
    (invite, _), = out(core)[0]
    respond(core, invite, 200, 1.2, body=ANSWER)
    out(core)
    in_id, call_id, to_tag = connected_inbound(core)
    refs = [weakref.ref(core.legs[out_id]), weakref.ref(core.legs[in_id])]
    core.hangup(out_id, 2.0)
    (bye, _), = out(core)[0]
    respond(core, bye, 200, 2.1)
    core.receive(in_dialog("BYE", call_id, to_tag, 2), CARRIER, 2.2)
    out(core)
    gc.disable()
    try:
        core.handle_timeout(100.0)  # past the 32 s ended dialogs are kept, and every transaction timer
        out(core)
        assert out_id not in core.legs and in_id not in core.legs
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()
