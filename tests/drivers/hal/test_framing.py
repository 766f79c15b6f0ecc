"""The serial protocol's frames and the bearer datagrams, without a card: CRCs, resynchronisation, limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.hal import bearer
from drivers.hal.crc import add_fcs, check_fcs, crc_ccitt, fcs16
from drivers.hal.framing import Decoder, Frame, MsgType, encode
from drivers.hal.interface import BearerFrames


def test_the_crcs_have_their_catalogued_check_values() -> None:
    assert fcs16(b"123456789") == 0x906E  # CRC-16/X-25 (the HDLC FCS)
    assert crc_ccitt(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE
    framed = add_fcs(b"\x00\x01\x7f")
    assert check_fcs(framed) == b"\x00\x01\x7f"
    assert check_fcs(framed[:-1] + bytes([framed[-1] ^ 1])) is None


def test_a_frame_survives_noise_around_it_and_a_corrupted_one_is_dropped() -> None:
    good = encode(MsgType.ACK, 7, b'{"a":1}')
    bad = bytearray(encode(MsgType.ACK, 8, b"{}"))
    bad[-1] ^= 0xFF
    dec = Decoder()
    frames = dec.feed(b"\x00\xa5noise" + bytes(bad) + good[:5])
    assert frames == []
    assert dec.feed(good[5:] + b"\xa5") == [Frame(MsgType.ACK, 7, b'{"a":1}')]
    assert dec.bad_crc == 1 and dec.skipped > 0
    assert dec.feed(b"\x5a" + encode(MsgType.EVENT, 0, b"")[2:]) == [Frame(MsgType.EVENT, 0, b"")]


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300)), max_size=8),
       st.integers(1, 50))
def test_any_frames_cut_anywhere_come_out_whole_and_in_order(msgs: list[tuple[int, int, bytes]], cut: int) -> None:
    wire = b"".join(encode(t, s, p) for t, s, p in msgs)
    dec = Decoder()
    out: list[Frame] = []
    for i in range(0, len(wire), cut):
        out += dec.feed(wire[i:i + cut])
    assert out == [Frame(t, s, p) for t, s, p in msgs]


@given(st.binary(max_size=2000))
def test_garbage_never_raises_from_the_decoder(data: bytes) -> None:
    Decoder().feed(data)


def test_bearer_datagrams_round_trip_and_reject_what_does_not_fit() -> None:
    frames = BearerFrames("span", 3, 123456, {1: b"\x01" * 160, 17: b"\x02" * 160, 31: b"\x03" * 160})
    assert bearer.unpack(bearer.pack(frames)) == frames
    with pytest.raises(bearer.BearerFormatError):
        bearer.pack(BearerFrames("span", 1, 0, {1: b"\x00" * 159}))
    with pytest.raises(bearer.BearerFormatError):
        bearer.unpack(bearer.pack(frames)[:-1])
