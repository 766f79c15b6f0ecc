"""Trunk edits while the engine runs (sans-IO): registrations start, stop with an un-REGISTER (Expires: 0,
RFC 3261 §10.2.2) and restart when their settings change; other edits leave them alone."""

from __future__ import annotations

from dataclasses import replace

from appliance.sip import events as ev
from appliance.sip.core import SipCore
from appliance.sip.message import SipMessage
from appliance.sip.models import CallerIdRule, TrunkConfig

from .test_core import CARRIER, make_core, out, respond

TRUNK = TrunkConfig(name="carrier", host=CARRIER.host, port=CARRIER.port, username="acct", password="tpw",
                    register=True, register_expires=120)


def sent(core: SipCore) -> list[SipMessage]:
    return [m for m, _ in out(core)[0]]


def changes(core: SipCore) -> list[tuple[bool, int]]:
    return [(e.registered, e.status) for e in out(core)[1] if isinstance(e, ev.TrunkRegistrationChanged)]


def challenge(core: SipCore, reg: SipMessage, now: float) -> SipMessage:
    text = (f"SIP/2.0 401 Unauthorized\r\nVia: {reg.get_all('via')[0]}\r\nFrom: {reg['from']}\r\n"
            f"To: {reg['to']};tag=p\r\nCall-ID: {reg.call_id}\r\nCSeq: {reg['cseq']}\r\n"
            f'WWW-Authenticate: Digest realm="carrier", nonce="n{now}", algorithm=MD5\r\nContent-Length: 0\r\n\r\n')
    core.receive(text.encode(), CARRIER, now)
    (again,) = sent(core)
    assert again.get("authorization", "").startswith('Digest username="acct"') and again.call_id == reg.call_id
    return again


def registered(core: SipCore, now: float) -> SipMessage:
    """Let the engine register (timer due at `now`), answer the challenge and accept; the last REGISTER."""
    core.handle_timeout(now)
    (reg,) = sent(core)
    assert reg.method == "REGISTER" and reg.get("expires") == "120"
    reg = challenge(core, reg, now + 0.1)
    respond(core, reg, 200, now + 0.2, extra="Expires: 120\r\n")
    assert changes(core) == [(True, 200)]
    return reg


def test_a_trunk_added_while_running_registers_at_once() -> None:
    core = make_core(trunks=())
    core.handle_timeout(0.0)
    assert sent(core) == []
    core.set_trunks((TRUNK,), 5.0)
    registered(core, 5.0)
    assert [t.name for t in core.config.trunks] == ["carrier"]


def test_a_deleted_trunk_is_unregistered_with_expires_0_and_not_refreshed() -> None:
    core = make_core(trunks=(TRUNK,))
    first = registered(core, 0.0)
    core.set_trunks((), 10.0)
    (unreg,) = sent(core)
    assert unreg.method == "REGISTER" and unreg.get("expires") == "0" and unreg.call_id == first.call_id
    assert unreg.cseq[0] > first.cseq[0]
    unreg = challenge(core, unreg, 10.1)  # the carrier asks for credentials again: still Expires: 0
    assert unreg.get("expires") == "0"
    respond(core, unreg, 200, 10.2)
    assert changes(core) == [(False, 200)]
    core.handle_timeout(1000.0)  # no refresh, no retry
    assert sent(core) == [] and core.trunk_regs == {}


def test_a_changed_password_unregisters_the_old_binding_then_registers_afresh() -> None:
    core = make_core(trunks=(TRUNK,))
    first = registered(core, 0.0)
    core.set_trunks((replace(TRUNK, password="new secret"),), 10.0)
    (unreg,) = sent(core)
    assert unreg.get("expires") == "0" and unreg.call_id == first.call_id
    core.handle_timeout(10.0)
    (fresh,) = sent(core)
    assert fresh.get("expires") == "120" and fresh.call_id != first.call_id
    respond(core, unreg, 200, 10.1)
    assert changes(core) == [(False, 200)]
    fresh = challenge(core, fresh, 10.2)
    respond(core, fresh, 200, 10.3, extra="Expires: 120\r\n")
    assert changes(core) == [(True, 200)]


def test_disabling_registration_unregisters_and_other_edits_leave_it_alone() -> None:
    core = make_core(trunks=(TRUNK,))
    first = registered(core, 0.0)
    core.set_trunks((replace(TRUNK, outbound_caller_id=(CallerIdRule("", 0, "+8621"),)),), 10.0)
    assert sent(core) == []
    assert core.trunk_regs["carrier"].trunk.outbound_caller_id == (CallerIdRule("", 0, "+8621"),)
    core.handle_timeout(59.0)
    assert sent(core) == []
    core.handle_timeout(60.3)  # the refresh stays where it was, on the same registration
    (refresh,) = sent(core)
    assert refresh.call_id == first.call_id and refresh.get("expires") == "120"
    core.set_trunks((replace(TRUNK, register=False),), 61.0)
    (unreg,) = sent(core)
    assert unreg.get("expires") == "0"


def test_a_trunk_removed_before_its_first_answer_is_unregistered_and_the_late_200_ignored() -> None:
    core = make_core(trunks=(TRUNK,))
    core.handle_timeout(0.0)
    (reg,) = sent(core)
    core.set_trunks((), 0.5)
    (unreg,) = sent(core)
    assert unreg.get("expires") == "0"
    respond(core, reg, 200, 0.6, extra="Expires: 120\r\n")  # the first REGISTER's answer, overtaken
    assert changes(core) == []
    respond(core, unreg, 200, 0.7)
    assert changes(core) == []  # it never counted as registered
    core.handle_timeout(500.0)
    assert sent(core) == []


def test_a_trunk_removed_before_its_registration_was_sent_sends_nothing() -> None:
    core = make_core(trunks=(TRUNK,))
    core.set_trunks((), 0.0)
    core.handle_timeout(0.0)
    assert sent(core) == [] and core.trunk_regs == {}
