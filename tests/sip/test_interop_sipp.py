"""Interop with SIPp: REGISTER with digest (right and wrong password), calls through the B2BUA with BYE from
either side, CANCEL before answer, and a blind REFER transfer. The appliance runs in-process with the
`MiniRouter`; SIPp processes are the phones and the far end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.sip import events as ev
from appliance.sip.models import CallerIdRule, TrunkConfig

from .conftest import Running, make_config, start_service
from .minirouter import MiniRouter
from .sipp import SCENARIOS, free_udp_port, run_sipp, sipp_path, start_sipp

pytestmark = [pytest.mark.interop, pytest.mark.skipif(sipp_path() is None, reason="sipp is not installed")]


@pytest.fixture
async def appliance(tmp_path: Path) -> AsyncIterator[tuple[Running, MiniRouter, int]]:
    uas_port = free_udp_port()
    run = await start_service(tmp_path / "data", make_config(trusted=True))
    router = MiniRouter(run.service, hangup_after=0, forward_uri=f"sip:{{user}}@127.0.0.1:{uas_port}")
    run.service.on_event = router.on_event  # the bus still feeds run.events for the assertions
    yield run, router, uas_port
    router.close()
    await run.service.stop()


def _base(port: int, target: int) -> list[str]:
    return ["-i", "127.0.0.1", "-p", str(port), f"127.0.0.1:{target}"]


async def test_register_with_digest_succeeds_and_wrong_password_fails(
        appliance: tuple[Running, MiniRouter, int], tmp_path: Path) -> None:
    run, _, _ = appliance
    good = await run_sipp(["-sf", str(SCENARIOS / "reg_uac.xml"), "-inf", str(SCENARIOS / "users.csv"),
                           *_base(free_udp_port(), run.udp), "-m", "3", "-r", "3", "-timeout", "20"], tmp_path)
    assert (good.successful, good.failed) == (3, 0), good.output[-2000:]
    assert run.service.core.registrar.lookup("1001", run.service.clock.monotonic())
    bad = await run_sipp(["-sf", str(SCENARIOS / "reg_uac_fail.xml"), "-inf", str(SCENARIOS / "users_bad.csv"),
                          *_base(free_udp_port(), run.udp), "-m", "1", "-timeout", "20"], tmp_path)
    # the scenario itself expects the 403: success means the wrong password was refused
    assert (bad.successful, bad.failed) == (1, 0), bad.output[-2000:]
    assert any(isinstance(e, ev.AuthFailed) and e.username == "1001" for e in run.events)


@pytest.mark.slow
async def test_calls_through_the_b2bua_bye_from_the_caller(
        appliance: tuple[Running, MiniRouter, int], tmp_path: Path) -> None:
    run, router, uas_port = appliance
    uas = start_sipp(["-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-m", "10", "-timeout", "60"], tmp_path)
    await asyncio.sleep(0.5)
    uac = await run_sipp(["-sn", "uac", "-s", "2000", *_base(free_udp_port(), run.udp), "-m", "10", "-r", "5",
                          "-d", "500", "-timeout", "60"], tmp_path)
    far = await uas
    assert (uac.successful, uac.failed) == (10, 0), uac.output[-2000:]
    assert (far.successful, far.failed) == (10, 0), far.output[-2000:]
    ended = [e for e in run.events if isinstance(e, ev.LegEnded)]
    assert len(ended) == 20  # both legs of every call
    assert not router.peers


@pytest.mark.slow
async def test_calls_through_the_b2bua_bye_from_the_callee(
        appliance: tuple[Running, MiniRouter, int], tmp_path: Path) -> None:
    run, _, uas_port = appliance
    uas = start_sipp(["-sf", str(SCENARIOS / "uas_bye.xml"), "-i", "127.0.0.1", "-p", str(uas_port),
                      "-m", "5", "-timeout", "60"], tmp_path)
    await asyncio.sleep(0.5)
    uac = await run_sipp(["-sf", str(SCENARIOS / "uac_remote_bye.xml"), "-s", "2000",
                          *_base(free_udp_port(), run.udp), "-m", "5", "-r", "5", "-timeout", "60"], tmp_path)
    far = await uas
    assert (uac.successful, uac.failed) == (5, 0), uac.output[-2000:]
    assert (far.successful, far.failed) == (5, 0), far.output[-2000:]
    causes = sorted(e.cause for e in run.events if isinstance(e, ev.LegEnded))
    assert causes == ["hangup_local"] * 5 + ["hangup_remote"] * 5


async def test_cancel_before_answer(appliance: tuple[Running, MiniRouter, int], tmp_path: Path) -> None:
    run, _, uas_port = appliance
    uas = start_sipp(["-sf", str(SCENARIOS / "uas_ring_cancel.xml"), "-i", "127.0.0.1", "-p", str(uas_port),
                      "-m", "3", "-timeout", "40"], tmp_path)
    await asyncio.sleep(0.5)
    uac = await run_sipp(["-sf", str(SCENARIOS / "uac_cancel.xml"), "-s", "2000",
                          *_base(free_udp_port(), run.udp), "-m", "3", "-r", "3", "-timeout", "40"], tmp_path)
    far = await uas
    assert (uac.successful, uac.failed) == (3, 0), uac.output[-2000:]
    assert (far.successful, far.failed) == (3, 0), far.output[-2000:]
    causes = sorted(e.cause for e in run.events if isinstance(e, ev.LegEnded))
    assert causes == ["cancelled"] * 3 + ["hangup_local"] * 3


@pytest.mark.slow
async def test_blind_transfer_with_refer(appliance: tuple[Running, MiniRouter, int], tmp_path: Path) -> None:
    run, router, uas_port = appliance
    # the far end takes two calls: the original one and the one to the transfer target
    uas = start_sipp(["-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-m", "2", "-timeout", "60"], tmp_path)
    await asyncio.sleep(0.5)
    uac = await run_sipp(["-sf", str(SCENARIOS / "uac_refer.xml"), "-s", "2000", "-key", "target", "3000",
                          *_base(free_udp_port(), run.udp), "-m", "1", "-timeout", "30"], tmp_path)
    assert (uac.successful, uac.failed) == (1, 0), uac.output[-2000:]
    (t,) = [e for e in run.events if isinstance(e, ev.TransferRequested)]
    assert t.target_user == "3000"
    # call control's part after a transfer: the transferee is now bridged to the new leg
    assert len(router.peers) == 2
    transferee = router.peers[next(iter(router.peers))]
    assert run.service.core.legs[transferee].state.value == "connected"
    for leg_id in list(router.peers):
        run.service.hangup(leg_id)
    far = await uas
    assert (far.successful, far.failed) == (2, 0), far.output[-2000:]


async def test_calls_over_tcp_to_the_test_target(appliance: tuple[Running, MiniRouter, int], tmp_path: Path) -> None:
    run, router, _ = appliance
    uac = await run_sipp(["-sn", "uac", "-s", "9999", "-t", "t1", "-i", "127.0.0.1", "-p", str(free_udp_port()),
                          f"127.0.0.1:{run.service.ports['TCP']}", "-m", "5", "-r", "5", "-d", "300",
                          "-timeout", "30"], tmp_path)
    assert (uac.successful, uac.failed) == (5, 0), uac.output[-2000:]
    calls = [e for e in run.events if isinstance(e, ev.IncomingCall)]
    assert len(calls) == 5 and {c.transport for c in calls} == {"TCP"}
    assert router.answered == 5
    assert sorted(e.cause for e in run.events if isinstance(e, ev.LegEnded)) == ["hangup_remote"] * 5


async def test_dtmf_by_sip_info(appliance: tuple[Running, MiniRouter, int], tmp_path: Path) -> None:
    run, router, _ = appliance
    uac = await run_sipp(["-sf", str(SCENARIOS / "uac_info_dtmf.xml"), "-s", "9999",
                          *_base(free_udp_port(), run.udp), "-m", "2", "-r", "2", "-timeout", "30"], tmp_path)
    assert (uac.successful, uac.failed) == (2, 0), uac.output[-2000:]
    digits = [(e.leg_id, e.digit, e.duration_ms) for e in run.events if isinstance(e, ev.DtmfReceived)]
    per_call: dict[str, list[tuple[str, int]]] = {}
    for leg_id, digit, ms in digits:
        per_call.setdefault(leg_id, []).append((digit, ms))
    assert list(per_call.values()) == [[("4", 160), ("#", 160)]] * 2  # two calls, two digits each, in order
    assert len(router.dtmf) == 4  # call control (here the router) received them too


@pytest.mark.parametrize("password,expected", [("secret1001", (True, 200, None)), ("wrong", (False, 403, 30.0))])
async def test_trunk_registration_to_a_provider(tmp_path: Path, password: str,
                                                expected: tuple[bool, int, float | None]) -> None:
    """The appliance registers to a carrier (SIPp as a registrar that checks the digest with verifyauth);
    with a wrong password the provider's 403 is reported and the next attempt backs off."""
    provider_port = free_udp_port()
    provider = start_sipp(["-sf", str(SCENARIOS / "reg_uas.xml"), "-i", "127.0.0.1", "-p", str(provider_port),
                           "-m", "1", "-timeout", "20"], tmp_path)
    await asyncio.sleep(0.5)
    trunk = TrunkConfig(name="carrier", host="127.0.0.1", port=provider_port, username="1001",
                        password=password, register=True, register_expires=300)
    run = await start_service(tmp_path / "data", make_config(trunks=(trunk,)))
    try:
        far = await provider
        assert (far.successful, far.failed) == (1, 0), far.output[-2000:]
        changes = [e for e in run.events if isinstance(e, ev.TrunkRegistrationChanged)]
        assert [(e.trunk, e.registered, e.status, e.retry_in) for e in changes] == [("carrier", *expected)]
    finally:
        await run.service.stop()


async def test_outbound_call_through_a_trunk_that_challenges(tmp_path: Path) -> None:
    """An outbound leg through a carrier trunk: 401 answered with the trunk's credentials, caller ID
    rewritten by the trunk's rule, answered, then hung up by us."""
    carrier_port = free_udp_port()
    carrier = start_sipp(["-sf", str(SCENARIOS / "uas_auth.xml"), "-i", "127.0.0.1", "-p", str(carrier_port),
                          "-m", "1", "-timeout", "20", "-trace_msg"], tmp_path)
    await asyncio.sleep(0.5)
    trunk = TrunkConfig(name="carrier", host="127.0.0.1", port=carrier_port, username="acct7", password="trunkpw",
                        outbound_caller_id=(CallerIdRule("0", 1, "+8610"),))
    run = await start_service(tmp_path / "data", make_config(trunks=(trunk,)))
    try:
        sdp = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
        leg = run.service.create_leg(callee="13912345678", sdp_offer=sdp, caller="055501", trunk="carrier")
        for _ in range(100):
            if any(isinstance(e, ev.LegAnswered | ev.LegEnded) for e in run.events):
                break
            await asyncio.sleep(0.05)
        answered = [e for e in run.events if isinstance(e, ev.LegAnswered)]
        assert [e.leg_id for e in answered] == [leg.leg_id] and b"PCMA" in answered[0].sdp
        leg.hangup()
        far = await carrier
        assert (far.successful, far.failed) == (1, 0), far.output[-2000:]
        log = next(tmp_path.glob("uas_auth_*_messages.log")).read_text()
        assert "From: <sip:+861055501@" in log  # 055501 → +861055501 by the trunk's rule
        assert 'Authorization: Digest username="acct7"' in log
    finally:
        await run.service.stop()
