"""RTP media engine: relay, mixing, prompts, tones, DTMF, recording and call-quality figures.

Modules: `rtp` (RFC 3550 packets, RTCP, statistics), `g711` (codec tables), `jitter` (adaptive jitter buffer),
`dtmf` (RFC 4733 events), `inband` (Goertzel DTMF detector, ITU-T Q.24), `tones` (call-progress tones),
`player`, `recorder`, `mixer` (masks, batched), `quality` (E-model MOS) are sans-IO. The asyncio shell is
`service.MediaEngine`, a façade over `ports` (sockets, latching), `packets` (the per-packet path, with the
compiled `_rtp_relay.c` through `fast_relay`), `bridges` (relay or mix), `playback` (prompts, tones, DTMF),
`recordings`, `rtcp_reports`, `frames` (frame ports) and `tick` (the 20 ms clock), sharing `core.Core`;
`endpoint` is one leg (RTP, or a frame port's); `srtp` puts SRTP/SRTCP (libsrtp) between an encrypted leg and
its socket.
The composition root freezes start-up objects out of the garbage collector's full passes for the media path's
timing (`appliance.process_memory.settle_heap`).

Engine API for call control
---------------------------
All values are structured; SDP text stays in the SIP layer.

    engine = MediaEngine(MediaConfig(bind_address=..., port_low=20000, port_high=29998), bus)
    await engine.start()

    # incoming call: the caller's offer -> our answer (address, port, codec, telephone-event PT, ptime)
    local: LocalMedia = await engine.allocate(RemoteMedia(address, port, payload_types=(8, 0, 101),
                                              telephone_event_pt=101, ptime_ms=20,
                                              direction=Direction.SENDRECV))
    # outgoing call: allocate first (we offer local.codec and local.telephone_event_pt), then the answer:
    local_b = await engine.allocate()
    engine.set_remote(local_b.endpoint_id, RemoteMedia(...))   # also for re-INVITEs (hold = direction)
    # legs from FXO ports that cannot send RFC 4733: allocate(..., inband_dtmf=True)
    # per-leg DTMF callback: allocate(..., on_dtmf=lambda endpoint_id, digit: ...)
    # SRTP (keys as SDES agreed them, see appliance.sip.sdes): allocate(remote, srtp=SrtpKeys(suite, tx, rx));
    # offering SRTP: allocate(encrypted=True) sends and takes nothing until set_srtp(endpoint_id, keys), or
    # set_srtp(endpoint_id, None) when the peer answered plain RTP where SRTP was optional

    # a driver's line (E1/PRI B-channel, analog port): a frame port, used by endpoint_id like any leg
    port: FramePort = engine.open_frame_port("alaw")   # or "linear"; inband_dtmf=True, on_dtmf=... as above
    port.push(frame)                   # every 20 ms of the driver's clock: 160 bytes A-law, or 320 bytes of
    frame = port.pull()                # 16-bit little-endian samples; both from the engine's event loop
    engine.bridge(port.endpoint_id, local.endpoint_id)   # A-law <-> PCMA: passed through untouched

    bridge_id = engine.bridge(local.endpoint_id, local_b.endpoint_id)      # relays when it can
    engine.add_party(bridge_id, supervisor_id, PartyMask.listen())          # hears both, heard by none
    engine.set_mask(bridge_id, supervisor_id, PartyMask.whisper(agent_id))  # heard by the agent only
    engine.set_mask(bridge_id, supervisor_id, PartyMask.barge())            # everybody
    engine.remove_party(bridge_id, supervisor_id); engine.unbridge(bridge_id)

    engine.play(endpoint_id, prompt=Path("welcome.wav"), barge_in=True)    # 8 kHz 16-bit WAV
    engine.play(endpoint_id, prompt=Path("hold.wav"), loop=True)           # hold music
    engine.play(endpoint_id, tone="ringback")    # dial, ringback, busy, congestion, call_waiting
    engine.stop_playing(endpoint_id)
    engine.send_dtmf(endpoint_id, "123#")        # RFC 4733 to the peer

    rec_id = engine.start_recording(caller_id, agent_id, Path("call.wav"), mp3=False)  # stereo L=caller R=agent
    rec_id = engine.start_recording(caller_id, None, Path("ivr.wav"))   # no agent yet: right channel silent
    engine.stop_recording(rec_id)                # WAV closed; with mp3=True, lame writes call.mp3 beside it

    engine.bridge_mode(bridge_id)                # "relay" (packets forwarded untouched) or "mix"
    engine.leg_stats(endpoint_id)                # received, lost, jitter_ms, sent, r_factor, mos, peer, ...

    quality: LegQuality | None = engine.release(endpoint_id)   # sockets, port, files freed; CDR figures
    # (release also leaves the bridge and stops recordings and prompts of that leg; a frame port closes:
    # push is ignored and pull gives silence after it)
    await engine.stop()                                        # releases everything still allocated
    engine.health()                    # appliance.health.Health: counters, gauges, the packet path in detail

Recording and in-band detection tap the relay (a decoded copy), so they do not take a call off the fast path;
a prompt, a tone, DTMF being sent, a third party or a mask does, and the bridge returns to relaying when they end.

Frame ports (`frames.py`) are the media side of E1/PRI B-channels and analog lines; the drivers come later.
A driver pushes the line's audio and pulls the line's audio in 20 ms frames on its own clock. Everything the
engine does by endpoint_id works on a frame port: two-party and conference bridges, masks, prompts and
tones, recordings, in-band DTMF detection (on by default: TDM and analog lines carry no RFC 4733) and its
events. Its frames cross between the driver's clock and the engine's through small bounded elastic buffers
(four frames, two before the first frame plays): a clock running faster or slower costs a dropped or a
repeated frame now and then, counted (`leg_stats`: slips_in, slips_out; health: frame_slips), never a
growing delay. An A-law port bridged two-party to a PCMA leg with no prompt, tone, mask or DTMF being sent
passes through without transcoding: each pushed frame goes out at once as RTP on the leg's continuous
stream, and the leg's code words reach the port untouched through its jitter buffer and the tick. Frame
ports never enter the compiled packet path.

SRTP legs (`srtp.py`) protect every packet they send and check every packet they receive, RTP and RTCP, in
Python: the compiled packet path never takes an encrypted leg, nor a leg relayed into one (it reads and
writes the sockets itself). A packet failing authentication or the replay check is dropped before it can
latch a source and counted (health: srtp_auth_failures; gauge srtp_legs).

Events on the EventBus (topics "media.*"): `DtmfReceived` (media.dtmf), `RtpTimeout` (media.rtp_timeout: no
packets for `MediaConfig.rtp_timeout` seconds — end the dead call), `PlaybackFinished`, `RecordingStopped`
(with `error` when the disk filled: the call stays up), `PeerLatched`, `LegQuality` (R-factor and MOS for the
CDR, published by `release`). Errors: `NoPortAvailable`, `NoCommonCodec` (answer 488), `BadPrompt`, and
`appliance.errors.NotFound` for an unknown endpoint or bridge.

A repair command for recordings cut off by a crash: `python -m appliance.media.recorder repair FILE...`.
"""

from appliance.media.frames import FramePort
from appliance.media.models import (
    PCMA,
    PCMU,
    Codec,
    Direction,
    LocalMedia,
    MediaConfig,
    PartyMask,
    RemoteMedia,
    SrtpKeys,
)
from appliance.media.service import MediaEngine

__all__ = [
    "PCMA",
    "PCMU",
    "Codec",
    "Direction",
    "FramePort",
    "LocalMedia",
    "MediaConfig",
    "MediaEngine",
    "PartyMask",
    "RemoteMedia",
    "SrtpKeys",
]
