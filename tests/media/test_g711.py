from __future__ import annotations

import audioop

import numpy as np
import pytest

from appliance.media import g711, rtp
from tests.media.helpers import FIXTURES, read_pcap_udp

ALL_SAMPLES = np.arange(65536, dtype=np.uint16).view(np.int16)


@pytest.mark.parametrize(("law", "ref"), [("alaw", audioop.lin2alaw), ("ulaw", audioop.lin2ulaw)])
def test_encode_matches_audioop_for_every_16bit_input(law: g711.Law, ref: object) -> None:
    ours = g711.encode(ALL_SAMPLES, law)
    theirs = ref(ALL_SAMPLES.tobytes(), 2)  # type: ignore[operator]
    assert len(ours) == 65536
    mismatches = [i for i in range(65536) if ours[i] != theirs[i]]
    assert mismatches == []


@pytest.mark.parametrize(("law", "ref"), [("alaw", audioop.alaw2lin), ("ulaw", audioop.ulaw2lin)])
def test_decode_matches_audioop_for_every_code_word(law: g711.Law, ref: object) -> None:
    codes = bytes(range(256))
    assert g711.decode(codes, law).tobytes() == ref(codes, 2)  # type: ignore[operator]


def test_sipp_g711a_capture_decodes_and_reencodes_bit_exactly() -> None:
    packets = [rtp.parse_rtp(d.payload) for d in read_pcap_udp(FIXTURES / "g711a.pcap")]
    assert len(packets) > 200 and {p.payload_type for p in packets} == {8}
    coded = b"".join(p.payload for p in packets)
    pcm = g711.decode(coded, "alaw")
    assert pcm.tobytes() == audioop.alaw2lin(coded, 2)
    # every A-law code word survives decode -> encode, so the capture comes back byte for byte
    assert g711.encode(pcm, "alaw") == coded
    assert np.abs(pcm).max() > 1000  # it is speech, not silence


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        g711.ENCODE["alaw"][0] = 1


def test_attenuation_table_scales_without_decoding() -> None:
    loud = g711.encode(np.full(160, 10000, dtype=np.int16), "ulaw")
    half = loud.translate(g711.attenuation_table("ulaw", 0.5))
    assert abs(int(g711.decode(half, "ulaw")[0]) - 5000) < 200
