"""The serial control protocol's frames (PROTOCOL.md), sans-IO: bytes in, frames out, and back.

    A5 5A | type u8 | seq u8 | length u16 BE | payload (length bytes) | CRC-16/CCITT-FALSE u16 BE

The CRC covers type, seq, length and payload. A decoder that meets a bad CRC, an unknown length or noise
drops one byte and hunts for the next sync word, so a line glitch costs one frame, never the link.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass
from typing import Any

from drivers.hal.crc import crc_ccitt

SYNC = b"\xa5\x5a"
HEADER = struct.Struct(">BBH")
MAX_PAYLOAD = 8192


class MsgType(enum.IntEnum):
    HELLO = 0x01  # -> card: identify yourself          <- HELLO_OK (JSON card info)
    CONFIGURE = 0x02  # -> span configuration (JSON)      <- ACK
    STATUS = 0x03  # -> {"span": n}                     <- STATUS_OK (JSON span status)
    LOOPBACK = 0x04  # -> {"span": n, "mode": ...}       <- ACK
    PORT = 0x05  # -> {"port": n, "command": ...}        <- ACK
    BEARER = 0x06  # -> {"port": udp port of the host}  <- ACK {"port": card's bearer port}
    INJECT = 0x07  # -> emulator only: line conditions   <- ACK
    PORT_CONFIG = 0x08  # -> {"port": n, "impedance", "region"}  <- ACK
    DCH_TX = 0x10  # -> span u8 + HDLC frame with FCS (no answer)
    HELLO_OK = 0x81
    STATUS_OK = 0x83
    DCH_RX = 0x90  # <- span u8 + HDLC frame with FCS (seq 0)
    EVENT = 0xA0  # <- JSON event (seq 0)
    ACK = 0xF0  # <- JSON (may be {})
    NAK = 0xF1  # <- {"error": "..."}


@dataclass(frozen=True, slots=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    def json(self) -> dict[str, Any]:
        data = json.loads(self.payload or b"{}")
        if not isinstance(data, dict):
            raise ValueError("payload is not a JSON object")
        return data


def encode(type_: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    body = HEADER.pack(type_, seq & 0xFF, len(payload)) + payload
    return SYNC + body + crc_ccitt(body).to_bytes(2, "big")


def encode_json(type_: int, seq: int, data: dict[str, Any]) -> bytes:
    return encode(type_, seq, json.dumps(data, separators=(",", ":")).encode())


class Decoder:
    """Feed it bytes as they come; it returns the whole, checked frames and counts what it threw away."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_crc = 0
        self.skipped = 0  # bytes dropped while hunting for sync

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        buf = self._buf
        while True:
            start = buf.find(SYNC)
            if start < 0:
                keep = 1 if buf[-1:] == SYNC[:1] else 0
                self.skipped += len(buf) - keep
                del buf[:len(buf) - keep]
                return out
            if start:
                self.skipped += start
                del buf[:start]
            if len(buf) < 2 + HEADER.size:
                return out
            type_, seq, length = HEADER.unpack_from(buf, 2)
            if length > MAX_PAYLOAD:
                self.skipped += 1
                del buf[:1]
                continue
            end = 2 + HEADER.size + length + 2
            if len(buf) < end:
                return out
            body = bytes(buf[2:end - 2])
            if crc_ccitt(body) != int.from_bytes(buf[end - 2:end], "big"):
                self.bad_crc += 1
                del buf[:1]
                continue
            out.append(Frame(type_, seq, body[HEADER.size:]))
            del buf[:end]
