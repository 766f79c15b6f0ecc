"""SDP bytes (the SIP layer's currency) ↔ the media engine's structured values (RFC 3264 offer/answer).

The media engine chooses the codec (the peer's order among what we support, RFC 3264 §6.1); the SDP we send
is built from its choice, so what we say and what we do cannot disagree.
"""

from __future__ import annotations

import itertools

from appliance.media.models import Direction, LocalMedia, RemoteMedia
from appliance.sip.sdp import Codec, MediaLine, NotAcceptable, SessionDescription, parse_sdp, render

_DIRECTIONS = {d.value: d for d in Direction}


def remote_media(sdp: bytes) -> RemoteMedia:
    """The first active RTP audio stream of an SDP; `NotAcceptable` (→ 488) when there is none."""
    sd = parse_sdp(sdp)
    for m in sd.media:
        if m.kind == "audio" and m.port and m.proto.startswith("RTP/"):
            address = m.connection or sd.address
            direction = _DIRECTIONS.get(m.direction, Direction.SENDRECV)
            if address == "0.0.0.0":  # RFC 2543-style hold
                direction = Direction.SENDONLY if direction == Direction.SENDRECV else direction
            te = next((c.pt for c in m.codecs if c.name == "TELEPHONE-EVENT"), None)
            payload_types = tuple(int(f) for f in m.formats if f.isdigit())
            rtpmap = {c.pt: f"{c.name}/{c.rate}" for c in m.codecs}
            return RemoteMedia(address=address, port=m.port, payload_types=payload_types,
                               telephone_event_pt=te, ptime_ms=m.ptime or 20, direction=direction, rtpmap=rtpmap)
    raise NotAcceptable("no RTP audio stream")


class SdpBuilder:
    """Our side of the SDP for the legs of one appliance: session ids unique, versions growing (RFC 4566)."""

    def __init__(self, first_session_id: int = 1) -> None:
        self._ids = itertools.count(first_session_id)

    def describe(self, local: LocalMedia, *, offer: bool, version: int = 0,
                 direction: Direction | None = None, proto: str = "RTP/AVP", crypto: tuple[str, ...] = ()) -> bytes:
        """An offer lists both codecs (the engine's choice first) and telephone-event; an answer only what
        the engine chose. `proto` and `crypto` (a=crypto values) come from `sdes.py` for SRTP legs."""
        voice = [Codec(local.codec.payload_type, local.codec.name, local.codec.clock_rate)]
        if offer:
            other = ("PCMU", 0) if local.codec.name == "PCMA" else ("PCMA", 8)
            voice.append(Codec(other[1], other[0]))
        codecs = list(voice)
        if local.telephone_event_pt is not None:
            codecs.append(Codec(local.telephone_event_pt, "TELEPHONE-EVENT", 8000, "0-16"))
        line = MediaLine("audio", local.port, proto, tuple(str(c.pt) for c in codecs), tuple(codecs),
                         (direction or local.direction).value, local.ptime_ms, crypto=crypto)
        sd = SessionDescription("appliance", next(self._ids), version, local.address, (line,), "call")
        return render(sd)
