"""RFC 4475 torture messages sent over a real UDP socket to a running SipService.

Each message gets the handling the RFC (and the fixture README) asks for, and after each one the server still
answers an OPTIONS: the process keeps serving.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.sip import events as ev
from appliance.sip.parser import parse
from appliance.sip.syntax import read_quoted

from .conftest import FIXTURES, Running, UdpPeer, make_config, options, start_service, udp_peer

TORTURE = FIXTURES / "torture"

# file -> expected final status of the answer; 0: a response, which must be dropped (no answer at all)
EXPECTED: dict[str, int] = {
    # 3.1.1 valid messages (INVITEs come from a trusted address here, so they are processed as calls and
    # the test's call control turns them down with 486; REGISTERs are challenged; wsinv carries a To tag of
    # a dialog we do not have: 481; novelsc names a scheme we do not serve: 416)
    "wsinv": 481, "intmeth": 501, "esc01": 486, "escnull": 401, "esc02": 501, "lwsdisp": 200,
    "longreq": 486, "dblreq": 401, "semiuri": 200, "transports": 200, "mpart01": 405, "unreason": 0,
    "noreason": 0,
    # 3.1.2 invalid messages
    "badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "scalarlg": 0, "quotbal": 400,
    "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400, "escruri": 400, "baddate": 400,
    "regbadct": 400, "badaspec": 400, "baddn": 400, "badvers": 505, "mismatch01": 400, "mismatch02": 400,
    "bigcode": 0,
    # 3.2 transaction layer
    "badbranch": 200,
    # 3.3 application layer
    "insuf": 400, "unkscm": 416, "novelsc": 416, "unksm2": 400, "bext01": 420, "invut": 415,
    "regaut01": 401, "multi01": 400, "mcl01": 400, "bcast": 0, "zeromf": 200, "cparam01": 401,
    "cparam02": 401, "regescrt": 401, "sdp01": 406,
    # 3.4 backward compatibility
    "inv2543": 486,
}


def test_every_fixture_has_an_expectation() -> None:
    files = {p.stem for p in TORTURE.glob("*.dat")}
    assert files == set(EXPECTED)


@pytest.fixture
async def trusted(tmp_path: Path) -> AsyncIterator[Running]:
    run = await start_service(tmp_path, make_config(trusted=True))

    def turn_down(e: object) -> None:
        if isinstance(e, ev.IncomingCall):
            run.service.reject(e.leg_id, 486)

    run.service.on_event = turn_down
    yield run
    await run.service.stop()


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_torture_message(name: str, trusted: Running) -> None:
    peer: UdpPeer = await udp_peer()
    try:
        data = (TORTURE / f"{name}.dat").read_bytes()
        peer.send(data, trusted.udp)
        expected = EXPECTED[name]
        if expected == 0:
            assert await peer.nothing(0.4), f"{name}: a response must be dropped, not answered"
        else:
            resp = await peer.final()
            assert resp.status == expected, f"{name}: got {resp.status} {resp.reason}"
            # the answer belongs to the request: same Call-ID as the message we sent
            call_id = next((ln.split(":", 1)[1].strip() for ln in data.decode("utf-8", "replace").splitlines()
                            if ln.lower().startswith(("call-id:", "i:"))), None)
            if call_id and name != "multi01":
                assert resp.call_id == call_id
            if name == "bext01":
                assert "nothingsupportsthis" in (resp.get("unsupported") or "").lower()
            if name == "dblreq":
                assert await peer.nothing(0.3), "the trailing request in the datagram must be ignored"
        peer.send(options(peer.port), trusted.udp)
        alive = await peer.final()
        assert alive.status == 200
    finally:
        peer.close()


async def test_valid_invites_become_calls(trusted: Running) -> None:
    """The valid INVITEs (including the RFC 2543 one) are accepted as calls, not merely answered."""
    peer = await udp_peer()
    try:
        for name in ("esc01", "longreq", "inv2543"):
            data = (TORTURE / f"{name}.dat").read_bytes()
            peer.send(data, trusted.udp)
            assert (await peer.final()).status == 486
            peer.send(data, trusted.udp)  # a retransmission is absorbed by the transaction: same answer
            assert (await peer.final()).status == 486
        calls = trusted.of(ev.IncomingCall)
        assert len(calls) == 3
        assert {c.call_id for c in calls} == {parse((TORTURE / f"{n}.dat").read_bytes()).call_id
                                              for n in ("esc01", "longreq", "inv2543")}
    finally:
        peer.close()


async def test_answers_to_malformed_requests_are_well_formed(trusted: Running) -> None:
    """A 400 quotes what was wrong in a Warning; even for hostile input it stays a valid header."""
    peer = await udp_peer()
    try:
        # the Request-URI is not a URI, and its text (quote, backslash, non-UTF-8) ends up in the reason
        bad = (b'OPTIONS ab"c\\\xff SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:' + str(peer.port).encode() +
               b';branch=z9hG4bKw\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: w1\r\nCSeq: 1 OPTIONS\r\n'
               b'Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n')
        peer.send(bad, trusted.udp)
        data, _ = await peer.queue.get()
        resp = parse(data)  # strict parse: it must be a valid message
        warning = resp.get("warning") or ""
        assert resp.status == 400 and warning.startswith("399 ") and "not a URI" in warning
        _, end = read_quoted(warning, warning.index('"'))  # one quoted-string, closed at the very end
        assert end == len(warning)
    finally:
        peer.close()
