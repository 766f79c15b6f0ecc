"""The two CRC-16s of the card path.

- `fcs16`: the HDLC frame check sequence of Q.921 / ISO 13239 §4.2 (CRC-16/X-25: polynomial x^16+x^12+x^5+1,
  reflected, preset 0xFFFF, ones' complement), sent low byte first. D-channel frames cross the HAL with it.
- `crc_ccitt`: CRC-16/CCITT-FALSE (same polynomial, not reflected, preset 0xFFFF), the check of the serial
  control protocol (PROTOCOL.md); the standard library computes it (`binascii.crc_hqx`).
"""

from __future__ import annotations

import binascii


def _table() -> tuple[int, ...]:
    rows = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        rows.append(crc)
    return tuple(rows)


_FCS_TABLE = _table()


def fcs16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _FCS_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def add_fcs(frame: bytes) -> bytes:
    """The frame with its FCS appended, low byte first, as an HDLC controller sends it."""
    fcs = fcs16(frame)
    return frame + bytes((fcs & 0xFF, fcs >> 8))


def check_fcs(frame_with_fcs: bytes) -> bytes | None:
    """The frame without its FCS when the FCS is right, else None (the frame is discarded, Q.921 §5.8.4)."""
    if len(frame_with_fcs) < 3:
        return None
    body, fcs = frame_with_fcs[:-2], frame_with_fcs[-2:]
    return body if fcs16(body) == fcs[0] | fcs[1] << 8 else None


def crc_ccitt(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)
