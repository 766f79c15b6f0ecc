"""Q.931 messages and information elements (ITU-T Q.931 §4, ETSI EN 300 403-1) for PRI: encode and decode.

Implements the general message format (§4.1-4.4: protocol discriminator 0x08, a two-octet call reference
with its flag, the message type) and the codeset 0 information elements the EuroISDN basic call needs
(§4.5): bearer capability (§4.5.5), call state (§4.5.7), called and calling party numbers (§4.5.8,
§4.5.10) with type, plan, presentation and screening, cause (§4.5.12, Q.850), channel identification
(§4.5.13, primary rate: exclusive or preferred, or any), progress indicator (§4.5.23), restart indicator
(§4.5.25), sending complete (§4.5.27), display, and the redirecting number (Q.952). Shifts (§4.5.2-4.5.4)
are followed: IEs of other codesets are kept raw in `other`. Decoding raises only `Q931Error`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

PD_Q931 = 0x08


class Q931Error(ValueError):
    """A message we cannot decode (the peer's error; Q.931 §5.8 says what to answer)."""

    def __init__(self, message: str, cause: int = 100) -> None:
        super().__init__(message)
        self.cause = cause  # the Q.850 cause to answer with: 95 invalid message, 96 mandatory IE missing, ...


class MT(enum.IntEnum):
    """Message types, Q.931 Table 4-2."""

    ALERTING = 0x01
    CALL_PROCEEDING = 0x02
    PROGRESS = 0x03
    SETUP = 0x05
    CONNECT = 0x07
    SETUP_ACKNOWLEDGE = 0x0D
    CONNECT_ACKNOWLEDGE = 0x0F
    DISCONNECT = 0x45
    RESTART = 0x46
    RELEASE = 0x4D
    RESTART_ACKNOWLEDGE = 0x4E
    RELEASE_COMPLETE = 0x5A
    FACILITY = 0x62
    NOTIFY = 0x6E
    STATUS_ENQUIRY = 0x75
    INFORMATION = 0x7B
    STATUS = 0x7D


class IE(enum.IntEnum):
    BEARER_CAPABILITY = 0x04
    CAUSE = 0x08
    CALL_STATE = 0x14
    CHANNEL_ID = 0x18
    PROGRESS = 0x1E
    DISPLAY = 0x28
    CALLING_NUMBER = 0x6C
    CALLED_NUMBER = 0x70
    REDIRECTING_NUMBER = 0x74
    RESTART_INDICATOR = 0x79
    SENDING_COMPLETE = 0xA1


@dataclass(frozen=True, slots=True)
class Bearer:
    """Bearer capability: 0x00 speech or 0x10 3.1 kHz audio, circuit mode 64 kbit/s, G.711 A-law (0x03)."""

    capability: int = 0x00
    layer1: int | None = 0x03


@dataclass(frozen=True, slots=True)
class Number:
    """A party number. type: 0 unknown, 1 international, 2 national, 4 subscriber; plan: 0 unknown, 1 E.164;
    presentation: 0 allowed, 1 restricted, 2 not available; screening: 0 user not screened, 1 user passed,
    2 user failed, 3 network provided; reason (redirecting only): Q.952 redirection reason."""

    digits: str
    type: int = 0
    plan: int = 1
    presentation: int | None = None
    screening: int | None = None
    reason: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelId:
    """Primary rate channel identification: `channel` None means "any channel"."""

    channel: int | None
    exclusive: bool = True


@dataclass(frozen=True, slots=True)
class CauseIE:
    value: int
    location: int = 0  # 0 user, 1 private network serving the local user, 2 public network serving it
    diagnostics: bytes = b""


@dataclass(frozen=True, slots=True)
class ProgressIE:
    description: int  # 1 not end-to-end ISDN, 2 destination non-ISDN, 3 origin non-ISDN, 8 in-band info
    location: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    type: int
    cref: int  # call reference value (15 bits); 0 is the global call reference
    from_destination: bool = False  # the flag bit: set by the side that did not originate the call reference
    bearer: Bearer | None = None
    channel: ChannelId | None = None
    calling: Number | None = None
    called: Number | None = None
    redirecting: Number | None = None
    cause: CauseIE | None = None
    progress: ProgressIE | None = None
    call_state: int | None = None
    restart_class: int | None = None  # 0 indicated channels, 6 single interface, 7 all interfaces
    sending_complete: bool = False
    display: str | None = None
    other: tuple[tuple[int, int, bytes], ...] = field(default=())  # (codeset, id, contents) kept unread

    def name(self) -> str:
        try:
            return MT(self.type).name
        except ValueError:
            return f"0x{self.type:02x}"


# ---------------------------------------------------------------- encoding


def _ie(ident: int, body: bytes) -> bytes:
    if len(body) > 255:
        raise ValueError(f"IE {ident:#04x} is longer than 255 octets")
    return bytes((ident, len(body))) + body


def _number(n: Number, *, calling: bool, redirecting: bool = False) -> bytes:
    if not all(c in "0123456789*#abcABC" for c in n.digits):
        raise ValueError(f"number {n.digits!r} has characters that are not IA5 digits")
    octet3 = (n.type & 7) << 4 | (n.plan & 15)
    extra = b""
    if (calling or redirecting) and (n.presentation is not None or n.screening is not None or n.reason is not None):
        octet3a = ((n.presentation or 0) & 3) << 5 | ((n.screening or 0) & 3)
        if redirecting and n.reason is not None:
            extra = bytes((octet3, octet3a, 0x80 | (n.reason & 15)))
        else:
            extra = bytes((octet3, 0x80 | octet3a))
    head = extra or bytes((0x80 | octet3,))
    return head + n.digits.encode("ascii")


def encode(m: Message) -> bytes:
    """The message as Q.931 octets (IEs in ascending order of identifier, §4.5.1)."""
    out = bytearray((PD_Q931, 2, (0x80 if m.from_destination else 0) | (m.cref >> 8 & 0x7F), m.cref & 0xFF,
                     m.type))
    if m.sending_complete:
        out.append(IE.SENDING_COMPLETE)
    if m.bearer is not None:
        body = bytes((0x80 | m.bearer.capability, 0x90))
        if m.bearer.layer1 is not None:
            body += bytes((0xA0 | m.bearer.layer1,))
        out += _ie(IE.BEARER_CAPABILITY, body)
    if m.cause is not None:
        out += _ie(IE.CAUSE, bytes((0x80 | m.cause.location & 15, 0x80 | m.cause.value & 0x7F)) + m.cause.diagnostics)
    if m.call_state is not None:
        out += _ie(IE.CALL_STATE, bytes((m.call_state & 0x3F,)))
    if m.channel is not None:
        if m.channel.channel is None:
            out += _ie(IE.CHANNEL_ID, bytes((0xA3,)))  # primary rate, any channel
        else:
            if not 1 <= m.channel.channel <= 31 or m.channel.channel == 16:
                raise ValueError(f"channel {m.channel.channel} is not a B-channel of an E1 PRI")
            octet3 = 0xA1 | (0x08 if m.channel.exclusive else 0)
            out += _ie(IE.CHANNEL_ID, bytes((octet3, 0x83, 0x80 | m.channel.channel)))
    if m.progress is not None:
        out += _ie(IE.PROGRESS, bytes((0x80 | m.progress.location & 15, 0x80 | m.progress.description & 0x7F)))
    if m.display is not None:
        out += _ie(IE.DISPLAY, m.display.encode("ascii", "replace")[:80])
    if m.calling is not None:
        out += _ie(IE.CALLING_NUMBER, _number(m.calling, calling=True))
    if m.called is not None:
        out += _ie(IE.CALLED_NUMBER, _number(m.called, calling=False))
    if m.redirecting is not None:
        out += _ie(IE.REDIRECTING_NUMBER, _number(m.redirecting, calling=False, redirecting=True))
    if m.restart_class is not None:
        out += _ie(IE.RESTART_INDICATOR, bytes((0x80 | m.restart_class & 7,)))
    return bytes(out)


# ---------------------------------------------------------------- decoding


def _decode_number(body: bytes, *, ident: int) -> Number:
    if not body:
        raise Q931Error(f"empty number IE {ident:#04x}")
    octet3 = body[0]
    i, pres, screen, reason = 1, None, None, None
    if not octet3 & 0x80:
        if len(body) < 2:
            raise Q931Error("number IE ends inside octet 3a")
        pres, screen = body[1] >> 5 & 3, body[1] & 3
        i = 2
        if not body[1] & 0x80:
            if len(body) < 3:
                raise Q931Error("number IE ends inside octet 3b")
            reason = body[2] & 15
            i = 3
    try:
        digits = body[i:].decode("ascii")
    except UnicodeDecodeError:
        raise Q931Error("number digits are not IA5") from None
    return Number(digits, type=octet3 >> 4 & 7, plan=octet3 & 15, presentation=pres, screening=screen,
                  reason=reason if ident == IE.REDIRECTING_NUMBER else None)


def _decode_channel(body: bytes) -> ChannelId:
    if not body:
        raise Q931Error("empty channel identification")
    octet3 = body[0]
    if octet3 & 0x40:
        raise Q931Error("channel identification by interface identifier is not supported", 82)
    exclusive = bool(octet3 & 0x08)
    selection = octet3 & 3
    if selection == 3 or selection == 0:  # any channel / no channel
        return ChannelId(None, exclusive)
    if not octet3 & 0x20:
        raise Q931Error("a basic-rate channel identification on a primary rate interface", 82)
    if len(body) < 3:
        raise Q931Error("channel identification without a channel number")
    if body[1] & 0x10:
        raise Q931Error("channel identification by slot map is not supported", 82)
    return ChannelId(body[2] & 0x7F, exclusive)


def decode(data: bytes) -> Message:
    if len(data) < 3:
        raise Q931Error("a Q.931 message has at least discriminator, call reference and type", 95)
    if data[0] != PD_Q931:
        raise Q931Error(f"protocol discriminator {data[0]:#04x} is not Q.931", 95)
    crlen = data[1] & 0x0F
    if data[1] & 0xF0 or crlen > 2 or len(data) < 3 + crlen:
        raise Q931Error("call reference length is wrong", 95)
    cr = data[2:2 + crlen]
    flag = bool(cr[0] & 0x80) if crlen else False
    cref = int.from_bytes(bytes((cr[0] & 0x7F,)) + cr[1:], "big") if crlen else 0
    i = 2 + crlen
    mtype = data[i]
    if mtype & 0x80:
        raise Q931Error("message type has its top bit set", 97)
    msg = Message(mtype, cref, flag)
    i += 1
    fields: dict[str, object] = {}
    other: list[tuple[int, int, bytes]] = []
    codeset, locked = 0, 0
    while i < len(data):
        ident = data[i]
        if ident & 0x80:  # single-octet IE
            i += 1
            if ident & 0xF0 == 0x90:  # shift (§4.5.3/4.5.4)
                new = ident & 7
                if ident & 0x08:
                    codeset = new  # non-locking: the next IE only
                    continue
                locked = codeset = new
                continue
            if codeset == 0 and ident == IE.SENDING_COMPLETE:
                fields["sending_complete"] = True
            elif codeset:
                other.append((codeset, ident, b""))
            codeset = locked
            continue
        if i + 1 >= len(data):
            raise Q931Error(f"IE {ident:#04x} has no length", 100)
        length = data[i + 1]
        body = data[i + 2:i + 2 + length]
        if len(body) != length:
            raise Q931Error(f"IE {ident:#04x} is cut short", 100)
        i += 2 + length
        if codeset:
            other.append((codeset, ident, bytes(body)))
            codeset = locked
            continue
        if ident == IE.BEARER_CAPABILITY:
            if len(body) < 2:
                raise Q931Error("bearer capability is too short", 100)
            layer1 = body[2] & 0x1F if len(body) > 2 and body[2] & 0x60 == 0x20 else None
            fields["bearer"] = Bearer(body[0] & 0x1F, layer1)
        elif ident == IE.CAUSE:
            if len(body) < 2:
                raise Q931Error("cause is too short", 100)
            j = 1 if body[0] & 0x80 else 2  # octet 3a (recommendation) when octet 3 is not the last
            if len(body) <= j:
                raise Q931Error("cause has no cause value", 100)
            fields["cause"] = CauseIE(body[j] & 0x7F, body[0] & 15, bytes(body[j + 1:]))
        elif ident == IE.CALL_STATE:
            if len(body) != 1:
                raise Q931Error("call state is one octet", 100)
            fields["call_state"] = body[0] & 0x3F
        elif ident == IE.CHANNEL_ID:
            fields["channel"] = _decode_channel(body)
        elif ident == IE.PROGRESS:
            if len(body) < 2:
                raise Q931Error("progress indicator is too short", 100)
            fields["progress"] = ProgressIE(body[1] & 0x7F, body[0] & 15)
        elif ident == IE.DISPLAY:
            fields["display"] = bytes(body).decode("ascii", "replace")
        elif ident in (IE.CALLING_NUMBER, IE.CALLED_NUMBER, IE.REDIRECTING_NUMBER):
            key = "calling" if ident == IE.CALLING_NUMBER else "called" if ident == IE.CALLED_NUMBER else "redirecting"
            fields[key] = _decode_number(bytes(body), ident=ident)
        elif ident == IE.RESTART_INDICATOR:
            if len(body) != 1:
                raise Q931Error("restart indicator is one octet", 100)
            fields["restart_class"] = body[0] & 7
        else:
            other.append((0, ident, bytes(body)))
    return replace(msg, other=tuple(other), **fields)  # type: ignore[arg-type]
