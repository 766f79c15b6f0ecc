"""The engine on loopback: real UDP packets between test peers and the engine's endpoints."""

from __future__ import annotations

import asyncio
import errno
import io
import itertools
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest

from appliance.errors import NotFound
from appliance.media import Direction, MediaEngine, PartyMask, RemoteMedia, g711
from appliance.media.dtmf import EventReceiver
from appliance.media.errors import NoCommonCodec
from appliance.media.events import DtmfReceived, PlaybackFinished, RecordingStopped, RtpTimeout
from tests.media.conftest import Recorded
from tests.media.helpers import FIXTURES, RtpPeer, read_pcap_udp, read_wav, sine, tone_level, write_wav

ALAW = 8


async def leg(engine: MediaEngine, ssrc: int, **kw: object) -> tuple[RtpPeer, str, tuple[str, int]]:
    peer = await RtpPeer.open(ssrc=ssrc)
    local = await engine.allocate(RemoteMedia("127.0.0.1", peer.port, (ALAW, 0, 101)), **kw)  # type: ignore[arg-type]
    assert local.codec.name == "PCMA" and local.telephone_event_pt == 101
    return peer, local.endpoint_id, (local.address, local.port)


def coded_tone(freq: float, seconds: float) -> bytes:
    return g711.encode(sine(freq, seconds), "alaw")


async def test_relay_rewrites_ssrc_sequence_and_timestamp_and_keeps_payload(engine: MediaEngine) -> None:
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    bridge = engine.bridge(ea, eb)
    assert engine.bridge_mode(bridge) == "relay"
    audio = coded_tone(700, 0.6)
    await asyncio.gather(a.stream(addr_a, audio), b.stream(addr_b, coded_tone(900, 0.6)))
    await asyncio.sleep(0.1)
    got = [r.packet for r in b.received]
    assert len(got) == 30
    assert len({p.ssrc for p in got}) == 1 and got[0].ssrc != 0xA
    assert all((q.sequence - p.sequence) & 0xFFFF == 1 for p, q in itertools.pairwise(got))
    assert all((q.timestamp - p.timestamp) & 0xFFFFFFFF == 160 for p, q in itertools.pairwise(got))
    assert b"".join(p.payload for p in got) == audio  # not decoded, not touched
    assert tone_level(a.audio(), 900) > 3000
    stats = engine.leg_stats(ea)
    assert stats["received"] == 30 and stats["lost"] == 0 and stats["relaying"]
    assert engine.leg_stats(eb)["sent"] == 30
    if engine.compiled_relay:  # the first packets of each leg latch and fix the offsets in Python
        assert engine.compiled_figures["relayed"] >= 2 * 30 - 6
    a.close()
    b.close()


async def test_relay_passes_lost_reordered_and_event_packets_and_counts_them(engine: MediaEngine,
                                                                             events: Recorded) -> None:
    """The relay's unusual packets (a gap, a late one, an RFC 4733 event) go through Python, plain ones through
    the compiled relay when it runs: the other leg gets every packet in the order sent, on one continuous
    stream, and the statistics count them the same either way."""
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    engine.bridge(ea, eb)
    frame = coded_tone(700, 0.02)
    # sequence numbers (offsets from 1000): a gap at 10, 12 after 13, an event taking 19-21
    order = [*range(10), 11, 13, 12, *range(14, 19), 19, 20, 21, *range(22, 33)]
    events_at = {19: 0x0A, 20: 0x8A, 21: 0x8A}  # digit 5; the end is sent more than once (RFC 4733 §2.5.1.4)

    async def send_a() -> None:
        await asyncio.sleep(0.05)  # b speaks first, so both legs are latched (and relayed in C when it runs)
        for n in order:
            a.seq = 1000 + n
            if n in events_at:
                a.ts = 50_000 + 19 * 160
                duration = 160 * (n - 18)
                a.send(addr_a, bytes([5, events_at[n], duration >> 8, duration & 0xFF]), pt=101,
                       marker=n == 19, advance=False)
            else:
                a.ts = 50_000 + n * 160
                a.send(addr_a, frame)
            await asyncio.sleep(0.02)

    await asyncio.gather(send_a(), b.stream(addr_b, coded_tone(900, 0.8)))
    await asyncio.sleep(0.1)
    got = [r.packet for r in b.received]
    assert [p.payload_type for p in got] == [101 if n in events_at else ALAW for n in order]
    first = got[0].sequence
    assert [(p.sequence - first) & 0xFFFF for p in got] == order
    assert len({p.ssrc for p in got}) == 1
    stats = engine.leg_stats(ea)
    assert (stats["received"], stats["lost"]) == (32, 1)
    assert [e.digit for e in events.of("media.dtmf") if isinstance(e, DtmfReceived)] == ["5"]
    if engine.compiled_relay:
        assert engine.compiled_figures["relayed"] >= 20
    a.close()
    b.close()


async def test_symmetric_rtp_answers_where_the_packets_come_from(engine: MediaEngine, events: Recorded) -> None:
    peer = await RtpPeer.open()
    other = await RtpPeer.open(ssrc=7)
    # the SDP says port 9, but the phone really sends from peer.port (NAT)
    local = await engine.allocate(RemoteMedia("127.0.0.1", 9, (ALAW,)))
    local_o = await engine.allocate(RemoteMedia("127.0.0.1", other.port, (ALAW,)))
    engine.bridge(local.endpoint_id, local_o.endpoint_id)
    await asyncio.gather(peer.stream(("127.0.0.1", local.port), coded_tone(500, 0.2)),
                         other.stream(("127.0.0.1", local_o.port), coded_tone(800, 0.2)))
    await asyncio.sleep(0.05)
    assert len(peer.received) >= 9
    assert events.of("media.peer_latched")[0].port == peer.port  # type: ignore[attr-defined]
    peer.close()
    other.close()


async def test_switch_relay_to_mix_and_back_without_a_gap(engine: MediaEngine, tmp_path: Path) -> None:
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    sup, es, _ = await leg(engine, 0xC)  # a supervisor who listens for a while and says nothing
    bridge = engine.bridge(ea, eb)

    async def switch() -> None:
        await asyncio.sleep(0.5)
        engine.add_party(bridge, es, PartyMask.listen())
        assert engine.bridge_mode(bridge) == "mix"
        await asyncio.sleep(0.5)
        engine.remove_party(bridge, es)
        assert engine.bridge_mode(bridge) == "relay"

    await asyncio.gather(a.stream(addr_a, coded_tone(600, 1.6)), b.stream(addr_b, coded_tone(600, 1.6)), switch())
    await asyncio.sleep(0.15)
    got = [r.packet for r in b.received]
    assert len({p.ssrc for p in got}) == 1
    seq_steps = {(q.sequence - p.sequence) & 0xFFFF for p, q in itertools.pairwise(got)}
    ts_steps = {(q.timestamp - p.timestamp) & 0xFFFFFFFF for p, q in itertools.pairwise(got)}
    assert seq_steps == {1}
    assert ts_steps <= {160, 320}  # at most one frame skipped at a switch, never a jump
    arrivals = [r.arrival for r in b.received]
    assert max(np.diff(arrivals)) < 0.06
    pcm = b.audio()
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160)
    quiet = [i for i, f in enumerate(frames[2:-2]) if np.abs(f).max() < 2000]
    assert quiet == []  # no silent frame where the switch happened (concealment repeats the last one)
    assert tone_level(sup.audio(), 600) > 3000  # the supervisor did hear the call
    a.close()
    b.close()
    sup.close()


async def test_listen_whisper_and_barge_masks(engine: MediaEngine) -> None:
    caller, ec, addr_c = await leg(engine, 1)
    agent, ea, addr_a = await leg(engine, 2)
    sup, es, addr_s = await leg(engine, 3)
    tones = {"caller": 500.0, "agent": 1100.0, "sup": 1700.0}
    peers = {"caller": caller, "agent": agent, "sup": sup}
    bridge = engine.bridge(ec, ea)
    engine.add_party(bridge, es, PartyMask.listen())
    results: dict[str, dict[str, dict[str, float]]] = {}

    async def phases() -> None:
        for name, mask in (("listen", PartyMask.listen()), ("whisper", PartyMask.whisper(ea)),
                           ("barge", PartyMask.barge())):
            engine.set_mask(bridge, es, mask)
            await asyncio.sleep(0.3)
            marks = {p: len(peer.received) for p, peer in peers.items()}
            await asyncio.sleep(0.6)
            results[name] = {}
            for p, peer in peers.items():
                pkts = peer.received[marks[p]:len(peer.received)]
                pcm = g711.decode(b"".join(r.packet.payload for r in pkts), "alaw")
                results[name][p] = {src: tone_level(pcm, f) for src, f in tones.items()}

    await asyncio.gather(caller.stream(addr_c, coded_tone(tones["caller"], 3.0)),
                         agent.stream(addr_a, coded_tone(tones["agent"], 3.0)),
                         sup.stream(addr_s, coded_tone(tones["sup"], 3.0)), phases())

    def hears(phase: str, who: str) -> set[str]:
        return {src for src, level in results[phase][who].items() if level > 1000}

    assert hears("listen", "sup") == {"caller", "agent"}
    assert hears("listen", "caller") == {"agent"} and hears("listen", "agent") == {"caller"}
    assert hears("whisper", "agent") == {"caller", "sup"}
    assert hears("whisper", "caller") == {"agent"}
    assert hears("whisper", "sup") == {"caller", "agent"}
    assert hears("barge", "caller") == {"agent", "sup"} and hears("barge", "agent") == {"caller", "sup"}
    await asyncio.sleep(0.1)
    for who, endpoint_id in (("caller", ec), ("agent", ea), ("sup", es)):
        # the stream's counters (RTCP's sender report) agree with what the phone got, wherever they were kept
        assert engine.leg_stats(endpoint_id)["sent"] == len(peers[who].received)
        assert engine.leg_stats(endpoint_id)["received"] == 150
    if engine.compiled_relay:  # mixed legs: payloads passed up to the jitter buffers, the mix sent from C
        figures = engine.compiled_figures
        assert figures["passed_up"] >= 3 * 150 - 15 and figures["sent"] >= 3 * 100
    for p in peers.values():
        p.close()


@pytest.mark.parametrize("name", ["dtmf_2833_0.pcap", "dtmf_2833_5.pcap", "dtmf_2833_star.pcap",
                                  "dtmf_2833_pound.pcap"])
async def test_rfc4733_capture_through_the_engine_is_one_event(engine: MediaEngine, events: Recorded,
                                                               name: str) -> None:
    peer, ep, addr = await leg(engine, 0x77)
    digits: list[str] = []
    engine._endpoints[ep].on_dtmf = lambda _e, d: digits.append(d)
    expected = {"star": "*", "pound": "#"}.get(name[10:-5], name[10:-5])
    for d in read_pcap_udp(FIXTURES / name):
        peer.transport.sendto(d.payload, addr)
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    got = [e for e in events.of("media.dtmf") if isinstance(e, DtmfReceived)]
    assert [(e.digit, e.source, e.endpoint_id) for e in got] == [(expected, "rfc4733", ep)]
    assert digits == [expected]
    peer.close()


async def test_inband_dtmf_through_the_engine(engine: MediaEngine, events: Recorded) -> None:
    peer, _ep, addr = await leg(engine, 0x78, inband_dtmf=True)
    samples, _ = read_wav(FIXTURES / "inband" / "all_keys.wav")
    await peer.stream(addr, g711.encode(samples, "alaw"))
    await asyncio.sleep(0.2)
    got = [e.digit for e in events.of("media.dtmf") if isinstance(e, DtmfReceived) and e.source == "inband"]
    assert "".join(got) == "123A456B789C*0#D"
    peer.close()


async def test_send_dtmf_reaches_the_peer_as_rfc4733(engine: MediaEngine) -> None:
    peer, ep, _ = await leg(engine, 0x79)
    engine.send_dtmf(ep, "42#", duration_ms=80)
    await asyncio.sleep(0.8)
    rx = EventReceiver()
    got = [rx.receive(r.packet.timestamp, r.packet.payload, 0.0) for r in peer.received
           if r.packet.payload_type == 101]
    assert [g.digit for g in got if g is not None] == ["4", "2", "#"]
    peer.close()


async def test_rtp_timeout_event(engine: MediaEngine, events: Recorded) -> None:
    peer, ep, addr = await leg(engine, 0x80)
    await peer.stream(addr, coded_tone(400, 0.1))
    await asyncio.sleep(1.6)  # timeout 0.5 s, checked once a second
    got = [e for e in events.of("media.rtp_timeout") if isinstance(e, RtpTimeout)]
    assert [e.endpoint_id for e in got] == [ep]
    peer.close()


async def test_prompt_with_barge_in_and_tones(engine: MediaEngine, events: Recorded, tmp_path: Path) -> None:
    peer, ep, addr = await leg(engine, 0x81)
    prompt = write_wav(tmp_path / "p.wav", sine(700, 3.0))
    engine.play(ep, prompt=prompt, barge_in=True)
    await asyncio.sleep(0.5)
    assert tone_level(peer.audio(), 700) > 3000
    for d in read_pcap_udp(FIXTURES / "dtmf_2833_1.pcap"):
        peer.transport.sendto(d.payload, addr)
    await asyncio.sleep(0.1)
    finished = [e for e in events.of("media.playback_finished") if isinstance(e, PlaybackFinished)]
    assert len(finished) == 1 and finished[0].interrupted
    mark = len(peer.received)
    engine.play(ep, tone="busy")
    await asyncio.sleep(0.7)
    pcm = g711.decode(b"".join(r.packet.payload for r in peer.received[mark:]), "alaw")
    assert tone_level(pcm, 450) > 1000 and tone_level(pcm, 700) < 100
    engine.stop_playing(ep)
    peer.close()


async def test_short_prompt_ends_with_an_event(engine: MediaEngine, events: Recorded, tmp_path: Path) -> None:
    peer, ep, _ = await leg(engine, 0x82)
    engine.play(ep, prompt=write_wav(tmp_path / "s.wav", sine(700, 0.2)))
    await asyncio.sleep(0.5)
    finished = [e for e in events.of("media.playback_finished") if isinstance(e, PlaybackFinished)]
    assert len(finished) == 1 and not finished[0].interrupted
    peer.close()


async def test_recording_has_caller_left_and_agent_right(engine: MediaEngine, tmp_path: Path) -> None:
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    bridge = engine.bridge(ea, eb)
    path = tmp_path / "call.wav"
    rec = engine.start_recording(ea, eb, path)
    assert engine.bridge_mode(bridge) == "relay"  # recording taps the relay, it does not stop it
    await asyncio.gather(a.stream(addr_a, coded_tone(600, 1.0)), b.stream(addr_b, coded_tone(1300, 1.0)))
    await asyncio.sleep(0.1)
    engine.stop_recording(rec)
    data, channels = read_wav(path)
    assert channels == 2
    left, right = data[0::2], data[1::2]
    assert 0.9 < len(left) / 8000 < 1.3
    assert tone_level(left, 600) > 3000 and tone_level(left, 1300) < 100
    assert tone_level(right, 1300) > 3000 and tone_level(right, 600) < 100
    a.close()
    b.close()


async def test_a_running_recording_reaches_the_disk_every_second(engine: MediaEngine, tmp_path: Path) -> None:
    """Each recording is flushed on its own tick slot once per interval, so a crash loses at most that."""
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    engine.bridge(ea, eb)
    paths = [tmp_path / f"call{i}.wav" for i in range(3)]
    recs = [engine.start_recording(ea, eb, p) for p in paths]
    await asyncio.gather(a.stream(addr_a, coded_tone(600, 1.5)), b.stream(addr_b, coded_tone(1300, 1.5)))
    for p in paths:  # still recording: the header already describes what is on disk
        data, channels = read_wav(p)
        assert channels == 2 and len(data) // 2 >= 0.4 * 8000
    for r in recs:
        engine.stop_recording(r)
    assert not engine._recordings.flush_slots
    a.close()
    b.close()


class _TinyDisk(io.FileIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > 44 + 32000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


async def test_full_disk_stops_recording_and_the_call_goes_on(bus: object, events: Recorded,
                                                              tmp_path: Path) -> None:
    from appliance.media import MediaConfig
    from tests.media.conftest import free_port_range
    low, high = free_port_range()

    def opener(p: Path) -> BinaryIO:
        return _TinyDisk(p, "w+")  # type: ignore[return-value]

    engine = MediaEngine(MediaConfig(port_low=low, port_high=high, recording_flush_interval=0.2),
                         bus, open_recording=opener)  # type: ignore[arg-type]
    await engine.start()
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    bridge = engine.bridge(ea, eb)
    engine.start_recording(ea, eb, tmp_path / "full.wav")
    await asyncio.gather(a.stream(addr_a, coded_tone(600, 2.0)), b.stream(addr_b, coded_tone(900, 2.0)))
    stopped = [e for e in events.of("media.recording_stopped") if isinstance(e, RecordingStopped)]
    assert len(stopped) == 1 and stopped[0].error == "No space left on device"
    assert engine.bridge_mode(bridge) == "relay"  # the call is up and still on the fast path
    assert len(b.received) > 90 and tone_level(b.audio()[-4000:], 600) > 3000
    data, _ = read_wav(tmp_path / "full.wav")
    assert len(data) > 0
    a.close()
    b.close()
    await engine.stop()


async def test_offer_answer_values_and_errors(engine: MediaEngine) -> None:
    with pytest.raises(NoCommonCodec):
        await engine.allocate(RemoteMedia("127.0.0.1", 4000, (18, 9)))
    local = await engine.allocate(RemoteMedia("127.0.0.1", 4000, (0, 8), telephone_event_pt=96,
                                              direction=Direction.SENDONLY))
    assert (local.codec.name, local.telephone_event_pt, local.direction) == ("PCMU", 96, Direction.RECVONLY)
    offer = await engine.allocate()
    assert offer.codec.name == "PCMA" and offer.port % 2 == 0
    answered = engine.set_remote(offer.endpoint_id, RemoteMedia("127.0.0.1", 4002, (0,)))
    assert answered.codec.name == "PCMU"
    with pytest.raises(NotFound):
        engine.play("nope", tone="dial")


async def test_release_frees_port_and_sockets(engine: MediaEngine, events: Recorded) -> None:
    peer, ep, addr = await leg(engine, 0x90)
    await peer.stream(addr, coded_tone(400, 0.2))
    assert engine.ports_in_use == 1
    quality = engine.release(ep)
    assert quality is not None and quality.packets_received == 10 and quality.mos > 4.0
    assert engine.ports_in_use == 0 and engine.endpoint_count == 0
    assert events.of("media.leg_quality")
    await asyncio.sleep(0)  # the transport closes its socket on the next loop pass
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(addr)  # the port is really free again
    peer.close()


async def test_rtcp_reports_loss_and_jitter_and_learns_round_trip(bus: object, tmp_path: Path) -> None:
    import socket as socketmod

    from appliance.media import MediaConfig, rtp
    from tests.media.conftest import free_port_range

    # a phone with RTP on an even port and RTCP on the next one (RFC 3550 §11)
    while True:
        rtp_sock = socketmod.socket(socketmod.AF_INET, socketmod.SOCK_DGRAM)
        rtp_sock.bind(("127.0.0.1", 0))
        port = rtp_sock.getsockname()[1]
        rtcp_sock = socketmod.socket(socketmod.AF_INET, socketmod.SOCK_DGRAM)
        try:
            rtcp_sock.bind(("127.0.0.1", port + 1))
            break
        except OSError:
            rtp_sock.close()
            rtcp_sock.close()
    rtcp_sock.setblocking(False)
    low, high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=high, rtcp_interval=1.0), bus)  # type: ignore[arg-type]
    await engine.start()
    local = await engine.allocate(RemoteMedia("127.0.0.1", port, (ALAW,)))
    frame = coded_tone(500, 0.02)
    for i in range(60):
        if i % 10 != 3:  # lose one packet in ten
            rtp_sock.sendto(rtp.build_rtp(8, 100 + i, i * 160, 0xCAFE, frame), (local.address, local.port))
        await asyncio.sleep(0.02)
    await asyncio.sleep(1.2)
    reports = []
    while True:
        try:
            reports.append(rtp.parse_rtcp(rtcp_sock.recv(2048)))
        except BlockingIOError:
            break
    assert reports
    blocks = [b for c in reports for r in c.reports for b in r.blocks if b.ssrc == 0xCAFE]
    assert blocks and blocks[-1].cumulative_lost == 6 and blocks[-1].highest_seq == 159
    assert all(c.cnames for c in reports)
    # the phone's report quotes a sender report of ours that left 50 ms ago (LSR) and was answered at
    # once (DLSR 0): the engine takes the round trip from it (RFC 3550 §6.4.1)
    engine_ssrc = engine._endpoints[local.endpoint_id].ssrc
    block = rtp.ReportBlock(engine_ssrc, 0, 0, 0, 0, lsr=rtp.ntp_middle32(engine.clock.wall() - 0.05), dlsr=0)
    rtcp_sock.sendto(rtp.build_rr(0xCAFE, [block], "phone"), (local.address, local.port + 1))
    await asyncio.sleep(0.05)
    rtt = engine._endpoints[local.endpoint_id].rtt
    assert rtt is not None and 0.05 <= rtt < 0.2
    quality = engine.release(local.endpoint_id)
    assert quality is not None and quality.packets_lost == 6 and quality.mos < 4.3
    rtp_sock.close()
    rtcp_sock.close()
    await engine.stop()


@pytest.mark.skipif(__import__("shutil").which("lame") is None, reason="lame is not installed")
async def test_recording_is_also_written_as_mp3(engine: MediaEngine, tmp_path: Path) -> None:
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    engine.bridge(ea, eb)
    rec = engine.start_recording(ea, eb, tmp_path / "m.wav", mp3=True)
    await asyncio.gather(a.stream(addr_a, coded_tone(600, 0.5)), b.stream(addr_b, coded_tone(900, 0.5)))
    engine.stop_recording(rec)
    for _ in range(100):
        if (tmp_path / "m.mp3").exists() and not engine._recordings.side_tasks:
            break
        await asyncio.sleep(0.05)
    assert (tmp_path / "m.mp3").stat().st_size > 1000
    a.close()
    b.close()


async def test_legs_with_different_laws_are_transcoded(engine: MediaEngine) -> None:
    a = await RtpPeer.open(ssrc=0xA1, payload_type=8)
    u = await RtpPeer.open(ssrc=0xB1, payload_type=0)
    la = await engine.allocate(RemoteMedia("127.0.0.1", a.port, (8,)))
    lu = await engine.allocate(RemoteMedia("127.0.0.1", u.port, (0,)))
    assert (la.codec.name, lu.codec.name) == ("PCMA", "PCMU")
    bridge = engine.bridge(la.endpoint_id, lu.endpoint_id)
    assert engine.bridge_mode(bridge) == "mix"  # no relay between different codecs
    await asyncio.gather(a.stream((la.address, la.port), g711.encode(sine(700, 0.6), "alaw")),
                         u.stream((lu.address, lu.port), g711.encode(sine(1200, 0.6), "ulaw")))
    await asyncio.sleep(0.1)
    assert {r.packet.payload_type for r in u.received} == {0}
    assert tone_level(u.audio("ulaw", 0), 700) > 3000
    assert tone_level(a.audio("alaw", 8), 1200) > 3000
    a.close()
    u.close()


async def test_hold_stops_sending_and_resume_continues_the_stream(engine: MediaEngine, tmp_path: Path) -> None:
    peer, ep, _ = await leg(engine, 0xD1)
    engine.play(ep, prompt=write_wav(tmp_path / "m.wav", sine(500, 1.0)), loop=True)
    await asyncio.sleep(0.3)
    # the phone puts us on hold without music: a=inactive
    engine.set_remote(ep, RemoteMedia("127.0.0.1", peer.port, (ALAW,), direction=Direction.INACTIVE))
    await asyncio.sleep(0.05)
    before = len(peer.received)
    await asyncio.sleep(0.3)
    assert len(peer.received) == before
    engine.set_remote(ep, RemoteMedia("127.0.0.1", peer.port, (ALAW,), direction=Direction.SENDRECV))
    await asyncio.sleep(0.3)
    got = [r.packet for r in peer.received]
    assert len(got) > before + 10
    assert len({p.ssrc for p in got}) == 1
    assert all((q.sequence - p.sequence) & 0xFFFF == 1 for p, q in itertools.pairwise(got))
    peer.close()


async def test_reinvite_to_a_new_address_moves_the_stream(engine: MediaEngine) -> None:
    first = await RtpPeer.open(ssrc=0xE1)
    second = await RtpPeer.open(ssrc=0xE1)  # same phone, new port, same SSRC
    local = await engine.allocate(RemoteMedia("127.0.0.1", first.port, (ALAW,)))
    engine.play(local.endpoint_id, tone="dial")
    await first.stream((local.address, local.port), coded_tone(400, 0.2))
    engine.set_remote(local.endpoint_id, RemoteMedia("127.0.0.1", second.port, (ALAW,)))
    mark = len(first.received)
    await asyncio.sleep(0.3)
    assert len(first.received) - mark <= 2 and len(second.received) > 10
    first.close()
    second.close()


async def test_clock_keeps_50_packets_a_second_without_drift(engine: MediaEngine) -> None:
    peer, ep, _ = await leg(engine, 0xF1)
    engine.play(ep, tone="dial")
    await asyncio.sleep(0.2)
    start, first = len(peer.received), peer.received[-1].arrival if peer.received else 0.0
    await asyncio.sleep(3.0)
    got = peer.received[start:]
    elapsed = got[-1].arrival - first
    # 3 s of 20 ms ticks: a sleep(0.02) loop would fall behind by the tick's own run time every time
    assert abs(len(got) - elapsed / 0.02) <= 2
    assert engine.ticks_skipped == 0
    ts = [r.packet.timestamp for r in got]
    assert set(np.diff(ts)) == {160}
    peer.close()


async def test_stop_releases_everything_and_start_again_works(bus: object) -> None:
    from appliance.media import MediaConfig
    from tests.media.conftest import free_port_range
    low, high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=high), bus)  # type: ignore[arg-type]
    await engine.start()
    a = await engine.allocate(RemoteMedia("127.0.0.1", 4000, (ALAW,)))
    b = await engine.allocate(RemoteMedia("127.0.0.1", 4002, (ALAW,)))
    engine.bridge(a.endpoint_id, b.endpoint_id)
    await engine.stop()
    assert engine.endpoint_count == 0 and engine.ports_in_use == 0 and not engine._tick.running
    await asyncio.sleep(0)
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((a.address, a.port))
    await engine.start()
    c = await engine.allocate()
    assert c.port >= low
    await engine.stop()


async def test_latched_socket_is_connected_and_follows_a_moved_peer(engine: MediaEngine, events: Recorded) -> None:
    """The RTP socket is connected to the latched source (others are filtered by the kernel) and is let go
    when the SDP moves the media, so the new address latches."""
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    engine.bridge(ea, eb)
    stray = await RtpPeer.open(ssrc=0x5)
    await asyncio.gather(a.stream(addr_a, coded_tone(500, 0.2)), b.stream(addr_b, coded_tone(700, 0.2)))
    await asyncio.sleep(0.05)
    assert engine._endpoints[ea].connected and engine.leg_stats(ea)["peer"] == ("127.0.0.1", a.port)
    await stray.stream(addr_a, coded_tone(900, 0.1))  # a stray source while the peer speaks: not taken
    await asyncio.sleep(0.05)
    assert engine.leg_stats(ea)["peer"] == ("127.0.0.1", a.port) and not stray.received

    moved = await RtpPeer.open(ssrc=0xA)  # a re-INVITE moves the phone's media to a new port
    engine.set_remote(ea, RemoteMedia("127.0.0.1", moved.port, (ALAW, 0, 101)))
    assert not engine._endpoints[ea].connected
    b.received.clear()
    await asyncio.gather(moved.stream(addr_a, coded_tone(500, 0.2)), b.stream(addr_b, coded_tone(700, 0.2)))
    await asyncio.sleep(0.05)
    assert engine.leg_stats(ea)["peer"] == ("127.0.0.1", moved.port)
    assert len(moved.received) >= 8 and len(b.received) >= 8
    assert [e.port for e in events.of("media.peer_latched")].count(moved.port) == 1  # type: ignore[attr-defined]
    for p in (a, b, stray, moved):
        p.close()


@pytest.mark.slow
async def test_same_stream_from_a_new_address_latches_after_a_second_of_silence(engine: MediaEngine) -> None:
    """A NAT binding that changed: the connected socket is let go once its source has been silent for a
    second, and the same SSRC from the new address is taken."""
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    engine.bridge(ea, eb)
    await a.stream(addr_a, coded_tone(500, 0.2))
    assert engine._endpoints[ea].connected
    await asyncio.sleep(2.2)  # silent: the once-a-second sweep disconnects within two seconds
    assert not engine._endpoints[ea].connected
    rebound = await RtpPeer.open(ssrc=0xA)
    rebound.seq, rebound.ts = a.seq, a.ts
    b.received.clear()
    await asyncio.gather(rebound.stream(addr_a, coded_tone(500, 0.2)), b.stream(addr_b, coded_tone(700, 0.2)))
    await asyncio.sleep(0.05)
    assert engine.leg_stats(ea)["peer"] == ("127.0.0.1", rebound.port) and engine._endpoints[ea].connected
    assert len(rebound.received) >= 8 and len(b.received) >= 8
    for p in (a, b, rebound):
        p.close()


async def test_a_peer_that_went_away_does_not_break_the_other_direction(engine: MediaEngine) -> None:
    """ICMP port unreachable from a closed phone shows up as errors on the connected socket: dropped."""
    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    engine.bridge(ea, eb)
    await asyncio.gather(a.stream(addr_a, coded_tone(500, 0.1)), b.stream(addr_b, coded_tone(700, 0.1)))
    a.close()  # b's packets now go to a closed port: ICMP errors come back to a's endpoint socket
    a.received.clear()
    b.received.clear()
    await b.stream(addr_b, coded_tone(700, 0.3))
    other = await RtpPeer.open(ssrc=0xA)
    other.seq, other.ts = a.seq, a.ts
    await asyncio.sleep(0.05)
    assert engine.leg_stats(eb)["received"] >= 20
    engine.set_remote(ea, RemoteMedia("127.0.0.1", other.port, (ALAW, 0, 101)))
    await asyncio.gather(other.stream(addr_a, coded_tone(500, 0.2)), b.stream(addr_b, coded_tone(700, 0.2)))
    await asyncio.sleep(0.05)
    assert len(other.received) >= 8 and len(b.received) >= 8
    b.close()
    other.close()


async def test_rtcp_on_the_rtp_port_does_not_take_the_leg(engine: MediaEngine, events: Recorded) -> None:
    """A peer that multiplexes RTCP onto the RTP port (RFC 5761) without asking: not a new stream."""
    from appliance.media import rtp as rtpmod

    a, ea, addr_a = await leg(engine, 0xA)
    b, eb, addr_b = await leg(engine, 0xB)
    engine.bridge(ea, eb)
    await asyncio.gather(a.stream(addr_a, coded_tone(500, 0.2)), b.stream(addr_b, coded_tone(700, 0.2)))
    latched = len(events.of("media.peer_latched"))
    a.transport.sendto(rtpmod.build_rr(0xA, [], "phone@example"), addr_a)
    await a.stream(addr_a, coded_tone(500, 0.1))
    await asyncio.sleep(0.05)
    assert len(events.of("media.peer_latched")) == latched
    assert engine.leg_stats(ea)["received"] == 15 and engine.leg_stats(ea)["lost"] == 0
    a.close()
    b.close()
