"""Configuration and the structured values exchanged with call control (no SDP text: the SIP layer owns that)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Direction(StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"  # from our point of view: we send, we do not expect to receive
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def we_send(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)


@dataclass(frozen=True, slots=True)
class Codec:
    name: str  # "PCMA", "PCMU"
    payload_type: int
    clock_rate: int = 8000


PCMA = Codec("PCMA", 8)
PCMU = Codec("PCMU", 0)
SUPPORTED = (PCMA, PCMU)


@dataclass(frozen=True, slots=True)
class RemoteMedia:
    """What the far end offered or answered, from its SDP (RFC 4566 m=/c=/a= lines)."""

    address: str
    port: int
    payload_types: tuple[int, ...]  # in the peer's order of preference
    telephone_event_pt: int | None = 101
    ptime_ms: int = 20
    direction: Direction = Direction.SENDRECV
    rtpmap: dict[int, str] = field(default_factory=dict)  # dynamic PT -> "name/rate", when given


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """An SRTP leg's keys as SDES agreed them (RFC 4568): the suite, the master key and salt we send with
    (the one in our SDP) and the one the peer sends with (in its SDP). `repr` never shows a key."""

    suite: str
    tx_key: bytes = field(repr=False)
    rx_key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """What call control puts in our SDP: address, port, chosen codec, telephone-event PT, ptime."""

    endpoint_id: str
    address: str
    port: int
    codec: Codec
    telephone_event_pt: int | None
    ptime_ms: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class MediaConfig:
    bind_address: str = "127.0.0.1"
    advertise_address: str | None = None  # the address in SDP when it differs (NAT)
    port_low: int = 20000
    port_high: int = 29998  # RTP on even ports; RTCP on port + 1 (RFC 3550 §11)
    codec_preference: tuple[str, ...] = ("PCMA", "PCMU")
    telephone_event_pt: int = 101
    rtp_timeout: float = 30.0  # seconds without a packet before media.rtp_timeout
    rtcp_interval: float = 5.0
    tone_plan: str = "cn"
    jitter_min_delay: float = 0.02
    jitter_max_delay: float = 0.2
    recording_flush_interval: float = 1.0
    cname: str = "media@appliance"
    compiled_relay: bool = True  # relay plain two-party audio in _rtp_relay.c when it is built


@dataclass(frozen=True, slots=True)
class PartyMask:
    """Who a conference party hears and who hears it; None means everybody.

    3-way call: all default. Supervisor listen: hears everybody, heard by nobody. Whisper: heard by the
    agent only. Barge: everybody both ways.
    """

    hears: frozenset[str] | None = None
    heard_by: frozenset[str] | None = None

    @classmethod
    def everyone(cls) -> PartyMask:
        return cls()

    @classmethod
    def listen(cls) -> PartyMask:
        return cls(hears=None, heard_by=frozenset())

    @classmethod
    def whisper(cls, agent_endpoint: str) -> PartyMask:
        return cls(hears=None, heard_by=frozenset({agent_endpoint}))

    @classmethod
    def barge(cls) -> PartyMask:
        return cls()
