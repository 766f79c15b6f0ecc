"""Frame ports: a driver's line (E1/PRI B-channel, analog port) behind an endpoint_id, pushing and pulling 20 ms
frames on its own clock.

Tests with RTP legs run on loopback in real time (both packet paths, through the `engine` fixture) and check
what survives a busy machine: bytes in order, tone levels. The others drive the engine's tick from a
ManualClock (`MediaEngine.run_tick`) interleaved with a simulated driver, so a minute of frames takes a
second and every frame is accounted for.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.clock import ManualClock
from appliance.events import EventBus
from appliance.media import MediaConfig, MediaEngine, RemoteMedia, g711
from appliance.media.events import DtmfReceived, LegQuality, PlaybackFinished, RecordingStopped
from appliance.media.fast_relay import MODE_UP
from appliance.media.frames import ElasticBuffer, FramePort
from appliance.media.tones import ToneGenerator, ToneSpec
from tests.media.conftest import Recorded, free_port_range
from tests.media.helpers import RtpPeer, read_wav, sine, tone_level, write_wav

ALAW_SILENCE = bytes([0xD5]) * 160


async def rtp_leg(engine: MediaEngine, ssrc: int) -> tuple[RtpPeer, str, tuple[str, int]]:
    peer = await RtpPeer.open(ssrc=ssrc)
    local = await engine.allocate(RemoteMedia("127.0.0.1", peer.port, (8, 0, 101)))
    assert local.codec.name == "PCMA"
    return peer, local.endpoint_id, (local.address, local.port)


async def drive(port: FramePort, frames: list[bytes], pulled: list[bytes], extra_pulls: int = 0) -> None:
    """A driver in real time: one push and one pull every 20 ms, against absolute deadlines."""
    start = time.monotonic()
    silence = bytes(port.frame_bytes) if port.law == "linear" else ALAW_SILENCE
    for k, frame in enumerate(frames + [silence] * extra_pulls):
        if k < len(frames):
            port.push(frame)
        pulled.append(port.pull())
        delay = start + (k + 1) * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def linear_frames(samples: np.ndarray) -> list[bytes]:
    data = samples.astype("<i2").tobytes()
    return [data[i:i + 320] for i in range(0, len(data) - 319, 320)]


def alaw_frames(samples: np.ndarray) -> list[bytes]:
    data = g711.encode(samples, "alaw")
    return [data[i:i + 160] for i in range(0, len(data) - 159, 160)]


# ---------------------------------------------------------------- the elastic buffer alone


def test_elastic_buffer_primes_then_slips_within_its_bounds() -> None:
    buf = ElasticBuffer("alaw", capacity=3, prime=2)
    buf.put(b"x" * 160)
    assert buf.take() == ALAW_SILENCE and buf.depth == 0  # closed: nothing taken in
    buf.set_open(True)
    buf.put(b"a" * 160)
    assert buf.take() == ALAW_SILENCE and buf.slips == 0  # not primed yet: start-up delay, not a slip
    buf.put(b"b" * 160)
    assert buf.take() == b"a" * 160 and buf.take() == b"b" * 160
    concealed = buf.take()
    assert concealed not in (b"b" * 160, ALAW_SILENCE) and buf.concealed == 1  # the last frame, -3 dB
    buf.take()
    assert buf.take() == ALAW_SILENCE and buf.concealed == 3  # then -9 dB, then silence
    for c in b"cdef":
        buf.put(bytes([c]) * 160)
    assert buf.dropped == 1 and buf.depth == 3 and buf.deepest == 3
    assert buf.take() == b"d" * 160  # the oldest was dropped
    buf.set_open(False)  # nobody feeds it any more: what it holds still goes out, then silence, uncounted
    buf.put(b"g" * 160)
    assert [buf.take() for _ in range(4)] == [b"e" * 160, b"f" * 160, ALAW_SILENCE, ALAW_SILENCE]
    assert buf.slips == 4
    buf.set_open(True)
    buf.put(b"h" * 160)
    assert buf.take() == ALAW_SILENCE  # primed afresh


def test_a_frame_of_the_wrong_size_is_refused() -> None:
    engine = MediaEngine(MediaConfig(), EventBus(), clock=ManualClock())
    port = engine.open_frame_port("linear")
    with pytest.raises(ValueError, match="320 bytes"):
        port.push(bytes(160))
    with pytest.raises(ValueError, match="'alaw' or 'linear'"):
        engine.open_frame_port("ulaw")  # type: ignore[arg-type]


# ---------------------------------------------------------------- with RTP legs, in real time


async def test_alaw_passes_through_to_and_from_an_rtp_leg_untouched(engine: MediaEngine) -> None:
    port = engine.open_frame_port("alaw")
    phone, leg_id, leg_addr = await rtp_leg(engine, 0xB)
    bridge = engine.bridge(port.endpoint_id, leg_id)
    assert engine.bridge_mode(bridge) == "relay"
    rnd = random.Random(7)
    line = [bytes(rnd.randrange(256) for _ in range(160)) for _ in range(50)]
    spoken = [bytes(rnd.randrange(256) for _ in range(160)) for _ in range(50)]
    pulled: list[bytes] = []
    await asyncio.gather(drive(port, line, pulled, extra_pulls=8), phone.stream(leg_addr, b"".join(spoken)))
    await asyncio.sleep(0.05)

    # line -> RTP: every frame, untouched, on one continuous stream with proper headers
    got = [r.packet for r in phone.received]
    assert [p.payload for p in got] == line
    assert {p.payload_type for p in got} == {8} and len({p.ssrc for p in got}) == 1
    assert all((q.sequence - p.sequence) & 0xFFFF == 1 for p, q in itertools.pairwise(got))
    assert all((q.timestamp - p.timestamp) & 0xFFFFFFFF == 160 for p, q in itertools.pairwise(got))
    assert port.relayed == 50

    # RTP -> line: the phone's frames arrive byte for byte, in order; anything else pulled is the start-up
    # silence or a counted slip (a busy machine may make the engine's tick late)
    index = {frame: i for i, frame in enumerate(spoken)}
    arrived = [index[f] for f in pulled if f in index]
    assert arrived == sorted(set(arrived)) and len(arrived) >= 40
    others = [f for f in pulled if f not in index and f != ALAW_SILENCE]
    assert len(others) <= port.tx.concealed + engine.leg_stats(leg_id)["lost"] + 3
    assert engine.bridge_mode(bridge) == "relay"
    if engine.compiled_relay:  # the RTP leg's packets went up from C; the port never entered the C table
        fd = engine._endpoints[leg_id].fd
        assert engine._fast is not None and engine._fast.legs[fd].mode == MODE_UP
    phone.close()


async def test_a_linear_port_in_a_conference_hears_the_others_and_is_heard(engine: MediaEngine) -> None:
    port = engine.open_frame_port("linear")
    a, ea, addr_a = await rtp_leg(engine, 0xA)
    b, eb, addr_b = await rtp_leg(engine, 0xB)
    bridge = engine.bridge(port.endpoint_id, ea, eb)
    assert engine.bridge_mode(bridge) == "mix"
    pulled: list[bytes] = []
    await asyncio.gather(drive(port, linear_frames(sine(600, 1.0)), pulled),
                         a.stream(addr_a, g711.encode(sine(1000, 1.0), "alaw")),
                         b.stream(addr_b, g711.encode(sine(1400, 1.0), "alaw")))
    await asyncio.sleep(0.1)
    line = np.frombuffer(b"".join(pulled[15:]), dtype="<i2")
    assert tone_level(line, 1000) > 2000 and tone_level(line, 1400) > 2000
    assert tone_level(line, 600) < 300  # not its own voice back
    heard_by_a = a.audio()[1500:]
    assert tone_level(heard_by_a, 600) > 2000 and tone_level(heard_by_a, 1400) > 2000
    assert tone_level(heard_by_a, 1000) < 300
    a.close()
    b.close()


async def test_a_frame_port_call_is_recorded(engine: MediaEngine, tmp_path: Path, events: Recorded) -> None:
    port = engine.open_frame_port("alaw")
    phone, leg_id, leg_addr = await rtp_leg(engine, 0xB)
    bridge = engine.bridge(port.endpoint_id, leg_id)
    rec = engine.start_recording(port.endpoint_id, leg_id, tmp_path / "call.wav")
    assert engine.bridge_mode(bridge) == "relay"  # the recording reads a decoded copy: still passthrough
    await asyncio.gather(drive(port, alaw_frames(sine(600, 1.0)), []),
                         phone.stream(leg_addr, g711.encode(sine(1000, 1.0), "alaw")))
    engine.stop_recording(rec)
    samples, channels = read_wav(tmp_path / "call.wav")
    assert channels == 2 and len(samples) // 2 > 6000
    left, right = samples[0::2][1000:], samples[1::2][1000:]
    assert tone_level(left, 600) > 2000 and tone_level(left, 1000) < 300  # the line
    assert tone_level(right, 1000) > 2000 and tone_level(right, 600) < 300  # the phone
    stopped = events.of("media.recording_stopped")
    assert isinstance(stopped[0], RecordingStopped) and stopped[0].error is None
    assert [p.payload for p in (r.packet for r in phone.received)][:5] == alaw_frames(sine(600, 1.0))[:5]
    phone.close()


async def test_the_rtp_stream_stays_continuous_across_passthrough_and_mixing(engine: MediaEngine,
                                                                             tmp_path: Path) -> None:
    """A prompt on the line's side takes the bridge to mixing and back; the phone sees one stream."""
    port = engine.open_frame_port("alaw", inband_dtmf=False)
    phone, leg_id, leg_addr = await rtp_leg(engine, 0xB)
    bridge = engine.bridge(port.endpoint_id, leg_id)
    prompt = write_wav(tmp_path / "beep.wav", sine(800, 0.2))

    async def meanwhile() -> None:
        await asyncio.sleep(0.3)
        engine.play(port.endpoint_id, prompt=prompt)
        assert engine.bridge_mode(bridge) == "mix"

    await asyncio.gather(drive(port, alaw_frames(sine(600, 1.2)), []), meanwhile(),
                         phone.stream(leg_addr, g711.encode(sine(1000, 1.2), "alaw")))
    assert engine.bridge_mode(bridge) == "relay"
    got = [r.packet for r in phone.received]
    assert len({p.ssrc for p in got}) == 1
    assert all((q.sequence - p.sequence) & 0xFFFF == 1 for p, q in itertools.pairwise(got))
    steps = [(q.timestamp - p.timestamp) & 0xFFFFFFFF for p, q in itertools.pairwise(got)]
    assert all(0 < s <= 160 * 4 for s in steps) and steps.count(160) > len(steps) * 0.8
    phone.close()


# ---------------------------------------------------------------- simulated time


@pytest.fixture
async def sim(bus: EventBus) -> AsyncIterator[tuple[MediaEngine, ManualClock]]:
    """An engine whose tick is driven by the test (no clock task), on a ManualClock."""
    clock = ManualClock()
    low, high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=high), bus, clock=clock)
    yield engine, clock
    await engine.stop()


def simulate(engine: MediaEngine, clock: ManualClock, seconds: float,
             drivers: list[tuple[float, float, Callable[[int], None]]]) -> None:
    """Run the engine's ticks (every 20 ms) and each driver's step (every `period`, from `offset`), in time
    order, for `seconds` of simulated time."""
    events: list[tuple[float, int, int]] = [(0.02 * j, 0, j) for j in range(1, int(seconds / 0.02) + 1)]
    for d, (offset, period, _step) in enumerate(drivers):
        events += [(offset + period * k, d + 1, k) for k in range(int((seconds - offset) / period) + 1)]
    for at, who, k in sorted(events):
        clock.now = at
        if who == 0:
            engine.run_tick()
        else:
            drivers[who - 1][2](k)


async def test_a_prompt_reaches_the_line_sample_for_sample(sim: tuple[MediaEngine, ManualClock],
                                                           tmp_path: Path, events: Recorded) -> None:
    engine, clock = sim
    port = engine.open_frame_port("linear", inband_dtmf=False)
    tone = sine(500, 0.4)
    engine.play(port.endpoint_id, prompt=write_wav(tmp_path / "prompt.wav", tone))
    pulled: list[bytes] = []
    simulate(engine, clock, 0.7, [(0.007, 0.02, lambda _k: pulled.append(port.pull()))])
    line = np.frombuffer(b"".join(pulled), dtype="<i2")
    start = int(np.flatnonzero(line)[0])
    assert np.array_equal(line[start:start + len(tone) - 1], tone[1:])  # (the sine's first sample is 0)
    assert not line[start + len(tone):].any() and port.slips == 0
    finished = events.of("media.playback_finished")
    assert len(finished) == 1 and isinstance(finished[0], PlaybackFinished)
    assert finished[0].endpoint_id == port.endpoint_id and not finished[0].interrupted


@pytest.mark.parametrize("law", ["alaw", "linear"])
async def test_inband_dtmf_from_a_frame_port_is_detected(sim: tuple[MediaEngine, ManualClock], events: Recorded,
                                                         law: str) -> None:
    engine, clock = sim
    heard: list[tuple[str, str]] = []
    port = engine.open_frame_port(law, on_dtmf=lambda endpoint_id, digit: heard.append((endpoint_id, digit)))  # type: ignore[arg-type]
    keys = {"1": (697.0, 1209.0), "5": (770.0, 1336.0), "9": (852.0, 1477.0), "#": (941.0, 1477.0)}
    samples = []
    for digit in "159#":  # the engine's own tone generator: 80 ms on, 80 ms off
        gen = ToneGenerator(ToneSpec(keys[digit], ((0.08, 0.08),), level_dbm0=-8.0))
        samples += [gen.frame() for _ in range(8)]
    frames = [g711.encode(f, "alaw") if law == "alaw" else f.astype("<i2").tobytes() for f in samples]
    silence = frames[-1]
    simulate(engine, clock, 1.0, [(0.011, 0.02, lambda k: port.push(frames[k] if k < len(frames) else silence))])
    digits = [e for e in events.of("media.dtmf") if isinstance(e, DtmfReceived)]
    assert [e.digit for e in digits] == list("159#")
    assert {(e.endpoint_id, e.source) for e in digits} == {(port.endpoint_id, "inband")}
    assert heard == [(port.endpoint_id, d) for d in "159#"]


@pytest.mark.parametrize("drift", [0.005, -0.005])
async def test_a_drifting_driver_clock_keeps_the_buffers_bounded_and_counts_the_slips(
        sim: tuple[MediaEngine, ManualClock], drift: float) -> None:
    """A minute of frames: line A's driver runs 0.5 % fast (or slow) against the engine, line B's at its
    rate; A and B are bridged (mixed: A-law decodes and encodes back to the same code words)."""
    engine, clock = sim
    a, b = engine.open_frame_port("alaw"), engine.open_frame_port("alaw")
    engine.bridge(a.endpoint_id, b.endpoint_id)
    pushed_a = [bytes(f) for f in np.random.default_rng(3).integers(0, 256, (3100, 160), dtype=np.uint8)]
    heard_by_b: list[bytes] = []

    def line_a(k: int) -> None:
        a.push(pushed_a[k])
        a.pull()

    def line_b(_k: int) -> None:
        b.push(ALAW_SILENCE)
        heard_by_b.append(b.pull())

    simulate(engine, clock, 60.0, [(0.005, 0.02 / (1 + drift), line_a), (0.013, 0.02, line_b)])
    expected = 3000 * abs(drift)  # frames the clocks drift apart in a minute
    assert a.rx.deepest <= 4 and a.tx.deepest <= 4  # bounded: never more than 80 ms held
    if drift > 0:  # A brings more than the engine takes, and takes more than the engine brings
        assert expected - 4 <= a.rx.dropped <= expected + 2 and a.rx.concealed == 0
        assert expected - 4 <= a.tx.concealed <= expected + 2 and a.tx.dropped == 0
    else:
        assert expected - 4 <= a.rx.concealed <= expected + 2 and a.rx.dropped == 0
        assert expected - 4 <= a.tx.dropped <= expected + 2 and a.tx.concealed == 0
    assert b.slips == 0
    assert engine.health().counters["frame_slips"] == a.slips
    # what B heard is A's line in order: a frame missing where A's buffer dropped one, a made-up one where
    # it ran dry, nothing else
    index = {frame: k for k, frame in enumerate(pushed_a)}
    heard = [index[f] for f in heard_by_b if f in index]
    assert heard == sorted(heard)
    assert sum(y - x - 1 for x, y in itertools.pairwise(heard)) == a.rx.dropped
    made_up = len(heard_by_b) - len(heard) - heard_by_b.index(pushed_a[heard[0]])  # after the start-up silence
    assert made_up == a.rx.concealed


async def test_release_leaves_nothing_behind(sim: tuple[MediaEngine, ManualClock], tmp_path: Path,
                                            events: Recorded) -> None:
    engine, clock = sim
    port = engine.open_frame_port("alaw")
    other = engine.open_frame_port("linear")
    peer = await RtpPeer.open()
    local = await engine.allocate(RemoteMedia("127.0.0.1", peer.port, (8,)))
    bridge = engine.bridge(port.endpoint_id, local.endpoint_id, other.endpoint_id)
    engine.start_recording(port.endpoint_id, local.endpoint_id, tmp_path / "r.wav")
    engine.play(other.endpoint_id, prompt=write_wav(tmp_path / "p.wav", sine(500, 1.0)))
    simulate(engine, clock, 0.2, [(0.005, 0.02, lambda _k: (port.push(ALAW_SILENCE), port.pull()))])
    assert engine.health().gauges["frame_ports"] == 2

    quality = engine.release(port.endpoint_id)
    assert isinstance(quality, LegQuality) and quality.endpoint_id == port.endpoint_id
    assert quality.packets_received == 10 and quality.mos > 4
    assert port.closed and not port.rx.is_open and not port.tx.is_open
    port.push(ALAW_SILENCE)  # a driver's late timer: ignored
    assert port.pull() == ALAW_SILENCE
    assert not engine._recordings.recordings  # the recording of the released leg stopped
    engine.release(other.endpoint_id)
    assert [e.endpoint_id for e in events.of("media.playback_finished")] == [other.endpoint_id]  # type: ignore[attr-defined]
    engine.release(local.endpoint_id)
    engine.run_tick()
    assert engine.endpoint_count == 0 and engine.ports_in_use == 0
    assert not engine._bridges.bridges and not engine._bridges.mixer.conferences
    assert engine._tick._mixed == [] and engine._tick._frame_outs == [] and engine._tick._frame_feeds == []
    health = engine.health()
    assert health.gauges["frame_ports"] == 0 and health.gauges["endpoints_in_use"] == 0
    assert health.counters["frames_pushed"] == 10
    with pytest.raises(Exception, match=bridge):
        engine.bridge_mode(bridge)
    peer.close()
