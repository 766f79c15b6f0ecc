"""SRTP and SRTCP legs on loopback, with libsrtp on the peers' side as the independent implementation.

The peers encrypt with their own libsrtp sessions (keys as SDES would have exchanged them: each side sends with
its own key) and decrypt what the engine sends; plain RTP never appears on an encrypted leg. Every test runs on
both engines (compiled and Python packet paths): the compiled path must never take an encrypted leg.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field

import pylibsrtp
import pytest

from appliance.events import EventBus
from appliance.media import MediaConfig, MediaEngine, RemoteMedia, SrtpKeys, g711, rtp
from tests.media.conftest import free_port_range
from tests.media.helpers import RtpPeer, sine, tone_level

ALAW = 8
PROFILES = {"AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
            "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28)}


def coded_tone(freq: float, seconds: float) -> bytes:
    return g711.encode(sine(freq, seconds), "alaw")


class _Raw(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.datagrams.append(data)


@dataclass
class SrtpPeer:
    """A phone that speaks SRTP with libsrtp: sends 20 ms frames, keeps every datagram it gets (RTP and RTCP
    ports), and decrypts them with the engine's key."""

    suite: str
    own_key: bytes  # what it sends with (its a=crypto)
    engine_key: bytes  # what the engine sends with (the engine's a=crypto)
    rtp_tp: asyncio.DatagramTransport
    rtp_in: _Raw
    rtcp_tp: asyncio.DatagramTransport
    rtcp_in: _Raw
    port: int
    ssrc: int = 0x5EC0
    seq: int = 7000
    ts: int = 1000
    tx: pylibsrtp.Session = field(init=False)
    rx: pylibsrtp.Session = field(init=False)

    def __post_init__(self) -> None:
        profile = PROFILES[self.suite][0]
        self.tx = pylibsrtp.Session(pylibsrtp.Policy(self.own_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND, 0, profile))
        self.rx = pylibsrtp.Session(pylibsrtp.Policy(self.engine_key, pylibsrtp.Policy.SSRC_ANY_INBOUND, 0,
                                                     profile))

    @classmethod
    async def open(cls, suite: str = "AES_CM_128_HMAC_SHA1_80") -> SrtpPeer:
        loop = asyncio.get_running_loop()
        length = PROFILES[suite][1]
        while True:  # an even/odd pair, as a phone would use
            rtp_in, rtcp_in = _Raw(), _Raw()
            rtp_tp, _ = await loop.create_datagram_endpoint(lambda p=rtp_in: p, local_addr=("127.0.0.1", 0))
            port = rtp_tp.get_extra_info("sockname")[1]
            try:
                rtcp_tp, _ = await loop.create_datagram_endpoint(lambda p=rtcp_in: p,
                                                                 local_addr=("127.0.0.1", port + 1))
            except OSError:
                rtp_tp.close()
                continue
            break
        return cls(suite, secrets.token_bytes(length), secrets.token_bytes(length), rtp_tp, rtp_in, rtcp_tp,
                   rtcp_in, port)

    def keys(self) -> SrtpKeys:
        """The engine's side: it sends with its key and receives with ours."""
        return SrtpKeys(self.suite, tx_key=self.engine_key, rx_key=self.own_key)

    def remote(self) -> RemoteMedia:
        return RemoteMedia("127.0.0.1", self.port, (ALAW, 0, 101))

    def packet(self, payload: bytes) -> bytes:
        out = self.tx.protect(rtp.build_rtp(ALAW, self.seq, self.ts, self.ssrc, payload))
        self.seq, self.ts = (self.seq + 1) & 0xFFFF, (self.ts + len(payload)) & 0xFFFFFFFF
        return out

    async def stream(self, dest: tuple[str, int], coded: bytes) -> None:
        start = time.monotonic()
        for k, i in enumerate(range(0, len(coded) - 159, 160)):
            self.rtp_tp.sendto(self.packet(coded[i:i + 160]), dest)
            delay = start + (k + 1) * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def received(self) -> list[rtp.RtpPacket]:
        """What the engine sent, decrypted; raises if any datagram is not authentic SRTP."""
        return [rtp.parse_rtp(self.rx.unprotect(d)) for d in self.rtp_in.datagrams]

    def audio(self) -> bytes:
        return b"".join(p.payload for p in self.received() if p.payload_type == ALAW)

    def close(self) -> None:
        self.rtp_tp.close()
        self.rtcp_tp.close()


async def plain_leg(engine: MediaEngine, ssrc: int) -> tuple[RtpPeer, str, tuple[str, int]]:
    peer = await RtpPeer.open(ssrc=ssrc)
    local = await engine.allocate(RemoteMedia("127.0.0.1", peer.port, (ALAW, 0, 101)))
    return peer, local.endpoint_id, (local.address, local.port)


async def srtp_leg(engine: MediaEngine, suite: str = "AES_CM_128_HMAC_SHA1_80"
                   ) -> tuple[SrtpPeer, str, tuple[str, int]]:
    peer = await SrtpPeer.open(suite)
    local = await engine.allocate(peer.remote(), srtp=peer.keys())
    return peer, local.endpoint_id, (local.address, local.port)


def assert_continuous(packets: list[rtp.RtpPacket]) -> None:
    assert len({p.ssrc for p in packets}) == 1
    assert all((q.sequence - p.sequence) & 0xFFFF == 1 for p, q in itertools.pairwise(packets))


@pytest.mark.parametrize("suite", sorted(PROFILES))
async def test_srtp_leg_bridged_to_a_plain_leg_both_ways(engine: MediaEngine, suite: str) -> None:
    s, es, addr_s = await srtp_leg(engine, suite)
    p, ep, addr_p = await plain_leg(engine, 0xB)
    bridge = engine.bridge(es, ep)
    assert engine.bridge_mode(bridge) == "relay"
    to_plain, to_srtp = coded_tone(700, 0.6), coded_tone(1100, 0.6)
    await asyncio.gather(s.stream(addr_s, to_plain), p.stream(addr_p, to_srtp))
    await asyncio.sleep(0.15)
    # the engine decrypted the peer's SRTP: the plain leg gets the very payload the SRTP peer encrypted
    got = [r.packet for r in p.received]
    assert len(got) == 30 and b"".join(x.payload for x in got) == to_plain
    assert_continuous(got)
    # and encrypted the plain leg's audio: libsrtp on the peer authenticates and decrypts every datagram
    back = s.received()
    assert len(back) == 30 and b"".join(x.payload for x in back) == to_srtp
    assert_continuous(back)
    assert all(to_srtp[:160] not in d for d in s.rtp_in.datagrams)  # nothing plain on the wire
    stats = engine.leg_stats(es)
    assert stats["received"] == 30 and stats["lost"] == 0 and stats["relaying"]
    if engine.compiled_relay:
        # the plain leg relays into an encrypted one: neither direction may go the C way
        assert engine.compiled_figures["relayed"] == 0
    health = engine.health()
    assert health.gauges["srtp_legs"] == 1 and health.counters["srtp_auth_failures"] == 0
    s.close()
    p.close()


async def test_srtp_to_srtp_relay(engine: MediaEngine) -> None:
    a, ea, addr_a = await srtp_leg(engine)
    b, eb, addr_b = await srtp_leg(engine, "AEAD_AES_128_GCM")  # each leg its own suite and keys
    engine.bridge(ea, eb)
    ab, ba = coded_tone(600, 0.5), coded_tone(1300, 0.5)
    await asyncio.gather(a.stream(addr_a, ab), b.stream(addr_b, ba))
    await asyncio.sleep(0.15)
    assert b.audio() == ab and a.audio() == ba
    if engine.compiled_relay:
        assert engine.compiled_figures["relayed"] == 0
    a.close()
    b.close()


async def test_forged_and_replayed_packets_are_dropped_and_never_latch(engine: MediaEngine) -> None:
    s, es, addr_s = await srtp_leg(engine)
    p, ep, _ = await plain_leg(engine, 0xB)
    engine.bridge(es, ep)
    intruder = await RtpPeer.open(ssrc=0x666)
    forged = await SrtpPeer.open()  # the right suite, the wrong key
    for _ in range(5):
        intruder.send(addr_s, bytes(160))  # plain RTP to an encrypted leg
        forged.rtp_tp.sendto(forged.packet(bytes(160)), addr_s)
    await asyncio.sleep(0.1)
    assert p.received == [] and engine.leg_stats(es)["peer"] == ("127.0.0.1", s.port)  # still the SDP address
    first = s.packet(coded_tone(500, 0.02))
    s.rtp_tp.sendto(first, addr_s)
    await asyncio.sleep(0.05)
    s.rtp_tp.sendto(first, addr_s)  # a replay
    await asyncio.sleep(0.1)
    assert len(p.received) == 1
    assert engine.health().counters["srtp_auth_failures"] == 11
    for peer in (intruder, forged, s, p):
        peer.close()


async def test_encrypted_leg_sends_nothing_until_its_keys_are_agreed(engine: MediaEngine) -> None:
    s = await SrtpPeer.open()
    local = await engine.allocate(encrypted=True)  # we offered SRTP; the answer is not in yet
    engine.set_remote(local.endpoint_id, s.remote())
    engine.play(local.endpoint_id, tone="dial")
    await asyncio.sleep(0.3)
    assert s.rtp_in.datagrams == []
    engine.set_srtp(local.endpoint_id, s.keys())
    await asyncio.sleep(0.3)
    got = s.received()
    assert len(got) >= 10
    assert_continuous(got)
    s.close()


async def test_a_plain_answer_to_an_optional_offer_turns_the_leg_plain(engine: MediaEngine) -> None:
    p = await RtpPeer.open(ssrc=0xC)
    local = await engine.allocate(encrypted=True)
    engine.set_remote(local.endpoint_id, RemoteMedia("127.0.0.1", p.port, (ALAW,)))
    engine.set_srtp(local.endpoint_id, None)
    engine.play(local.endpoint_id, tone="dial")
    await asyncio.sleep(0.3)
    assert len(p.received) >= 10 and engine.health().gauges["srtp_legs"] == 0
    p.close()


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
async def test_srtcp_both_ways(compiled: bool) -> None:
    low, high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=high, rtcp_interval=0.2, compiled_relay=compiled),
                         EventBus())
    await engine.start()
    try:
        s, es, addr_s = await srtp_leg(engine)
        p, ep, addr_p = await plain_leg(engine, 0xB)
        engine.bridge(es, ep)
        await asyncio.gather(s.stream(addr_s, coded_tone(700, 0.6)), p.stream(addr_p, coded_tone(900, 0.6)))
        # the engine's reports are SRTCP: libsrtp authenticates them, and inside is an SR with our stream
        reports = [rtp.parse_rtcp(s.rx.unprotect_rtcp(d)) for d in s.rtcp_in.datagrams]
        assert reports
        assert any(r.sender is not None for c in reports for r in c.reports)
        assert all(b"media@appliance" not in d for d in s.rtcp_in.datagrams)  # the CNAME is encrypted too
        # the peer's SRTCP receiver report is read: it carries the round trip the E-model uses
        wall = time.time()
        sr = next(r for c in reports for r in c.reports if r.sender is not None)
        assert sr.sender is not None
        middle = ((sr.sender.ntp_sec & 0xFFFF) << 16) | (sr.sender.ntp_frac >> 16)
        engine_ssrc = s.received()[0].ssrc
        block = rtp.ReportBlock(engine_ssrc, 0, 0, 0, 0, middle, 0)
        s.rtcp_tp.sendto(s.tx.protect_rtcp(rtp.build_rr(s.ssrc, [block], "peer")), (addr_s[0], addr_s[1] + 1))
        await asyncio.sleep(0.1)
        assert engine._endpoints[es].rtt is not None and 0 <= engine._endpoints[es].rtt < time.time() - wall + 5
        assert tone_level(p.audio(), 700) > 3000
        s.close()
        p.close()
    finally:
        await engine.stop()
