"""Caller ID on analog lines: the messages, their FSK transmission and reception, and DTMF caller ID.

Messages (Telcordia GR-30-CORE §5 / ETSI EN 300 659-3 §5, as YDN 069 adopts them for China):
- SDMF (type 0x04): MMDDHHMM then the number (or "O" / "P": out of area / private), no parameter headers;
- MDMF (type 0x80): parameters (type, length, value) — 0x01 date and time MMDDHHMM, 0x02 number,
  0x04 reason the number is absent, 0x07 name, 0x08 reason the name is absent;
- message waiting: SDMF 0x06 (0x42 x3 on, 0x6F x3 off) and MDMF 0x82 with the visual indicator 0x0B
  (0xFF on, 0x00 off);
- each message is type, length, body, and a checksum making the byte sum 0 mod 256.

On the line (GR-30 §3.2, EN 300 659-2 §5.3): a channel seizure of 300 alternating bits, then 180 mark bits,
then the characters. Names are sent as GB 18030 bytes (ASCII is unchanged by it).

DTMF caller ID (EN 300 659-1 Annex B; the variant Chinese exchanges use before the first ring):
`A<number>C`, or `D<number>C`, optionally `B<information>` before the end; `D1#`/`D2#`/`D3#` report an absent
number. Digits are detected with the media engine's Q.24 detector at caller ID sensitivity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from appliance.media.inband import DetectorSettings, InbandDetector
from drivers.analog.dsp import fsk

SDMF_CALLER_ID = 0x04
MDMF_CALLER_ID = 0x80
SDMF_MESSAGE_WAITING = 0x06
MDMF_MESSAGE_WAITING = 0x82
KNOWN_TYPES = frozenset({SDMF_CALLER_ID, MDMF_CALLER_ID, SDMF_MESSAGE_WAITING, MDMF_MESSAGE_WAITING})
P_DATE, P_NUMBER, P_NUMBER_ABSENT, P_NAME, P_NAME_ABSENT, P_VISUAL_INDICATOR = 0x01, 0x02, 0x04, 0x07, 0x08, 0x0B
SEIZURE_BITS = 300
MARK_BITS = 180
NAME_ENCODING = "gb18030"

# caller ID DTMF is sent quieter and shorter than dialling: lower the floor, allow a wider twist
DTMF_CID_SETTINGS = DetectorSettings(min_level_dbm0=-50.0, max_forward_twist_db=8.0, max_reverse_twist_db=8.0,
                                     min_purity=0.6)


class CallerIdError(ValueError):
    """A caller ID message that cannot be sent (a field too long, digits a phone cannot show)."""


@dataclass(frozen=True, slots=True)
class CallerId:
    number: str | None = None
    name: str | None = None
    date: str | None = None  # MMDDHHMM, the exchange's local time
    number_absent: str | None = None  # "O" out of area / unavailable, "P" private
    name_absent: str | None = None


@dataclass(frozen=True, slots=True)
class MessageWaiting:
    active: bool


Message = CallerId | MessageWaiting


# ---------------------------------------------------------------------------------------------- messages

def _frame(message_type: int, body: bytes) -> bytes:
    if len(body) > 255:
        raise CallerIdError(f"message body of {len(body)} bytes is longer than 255")
    head = bytes([message_type, len(body)]) + body
    return head + bytes([(-sum(head)) & 0xFF])


def encode_sdmf(cid: CallerId) -> bytes:
    """SDMF caller ID: date (MMDDHHMM) then the number, or the reason it is absent."""
    date = (cid.date or "").encode("ascii")
    if date and (len(date) != 8 or not date.isdigit()):
        raise CallerIdError("date must be MMDDHHMM")
    number = (cid.number or cid.number_absent or "O").encode("ascii")
    if len(number) > 20:
        raise CallerIdError("number longer than 20 digits")
    return _frame(SDMF_CALLER_ID, date + number)


def encode_mdmf(cid: CallerId) -> bytes:
    """MDMF caller ID with the fields present in `cid`."""
    body = bytearray()

    def param(kind: int, value: bytes) -> None:
        if len(value) > 255:
            raise CallerIdError(f"parameter 0x{kind:02x} longer than 255 bytes")
        body.extend([kind, len(value)])
        body.extend(value)

    if cid.date:
        if len(cid.date) != 8 or not cid.date.isdigit():
            raise CallerIdError("date must be MMDDHHMM")
        param(P_DATE, cid.date.encode("ascii"))
    if cid.number:
        param(P_NUMBER, cid.number.encode("ascii"))
    elif cid.number_absent:
        param(P_NUMBER_ABSENT, cid.number_absent.encode("ascii"))
    if cid.name:
        param(P_NAME, cid.name.encode(NAME_ENCODING))
    elif cid.name_absent:
        param(P_NAME_ABSENT, cid.name_absent.encode("ascii"))
    return _frame(MDMF_CALLER_ID, bytes(body))


def encode_message_waiting(active: bool, *, mdmf: bool = True) -> bytes:
    if mdmf:
        return _frame(MDMF_MESSAGE_WAITING, bytes([P_VISUAL_INDICATOR, 1, 0xFF if active else 0x00]))
    return _frame(SDMF_MESSAGE_WAITING, bytes([0x42 if active else 0x6F] * 3))


def parse_message(data: bytes) -> Message | None:
    """A message with its checksum (type, length, body, checksum) -> what it says; None if unknown or bad."""
    if len(data) < 3 or data[0] not in KNOWN_TYPES or len(data) != data[1] + 3 or sum(data) & 0xFF:
        return None
    kind, body = data[0], data[2:-1]
    if kind == SDMF_CALLER_ID:
        sdmf = body.decode("ascii", "replace")
        date, rest = (sdmf[:8], sdmf[8:]) if len(sdmf) >= 8 and sdmf[:8].isdigit() else (None, sdmf)
        if rest in ("O", "P"):
            return CallerId(date=date, number_absent=rest)
        return CallerId(number=rest or None, date=date)
    if kind == SDMF_MESSAGE_WAITING:
        return MessageWaiting(active=body[:1] == b"\x42")
    fields: dict[int, bytes] = {}
    pos = 0
    while pos + 2 <= len(body):
        ptype, plen = body[pos], body[pos + 1]
        if pos + 2 + plen > len(body):
            return None
        fields[ptype] = body[pos + 2:pos + 2 + plen]
        pos += 2 + plen
    if kind == MDMF_MESSAGE_WAITING:
        return MessageWaiting(active=fields.get(P_VISUAL_INDICATOR, b"\x00") != b"\x00")

    def text(ptype: int, encoding: str = "ascii") -> str | None:
        value = fields.get(ptype)
        return value.decode(encoding, "replace") if value is not None else None

    return CallerId(number=text(P_NUMBER), name=text(P_NAME, NAME_ENCODING), date=text(P_DATE),
                    number_absent=text(P_NUMBER_ABSENT), name_absent=text(P_NAME_ABSENT))


# ---------------------------------------------------------------------------------------------- FSK

def fsk_signal(message: bytes, modem: fsk.FskModem = fsk.BELL202, *, level: float = -13.5,
               seizure: bool = True) -> npt.NDArray[np.int16]:
    """A framed message (from `encode_*`) as it goes on the line: channel seizure, mark signal, the
    characters, and a few mark bits so the last stop bit is whole."""
    preamble = np.tile(np.array([0, 1], dtype=np.uint8), SEIZURE_BITS // 2) if seizure else np.zeros(0, np.uint8)
    bits = np.concatenate([preamble, np.ones(MARK_BITS, np.uint8), fsk.uart_bits(message),
                           np.ones(4, np.uint8)])
    return fsk.modulate(bits, modem, level)


def decode_fsk(samples: npt.NDArray[np.int16] | npt.NDArray[np.float64], *,
               min_level_dbm0: float = -50.0) -> list[tuple[Message, bytes]]:
    """Every valid message (checksum right, known type) in a stretch of line audio, Bell 202 or V.23, with
    its raw bytes."""
    soft, carrier = fsk.demodulate(samples, min_level_dbm0=min_level_dbm0)
    found: list[tuple[Message, bytes]] = []
    resume = 0
    for start in fsk.message_starts(soft, carrier):
        if start < resume:
            continue
        head = fsk.read_bytes(soft, start, 2)
        if head is None or head[0][0] not in KNOWN_TYPES:
            continue
        whole = fsk.read_bytes(soft, start, head[0][1] + 3)
        if whole is None:
            continue
        data, end = whole
        message = parse_message(data)
        if message is not None:
            found.append((message, data))
            resume = end
    return found


# ---------------------------------------------------------------------------------------------- DTMF

def encode_dtmf(cid: CallerId, *, start: str = "A", end: str = "C") -> str:
    """The digit string of DTMF caller ID: start, number, end; an absent number as `D1#` (private) or
    `D3#` (unavailable)."""
    if cid.number:
        if not all(ch in "0123456789" for ch in cid.number):
            raise CallerIdError("a DTMF caller ID number has digits only")
        return f"{start}{cid.number}{end}"
    return "D1#" if cid.number_absent == "P" else "D3#"


def decode_dtmf_digits(digits: str) -> CallerId | None:
    """`A…C` / `D…C` / `A…#` / `D1#` etc. -> the caller ID; None when the string is not a whole one."""
    if len(digits) < 2 or digits[0] not in "AD":
        return None
    body = digits[1:]
    if body in ("1#", "2#", "3#") and digits[0] == "D":
        return CallerId(number_absent="P" if body == "1#" else "O")
    if body[-1] not in "C#":
        return None
    number = body[:-1].split("B", 1)[0]
    if not number.isdigit():
        return None
    return CallerId(number=number)


@dataclass
class DtmfCallerIdReceiver:
    """DTMF caller ID as it arrives in 20 ms frames; `feed` returns the caller ID once it is whole."""

    _detector: InbandDetector | None = None
    _digits: str = ""

    def feed(self, frame: npt.NDArray[np.int16]) -> CallerId | None:
        if self._detector is None:
            self._detector = InbandDetector(DTMF_CID_SETTINGS)
        for digit in self._detector.feed(frame):
            if digit in "AD":
                self._digits = digit
            elif self._digits:
                self._digits += digit
                if digit in "C#":
                    cid, self._digits = decode_dtmf_digits(self._digits), ""
                    if cid is not None:
                        return cid
        return None

    @property
    def digits(self) -> str:
        return self._digits


def decode_dtmf(samples: npt.NDArray[np.int16]) -> CallerId | None:
    receiver = DtmfCallerIdReceiver()
    pcm = np.concatenate([samples.astype(np.int16), np.zeros(-len(samples) % 160 + 320, np.int16)])
    for i in range(0, len(pcm), 160):
        cid = receiver.feed(pcm[i:i + 160])
        if cid is not None:
            return cid
    return None


def dtmf_signal(digits: str, *, level: float = -10.0, twist_db: float = 0.0, on_ms: int = 70,
                off_ms: int = 70) -> npt.NDArray[np.int16]:
    """DTMF digits (ITU-T Q.23 pairs) at `level` dBm0 for the low tone, the high tone `twist_db` above it."""
    from appliance.media.inband import COLS, KEYS, ROWS

    rate = fsk.RATE
    t_on = np.arange(rate * on_ms // 1000) / rate
    parts = []
    for digit in digits:
        row = next(i for i, keys in enumerate(KEYS) if digit in keys)
        col = KEYS[row].index(digit)
        low = fsk.amplitude_of(level) * np.sin(2 * np.pi * ROWS[row] * t_on)
        high = fsk.amplitude_of(level + twist_db) * np.sin(2 * np.pi * COLS[col] * t_on)
        parts += [low + high, np.zeros(rate * off_ms // 1000)]
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)
