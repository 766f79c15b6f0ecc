"""Hypothesis against the LAPD and Q.931 decoders and state machines: they raise only their own errors, a
link that receives garbage stays up, and what we encode decodes to itself."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.e1 import q921, q931
from drivers.e1.pri import PriStack
from drivers.e1.q931_codec import (
    MT,
    Bearer,
    CauseIE,
    ChannelId,
    Message,
    Number,
    ProgressIE,
    Q931Error,
    decode,
    encode,
)
from drivers.hal.crc import add_fcs


@given(st.binary(max_size=300))
def test_the_lapd_decoder_raises_only_its_own_error(data: bytes) -> None:
    try:
        frame = q921.decode(data)
    except q921.LapdError:
        return
    assert q921.decode(q921.encode(frame)) == frame


@given(st.binary(max_size=300))
def test_the_q931_decoder_raises_only_its_own_error(data: bytes) -> None:
    try:
        decode(data)
    except Q931Error as exc:
        assert 1 <= exc.cause <= 127


@given(st.binary(max_size=40).map(lambda b: b"\x08\x02" + b))
def test_q931_messages_with_a_plausible_head_raise_only_their_own_error(data: bytes) -> None:
    with contextlib.suppress(Q931Error):
        decode(data)


digits = st.text("0123456789", min_size=1, max_size=20)
numbers = st.builds(Number, digits, type=st.sampled_from([0, 1, 2, 4]), plan=st.sampled_from([0, 1]),
                    presentation=st.none() | st.integers(0, 2), screening=st.none() | st.integers(0, 3))
messages = st.builds(
    Message, st.sampled_from(list(MT)), st.integers(0, 0x7FFF), st.booleans(),
    bearer=st.none() | st.builds(Bearer, st.sampled_from([0x00, 0x10]), st.sampled_from([None, 0x03])),
    channel=st.none() | st.builds(ChannelId, st.sampled_from([None, *q931.B_CHANNELS]), st.booleans()),
    calling=st.none() | numbers, called=st.none() | st.builds(Number, digits, type=st.integers(0, 4)),
    cause=st.none() | st.builds(CauseIE, st.integers(1, 127), st.sampled_from([0, 1, 2, 3, 4, 5, 7])),
    progress=st.none() | st.builds(ProgressIE, st.sampled_from([1, 2, 3, 8]), st.sampled_from([0, 2])),
    call_state=st.none() | st.sampled_from([0, 1, 3, 4, 6, 7, 8, 9, 10, 11, 12, 19, 25]),
    restart_class=st.none() | st.sampled_from([0, 6, 7]), sending_complete=st.booleans())


@given(messages)
def test_what_we_encode_decodes_to_itself(msg: Message) -> None:
    back = decode(encode(msg))
    if msg.channel is not None and msg.channel.channel is None:
        assert back.channel is not None and back.channel.channel is None
        back = Message(**{**{f: getattr(back, f) for f in Message.__dataclass_fields__}, "channel": msg.channel})
    if msg.calling is not None and msg.calling.presentation is None and msg.calling.screening is not None:
        return  # (octet 3a carries both: a screening alone comes back with presentation 0)
    if msg.calling is not None and msg.calling.presentation is not None and msg.calling.screening is None:
        assert back.calling is not None and back.calling.screening == 0
        return
    assert back == msg


def peer_ua(role: q921.Role) -> bytes:
    """The peer's UA: a response, C/R 0 from a network and 1 from a user (Q.921 Table 1)."""
    return add_fcs(q921.encode(q921.Frame(0, 0, 0 if role == "user" else 1, "UA", True)))


@settings(max_examples=300)
@given(st.sampled_from(["user", "network"]), st.lists(st.binary(max_size=60), max_size=20))
def test_a_link_that_receives_garbage_stays_up(role: q921.Role, frames: list[bytes]) -> None:
    stack = PriStack(role)
    stack.start(0.0)
    stack.receive(peer_ua(role), 0.0)
    assert stack.lapd.up
    t = 0.0
    for junk in frames:
        t += 0.01
        # garbage that passes the FCS (the worst case: a bad peer, not line noise) and garbage that does not
        if len(junk) >= 3 and junk[0] & 1 == 0 and junk[1] & 1 and junk[2] in (0x6F, 0x7F, 0x43, 0x53, 0x0F, 0x1F):
            continue  # (a well-formed SABME, DISC or DM is a real command to reset or release, not garbage)
        stack.receive(add_fcs(junk), t)
        stack.receive(junk + b"\x00\x00", t)
        stack.feed(stack.q931.receive(junk, t), t)
    stack.take()
    assert stack.lapd.state in (q921.State.ESTABLISHED, q921.State.TIMER_RECOVERY, q921.State.AWAITING_ESTABLISHMENT)
    # and it still carries a call: the garbage cost at most a re-establishment
    if stack.lapd.state == q921.State.AWAITING_ESTABLISHMENT:
        stack.receive(peer_ua(role), t)
    assert stack.lapd.up
