"""The media engine's façade: what call control calls (see the package docstring), over parts with one job each.

- `ports.Ports` — RTP/RTCP port pairs, binding, symmetric RTP (latching), connect and disconnect;
- `packets.PacketPath` — per packet: the epoll set, relay, the jitter buffers' input (the compiled path in
  `_rtp_relay.c` through `fast_relay.py` where it is built);
- `bridges.Bridges` — bridges, masks, and relay-or-mix for each bridge;
- `playback.Playback` — prompts, tones, DTMF sent, digits heard;
- `recordings.Recordings` — stereo WAV recordings;
- `rtcp_reports.RtcpReports` — RTCP on port + 1;
- `tick.Tick` — the 20 ms clock: decoding, detection, mixing, generated sends, housekeeping;
- `frames.FramePorts` — frame ports: a driver's line (E1/PRI B-channel, analog port) behind an endpoint_id.

The engine owns every socket, task and file of the media path; `core.Core` holds what the parts share. Time is
read only from the injected clock.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from appliance.clock import Clock, SystemClock
from appliance.events import EventBus
from appliance.health import Health, Status
from appliance.media import g711
from appliance.media.bridges import Bridges
from appliance.media.core import Core
from appliance.media.endpoint import DtmfCallback, Endpoint
from appliance.media.errors import NoCommonCodec, not_rtp
from appliance.media.events import LegQuality
from appliance.media.fast_relay import FastRelay
from appliance.media.fast_relay import load as load_fast_relay
from appliance.media.frames import FrameLaw, FramePort, FramePorts
from appliance.media.inband import InbandDetector
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
from appliance.media.packets import PacketPath
from appliance.media.playback import Playback
from appliance.media.ports import Ports
from appliance.media.quality import estimate
from appliance.media.recordings import Recordings
from appliance.media.rtcp_reports import RtcpReports
from appliance.media.srtp import SrtpContext
from appliance.media.srtp import unwrap as unwrap_srtp
from appliance.media.srtp import wrap as wrap_srtp
from appliance.media.tick import Tick

log = logging.getLogger(__name__)

_CODECS = {"PCMA": PCMA, "PCMU": PCMU}
_LAW: dict[int, g711.Law] = {PCMA.payload_type: "alaw", PCMU.payload_type: "ulaw"}
_ANSWER_DIRECTION = {
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}


class MediaEngine:
    """See the package docstring for how call control uses it."""

    def __init__(self, config: MediaConfig, bus: EventBus, clock: Clock | None = None,
                 open_recording: Callable[[Path], BinaryIO] | None = None) -> None:
        self.config = config
        self.bus = bus
        self.clock: Clock = clock or SystemClock()
        lib, why = load_fast_relay() if config.compiled_relay else (None, "configured")
        fast = FastRelay(lib) if lib is not None else None
        self._why_python = why  # why the packet path is Python's, when it is
        self._core = core = Core(config, bus, self.clock, fast)
        self._endpoints = core.endpoints
        self._fast = fast
        self._reports = RtcpReports(core)
        self._ports = Ports(core, self._reports.received)
        self._bridges = Bridges(core)
        self._playback = Playback(core, self._bridges)
        self._recordings = Recordings(core, self._bridges, open_recording)
        self._packets = PacketPath(core, self._ports, self._playback.digit)
        self._tick = Tick(core, self._bridges, self._packets, self._playback, self._recordings, self._ports,
                          self._reports)
        self._frames = FramePorts(core, self._packets.send)
        self._srtp_auth_failures = 0  # of released (or no longer encrypted) legs; live ones are added up

    @property
    def compiled_relay(self) -> bool:
        """Whether plain two-party audio is relayed by the compiled relay (else in Python)."""
        return self._fast is not None

    @property
    def compiled_figures(self) -> dict[str, int]:
        """What the compiled path has done: packets relayed, payloads passed up to jitter buffers, frames
        the tick sent, descriptors or rows it refused, sends the kernel refused (all 0 without it)."""
        f = self._fast
        if f is None:
            return dict.fromkeys(("relayed", "passed_up", "sent", "refused", "send_failures"), 0)
        return {"relayed": f.relayed, "passed_up": f.passed_up, "sent": f.sent, "refused": f.refused,
                "send_failures": f.send_failures}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._tick.running:
            return
        self._packets.start()
        self._tick.start()
        log.info("media: RTP ports %d-%d, packet path %s", self.config.port_low, self.config.port_high,
                 "compiled" if self._fast is not None else "Python")

    async def stop(self) -> None:
        for endpoint_id in list(self._endpoints):
            self.release(endpoint_id)
        self._packets.stop()
        await self._tick.stop()
        await self._recordings.wait_side_tasks()

    # ---------------------------------------------------------------- endpoints

    async def allocate(self, remote: RemoteMedia | None = None, *, inband_dtmf: bool = False,
                       on_dtmf: DtmfCallback | None = None, srtp: SrtpKeys | None = None,
                       encrypted: bool = False) -> LocalMedia:
        """A new endpoint. With `remote` (the peer's offer) the codec is chosen from it (the peer's order, as
        RFC 3264 §6.1 asks of an answerer); without, we are the offerer and `set_remote` follows the answer.
        With `srtp` (or `encrypted`: keys to come with `set_srtp`, nothing sent or taken until then) its RTP
        and RTCP are SRTP and SRTCP (`srtp.py`), on the Python packet path."""
        codec = self._choose_codec(remote)
        te_pt: int | None = self.config.telephone_event_pt
        if remote is not None:
            te_pt = remote.telephone_event_pt
        direction = _ANSWER_DIRECTION[remote.direction] if remote is not None else Direction.SENDRECV
        endpoint_id = self._core.new_id("ep")
        ep = Endpoint(endpoint_id=endpoint_id, codec=codec, law=_LAW[codec.payload_type], te_pt=te_pt,
                      direction=direction, ssrc=secrets.randbits(32), out_seq=secrets.randbits(16),
                      out_ts=secrets.randbits(32))
        ep.stats.clock_rate = codec.clock_rate
        ep.sends = direction.we_send
        ep.audio_pt = codec.payload_type
        ep.on_dtmf = on_dtmf
        if inband_dtmf:
            ep.inband = InbandDetector()
        await self._ports.open(ep)
        if srtp is not None or encrypted:
            try:
                wrap_srtp(ep, SrtpContext(srtp))
            except ValueError:
                self._ports.close(ep)
                raise
        try:
            self._packets.watch(ep)
        except BaseException:
            self._ports.close(ep)
            raise
        ep.last_rx = self._core.now()
        ep.last_rtcp = ep.last_rx - secrets.randbelow(1000) / 1000 * self.config.rtcp_interval  # spread
        if remote is not None:
            self._ports.apply_remote(ep, remote)
        self._endpoints[endpoint_id] = ep
        self._bridges.reconcile_endpoint(ep)
        return self._local(ep)

    def set_remote(self, endpoint_id: str, remote: RemoteMedia) -> LocalMedia:
        """The answer to our offer, or a new offer in a re-INVITE (hold is a direction change)."""
        ep = self._core.endpoint(endpoint_id)
        if ep.frame is not None:
            raise not_rtp(endpoint_id)
        codec = self._choose_codec(remote)
        self._core.own(ep)
        if codec != ep.codec:
            ep.codec = codec
            ep.audio_pt = codec.payload_type
            ep.law = _LAW[codec.payload_type]
            self._core.plan_dirty = True  # the tick decodes and encodes by the planned laws
            if ep.jitter is not None:
                ep.jitter = self._core.new_jitter(ep)  # (the tick holds the old buffer's pop until it replans)
        ep.te_pt = remote.telephone_event_pt
        ep.direction = _ANSWER_DIRECTION[remote.direction]
        ep.sends = ep.direction.we_send
        self._ports.apply_remote(ep, remote)
        self._bridges.reconcile(ep.bridge_id)
        return self._local(ep)

    def set_srtp(self, endpoint_id: str, keys: SrtpKeys | None) -> None:
        """The keys SDES agreed for an encrypted endpoint (the answer to our offer, or a re-key in a new
        offer/answer), or None: the peer answered plain RTP to an offer where SRTP was optional."""
        ep = self._core.endpoint(endpoint_id)
        if ep.frame is not None:
            raise not_rtp(endpoint_id)
        self._core.own(ep)  # (and the leg relayed into it: neither may stay in C once it is encrypted)
        if keys is None:
            if ep.srtp is not None:
                self._srtp_auth_failures += ep.srtp.figures.auth_failures
                unwrap_srtp(ep)
            return
        if ep.srtp is None:
            wrap_srtp(ep, SrtpContext(keys))
        else:
            ep.srtp.set_keys(keys)

    def release(self, endpoint_id: str) -> LegQuality | None:
        """Tear down one endpoint (an RTP leg or a frame port): sockets closed, port freed, out of its bridge,
        recordings and prompts stopped. Returns (and publishes) the leg's quality figures for the CDR."""
        ep = self._endpoints.pop(endpoint_id, None)
        if ep is None:
            return None
        for rec_id in list(ep.recordings):
            self._recordings.stop(rec_id)
        if ep.player is not None:
            self._playback.finish(ep, interrupted=True)
        if ep.bridge_id is not None:
            self._bridges.leave(ep)
        if ep.srtp is not None:
            self._srtp_auth_failures += ep.srtp.figures.auth_failures
        if ep.frame is not None:
            self._frames.close(ep.frame)
        else:
            self._core.own(ep)
            self._packets.unwatch(ep)
            self._ports.close(ep)
        self._core.plan_dirty = True
        received, lost, jitter_ms, _loss = self._figures(ep)
        r, mos = self.quality(ep)
        event = LegQuality(at=self.clock.wall(), endpoint_id=endpoint_id, packets_received=received,
                           packets_lost=lost, jitter_ms=round(jitter_ms, 2),
                           round_trip_ms=None if ep.rtt is None else round(ep.rtt * 1000, 1), r_factor=r, mos=mos)
        self.bus.publish(event)
        return event

    @staticmethod
    def _figures(ep: Endpoint) -> tuple[int, int, float, float]:
        """Received, lost, jitter (ms) and the loss fraction. A frame port's are its line's frames: pushed,
        and slipped on the way in (dropped or made up)."""
        port = ep.frame
        if port is not None:
            return port.pushed, port.rx.slips, 0.0, port.rx.slips / max(1, port.pushed)
        st = ep.stats
        return st.received, st.cumulative_lost, st.jitter_ms, st.loss_fraction_total

    def quality(self, ep: Endpoint) -> tuple[float, float]:
        one_way_ms = 0.0 if ep.rtt is None else ep.rtt * 500.0
        _received, _lost, jitter_ms, loss = self._figures(ep)
        q = estimate(loss, jitter_ms, one_way_ms)
        return q.r_factor, q.mos

    def leg_stats(self, endpoint_id: str) -> dict[str, Any]:
        ep = self._core.endpoint(endpoint_id)
        self._core.sync(ep)
        r, mos = self.quality(ep)
        received, lost, jitter_ms, _loss = self._figures(ep)
        stats: dict[str, Any] = {"received": received, "lost": lost, "jitter_ms": jitter_ms, "sent": ep.tx_packets,
                                 "r_factor": r, "mos": mos, "peer": ep.peer, "relaying": ep.relay_to is not None,
                                 "mixing": ep.jitter is not None}
        port = ep.frame
        if port is not None:
            stats.update(sent=port.pulled, mixing=port.ticked and ep.relay_to is None, frame_law=port.law,
                         slips_in=port.rx.slips, slips_out=port.tx.slips, relayed=port.relayed)
        return stats

    @property
    def endpoint_count(self) -> int:
        return len(self._endpoints)

    # ---------------------------------------------------------------- frame ports (frames.py)

    def open_frame_port(self, law: FrameLaw = "alaw", *, inband_dtmf: bool = True,
                        on_dtmf: DtmfCallback | None = None) -> FramePort:
        """A port for a driver's line (an E1/PRI B-channel, an analog port): 20 ms frames of A-law (160 bytes)
        or 16-bit linear (320 bytes) pushed and pulled on the driver's clock. Its `endpoint_id` goes wherever
        an RTP endpoint's does; `release(endpoint_id)` closes it. In-band DTMF detection is on unless asked
        otherwise (TDM and analog lines carry no RFC 4733)."""
        port = self._frames.open(law, inband_dtmf=inband_dtmf, on_dtmf=on_dtmf)
        self._bridges.reconcile_endpoint(self._core.endpoint(port.endpoint_id))
        return port

    def run_tick(self) -> None:
        """One tick now: what the clock task does every 20 ms, for simulations and tests that drive time
        themselves with a ManualClock instead of calling `start()`."""
        self._tick.run(self._core.now())

    @property
    def ports_in_use(self) -> int:
        return len(self._ports.in_use)

    def _choose_codec(self, remote: RemoteMedia | None) -> Codec:
        ours = [_CODECS[n] for n in self.config.codec_preference if n in _CODECS]
        if remote is None:
            return ours[0]
        for pt in remote.payload_types:
            for c in ours:
                if c.payload_type == pt:
                    return c
        raise NoCommonCodec(list(remote.payload_types))

    def _local(self, ep: Endpoint) -> LocalMedia:
        return LocalMedia(ep.endpoint_id, self.config.advertise_address or self.config.bind_address, ep.port,
                          ep.codec, ep.te_pt, 20, ep.direction)

    # ---------------------------------------------------------------- bridges and conferences

    def bridge(self, *endpoint_ids: str, masks: dict[str, PartyMask] | None = None) -> str:
        """Join endpoints into a new bridge (two for a call, more for a conference); returns its id."""
        bridge_id = self._bridges.create()
        for endpoint_id in endpoint_ids:
            self._bridges.add_party(bridge_id, endpoint_id, (masks or {}).get(endpoint_id, PartyMask()))
        return bridge_id

    def add_party(self, bridge_id: str, endpoint_id: str, mask: PartyMask | None = None) -> None:
        self._bridges.add_party(bridge_id, endpoint_id, mask)

    def set_mask(self, bridge_id: str, endpoint_id: str, mask: PartyMask) -> None:
        """Change who a party hears / is heard by (listen -> whisper -> barge) without leaving the bridge."""
        self._bridges.set_mask(bridge_id, endpoint_id, mask)

    def remove_party(self, bridge_id: str, endpoint_id: str) -> None:
        self._bridges.bridge(bridge_id)
        ep = self._core.endpoint(endpoint_id)
        if ep.bridge_id == bridge_id:
            self._bridges.leave(ep)

    def unbridge(self, bridge_id: str) -> None:
        self._bridges.unbridge(bridge_id)

    def bridge_mode(self, bridge_id: str) -> str:
        return "relay" if self._bridges.bridge(bridge_id).relaying else "mix"

    # ---------------------------------------------------------------- prompts, tones, DTMF

    def play(self, endpoint_id: str, *, prompt: Path | None = None, tone: str | None = None,
             loop: bool = False, barge_in: bool = False) -> None:
        """Play a WAV prompt (or hold music with loop=True) or a tone of the configured plan to one leg.
        Replaces whatever was playing. A prompt that is not looping ends with media.playback_finished."""
        self._playback.play(self._core.endpoint(endpoint_id), prompt=prompt, tone=tone, loop=loop,
                            barge_in=barge_in)

    def stop_playing(self, endpoint_id: str) -> None:
        ep = self._core.endpoint(endpoint_id)
        if ep.player is not None:
            self._playback.finish(ep, interrupted=True)

    def send_dtmf(self, endpoint_id: str, digits: str, duration_ms: int = 100) -> None:
        """RFC 4733 events to the peer, one digit after another."""
        self._playback.send_dtmf(self._core.endpoint(endpoint_id), digits, duration_ms)

    # ---------------------------------------------------------------- recording

    def start_recording(self, caller_id: str, agent_id: str | None, path: Path, *, mp3: bool = False) -> str:
        """Stereo WAV: what the caller sends on the left, what the agent sends on the right (silent when
        there is no agent yet: IVR, queue)."""
        return self._recordings.start(caller_id, agent_id, path, mp3)

    def stop_recording(self, recording_id: str) -> None:
        self._recordings.stop(recording_id)

    # ---------------------------------------------------------------- figures

    def health(self) -> Health:
        """Counters (only ever grow) and gauges of the media path; `detail` says which packet path runs.
        Degraded when no RTP port is free, or when the compiled path was asked for and is not running."""
        f = self._fast
        ports_free = self._ports.capacity - len(self._ports.in_use)
        bridges = self._bridges.bridges.values()
        relaying = sum(1 for br in bridges if br.relaying)
        path = "packet path compiled" if f is not None else f"packet path Python ({self._why_python})"
        status = Status.OK
        if not self._tick.running:
            status = Status.STARTING
        elif ports_free <= 0 or (self.config.compiled_relay and f is None):
            status = Status.DEGRADED
        detail = f"{path}; {len(self._endpoints)} endpoints, {len(bridges)} bridges ({relaying} relaying)"
        if ports_free <= 0:
            detail += "; no RTP port free"
        counters = {
            "packets_relayed": self._packets.relayed + (f.relayed if f else 0),
            "packets_passed_up": f.passed_up if f else 0,  # payloads C read for Python's jitter buffers
            "packets_sent": self._tick.sent + (f.sent if f else 0),  # by the tick: mixes, prompts, tones, DTMF
            "send_failures": self.send_failures,
            "compiled_refused": f.refused if f else 0,
            "ticks_late": self._tick.ticks_late,
            "ticks_skipped": self._tick.ticks_skipped,
            "wakeups": self._packets.drains,
        }
        frames = self._frames.figures()
        counters.update(frames_pushed=frames["pushed"], frames_pulled=frames["pulled"],
                        frames_relayed=frames["relayed"], frame_slips=frames["slips"])
        encrypted = [ep.srtp for ep in self._endpoints.values() if ep.srtp is not None]
        counters["srtp_auth_failures"] = self._srtp_auth_failures + sum(c.figures.auth_failures for c in encrypted)
        gauges = {
            "endpoints_in_use": len(self._endpoints),
            "srtp_legs": len(encrypted),
            "frame_ports": self._frames.open_ports,
            "ports_in_use": len(self._ports.in_use),
            "ports_free": ports_free,
            "bridges": len(bridges),
            "bridges_relaying": relaying,
            "recordings": len(self._recordings.recordings),
            "tick_max_ms": round(self._tick.tick_max * 1000, 3),
        }
        return Health.of("media", status, detail, counters=counters, gauges=gauges)

    @property
    def ticks_late(self) -> int:
        return self._tick.ticks_late

    @property
    def ticks_skipped(self) -> int:
        return self._tick.ticks_skipped

    @property
    def tick_busy(self) -> float:
        """Seconds spent inside ticks since start."""
        return self._tick.tick_busy

    @property
    def tick_max(self) -> float:
        """The longest tick in seconds (a bench sets it back to 0 between steps)."""
        return self._tick.tick_max

    @tick_max.setter
    def tick_max(self, value: float) -> None:
        self._tick.tick_max = value

    @property
    def tick_count(self) -> int:
        return self._tick.tick_count

    @property
    def send_failures(self) -> int:
        """Packets the kernel would not send (a full buffer, an ICMP error), on every path: lost, as on the
        wire, and counted."""
        f = self._fast
        return self._packets.send_failures + self._tick.send_failures + (f.send_failures if f else 0)

    @property
    def drains(self) -> int:
        """Wake-ups of the packet path."""
        return self._packets.drains

    @property
    def drained(self) -> int:
        """Ready sockets those wake-ups found."""
        return self._packets.drained
