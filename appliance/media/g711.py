"""G.711 A-law and µ-law (ITU-T G.711 §3 and §4, tables 1a/1b and 2a/2b), as numpy look-up tables.

Encoding is one table look-up per sample over the whole 16-bit input range (65,536 entries, indexed by the
sample's two's-complement bit pattern), decoding one look-up over 256 code words. The tables are built once
from the segment rules of the Recommendation (A-law: 13-bit magnitude, 8 segments, even bits inverted with
0x55; µ-law: 14-bit magnitude with a bias of 33, 8 segments, all bits inverted), so a whole 20 ms tick of every
leg is coded with one numpy call. The tables are read-only: no module state can change.

`attenuation_table` gives a 256-byte `bytes.translate` table that scales a coded frame without decoding it;
the jitter buffer uses it for loss concealment on the per-packet path where numpy calls are too costly.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

Law = Literal["alaw", "ulaw"]

PT_PCMU = 0
PT_PCMA = 8

# Code words for digital silence (a zero sample), used to fill frames that carry nothing.
SILENCE_BYTE: dict[str, int] = {"alaw": 0xD5, "ulaw": 0xFF}

_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_ULAW_BIAS = 0x84 >> 2  # 33 in the 14-bit domain
_ULAW_CLIP = 8159


def _all_samples() -> npt.NDArray[np.int32]:
    # index i holds the int16 whose bit pattern is i, so a uint16 view of audio indexes the table directly
    return np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    pcm = _all_samples() >> 3  # A-law codes a 13-bit signal
    negative = pcm < 0
    mask = np.where(negative, 0x55, 0xD5)
    mag = np.where(negative, -pcm - 1, pcm)
    seg = np.searchsorted(_ALAW_SEG_END, mag, side="left")
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, aval) ^ mask
    return _frozen(code.astype(np.uint8))


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    pcm = _all_samples() >> 2  # µ-law codes a 14-bit signal
    negative = pcm < 0
    mask = np.where(negative, 0x7F, 0xFF)
    mag = np.minimum(np.where(negative, -pcm, pcm), _ULAW_CLIP) + _ULAW_BIAS
    seg = np.searchsorted(_ULAW_SEG_END, mag, side="left")
    uval = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, uval) ^ mask
    return _frozen(code.astype(np.uint8))


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return _frozen(np.where(a & 0x80, t, -t).astype(np.int16))


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return _frozen(np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16))


_T = TypeVar("_T", bound=np.generic)


def _frozen(a: npt.NDArray[_T]) -> npt.NDArray[_T]:
    a.setflags(write=False)
    return a


ENCODE: dict[str, npt.NDArray[np.uint8]] = {"alaw": _build_alaw_encode(), "ulaw": _build_ulaw_encode()}
DECODE: dict[str, npt.NDArray[np.int16]] = {"alaw": _build_alaw_decode(), "ulaw": _build_ulaw_decode()}


def law_for_pt(payload_type: int) -> Law:
    if payload_type == PT_PCMA:
        return "alaw"
    if payload_type == PT_PCMU:
        return "ulaw"
    raise ValueError(f"payload type {payload_type} is not G.711")


def encode(samples: npt.NDArray[np.int16], law: Law) -> bytes:
    """Linear 16-bit samples (any shape) to G.711 code words."""
    return ENCODE[law][np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)].tobytes()


def encode_array(samples: npt.NDArray[np.int16], law: Law) -> npt.NDArray[np.uint8]:
    return ENCODE[law][np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)]


def decode(data: bytes, law: Law) -> npt.NDArray[np.int16]:
    """G.711 code words to linear 16-bit samples."""
    return DECODE[law][np.frombuffer(data, dtype=np.uint8)]


def attenuation_table(law: Law, gain: float) -> bytes:
    """A `bytes.translate` table that multiplies every coded sample by `gain`."""
    scaled = np.round(DECODE[law].astype(np.float64) * gain).astype(np.int16)
    return encode(scaled, law)
