"""A test-only SIP user agent server: answers one INVITE with an SDP that points at a media engine endpoint.

Just enough of RFC 3261 (§8.2.6 responses copying Via/From/To/Call-ID/CSeq, a To tag, 200 to BYE) and of
RFC 4566/3264 SDP (c=, m=audio, a=rtpmap) for SIPp's scenarios; the appliance's own SIP stack lives in
`appliance.sip`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from appliance.media import LocalMedia, RemoteMedia


def parse_sdp(body: str) -> RemoteMedia:
    address = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    media = re.search(r"^m=audio (\d+) RTP/AVP ([\d ]+)", body, re.M)
    if not address or not media:
        raise ValueError("no audio in SDP")
    pts = tuple(int(p) for p in media.group(2).split())
    te = re.search(r"^a=rtpmap:(\d+) telephone-event/8000", body, re.M)
    return RemoteMedia(address.group(1), int(media.group(1)), pts, int(te.group(1)) if te else None)


def build_sdp(local: LocalMedia) -> str:
    pts = f"{local.codec.payload_type}" + (f" {local.telephone_event_pt}" if local.telephone_event_pt else "")
    lines = ["v=0", f"o=- 1 1 IN IP4 {local.address}", "s=-", f"c=IN IP4 {local.address}", "t=0 0",
             f"m=audio {local.port} RTP/AVP {pts}",
             f"a=rtpmap:{local.codec.payload_type} {local.codec.name}/8000"]
    if local.telephone_event_pt:
        lines += [f"a=rtpmap:{local.telephone_event_pt} telephone-event/8000",
                  f"a=fmtp:{local.telephone_event_pt} 0-15"]
    lines += [f"a=ptime:{local.ptime_ms}", f"a={local.direction.value}"]
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Answerer(asyncio.DatagramProtocol):
    on_invite: Callable[[RemoteMedia], Awaitable[LocalMedia]]
    transport: asyncio.DatagramTransport | None = None
    answered: list[LocalMedia] = field(default_factory=list)
    bye: asyncio.Event = field(default_factory=asyncio.Event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        text = data.decode(errors="replace")
        head, _, body = text.partition("\r\n\r\n")
        method = head.split(" ", 1)[0]
        if method == "INVITE":
            asyncio.get_running_loop().create_task(self._invite(head, body, addr))
        elif method == "BYE":
            self._respond(head, addr, "")
            self.bye.set()

    async def _invite(self, head: str, body: str, addr: tuple[str, int]) -> None:
        local = await self.on_invite(parse_sdp(body))
        self.answered.append(local)
        self._respond(head, addr, build_sdp(local))

    def _respond(self, head: str, addr: tuple[str, int], sdp: str) -> None:
        lines = head.split("\r\n")
        keep = [ln for ln in lines[1:] if ln.split(":", 1)[0].lower() in ("via", "from", "call-id", "cseq")]
        to = next(ln for ln in lines if ln.lower().startswith("to:"))
        if ";tag=" not in to:
            to += ";tag=answerer1"
        out = ["SIP/2.0 200 OK", *keep, to, "Contact: <sip:media@127.0.0.1>"]
        if sdp:
            out.append("Content-Type: application/sdp")
        out.append(f"Content-Length: {len(sdp.encode())}")
        assert self.transport is not None
        self.transport.sendto(("\r\n".join(out) + "\r\n\r\n" + sdp).encode(), addr)
