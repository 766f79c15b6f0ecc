"""Caller ID receive (FXO) against signals spandsp generated (fixtures/, by make_fixtures.py), and transmit
(FXS) round-trip through our own receiver. The spandsp receiver's check of what we send is in
test_callerid_spandsp.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from drivers.analog.dsp import callerid, fsk
from tests.drivers.analog.signals import at_level, fixture, line, manifest, tilt

MANIFEST = manifest()
FSK_FIXTURES = sorted(name for name, m in MANIFEST.items() if m["kind"] == "fsk")
DTMF_FIXTURES = sorted(name for name, m in MANIFEST.items() if m["kind"] == "dtmf")
LEVELS = (-40.0, -30.0, -20.0, -10.0, 0.0)
TWISTS = (-6.0, 0.0, 6.0)


def expected(name: str) -> callerid.CallerId:
    m = MANIFEST[name]
    return callerid.CallerId(number=m["number"], name=m.get("name"), date=m.get("date"))


@pytest.mark.parametrize(("name", "level", "twist"), list(itertools.product(FSK_FIXTURES, LEVELS, TWISTS)))
def test_fsk_caller_id_from_spandsp_decodes_at_every_level_and_twist_with_20_db_snr(
        name: str, level: float, twist: float) -> None:
    m = MANIFEST[name]
    modem = fsk.MODEMS[m["modem"]]
    x = tilt(fixture(name), modem.mark_hz, modem.space_hz, twist)
    signal = line(at_level(x, level), snr_db=20.0, seed=int(1000 - level * 10 + twist))
    found = callerid.decode_fsk(signal)
    assert len(found) == 1, (name, level, twist, found)
    message, raw = found[0]
    assert message == expected(name)
    assert raw[:-1].hex() == m["message"]  # the bytes spandsp assembled, checksum verified by our receiver


@pytest.mark.parametrize(("name", "level"), list(itertools.product(DTMF_FIXTURES, LEVELS)))
def test_dtmf_caller_id_from_spandsp_decodes_at_every_level_and_twist_with_20_db_snr(name: str, level: float) -> None:
    x = fixture(name)
    signal = line(at_level(x, level), snr_db=20.0, seed=int(-level))
    assert callerid.decode_dtmf(signal) == callerid.CallerId(number=MANIFEST[name]["number"]), (name, level)


def test_noise_alone_and_a_truncated_message_decode_to_nothing() -> None:
    rng = np.random.default_rng(7)
    noise = np.round(rng.normal(0, 3000, 8000 * 3)).astype(np.int16)
    assert callerid.decode_fsk(noise) == []
    assert callerid.decode_dtmf(noise) is None
    whole = fixture("bell202_mdmf")
    assert callerid.decode_fsk(line(whole[: len(whole) * 3 // 4], snr_db=None)) == []


def test_a_corrupted_checksum_is_refused() -> None:
    good = callerid.encode_mdmf(callerid.CallerId(number="123", name="X"))
    bad = good[:-1] + bytes([(good[-1] + 1) & 0xFF])
    assert callerid.parse_message(good) == callerid.CallerId(number="123", name="X")
    assert callerid.parse_message(bad) is None
    assert callerid.decode_fsk(callerid.fsk_signal(bad)) == []


@pytest.mark.parametrize("modem", [fsk.BELL202, fsk.V23], ids=lambda m: m.name)
@pytest.mark.parametrize("cid", [
    callerid.CallerId(number="13800138000", name="张三", date="12061130"),
    callerid.CallerId(date="01010000", number_absent="P", name_absent="P"),
], ids=["number-name-date", "private"])
def test_what_we_send_decodes_in_our_receiver_over_a_line(modem: fsk.FskModem, cid: callerid.CallerId) -> None:
    for encode in (callerid.encode_mdmf, callerid.encode_sdmf):
        message = encode(cid)
        found = callerid.decode_fsk(line(callerid.fsk_signal(message, modem).astype(np.float64), snr_db=20.0))
        assert [raw for _, raw in found] == [message]
        got = found[0][0]
        assert isinstance(got, callerid.CallerId)
        if encode is callerid.encode_mdmf:
            assert got == cid
        else:  # SDMF carries no name
            assert (got.number, got.date, got.number_absent) == (cid.number, cid.date, cid.number_absent)


@pytest.mark.parametrize("mdmf", [True, False])
def test_message_waiting_indication_round_trips(mdmf: bool) -> None:
    for active in (True, False):
        message = callerid.encode_message_waiting(active, mdmf=mdmf)
        found = callerid.decode_fsk(callerid.fsk_signal(message, fsk.BELL202))
        assert [m for m, _ in found] == [callerid.MessageWaiting(active)]


def test_dtmf_caller_id_strings() -> None:
    assert callerid.encode_dtmf(callerid.CallerId(number="02150001234")) == "A02150001234C"
    assert callerid.encode_dtmf(callerid.CallerId(number="1", number_absent=None), start="D") == "D1C"
    assert callerid.encode_dtmf(callerid.CallerId(number_absent="P")) == "D1#"
    assert callerid.decode_dtmf_digits("A123B10C") == callerid.CallerId(number="123")
    assert callerid.decode_dtmf_digits("D3#") == callerid.CallerId(number_absent="O")
    assert callerid.decode_dtmf_digits("A12") is None
    with pytest.raises(callerid.CallerIdError):
        callerid.encode_dtmf(callerid.CallerId(number="12a"))
    digits = callerid.encode_dtmf(callerid.CallerId(number="8675309"))
    assert callerid.decode_dtmf(line(callerid.dtmf_signal(digits, level=-30).astype(np.float64))) == \
        callerid.CallerId(number="8675309")
