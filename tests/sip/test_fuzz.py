"""Property tests: the parser raises nothing but SipParseError, whatever is done to valid messages."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.sip.errors import SipParseError
from appliance.sip.message import SipMessage, StreamFramer, parse, parse_name_addr, parse_uri, parse_via

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
