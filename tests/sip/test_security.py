"""The SIP front door's limits in the sans-IO core: source blocks with back-off, spread attacks on one extension,
lifting and expiry, the thresholds' validation, the per-source bounds on transactions and calls, and the parser's
limits on header fields and bodies, each answered as `docs/DECISIONS.md` says."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.errors import ValidationFailed
from appliance.sip import events as ev
from appliance.sip.core import RETRY_AFTER, SipCore
from appliance.sip.digest import DigestClient
from appliance.sip.parser import MAX_BODY, MAX_HEADER_FIELD, MAX_HEADERS, parse
from appliance.sip.security import Guard, SecurityPolicy
from appliance.sip.transaction import Address
from tests.sip.test_core import CARRIER, REALM, SDP, make_core, out, register, req


def wrong_register(core: SipCore, src: Address, user: str, now: float) -> tuple[int | None, list[object]]:
    """A REGISTER answered with a wrong password: the final status (None when dropped) and the events."""
    base: dict[str, Any] = dict(to=f"<sip:{user}@{REALM}>", frm=f"<sip:{user}@{REALM}>;tag=w",
                                call_id=f"w{src.host}{now}")
    core.receive(req("REGISTER", f"sip:{REALM}", src, **base), src, now)
    packets, events = out(core)
    if not packets:
        return None, events
    (challenge, _), = packets
    auth = DigestClient(user, "wrong").authorization(challenge.get_all("www-authenticate")[0], "REGISTER",
                                                     f"sip:{REALM}")
    core.receive(req("REGISTER", f"sip:{REALM}", src, cseq=2, headers=[("Authorization", auth or "")], **base),
                 src, now)
    packets, more = out(core)
    return (packets[0][0].status if packets else None), events + more


def test_each_block_of_a_source_lasts_twice_the_last_up_to_the_cap() -> None:
    guard = Guard(SecurityPolicy(max_failures=2, block_seconds=10, max_block_seconds=25))
    lengths = []
    now = 0.0
    for _ in range(4):
        assert guard.failure("198.51.100.1", "1001", now).block is None
        block = guard.failure("198.51.100.1", "1001", now).block
        assert block is not None and guard.is_blocked("198.51.100.1", now + block.seconds - 0.1)
        lengths.append(block.seconds)
        now += block.seconds
        assert not guard.is_blocked("198.51.100.1", now)
    assert lengths == [10, 20, 25, 25]
    assert [b.source for b in guard.expired(now)] == ["198.51.100.1"]
    assert guard.expired(now) == []  # reported once


def test_a_spread_attack_is_reported_and_new_sources_are_blocked_at_their_first_failure() -> None:
    core = make_core(security=SecurityPolicy(max_failures=5, spread_sources=5, spread_failures=8))
    assert register(core, "1001", "pw1001", 0.0, src=Address("UDP", "192.168.1.70", 5060)).status == 200
    seen: list[object] = []
    for i in range(8):  # two failures from each of four addresses, then from a fifth
        status, events = wrong_register(core, Address("UDP", f"198.51.100.{i // 2 + 1}", 5060), "1001", 1.0 + i)
        assert status == 403
        seen += events
    # many failures from four addresses are not yet "many sources"; none of them is blocked yet either
    assert not [e for e in seen if isinstance(e, (ev.ExtensionUnderAttack, ev.AuthBlocked))]
    status, events = wrong_register(core, Address("UDP", "198.51.100.5", 5060), "1001", 9.0)
    assert status == 403
    attacks = [e for e in events if isinstance(e, ev.ExtensionUnderAttack)]
    assert [(a.extension, a.failures, len(a.sources)) for a in attacks] == [("1001", 9, 5)]
    blocked = [e for e in events if isinstance(e, ev.AuthBlocked)]
    # the source whose failure revealed the attack is blocked at once, with the reason
    assert [(b.key, b.reason, b.extension) for b in blocked] == [("198.51.100.5", "attack", "1001")]
    # during the attack one failure is all a new address gets
    status, events = wrong_register(core, Address("UDP", "198.51.100.6", 5060), "1001", 10.0)
    assert status == 403 and [e.key for e in events if isinstance(e, ev.AuthBlocked)] == ["198.51.100.6"]
    assert wrong_register(core, Address("UDP", "198.51.100.6", 5060), "1001", 11.0)[0] is None
    # the phone's own address keeps its allowance (a typo is not a block) and its service
    status, events = wrong_register(core, Address("UDP", "192.168.1.70", 5060), "1001", 12.0)
    assert status == 403 and not [e for e in events if isinstance(e, ev.AuthBlocked)]
    assert register(core, "1001", "pw1001", 13.0, src=Address("UDP", "192.168.1.70", 5060)).status == 200
    # and the phone from an address never seen, with the right password, registers too
    assert register(core, "1001", "pw1001", 14.0, src=Address("UDP", "192.168.1.99", 5060)).status == 200


def test_blocks_are_listed_lifted_and_expire_with_an_event() -> None:
    core = make_core(security=SecurityPolicy(max_failures=2, block_seconds=30))
    src = Address("UDP", "198.51.100.7", 5060)
    for t in (1.0, 2.0):
        wrong_register(core, src, "1002", t)
    assert [(b.source, b.failures) for b in core.blocks(3.0)] == [("198.51.100.7", 2)]
    assert core.lift_block("198.51.100.7", 4.0) is not None
    assert [e for e in out(core)[1] if isinstance(e, ev.AuthUnblocked)] == [
        ev.AuthUnblocked(source="198.51.100.7", reason="lifted")]
    assert core.blocks(4.0) == [] and core.lift_block("198.51.100.7", 4.0) is None
    assert wrong_register(core, src, "1002", 5.0)[0] == 403  # heard again, its count started afresh
    assert wrong_register(core, src, "1002", 6.0)[0] == 403  # the second failure: blocked again, 60 s now
    (block,) = core.blocks(7.0)
    assert block.seconds == 60
    core.handle_timeout(block.until + 6.0)  # housekeeping notices the end
    assert [e.reason for e in out(core)[1] if isinstance(e, ev.AuthUnblocked)] == ["expired"]


def test_thresholds_are_validated_and_named() -> None:
    base = SecurityPolicy(trusted_sources=("10.0.0.9",))
    policy = SecurityPolicy.parse({"max_failures": 8, "window": 120}, base)
    assert policy.max_failures == 8 and policy.window == 120.0 and policy.trusted_sources == ("10.0.0.9",)
    with pytest.raises(ValidationFailed) as err:
        SecurityPolicy.parse({"max_failures": 0, "colour": "red", "window": True}, base)
    assert sorted(f.field for f in err.value.errors) == ["colour", "max_failures", "window"]
    with pytest.raises(ValidationFailed):
        SecurityPolicy.parse({"block_seconds": 100, "max_block_seconds": 50})
    assert set(policy.to_dict()) >= {"max_failures", "spread_sources", "max_pending_per_source"}


def invite(src: Address, n: int) -> bytes:
    return req("INVITE", f"sip:8000@{REALM}", src, to=f"<sip:8000@{REALM}>", frm=f"<sip:x@{src.host}>;tag={n}",
               call_id=f"inv{src.host}-{n}", headers=[("Contact", f"<sip:x@{src.host}>")], body=SDP)


def test_one_source_holds_a_bounded_number_of_unanswered_transactions() -> None:
    core = make_core(security=SecurityPolicy(max_pending_per_source=3))
    src, other = Address("UDP", "198.51.100.20", 5060), Address("UDP", "198.51.100.21", 5060)
    for n in range(3):  # unauthenticated INVITEs are challenged at once: nothing stays pending
        core.receive(invite(src, n), src, 1.0)
    assert [m.status for m, _ in out(core)[0]] == [407, 407, 407]
    assert core.tx.pending.get(src.host) is None
    # answered transactions are not what a source holds; unanswered ones are (here: held by hand)
    stxs = [core.tx.new_server(parse(invite(src, 10 + n)), src, 2.0) for n in range(3)]
    core.receive(invite(src, 20), src, 2.0)
    (resp, dest), = out(core)[0]
    assert resp.status == 503 and resp["retry-after"] == str(RETRY_AFTER) and dest == src
    assert core.stats["over_limit"] == 1
    core.receive(invite(other, 21), other, 2.0)  # another source is not affected
    assert [m.status for m, _ in out(core)[0]] == [407]
    core.tx.reply(stxs[0], 486, 3.0)
    out(core)
    assert core.tx.pending[src.host] == 2
    core.receive(invite(src, 22), src, 3.0)
    assert [m.status for m, _ in out(core)[0]] == [407]


def test_one_source_holds_a_bounded_number_of_calls_but_a_trunk_does_not() -> None:
    core = make_core(security=SecurityPolicy(max_dialogs_per_source=2))
    for n in range(4):  # the carrier is an IP-authenticated trunk: all its calls are taken
        core.receive(invite(CARRIER, n), CARRIER, 1.0)
    calls = [e for e in out(core)[1] if isinstance(e, ev.IncomingCall)]
    assert len(calls) == 4
    assert core.ctx.inbound_by_source[CARRIER.host] == 4
    for call in calls:
        core.reject(call.leg_id, 486, 2.0)
    core.handle_timeout(40.0)
    core.handle_timeout(80.0)  # the ended legs are forgotten: the count goes back to nothing
    assert CARRIER.host not in core.ctx.inbound_by_source


def test_a_phone_over_its_call_bound_gets_503() -> None:
    core = make_core(security=SecurityPolicy(max_dialogs_per_source=1))
    phone = Address("UDP", "192.168.1.50", 40000)

    def call(n: int) -> tuple[list[int], list[object]]:
        base: dict[str, Any] = dict(to=f"<sip:1002@{REALM}>", frm=f"<sip:1001@{REALM}>;tag=p{n}",
                                    call_id=f"ph{n}")
        core.receive(req("INVITE", f"sip:1002@{REALM}", phone, headers=[("Contact", "<sip:1001@192.168.1.50>")],
                         body=SDP, **base), phone, 1.0)
        packets, events = out(core)
        if [m.status for m, _ in packets] != [407]:
            return [m.status for m, _ in packets], events
        auth = DigestClient("1001", "pw1001").authorization(packets[0][0].get_all("proxy-authenticate")[0],
                                                            "INVITE", f"sip:1002@{REALM}")
        core.receive(req("INVITE", f"sip:1002@{REALM}", phone, cseq=2, body=SDP, headers=[
            ("Contact", "<sip:1001@192.168.1.50>"), ("Proxy-Authorization", auth or "")], **base), phone, 1.0)
        packets, events = out(core)
        return [m.status for m, _ in packets], events

    statuses, events = call(0)
    assert 100 in statuses and any(isinstance(e, ev.IncomingCall) for e in events)
    # the bound is checked before the challenge: a source over it costs no digest work
    statuses, events = call(1)
    assert statuses == [503] and not any(isinstance(e, ev.IncomingCall) for e in events)


def raw_request(extra: str, body: bytes = b"") -> bytes:
    src = Address("UDP", "198.51.100.30", 5060)
    head = (f"OPTIONS sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP {src.host}:5060;branch=z9hG4bKlim;rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:x@{src.host}>;tag=1\r\nTo: <sip:{REALM}>\r\nCall-ID: lim\r\n"
            f"CSeq: 1 OPTIONS\r\n{extra}")
    if body:
        head += "Content-Type: application/sdp\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize(("extra", "body", "status", "warning"), [
    ("".join(f"X-Filler-{i}: {i}\r\n" for i in range(MAX_HEADERS)), b"", 400, "too many header fields"),
    (f"Subject: {'a' * MAX_HEADER_FIELD}\r\n", b"", 400, "header field Subject longer than"),
    ("", b"v=0\r\n" + b"a=x\r\n" * (MAX_BODY // 5), 413, "body larger than"),
])
def test_hostile_sizes_are_answered_with_the_rule_and_the_core_lives(extra: str, body: bytes, status: int,
                                                                     warning: str) -> None:
    core = make_core(security=SecurityPolicy(rate_per_source=10_000, burst_per_source=10_000))
    src = Address("UDP", "198.51.100.30", 5060)
    bugs: list[BaseException] = []
    core.on_bug = bugs.append
    core.receive(raw_request(extra, body), src, 1.0)
    (resp, dest), = out(core)[0]
    assert resp.status == status and dest == src and warning in (resp.get("warning") or "")
    assert core.stats["bad_requests"] == 1 and bugs == []
    core.receive(raw_request(""), src, 2.0)  # and the next request is served
    assert [m.status for m, _ in out(core)[0]] == [200]


def test_just_under_the_limits_is_served() -> None:
    core = make_core()
    src = Address("UDP", "198.51.100.31", 5060)
    extra = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(MAX_HEADERS - 8)) + f"Subject: {'a' * 4000}\r\n"
    core.receive(raw_request(extra), src, 1.0)
    assert [m.status for m, _ in out(core)[0]] == [200]
