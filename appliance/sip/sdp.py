"""SDP for audio calls: parsing, offers and answers.

Implements the parts of RFC 4566 (session description syntax) and RFC 3264 (offer/answer model) an audio
PBX needs: one audio stream (other streams are answered with port 0), PCMA/PCMU (static payload types 8 and 0),
telephone-event (RFC 4733, dynamic payload type), a=ptime, and the direction attributes sendrecv / sendonly /
recvonly / inactive used for hold (RFC 3264 §8.4, with the c=0.0.0.0 form of RFC 2543 understood), and the
a=crypto lines of RFC 4568 kept as text for `sdes.py`.
`NotAcceptable` means "answer 488".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

from appliance.sip.errors import RemoteProtocolError

STATIC = {0: "PCMU", 8: "PCMA"}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


class NotAcceptable(RemoteProtocolError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, 488)


@dataclass(frozen=True, slots=True)
class Codec:
    pt: int
    name: str  # upper case: PCMA, PCMU, TELEPHONE-EVENT
    rate: int = 8000
    fmtp: str = ""


@dataclass(frozen=True, slots=True)
class MediaLine:
    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    codecs: tuple[Codec, ...] = ()
    direction: str = "sendrecv"
    ptime: int | None = None
    connection: str | None = None
    crypto: tuple[str, ...] = ()  # a=crypto values (RFC 4568; `sdes.py` reads them), kept as sent


@dataclass(frozen=True, slots=True)
class SessionDescription:
    origin_user: str = "-"
    session_id: int = 0
    version: int = 0
    address: str = "0.0.0.0"
    media: tuple[MediaLine, ...] = ()
    name: str = "-"

    @property
    def audio(self) -> MediaLine | None:
        for m in self.media:
            if m.kind == "audio" and m.port != 0:
                return m
        return None

    @property
    def direction(self) -> str:
        a = self.audio
        if a is None:
            return "inactive"
        if (a.connection or self.address) == "0.0.0.0" and a.direction == "sendrecv":
            return "sendonly"  # RFC 2543 hold
        return a.direction


def parse_sdp(body: bytes) -> SessionDescription:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotAcceptable("SDP is not UTF-8") from e
    address = ""
    origin = ("-", 0, 0)
    name = "-"
    session_dir = "sendrecv"
    media: list[dict[str, object]] = []
    cur: dict[str, object] | None = None
    saw_v = False
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        k, v = line[0], line[2:]
        if k == "v":
            saw_v = True
        elif k == "o":
            p = v.split()
            if len(p) >= 6:
                try:
                    origin = (p[0], int(p[1]), int(p[2]))
                except ValueError:
                    origin = (p[0], 0, 0)
                if not address:
                    address = p[5]
        elif k == "s":
            name = v
        elif k == "c":
            p = v.split()
            if len(p) >= 3:
                if cur is None:
                    address = p[2].split("/")[0]
                else:
                    cur["c"] = p[2].split("/")[0]
        elif k == "m":
            p = v.split()
            if len(p) < 4:
                raise NotAcceptable("bad m= line")
            try:
                port = int(p[1].split("/")[0])
            except ValueError as e:
                raise NotAcceptable("bad port in m= line") from e
            cur = {"kind": p[0], "port": port, "proto": p[2], "fmts": tuple(p[3:]), "rtpmap": {}, "fmtp": {},
                   "dir": None, "ptime": None, "crypto": []}
            media.append(cur)
        elif k == "a":
            name_, _, val = v.partition(":")
            if name_ in DIRECTIONS:
                if cur is None:
                    session_dir = name_
                else:
                    cur["dir"] = name_
            elif cur is not None and name_ == "rtpmap":
                pt, _, enc = val.partition(" ")
                parts = enc.split("/")
                rtpmap = cur["rtpmap"]
                assert isinstance(rtpmap, dict)
                with contextlib.suppress(ValueError):
                    rtpmap[int(pt)] = (parts[0].upper(), int(parts[1]) if len(parts) > 1 else 8000)
            elif cur is not None and name_ == "fmtp":
                pt, _, params = val.partition(" ")
                fmtp = cur["fmtp"]
                assert isinstance(fmtp, dict)
                if pt.isdigit():
                    fmtp[int(pt)] = params
            elif cur is not None and name_ == "crypto":
                crypto = cur["crypto"]
                assert isinstance(crypto, list)
                crypto.append(val.strip())
            elif cur is not None and name_ == "ptime" and val.strip().isdigit():
                cur["ptime"] = int(val.strip())
    if not saw_v:
        raise NotAcceptable("not an SDP body")
    lines: list[MediaLine] = []
    for m in media:
        rtpmap = m["rtpmap"]
        fmtp = m["fmtp"]
        assert isinstance(rtpmap, dict) and isinstance(fmtp, dict)
        codecs: list[Codec] = []
        fmts = m["fmts"]
        assert isinstance(fmts, tuple)
        for f in fmts:
            if not f.isdigit():
                continue
            num = int(f)
            if num in rtpmap:
                nm, rate = rtpmap[num]
                codecs.append(Codec(num, nm, rate, fmtp.get(num, "")))
            elif num in STATIC:
                codecs.append(Codec(num, STATIC[num]))
        lines.append(MediaLine(
            str(m["kind"]), int(str(m["port"])), str(m["proto"]), fmts, tuple(codecs),
            str(m["dir"] or session_dir), m["ptime"] if isinstance(m["ptime"], int) else None,
            str(m["c"]) if "c" in m else None, tuple(m["crypto"]),  # type: ignore[arg-type]
        ))
    return SessionDescription(origin[0], origin[1], origin[2], address or "0.0.0.0", tuple(lines), name)


def render(sd: SessionDescription) -> bytes:
    out = [
        "v=0",
        f"o={sd.origin_user} {sd.session_id} {sd.version} IN IP4 {sd.address}",
        f"s={sd.name}",
        f"c=IN IP4 {sd.address}",
        "t=0 0",
    ]
    for m in sd.media:
        out.append(f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}")
        if m.connection and m.connection != sd.address:
            out.append(f"c=IN IP4 {m.connection}")
        for c in m.codecs:
            out.append(f"a=rtpmap:{c.pt} {c.name if c.name != 'TELEPHONE-EVENT' else 'telephone-event'}/{c.rate}")
            if c.fmtp:
                out.append(f"a=fmtp:{c.pt} {c.fmtp}")
        if m.port:
            out.extend(f"a=crypto:{c}" for c in m.crypto)
        if m.port and m.ptime:
            out.append(f"a=ptime:{m.ptime}")
        if m.port:
            out.append(f"a={m.direction}")
    return ("\r\n".join(out) + "\r\n").encode()


@dataclass(frozen=True, slots=True)
class MediaCapabilities:
    """What our side can do: codecs in preference order, DTMF payload, packet time."""

    codecs: tuple[str, ...] = ("PCMA", "PCMU")
    telephone_event_pt: int = 101
    ptime: int = 20


def make_offer(address: str, port: int, session_id: int, caps: MediaCapabilities = MediaCapabilities(),
               direction: str = "sendrecv", version: int = 0) -> SessionDescription:
    codecs = [Codec(8 if c == "PCMA" else 0, c) for c in caps.codecs]
    codecs.append(Codec(caps.telephone_event_pt, "TELEPHONE-EVENT", 8000, "0-16"))
    m = MediaLine("audio", port, "RTP/AVP", tuple(str(c.pt) for c in codecs), tuple(codecs), direction,
                  caps.ptime)
    return SessionDescription("appliance", session_id, version, address, (m,), "call")


def answer(offer: SessionDescription, address: str, port: int, session_id: int,
           caps: MediaCapabilities = MediaCapabilities(), hold: bool = False, version: int = 0) -> SessionDescription:
    """The RFC 3264 answer to `offer`: the first offered codec we support (the offerer's order wins, §6.1),
    telephone-event when offered, the mirrored direction; other streams refused with port 0."""
    lines: list[MediaLine] = []
    chosen_audio = False
    for m in offer.media:
        if m.kind != "audio" or m.port == 0 or chosen_audio or not m.proto.startswith("RTP/"):
            lines.append(MediaLine(m.kind, 0, m.proto, m.formats[:1]))
            continue
        voice = next((c for c in m.codecs if c.name in caps.codecs and c.rate == 8000), None)
        if voice is None:
            lines.append(MediaLine(m.kind, 0, m.proto, m.formats[:1]))
            continue
        chosen: list[Codec] = [voice]
        te = next((c for c in m.codecs if c.name == "TELEPHONE-EVENT" and c.rate == 8000), None)
        if te is not None:
            chosen.append(te)
        remote_dir = m.direction
        if (m.connection or offer.address) == "0.0.0.0" and remote_dir == "sendrecv":
            remote_dir = "sendonly"
        direction = _REVERSE[remote_dir]
        if hold:
            direction = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(direction, direction)
        lines.append(MediaLine("audio", port, m.proto, tuple(str(c.pt) for c in chosen), tuple(chosen),
                               direction, m.ptime or caps.ptime))
        chosen_audio = True
    if not chosen_audio:
        raise NotAcceptable("no common audio codec")
    return SessionDescription("appliance", session_id, version, address, tuple(lines), "call")


def with_direction(sd: SessionDescription, direction: str, version: int) -> SessionDescription:
    media = tuple(replace(m, direction=direction) if m.kind == "audio" and m.port else m for m in sd.media)
    return replace(sd, media=media, version=version)


@dataclass
class SdpParty:
    """Offer/answer bookkeeping for one leg: session id and the o= version that must grow on each change."""

    session_id: int
    version: int = 0
    last_local: SessionDescription | None = field(default=None)

    def bump(self) -> int:
        self.version += 1
        return self.version
