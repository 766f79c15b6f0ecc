"""FXS caller ID: what our ports send to an analog phone, decoded by spandsp's ADSI receiver (ctypes), over a
line with noise and A-law coding."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.analog.dsp import callerid, fsk
from tests.drivers.analog import spandsp
from tests.drivers.analog.signals import line

LIB = spandsp.load()
pytestmark = [pytest.mark.interop, pytest.mark.skipif(LIB is None, reason="libspandsp is not installed")]

CID = callerid.CallerId(number="13800138000", name="ZHANG SAN", date="12061130")


@pytest.mark.parametrize(("modem", "standard"), [(fsk.BELL202, spandsp.CLASS), (fsk.V23, spandsp.CLIP)],
                         ids=["bell202-class", "v23-clip"])
@pytest.mark.parametrize("level", [-30.0, -13.5, -6.0])
def test_our_mdmf_caller_id_decodes_in_spandsp(modem: fsk.FskModem, standard: int, level: float) -> None:
    assert LIB is not None
    message = callerid.encode_mdmf(CID)
    signal = line(callerid.fsk_signal(message, modem, level=level).astype(np.float64), snr_db=30.0)
    got = spandsp.receive_caller_id(LIB, standard, signal)
    assert got == [message[:-1]]  # spandsp hands over type, length and body once the checksum is right
    assert dict(spandsp.fields_of(got[0])) == {0x01: b"12061130", 0x02: b"13800138000", 0x07: b"ZHANG SAN"}


def test_our_sdmf_caller_id_decodes_in_spandsp_class() -> None:
    assert LIB is not None
    message = callerid.encode_sdmf(CID)
    got = spandsp.receive_caller_id(LIB, spandsp.CLASS, line(callerid.fsk_signal(message).astype(np.float64)))
    assert got == [message[:-1]]
    assert got[0][2:] == b"1206113013800138000"


def test_our_message_waiting_decodes_in_spandsp() -> None:
    assert LIB is not None
    message = callerid.encode_message_waiting(True)
    got = spandsp.receive_caller_id(LIB, spandsp.CLASS, line(callerid.fsk_signal(message).astype(np.float64)))
    assert got == [message[:-1]]
    assert spandsp.fields_of(got[0]) == [(0x0B, b"\xff")]


def test_our_dtmf_caller_id_decodes_in_spandsp() -> None:
    assert LIB is not None
    digits = callerid.encode_dtmf(CID)
    signal = line(callerid.dtmf_signal(digits, level=-12.0).astype(np.float64), snr_db=30.0)
    got = spandsp.receive_caller_id(LIB, spandsp.CLIP_DTMF, signal)
    assert got == [b"A13800138000C"]
