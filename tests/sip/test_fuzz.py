"""Property tests: the parser raises nothing but SipParseError, whatever is done to valid messages."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.sip.errors import SipParseError
from appliance.sip.header_values import parse_name_addr, parse_uri, parse_via
from appliance.sip.message import SipMessage
from appliance.sip.parser import StreamFramer, parse

TORTURE = Path(__file__).parent / "fixtures" / "torture"
SEEDS = [p.read_bytes() for p in sorted(TORTURE.glob("*.dat"))]


def _parses(data: bytes) -> bool:
    try:
        parse(data)
    except SipParseError:
        return False
    return True


VALID = [s for s in SEEDS if _parses(s)]
INTERESTING = [b"\r\n", b"\x00", b":", b";", b",", b"<", b">", b'"', b"\\", b" ", b"\t", b"%", b"%0",
               b"@", b"SIP/2.0", b"Content-Length: 99999999999", b"\r\n ", b"\xff\xfe", b"=", b"?"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.integers(0, 4))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == 0 and data:  # flip a byte
            data[pos] = draw(st.integers(0, 255))
        elif op == 1:  # insert something syntactically loaded
            data[pos:pos] = draw(st.sampled_from(INTERESTING))
        elif op == 2 and data:  # delete a run
            n = draw(st.integers(1, 20))
            del data[pos : pos + n]
        elif op == 3:  # truncate
            del data[pos:]
        else:  # duplicate a run (repeated headers, doubled separators)
            n = draw(st.integers(1, 40))
            data[pos:pos] = data[pos : pos + n]
    return bytes(data)


def _exercise(msg: SipMessage) -> None:
    # the accessors the core uses after parsing must fail only with SipParseError too
    msg.vias  # noqa: B018
    msg.cseq  # noqa: B018
    msg.from_  # noqa: B018
    msg.to  # noqa: B018
    for c in msg.get_all("contact"):
        parse_name_addr(c)
    if msg.method:
        parse_uri(msg.uri)
    msg.serialize()


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_parser_raises_only_its_own_error(data: bytes) -> None:
    try:
        msg = parse(data)
    except SipParseError:
        return
    with contextlib.suppress(SipParseError):
        _exercise(msg)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse(data)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_header_value_parsers(text: str) -> None:
    for fn in (parse_uri, parse_name_addr, parse_via):
        with contextlib.suppress(SipParseError):
            fn(text)


@settings(max_examples=300, deadline=None)
@given(mutated(), st.lists(st.integers(1, 64), max_size=6))
def test_stream_framer(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer()
    pos = 0
    try:
        for c in [*cuts, len(data)]:
            for m in framer.feed(data[pos : pos + c]):
                with contextlib.suppress(SipParseError):
                    parse(m, stream=True)
            pos += c
    except SipParseError:
        pass


def test_seeds_are_mostly_valid() -> None:
    assert len(VALID) >= 20


def _core_for_fuzz() -> tuple[object, list[BaseException]]:
    import ipaddress

    from appliance.sip.core import SipCore
    from appliance.sip.digest import InMemoryCredentials
    from appliance.sip.models import SipConfig, TrunkConfig
    from appliance.sip.security import SecurityPolicy

    creds = InMemoryCredentials()
    creds.add("1001", "pw", "fuzz")
    trunk = TrunkConfig(name="t", host="127.0.0.1", ip_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    cfg = SipConfig(realm="fuzz", trunks=(trunk,), qualify_interval=0,
                    security=SecurityPolicy(trusted_sources=("127.0.0.1",)))
    core = SipCore(cfg, creds, secret=b"f" * 32)
    core.set_local_address("UDP", "127.0.0.1", 5060)
    bugs: list[BaseException] = []
    core.on_bug = bugs.append
    return core, bugs


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=4))
def test_core_survives_mutated_traffic(messages: list[bytes]) -> None:
    """Whatever reaches the engine (valid, malformed, in any order), nothing escapes `receive` and no
    internal error is hit: the engine answers or drops, and keeps its timers consistent."""
    from appliance.sip.core import SipCore
    from appliance.sip.transaction import Address

    core, bugs = _core_for_fuzz()
    assert isinstance(core, SipCore)
    src = Address("UDP", "127.0.0.1", 5062)
    now = 0.0
    for data in [*messages, *VALID[:3]]:
        now += 0.1
        core.receive(data, src, now)
        core.drain()
    for leg_id in list(core.legs):  # call control answering whatever became a call must work too
        try:
            core.answer(leg_id, b"v=0\r\n", now)
        except Exception as e:  # only the documented local error is acceptable here
            from appliance.sip.errors import LocalProtocolError

            assert isinstance(e, LocalProtocolError), e
    while (dl := core.next_deadline()) is not None and dl < 100.0:
        core.handle_timeout(dl)
        core.drain()
    assert bugs == []
