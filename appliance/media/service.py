"""The media engine's asyncio shell: UDP sockets, the 20 ms clock, bridges, players, recorders, detectors.

It owns every socket, task and file of the media path and drives the sans-IO pieces (rtp, jitter, dtmf,
inband, mixer, recorder) from two places:

- `MediaEngine._drain` — per packet. Every RTP socket is a raw non-blocking socket in one `epoll` set of the
  engine's, and that one epoll descriptor is the only thing registered with the event loop: a wake-up reads
  exactly one packet from each ready socket (level-triggered, so a second queued packet is reported again)
  instead of a protocol callback per packet and a read until EAGAIN per socket. In a two-party bridge whose
  legs share a codec and that nobody listens to or plays into, a packet is relayed at once: a new 12-byte
  header (our SSRC, the sequence number and timestamp shifted by per-leg offsets) plus the original payload,
  no decoding and no numpy. Otherwise the payload goes to the leg's jitter buffer. The RFC 3550 receiver
  statistics (A.1 sequence tracking, A.8 jitter) are updated inline for in-order packets; anything else
  goes through `rtp.ReceiverStats.update`. Where the compiled packet path is built (`_rtp_relay.c` through
  `fast_relay.py`), a leg whose plain packets can go that way is handed over to it — relayed, passed up to
  the jitter buffer, or sent from the tick in C — and taken back before anything else touches its state
  (`FastRelay.hand_over`, `own`, `sync`); the Python lines here then see only the packets C leaves to them.
- `_tick` — every 20 ms against absolute deadlines (`next += 0.02`; a late tick does not push the next one
  later, so the clock does not drift; after a long stall missed ticks are skipped rather than bunched).
  One tick pulls a frame from every mixed leg's jitter buffer, decodes them all with one table look-up per
  law, runs in-band DTMF detection for the legs that need it as one batch, writes recordings, mixes every
  conference (batched by size), adds prompts/tones, encodes everything with one look-up per law and sends.

Switching a bridge between relay and mixing keeps each outgoing stream continuous: the SSRC never changes, the
sequence number goes on by one, the timestamp by the time that passed, and the new jitter buffer is seeded with
the last relayed frame so concealment covers the first tick.

Symmetric RTP (RFC 4961): we send to where the peer's packets come from, not only to the SDP address. Once a
source is latched the socket is connected to it, so sending is `send()` with no address and the kernel drops
packets from anyone else. The peer changes when the SDP moves the media, when a new SSRC arrives (a re-INVITE
or transfer), or when the latched address has been silent for a second (a NAT binding that changed): the
socket is then disconnected (connect(2) with AF_UNSPEC) and the next packet latches again, so a stray packet
cannot hijack a leg. An ICMP error reported on a connected socket is read and dropped: the RTP time-out ends
a dead call, not a socket error.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import itertools
import logging
import os
import secrets
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from appliance.clock import Clock, SystemClock
from appliance.events import EventBus
from appliance.media import g711
from appliance.media import rtp as rtpmod
from appliance.media.dtmf import EventReceiver, EventSender
from appliance.media.endpoint import FRAME, TICK, DtmfCallback, Endpoint, released
from appliance.media.errors import (
    NoCommonCodec,
    NoPortAvailable,
    endpoint_busy,
    unknown_bridge,
    unknown_endpoint,
)
from appliance.media.events import (
    DtmfReceived,
    LegQuality,
    PeerLatched,
    PlaybackFinished,
    RecordingStopped,
    RtpTimeout,
)
from appliance.media.fast_relay import MODES_RX, FastRelay
from appliance.media.fast_relay import load as load_fast_relay
from appliance.media.inband import InbandDetector, analyse
from appliance.media.jitter import JitterBuffer
from appliance.media.mixer import Mixer
from appliance.media.models import (
    PCMA,
    PCMU,
    Codec,
    Direction,
    LocalMedia,
    MediaConfig,
    PartyMask,
    RemoteMedia,
)
from appliance.media.player import Player, load_wav
from appliance.media.quality import estimate
from appliance.media.recorder import Recorder, mp3_command
from appliance.media.tones import PLANS, ToneGenerator

log = logging.getLogger(__name__)

_HDR = struct.Struct("!BBHII")
_SEQ_TS_SSRC = struct.Struct("!HII")
_RECV_SIZE = 2048
# connect(2) with a sockaddr whose family is AF_UNSPEC dissolves a UDP socket's association (Linux, BSD);
# Python's socket.connect cannot express that address, so the C library's connect is called directly.
_SOCKADDR_UNSPEC = bytes(16)
_libc_connect = ctypes.CDLL(None, use_errno=True).connect
_libc_connect.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_libc_connect.restype = ctypes.c_int
_CODECS = {"PCMA": PCMA, "PCMU": PCMU}
_LAW: dict[int, g711.Law] = {PCMA.payload_type: "alaw", PCMU.payload_type: "ulaw"}

def _disconnect(sock: socket.socket) -> None:
    if _libc_connect(sock.fileno(), _SOCKADDR_UNSPEC, len(_SOCKADDR_UNSPEC)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _local_direction(remote: Direction) -> Direction:
    return {
        Direction.SENDRECV: Direction.SENDRECV,
        Direction.SENDONLY: Direction.RECVONLY,
        Direction.RECVONLY: Direction.SENDONLY,
        Direction.INACTIVE: Direction.INACTIVE,
    }[remote]


@dataclass(eq=False)
class _Bridge:
    bridge_id: str
    parties: dict[str, PartyMask] = field(default_factory=dict)
    relaying: bool = False


@dataclass(eq=False)
class _Recording:
    recording_id: str
    caller: str
    agent: str | None
    recorder: Recorder
    mp3: bool
    started: float
    flush_slot: int = 0  # flushed on the ticks whose count modulo the flush period is this (staggered)


@dataclass(eq=False, slots=True)
class _RecordingPlan:
    """Which recordings take a frame this tick and from which decoded rows (rebuilt when legs or
    recordings change, not per tick)."""

    appends: list[Callable[[bytes], None]]
    left: npt.NDArray[np.intp]
    right: npt.NDArray[np.intp]  # the row past the last decoded one stands for "no agent": silence


class _RtcpProtocol(asyncio.DatagramProtocol):
    def __init__(self, engine: MediaEngine, ep: Endpoint) -> None:
        self.engine = engine
        self.ep = ep

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.engine._rtcp_packet(self.ep, data, addr)

    def error_received(self, exc: Exception) -> None:
        pass


class MediaEngine:
    """See the package docstring for how call control uses it."""

    def __init__(self, config: MediaConfig, bus: EventBus, clock: Clock | None = None,
                 open_recording: Callable[[Path], BinaryIO] | None = None) -> None:
        self.config = config
        self._open_recording = open_recording  # how recordings are opened (storage other than a plain file)
        self.bus = bus
        self.clock: Clock = clock or SystemClock()
        self._endpoints: dict[str, Endpoint] = {}
        self._bridges: dict[str, _Bridge] = {}
        self._recordings: dict[str, _Recording] = {}
        self._ports_in_use: set[int] = set()
        self._port_cursor = config.port_low + (config.port_low % 2)
        self._mixer = Mixer()
        self._mixed: list[Endpoint] = []  # endpoints that take part in the tick, in row order
        self._row_of: dict[str, int] = {}
        self._mix_rows: dict[str, int] = {}
        self._pops: list[Callable[[], bytes]] = []  # the mixed legs' jitter-buffer pops, in row order
        self._one_law: g711.Law | None = None  # the law of every mixed leg, when they share one
        self._is_alaw: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._det_rows: list[int] = []  # rows with in-band DTMF detection
        self._senders: list[tuple[int, Endpoint]] = []  # mixed legs whose mix we send: (row, endpoint)
        self._playing: list[tuple[int, Endpoint]] = []  # mixed legs with a prompt or tone: (row, endpoint)
        self._send_fds = np.zeros(0, dtype=np.int32)  # the same, for the compiled path: their sockets, rows
        self._send_rows = np.zeros(0, dtype=np.int32)
        self._rec_plan: _RecordingPlan | None = None
        self._flush_ticks = max(1, round(config.recording_flush_interval / TICK))
        self._flush_slots: dict[int, dict[str, _Recording]] = {}
        self._plan_dirty = True
        self._tick_task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)
        self._tick_count = 0
        self._tick_index = 0  # ticks of the 20 ms grid since start, skipped ones included
        self._sweep: list[Endpoint] = []
        self._sweep_per_tick = 1
        self.ticks_late = 0
        self.tick_busy = 0.0  # seconds spent inside ticks, and the longest tick: load figures
        self.tick_max = 0.0
        self.ticks_skipped = 0
        self.drains = 0
        self.drained = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoll: select.epoll | None = None  # every RTP socket; its descriptor is the loop's one reader
        self._rx: dict[int, Endpoint] = {}  # RTP socket descriptor -> endpoint
        lib = load_fast_relay() if config.compiled_relay else None
        self._fast: FastRelay | None = FastRelay(lib) if lib is not None else None

    @property
    def compiled_relay(self) -> bool:
        """Whether plain two-party audio is relayed by the compiled relay (else in Python)."""
        return self._fast is not None

    @property
    def compiled_figures(self) -> dict[str, int]:
        """What the compiled path has done: packets relayed, payloads passed up to jitter buffers, frames
        the tick sent (all 0 without it)."""
        f = self._fast
        return {"relayed": f.relayed if f else 0, "passed_up": f.passed_up if f else 0, "sent": f.sent if f else 0}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._tick_task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._poller(self._loop)
        self._tick_task = asyncio.create_task(self._clock(), name="media-clock")
        log.info("media: RTP ports %d-%d, packet path %s", self.config.port_low, self.config.port_high,
                 "compiled" if self._fast is not None else "Python")

    async def stop(self) -> None:
        for endpoint_id in list(self._endpoints):
            self.release(endpoint_id)
        if self._epoll is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None
        for task in list(self._side_tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._side_tasks.clear()

    # ---------------------------------------------------------------- endpoints

    async def allocate(self, remote: RemoteMedia | None = None, *, inband_dtmf: bool = False,
                       on_dtmf: DtmfCallback | None = None) -> LocalMedia:
        """A new endpoint. With `remote` (the peer's offer) the codec is chosen from it (the peer's order, as
        RFC 3264 §6.1 asks of an answerer); without, we are the offerer and `set_remote` follows the answer."""
        codec = self._choose_codec(remote)
        te_pt: int | None = self.config.telephone_event_pt
        if remote is not None:
            te_pt = remote.telephone_event_pt
        direction = _local_direction(remote.direction) if remote is not None else Direction.SENDRECV
        endpoint_id = f"ep{next(self._ids)}"
        ep = Endpoint(endpoint_id=endpoint_id, codec=codec, law=_LAW[codec.payload_type], te_pt=te_pt,
                       direction=direction, ssrc=secrets.randbits(32), out_seq=secrets.randbits(16),
                       out_ts=secrets.randbits(32))
        ep.stats.clock_rate = codec.clock_rate
        ep.sends = direction.we_send
        ep.audio_pt = codec.payload_type
        ep.on_dtmf = on_dtmf
        if inband_dtmf:
            ep.inband = InbandDetector()
        await self._open_sockets(ep)
        ep.last_rx = time.monotonic()
        ep.last_rtcp = ep.last_rx - secrets.randbelow(1000) / 1000 * self.config.rtcp_interval  # spread
        if remote is not None:
            self._apply_remote(ep, remote)
        self._endpoints[endpoint_id] = ep
        self._reconcile_endpoint(ep)
        return self._local(ep)

    def set_remote(self, endpoint_id: str, remote: RemoteMedia) -> LocalMedia:
        """The answer to our offer, or a new offer in a re-INVITE (hold is a direction change)."""
        ep = self._endpoint(endpoint_id)
        codec = self._choose_codec(remote)
        self._own(ep)
        if codec != ep.codec:
            ep.codec = codec
            ep.audio_pt = codec.payload_type
            ep.law = _LAW[codec.payload_type]
            self._plan_dirty = True  # the tick decodes and encodes by the planned laws
            if ep.jitter is not None:
                ep.jitter = self._new_jitter(ep)
                self._plan_dirty = True  # the tick holds the old buffer's pop
        ep.te_pt = remote.telephone_event_pt
        ep.direction = _local_direction(remote.direction)
        ep.sends = ep.direction.we_send
        self._apply_remote(ep, remote)
        self._reconcile(ep.bridge_id)
        return self._local(ep)

    def release(self, endpoint_id: str) -> LegQuality | None:
        """Tear down one endpoint: sockets closed, port freed, out of its bridge, recordings closed."""
        ep = self._endpoints.pop(endpoint_id, None)
        if ep is None:
            return None
        for rec_id in list(ep.recordings):
            self.stop_recording(rec_id)
        if ep.player is not None:
            self._finish_player(ep, interrupted=True)
        if ep.bridge_id is not None:
            self._leave_bridge(ep)
        self._close_rtp(ep)
        if ep.rtcp_transport is not None:
            ep.rtcp_transport.close()
        ep.rtcp_transport = None
        self._ports_in_use.discard(ep.port)
        self._plan_dirty = True
        q = self.quality(ep)
        event = LegQuality(at=self.clock.wall(), endpoint_id=endpoint_id, packets_received=ep.stats.received,
                           packets_lost=ep.stats.cumulative_lost, jitter_ms=round(ep.stats.jitter_ms, 2),
                           round_trip_ms=None if ep.rtt is None else round(ep.rtt * 1000, 1),
                           r_factor=q[0], mos=q[1])
        self.bus.publish(event)
        return event

    def quality(self, ep: Endpoint) -> tuple[float, float]:
        one_way_ms = 0.0 if ep.rtt is None else ep.rtt * 500.0
        q = estimate(ep.stats.loss_fraction_total, ep.stats.jitter_ms, one_way_ms)
        return q.r_factor, q.mos

    def leg_stats(self, endpoint_id: str) -> dict[str, Any]:
        ep = self._endpoint(endpoint_id)
        self._sync(ep)
        r, mos = self.quality(ep)
        return {"received": ep.stats.received, "lost": ep.stats.cumulative_lost,
                "jitter_ms": ep.stats.jitter_ms, "sent": ep.tx_packets, "r_factor": r, "mos": mos,
                "peer": ep.peer, "relaying": ep.relay_to is not None, "mixing": ep.jitter is not None}

    @property
    def endpoint_count(self) -> int:
        return len(self._endpoints)

    @property
    def ports_in_use(self) -> int:
        return len(self._ports_in_use)

    # ---------------------------------------------------------------- bridges and conferences

    def bridge(self, *endpoint_ids: str, masks: dict[str, PartyMask] | None = None) -> str:
        """Join endpoints into a new bridge (two for a call, more for a conference); returns its id."""
        bridge_id = f"br{next(self._ids)}"
        self._bridges[bridge_id] = _Bridge(bridge_id)
        for endpoint_id in endpoint_ids:
            self.add_party(bridge_id, endpoint_id, (masks or {}).get(endpoint_id, PartyMask()))
        return bridge_id

    def add_party(self, bridge_id: str, endpoint_id: str, mask: PartyMask | None = None) -> None:
        br = self._bridge(bridge_id)
        ep = self._endpoint(endpoint_id)
        if ep.bridge_id is not None and ep.bridge_id != bridge_id:
            raise endpoint_busy(endpoint_id, ep.bridge_id)
        ep.bridge_id = bridge_id
        br.parties[endpoint_id] = mask or PartyMask()
        self._mixer.set_party(bridge_id, endpoint_id, br.parties[endpoint_id])
        self._reconcile(bridge_id)

    def set_mask(self, bridge_id: str, endpoint_id: str, mask: PartyMask) -> None:
        """Change who a party hears / is heard by (listen -> whisper -> barge) without leaving the bridge."""
        br = self._bridge(bridge_id)
        if endpoint_id not in br.parties:
            raise unknown_endpoint(endpoint_id)
        br.parties[endpoint_id] = mask
        self._mixer.set_party(bridge_id, endpoint_id, mask)
        self._reconcile(bridge_id)

    def remove_party(self, bridge_id: str, endpoint_id: str) -> None:
        self._bridge(bridge_id)
        ep = self._endpoint(endpoint_id)
        if ep.bridge_id == bridge_id:
            self._leave_bridge(ep)

    def unbridge(self, bridge_id: str) -> None:
        br = self._bridges.get(bridge_id)
        if br is None:
            return
        for endpoint_id in list(br.parties):
            ep = self._endpoints.get(endpoint_id)
            if ep is not None:
                self._leave_bridge(ep)
        self._bridges.pop(bridge_id, None)
        self._mixer.remove_conference(bridge_id)

    def bridge_mode(self, bridge_id: str) -> str:
        return "relay" if self._bridge(bridge_id).relaying else "mix"

    def _leave_bridge(self, ep: Endpoint) -> None:
        bridge_id = ep.bridge_id
        ep.bridge_id = None
        if bridge_id is None:
            return
        br = self._bridges.get(bridge_id)
        self._mixer.remove_party(bridge_id, ep.endpoint_id)
        if br is not None:
            br.parties.pop(ep.endpoint_id, None)
            if not br.parties:
                del self._bridges[bridge_id]
        self._set_relay(ep, None)
        self._reconcile(bridge_id)
        self._reconcile_endpoint(ep)

    def _relay_possible(self, br: _Bridge) -> bool:
        if len(br.parties) != 2:
            return False
        a, b = (self._endpoints.get(i) for i in br.parties)
        if a is None or b is None:
            return False
        if any(m != PartyMask() for m in br.parties.values()):
            return False
        # recording and in-band detection do not stop the relay: they tap a copy of the packets
        return all(ep.codec == other.codec and ep.player is None and not ep.dtmf_tx for ep, other in ((a, b), (b, a)))

    def _reconcile(self, bridge_id: str | None) -> None:
        """Choose relay or mixing for a bridge and move its legs over without a gap."""
        if bridge_id is None:
            return
        br = self._bridges.get(bridge_id)
        if br is None:
            return
        relay = self._relay_possible(br)
        parties = [self._endpoints[i] for i in br.parties if i in self._endpoints]
        if relay:
            a, b = parties
            self._set_relay(a, b)
            self._set_relay(b, a)
        else:
            for ep in parties:
                self._set_relay(ep, None)
        br.relaying = relay
        for ep in parties:
            self._reconcile_endpoint(ep)

    def _set_relay(self, ep: Endpoint, target: Endpoint | None) -> None:
        if ep.relay_to is target:
            return
        self._own(ep)
        ep.relay_to = target
        ep.resync = True
        self._plan_dirty = True  # which rows are mixed and sent depends on it

    def _needs_tick(self, ep: Endpoint) -> bool:
        if bool(ep.recordings) or ep.inband is not None:
            return True  # decoded every tick, relayed or not
        if ep.relay_to is not None:
            return False
        return ep.bridge_id is not None or ep.player is not None or bool(ep.dtmf_tx)

    def _reconcile_endpoint(self, ep: Endpoint) -> None:
        self._own(ep)
        mixed = self._needs_tick(ep)
        if mixed and ep.jitter is None:
            ep.jitter = self._new_jitter(ep)
            if ep.last_in_payload:
                ep.jitter.seed(ep.last_in_ts, ep.last_in_payload)
            self._plan_dirty = True
        elif not mixed and ep.jitter is not None:
            ep.jitter = None
            self._plan_dirty = True
        self._mixer.invalidate()

    def _new_jitter(self, ep: Endpoint) -> JitterBuffer:
        return JitterBuffer(ep.law, self.config.jitter_min_delay, self.config.jitter_max_delay)

    # ---------------------------------------------------------------- prompts and tones

    def play(self, endpoint_id: str, *, prompt: Path | None = None, tone: str | None = None,
             loop: bool = False, barge_in: bool = False) -> None:
        """Play a WAV prompt (or hold music with loop=True) or a tone of the configured plan to one leg.
        Replaces whatever was playing. A prompt that is not looping ends with media.playback_finished."""
        ep = self._endpoint(endpoint_id)
        source: Player | ToneGenerator
        if prompt is not None:
            source = Player(load_wav(prompt), loop=loop, barge_in=barge_in)
            what = str(prompt)
        elif tone is not None:
            plan = PLANS[self.config.tone_plan]
            if tone not in plan:
                raise KeyError(f"no tone {tone!r} in plan {self.config.tone_plan!r}")
            source = ToneGenerator(plan[tone])
            what = f"tone:{tone}"
        else:
            raise ValueError("play needs a prompt or a tone")
        if ep.player is not None:
            self._finish_player(ep, interrupted=True)
        ep.player = source
        ep.player_what = what
        ep.player_barge_in = barge_in
        self._plan_dirty = True  # the tick adds the players it planned
        self._reconcile(ep.bridge_id)
        self._reconcile_endpoint(ep)

    def stop_playing(self, endpoint_id: str) -> None:
        ep = self._endpoint(endpoint_id)
        if ep.player is not None:
            self._finish_player(ep, interrupted=True)

    def _finish_player(self, ep: Endpoint, interrupted: bool) -> None:
        what = ep.player_what
        ep.player = None
        ep.player_what = ""
        self._plan_dirty = True
        self.bus.publish(PlaybackFinished(at=self.clock.wall(), endpoint_id=ep.endpoint_id, what=what,
                                          interrupted=interrupted))
        if ep.endpoint_id in self._endpoints:
            self._reconcile(ep.bridge_id)
            self._reconcile_endpoint(ep)

    # ---------------------------------------------------------------- DTMF

    def send_dtmf(self, endpoint_id: str, digits: str, duration_ms: int = 100) -> None:
        """RFC 4733 events to the peer, one digit after another."""
        ep = self._endpoint(endpoint_id)
        if ep.te_pt is None:
            raise ValueError(f"endpoint {endpoint_id} has no telephone-event payload type")
        for d in digits:
            ep.dtmf_tx.append(EventSender(d, duration_ms=duration_ms))
        self._reconcile(ep.bridge_id)
        self._reconcile_endpoint(ep)

    def _dtmf_packet(self, ep: Endpoint, ts: int, payload: bytes, now: float) -> None:
        for detected in ep.dtmf_rx.receive_all(ts, payload, now):
            self._digit(ep, detected.digit, "rfc4733")

    def _digit(self, ep: Endpoint, digit: str, source: str) -> None:
        if ep.player is not None and ep.player_barge_in:
            self._finish_player(ep, interrupted=True)
        self.bus.publish(DtmfReceived(at=self.clock.wall(), endpoint_id=ep.endpoint_id, digit=digit, source=source))
        if ep.on_dtmf is not None:
            try:
                ep.on_dtmf(ep.endpoint_id, digit)
            except Exception:
                log.exception("DTMF callback failed")

    # ---------------------------------------------------------------- recording

    def start_recording(self, caller_id: str, agent_id: str | None, path: Path, *, mp3: bool = False) -> str:
        """Stereo WAV: what the caller sends on the left, what the agent sends on the right (silent when
        there is no agent yet: IVR, queue)."""
        caller = self._endpoint(caller_id)
        legs = [caller] if agent_id is None else [caller, self._endpoint(agent_id)]
        recording_id = f"rec{next(self._ids)}"
        rec = Recorder(path, flush_interval=self.config.recording_flush_interval)
        if self._open_recording is not None:
            rec.open_file = self._open_recording
        rec.open(time.monotonic())
        # flushes are staggered over the ticks of the interval, so a thousand recordings started together do
        # not all write in the same tick
        slot = secrets.randbelow(self._flush_ticks)
        recording = _Recording(recording_id, caller_id, agent_id, rec, mp3, time.monotonic(), slot)
        self._recordings[recording_id] = recording
        self._flush_slots.setdefault(slot, {})[recording_id] = recording
        self._rec_plan = None
        for ep in legs:
            ep.recordings.add(recording_id)
            self._reconcile(ep.bridge_id)
            self._reconcile_endpoint(ep)
        return recording_id

    def stop_recording(self, recording_id: str) -> None:
        rec = self._recordings.pop(recording_id, None)
        if rec is None:
            return
        self._forget_recording(rec)
        rec.recorder.close(time.monotonic())
        self._recording_ended(rec)

    def _forget_recording(self, rec: _Recording) -> None:
        slot = self._flush_slots.get(rec.flush_slot)
        if slot is not None:
            slot.pop(rec.recording_id, None)
            if not slot:
                del self._flush_slots[rec.flush_slot]
        self._rec_plan = None

    def _recording_ended(self, rec: _Recording) -> None:
        for endpoint_id in (rec.caller, rec.agent):
            ep = self._endpoints.get(endpoint_id or "")
            if ep is not None:
                ep.recordings.discard(rec.recording_id)
                self._reconcile(ep.bridge_id)
                self._reconcile_endpoint(ep)
        seconds = rec.recorder.data_bytes / (8000 * 4)
        self.bus.publish(RecordingStopped(at=self.clock.wall(), recording_id=rec.recording_id,
                                          path=str(rec.recorder.path), seconds=round(seconds, 2),
                                          error=rec.recorder.failure))
        if rec.mp3 and rec.recorder.failure is None:
            cmd = mp3_command(rec.recorder.path, rec.recorder.path.with_suffix(".mp3"))
            if cmd is not None:
                task = asyncio.get_running_loop().create_task(self._run(cmd))
                self._side_tasks.add(task)
                task.add_done_callback(self._side_tasks.discard)

    async def _run(self, cmd: list[str]) -> None:
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()

    # ---------------------------------------------------------------- sockets and ports

    async def _open_sockets(self, ep: Endpoint) -> None:
        loop = asyncio.get_running_loop()
        epoll = self._poller(loop)
        low, high = self.config.port_low, self.config.port_high
        span = (high - low) // 2 + 1
        for _ in range(span):
            port = self._port_cursor
            self._port_cursor += 2
            if self._port_cursor > high:
                self._port_cursor = low + (low % 2)
            if port in self._ports_in_use:
                continue
            rtp_sock = rtcp_sock = None
            try:
                rtp_sock = self._bind(port)
                rtcp_sock = self._bind(port + 1)
            except OSError as exc:
                for s in (rtp_sock, rtcp_sock):
                    if s is not None:
                        s.close()
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            ep.port = port
            self._ports_in_use.add(port)
            try:
                ep.rtcp_transport, _ = await loop.create_datagram_endpoint(
                    lambda: _RtcpProtocol(self, ep), sock=rtcp_sock)
                epoll.register(rtp_sock.fileno(), select.EPOLLIN)
            except BaseException:
                if ep.rtcp_transport is not None:
                    ep.rtcp_transport.close()
                ep.rtcp_transport = None
                for s in (rtp_sock, rtcp_sock):
                    s.close()
                self._ports_in_use.discard(port)
                raise
            ep.sock = rtp_sock
            ep.fd = rtp_sock.fileno()
            ep.recv, ep.recvfrom, ep.send, ep.sendto = rtp_sock.recv, rtp_sock.recvfrom, rtp_sock.send, rtp_sock.sendto
            self._rx[ep.fd] = ep
            return
        raise NoPortAvailable(low, high)

    def _poller(self, loop: asyncio.AbstractEventLoop) -> select.epoll:
        if self._epoll is None:
            self._epoll = select.epoll()
            self._loop = loop
            loop.add_reader(self._epoll.fileno(), self._drain)
        return self._epoll

    def _close_rtp(self, ep: Endpoint) -> None:
        self._own(ep)
        sock, ep.sock = ep.sock, None
        if sock is None:
            return
        self._rx.pop(ep.fd, None)
        if self._epoll is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(ep.fd)
        sock.close()
        ep.fd = -1
        ep.recv = ep.recvfrom = ep.send = ep.sendto = released
        ep.connected = False
        ep.tx = 0

    def _update_tx(self, ep: Endpoint) -> None:
        self._own(ep)  # a leg relayed into sends on this socket: it must stay connected while that is in C
        if ep.sock is None or ep.peer is None or not ep.sends:
            ep.tx = 0
        else:
            ep.tx = 1 if ep.connected else 2

    def _connect(self, ep: Endpoint, addr: tuple[str, int]) -> None:
        """Connect the RTP socket to the latched source: sends need no address, others are filtered out."""
        if ep.sock is not None:
            try:
                ep.sock.connect(addr)
                ep.connected = True
            except OSError:
                self._unconnect(ep)
        self._update_tx(ep)

    def _unconnect(self, ep: Endpoint) -> None:
        if ep.connected and ep.sock is not None:
            try:
                _disconnect(ep.sock)
            except OSError:
                log.warning("could not disconnect the RTP socket of %s", ep.endpoint_id)
                return  # stays connected to the old peer; the RTP time-out ends the call if it is gone
        ep.connected = False
        self._update_tx(ep)

    def _bind(self, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET6 if ":" in self.config.bind_address else socket.AF_INET,
                          socket.SOCK_DGRAM)
        try:
            s.setblocking(False)
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            s.bind((self.config.bind_address, port))
        except OSError:
            s.close()
            raise
        return s

    # ---------------------------------------------------------------- helpers

    def _choose_codec(self, remote: RemoteMedia | None) -> Codec:
        ours = [_CODECS[n] for n in self.config.codec_preference if n in _CODECS]
        if remote is None:
            return ours[0]
        for pt in remote.payload_types:
            for c in ours:
                if c.payload_type == pt:
                    return c
        raise NoCommonCodec(list(remote.payload_types))

    def _apply_remote(self, ep: Endpoint, remote: RemoteMedia) -> None:
        new = (remote.address, remote.port)
        if ep.remote is not None and new != ep.remote:
            ep.latched = False  # the SDP moved the media (re-INVITE, transfer): send there until it speaks
            self._unconnect(ep)
        ep.remote = new
        if not ep.latched:
            ep.peer = ep.remote
            ep.peer_rtcp = (remote.address, remote.port + 1)
        self._update_tx(ep)

    def _latch(self, ep: Endpoint, addr: tuple[str, int], ssrc: int) -> bool:
        """Decide whether a packet from `addr` is the peer's, and latch to it when it is: the first stream,
        a new stream (new SSRC: re-INVITE, transfer), or the same stream from a new address once the old one
        has been silent for a second (a NAT binding that changed)."""
        if ep.latched and ssrc == ep.peer_ssrc and time.monotonic() - ep.last_rx < 1.0:
            return False
        ep.latched = True
        if addr != ep.peer or not ep.connected:
            ep.peer = addr
            self._connect(ep, addr)
        ep.peer_rtcp = (addr[0], addr[1] + 1)
        if ep.peer_ssrc is not None and ssrc != ep.peer_ssrc:
            ep.stats = rtpmod.ReceiverStats(clock_rate=ep.codec.clock_rate)
            ep.dtmf_rx = EventReceiver()
            ep.resync = True
            if ep.jitter is not None:
                ep.jitter = self._new_jitter(ep)
                self._plan_dirty = True  # the tick holds the old buffer's pop
        ep.peer_ssrc = ssrc
        ep.stats.ssrc = ssrc
        self.bus.publish(PeerLatched(at=self.clock.wall(), endpoint_id=ep.endpoint_id, address=addr[0],
                                     port=addr[1]))
        return True

    def _local(self, ep: Endpoint) -> LocalMedia:
        return LocalMedia(ep.endpoint_id, self.config.advertise_address or self.config.bind_address, ep.port,
                          ep.codec, ep.te_pt, 20, ep.direction)

    def _endpoint(self, endpoint_id: str) -> Endpoint:
        ep = self._endpoints.get(endpoint_id)
        if ep is None:
            raise unknown_endpoint(endpoint_id)
        return ep

    def _bridge(self, bridge_id: str) -> _Bridge:
        br = self._bridges.get(bridge_id)
        if br is None:
            raise unknown_bridge(bridge_id)
        return br

    # ---------------------------------------------------------------- per packet

    def _drain(self) -> None:
        """One packet from every ready RTP socket. The hot path: locals, struct calls and attribute access;
        anything unusual (a new source, DTMF, odd headers, out-of-order sequence numbers) leaves it."""
        epoll = self._epoll
        if epoll is None:
            return
        now = time.monotonic()
        units = int(now * 8000.0)  # arrival time in RTP timestamp units (RFC 3550 A.8; G.711 runs at 8 kHz)
        fast = self._fast
        rx = self._rx
        ready: list[tuple[int, int | bytes]]
        if fast is None:
            try:
                ready = epoll.poll(0)  # type: ignore[assignment]
            except InterruptedError:
                return
            self.drained += len(ready)
        else:
            # the compiled path reads every ready socket it was handed and does what it can; left here are
            # sockets it was not handed (fd, 0), packets it read but leaves to us (fd, bytes), and payloads for
            # jitter buffers
            ready, ups = fast.drain(epoll.fileno(), now, units)
            for fd, ts, payload in ups:
                ep = rx.get(fd)
                if ep is not None and ep.jitter is not None:
                    ep.jitter.put(ts, payload, now)
            self.drained += fast.last_ready
        self.drains += 1
        size = _RECV_SIZE
        unpack = _HDR.unpack_from
        pack = _HDR.pack
        data: bytes
        for fd, got in ready:
            try:
                ep = rx[fd]
            except KeyError:
                continue  # released while this batch was handled
            handed = got.__class__ is bytes
            if handed or ep.connected:
                if handed:
                    # read by the compiled relay and left to us (a new SSRC, an event, out of order...) on a
                    # socket it holds connected: the leg's state comes back from C first, and the leg is
                    # handed over again at its next plain packet
                    data = got  # type: ignore[assignment]
                    self._own(ep)
                else:
                    try:
                        data = ep.recv(size)
                    except OSError:
                        continue  # nothing queued after all, or an ICMP error reported on the connected socket
                if len(data) < 12:
                    continue
                b0, b1, seq, ts, ssrc = unpack(data)
                # a new SSRC is a new stream (re-INVITE, transfer); RTCP sent to the RTP port (RFC 5761 §4:
                # packet types 200-204 where RTP has marker + payload type 72-76) is not one
                if ssrc != ep.peer_ssrc and (b0 & 0xC0 != 0x80 or 192 <= b1 <= 223 or ep.peer is None
                                             or not self._latch(ep, ep.peer, ssrc)):
                    continue
            else:
                try:
                    data, addr = ep.recvfrom(size)
                except OSError:
                    continue
                if len(data) < 12:
                    continue
                b0, b1, seq, ts, ssrc = unpack(data)
                if b0 & 0xC0 != 0x80 or 192 <= b1 <= 223 or not self._accept_source(ep, addr, ssrc):
                    continue
            ep.last_rx = now
            # RFC 3550 A.1/A.8 for the in-order packet (see rtp.ReceiverStats.update, which does the rest)
            st = ep.stats
            max_seq = st.max_seq
            delta = (seq - max_seq) & 0xFFFF
            if 0 < delta < 3000 and st.base_seq >= 0:
                if seq < max_seq:
                    st.cycles += 0x10000
                st.max_seq = seq
                st.received += 1
                transit = units - ts
                d = transit - st.transit
                st.transit = transit
                if d < 0:
                    d = -d
                st.jitter += (d - st.jitter) * 0.0625
            else:
                st.update(seq, ts, units)
            if b0 != 0x80 or (b1 & 0x7F) != ep.audio_pt:
                if b0 & 0xC0 == 0x80:
                    self._packet_slow(ep, data, ts, now)
                continue
            target = ep.relay_to
            if target is None:  # a mixed leg (or one nobody hears yet): the tick takes it from here
                jitter = ep.jitter
                if jitter is not None:
                    jitter.put(ts, data[12:], now)
                    if fast is not None and not ep.fast & MODES_RX:
                        fast.hand_over(ep)
                continue
            # relay: same codec on both legs, so the marker bit and payload type go through unchanged
            # (Endpoint.relayed_seq_ts and Endpoint.sent, inline)
            if ep.resync:
                nseq, nts = target.next_out(now)
                ep.seq_off = nseq - seq
                ep.ts_off = nts - ts
                ep.resync = False
            oseq = (seq + ep.seq_off) & 0xFFFF
            ots = (ts + ep.ts_off) & 0xFFFFFFFF
            payload = data[12:]
            tx = target.tx
            if tx:
                try:
                    if tx == 1:
                        target.send(pack(0x80, b1, oseq, ots, target.ssrc) + payload)
                    else:
                        target.sendto(pack(0x80, b1, oseq, ots, target.ssrc) + payload, target.peer)
                except OSError:
                    pass  # a full buffer or an ICMP error from the peer: a lost packet, as on the wire
                target.out_seq = oseq
                target.out_ts = ots
                target.out_time = now
                target.out_tick = -1
                target.tx_packets += 1
                target.tx_octets += len(payload)
            ep.last_in_ts = ts
            ep.last_in_payload = payload
            if ep.jitter is not None:  # tapped for a recording or in-band detection
                ep.jitter.put(ts, payload, now)
            if fast is not None and not ep.fast & MODES_RX:
                fast.hand_over(ep)

    # ---------------------------------------------------------------- the compiled path (fast_relay.py)
    # A handed-over leg's per-packet state lives in the C table; `_own` takes it back before anything else
    # touches it, `_sync` copies it out for reading (RTCP, time-outs, statistics) while C goes on.

    def _own(self, ep: Endpoint) -> None:
        if self._fast is not None:
            self._fast.own(ep)

    def _sync(self, ep: Endpoint) -> None:
        if self._fast is not None:
            self._fast.sync(ep)

    def _accept_source(self, ep: Endpoint, addr: tuple[str, int], ssrc: int) -> bool:
        """A packet on a socket that is not connected: the first packets of a leg, or after the peer moved."""
        if ep.latched and addr == ep.peer and ssrc == ep.peer_ssrc:
            self._connect(ep, addr)  # the latched source speaks again after a silence
            return True
        return self._latch(ep, addr, ssrc)

    def _packet_slow(self, ep: Endpoint, data: bytes, ts: int, now: float) -> None:
        """Everything but a plain relayed audio packet: mixed legs, telephone events, headers with padding,
        CSRCs or extensions, and payload types we did not negotiate."""
        if data[0] == 0x80:
            payload = data[12:]
        else:
            try:
                payload = rtpmod.parse_rtp(data).payload
            except rtpmod.RtpParseError:
                return
        b1 = data[1]
        pt = b1 & 0x7F
        audio = pt == ep.audio_pt
        if audio:
            out_pt = pt
        elif pt == ep.te_pt:
            self._dtmf_packet(ep, ts, payload, now)
            out_pt = -1
        else:
            return  # a payload type we did not negotiate (comfort noise, video...): not ours to play
        target = ep.relay_to
        if target is None:
            if audio and ep.jitter is not None:
                ep.jitter.put(ts, payload, now)
            return
        if out_pt < 0:
            if target.te_pt is None:
                return
            out_pt = target.te_pt
        if not target.tx:
            return
        oseq, ots = ep.relayed_seq_ts(target, _SEQ_TS_SSRC.unpack_from(data, 2)[0], ts, now)
        self._send(target, _HDR.pack(0x80, (b1 & 0x80) | out_pt, oseq, ots, target.ssrc) + payload)
        target.sent(oseq, ots, now, -1, len(payload))
        if audio:
            ep.last_in_ts = ts
            ep.last_in_payload = payload
            if ep.jitter is not None:
                ep.jitter.put(ts, payload, now)

    @staticmethod
    def _send(ep: Endpoint, packet: bytes) -> None:
        try:
            if ep.tx == 1:
                ep.send(packet)
            elif ep.tx == 2:
                ep.sendto(packet, ep.peer)
        except OSError:
            pass  # a full buffer or an ICMP error from the peer: a lost packet, as on the wire

    # ---------------------------------------------------------------- RTCP

    def _rtcp_packet(self, ep: Endpoint, data: bytes, addr: tuple[str, int]) -> None:
        try:
            compound = rtpmod.parse_rtcp(data)
        except rtpmod.RtpParseError:
            return
        now_wall = self.clock.wall()
        for report in compound.reports:
            if report.sender is not None:
                ep.stats.last_sr_middle = ((report.sender.ntp_sec & 0xFFFF) << 16) | (report.sender.ntp_frac >> 16)
                ep.stats.last_sr_arrival = now_wall
            for block in report.blocks:
                if block.ssrc == ep.ssrc:
                    rtt = block.round_trip(rtpmod.ntp_middle32(now_wall))
                    if rtt is not None:
                        ep.rtt = rtt

    def _send_rtcp(self, ep: Endpoint) -> None:
        if ep.rtcp_transport is None or ep.peer_rtcp is None:
            return
        wall = self.clock.wall()
        blocks = [ep.stats.report_block(wall)] if ep.peer_ssrc is not None else []
        if ep.tx_packets:
            sec, frac = rtpmod.ntp_timestamp(wall)
            info = rtpmod.SenderInfo(sec, frac, ep.out_ts, ep.tx_packets, ep.tx_octets)
            packet = rtpmod.build_sr(ep.ssrc, info, blocks, self.config.cname)
        else:
            packet = rtpmod.build_rr(ep.ssrc, blocks, self.config.cname)
        ep.rtcp_transport.sendto(packet, ep.peer_rtcp)

    # ---------------------------------------------------------------- the 20 ms clock

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += TICK
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.ticks_late += 1
                if delay < -10 * TICK:  # stalled (overload, suspend): skip, do not burst to catch up
                    missed = int(-delay / TICK)
                    deadline += missed * TICK
                    self.ticks_skipped += missed
                    self._tick_index += missed  # generated timestamps jump with real time
                await asyncio.sleep(0)
            started = time.monotonic()
            try:
                self._tick(started)
            except Exception:
                log.exception("media tick failed")
            spent = time.monotonic() - started
            self.tick_busy += spent
            if spent > self.tick_max:
                self.tick_max = spent

    def _plan(self) -> None:
        self._mixed = [ep for ep in self._endpoints.values() if ep.jitter is not None]
        self._row_of = {ep.endpoint_id: i for i, ep in enumerate(self._mixed)}
        # relayed legs are decoded (for recordings and detectors) but neither mixed nor sent
        self._mix_rows = {ep.endpoint_id: i for i, ep in enumerate(self._mixed) if ep.relay_to is None}
        self._pops = [ep.jitter.pop for ep in self._mixed if ep.jitter is not None]
        laws = {ep.law for ep in self._mixed}
        self._one_law = laws.pop() if len(laws) == 1 else None
        self._is_alaw = np.array([ep.law == "alaw" for ep in self._mixed], dtype=bool)
        self._det_rows = [i for i, ep in enumerate(self._mixed) if ep.inband is not None]
        self._senders = [(i, ep) for i, ep in enumerate(self._mixed) if ep.relay_to is None]
        self._playing = [(i, ep) for i, ep in enumerate(self._mixed) if ep.player is not None]
        self._send_fds = np.array([ep.fd for _i, ep in self._senders], dtype=np.int32)
        self._send_rows = np.array([i for i, _ep in self._senders], dtype=np.int32)
        self._rec_plan = None
        self._mixer.invalidate()
        self._plan_dirty = False

    def _plan_recordings(self) -> _RecordingPlan:
        row_of = self._row_of
        recs = [r for r in self._recordings.values()
                if r.caller in row_of and (r.agent is None or r.agent in row_of)]
        none = len(self._mixed)
        return _RecordingPlan([r.recorder.append for r in recs],
                              np.array([row_of[r.caller] for r in recs], dtype=np.intp),
                              np.array([row_of[r.agent] if r.agent is not None else none for r in recs],
                                       dtype=np.intp))

    def _tick(self, now: float) -> None:
        self._tick_count += 1
        self._tick_index += 1
        if self._plan_dirty:
            self._plan()
        mixed = self._mixed
        if mixed:
            self._tick_mixed(mixed, now)
            self._serve_relay(now)
        self._housekeeping(now)

    def _serve_relay(self, started: float) -> None:
        """Relayed packets wait while a tick runs: once it has run for a millisecond, read what arrived
        between its phases, so a long tick (a thousand recordings) does not show as jitter on the relay."""
        if time.monotonic() - started > 0.001:
            self._drain()

    def _tick_mixed(self, mixed: list[Endpoint], now: float) -> None:
        n = len(mixed)
        raw = np.frombuffer(b"".join([pop() for pop in self._pops]), dtype=np.uint8).reshape(n, FRAME)
        one_law = self._one_law
        if one_law is not None:
            pcm = g711.DECODE[one_law][raw]
        else:
            is_a = self._is_alaw
            pcm = np.where(is_a[:, None], g711.DECODE["alaw"][raw], g711.DECODE["ulaw"][raw])
        # in-band DTMF, batched over the legs that need it
        det_rows = self._det_rows
        if det_rows:
            hist = np.stack([mixed[i].inband.history for i in det_rows])  # type: ignore[union-attr]
            bins, ms, new_hist = analyse(pcm[det_rows], hist)
            for k, i in enumerate(det_rows):
                det = mixed[i].inband
                assert det is not None
                det.history = new_hist[k]
                for digit in det.consume(bins[k], ms[k]):
                    self._digit(mixed[i], digit, "inband")
        if not self._mix_rows:
            self._serve_relay(now)  # (not before sends of mixed audio: it would move them off the grid)
        if self._recordings:
            self._write_recordings(pcm, now)
        if not self._mix_rows:
            return  # every leg here is relayed: decoded for recordings and detectors only
        out = np.zeros((n, FRAME), dtype=np.float32)
        self._mixer.mix(pcm.astype(np.float32), self._mix_rows, out)
        for i, ep in self._playing:
            if ep.player is not None:
                out[i] += ep.player.frame()
                if isinstance(ep.player, Player) and ep.player.finished:
                    self._finish_player(ep, interrupted=False)
        np.clip(out, -32768, 32767, out=out)
        pcm_out = out.astype(np.int16)
        if one_law is not None:
            enc = g711.ENCODE[one_law][pcm_out.view(np.uint16)]
        else:
            is_a = self._is_alaw
            enc = np.where(is_a[:, None], g711.ENCODE["alaw"][pcm_out.view(np.uint16)],
                           g711.ENCODE["ulaw"][pcm_out.view(np.uint16)])
        tick = self._tick_index
        senders = self._senders
        fast = self._fast
        if fast is not None:
            # the compiled path sends for the legs handed over to it; the rest (not yet on the tick grid,
            # sending DTMF, not connected) come back here
            enc = np.ascontiguousarray(enc)
            senders = [senders[k] for k in fast.send_tick(self._send_fds, self._send_rows, enc, tick, now)]
            if not senders:
                return
        payloads = enc.tobytes()
        pack = _HDR.pack
        for i, ep in senders:
            if ep.dtmf_tx or ep.out_tick < 0:
                self._send_generated(ep, payloads[i * FRAME:(i + 1) * FRAME], now)
                continue
            # the common case inlined: one packet on the tick grid (see Endpoint.next_out)
            tx = ep.tx
            if not tx:
                continue
            seq = (ep.out_seq + 1) & 0xFFFF
            ts = (ep.out_ts + max(1, tick - ep.out_tick) * FRAME) & 0xFFFFFFFF
            try:
                if tx == 1:
                    ep.send(pack(0x80, ep.audio_pt, seq, ts, ep.ssrc) + payloads[i * FRAME:(i + 1) * FRAME])
                else:
                    ep.sendto(pack(0x80, ep.audio_pt, seq, ts, ep.ssrc) + payloads[i * FRAME:(i + 1) * FRAME],
                              ep.peer)
            except OSError:
                pass  # a full buffer or an ICMP error from the peer: a lost packet, as on the wire
            ep.out_seq, ep.out_ts, ep.out_time, ep.out_tick = seq, ts, now, tick
            ep.tx_packets += 1
            ep.tx_octets += FRAME
            if fast is not None:
                fast.hand_over(ep)

    def _send_generated(self, ep: Endpoint, payload: bytes, now: float) -> None:
        if not ep.tx:
            return
        tick = self._tick_index
        seq, ts = ep.next_out(now, tick)
        if ep.dtmf_tx and ep.te_pt is not None:
            sender = ep.dtmf_tx[0]
            packet = sender.next_packet(ts)
            if packet is not None:
                marker, ev_ts, body = packet
                self._send(ep, _HDR.pack(0x80, (0x80 if marker else 0) | ep.te_pt, seq, ev_ts, ep.ssrc) + body)
                ep.sent(seq, ts, now, tick, len(body))
            if sender.done:
                ep.dtmf_tx.pop(0)
                if not ep.dtmf_tx:
                    self._reconcile(ep.bridge_id)
                    self._reconcile_endpoint(ep)
            return
        self._send(ep, _HDR.pack(0x80, ep.audio_pt, seq, ts, ep.ssrc) + payload)
        ep.sent(seq, ts, now, tick, len(payload))

    def _write_recordings(self, pcm: npt.NDArray[np.int16], now: float) -> None:
        plan = self._rec_plan
        if plan is None:
            plan = self._rec_plan = self._plan_recordings()
        appends = plan.appends
        if not appends:
            return
        padded = np.concatenate([pcm, np.zeros((1, FRAME), dtype=pcm.dtype)])
        stereo = np.empty((len(appends), FRAME, 2), dtype="<i2")  # interleaved per sample: L R L R ...
        stereo[:, :, 0] = padded[plan.left]
        stereo[:, :, 1] = padded[plan.right]
        data = stereo.tobytes()
        size = FRAME * 4
        for k, append in enumerate(appends):
            append(data[k * size:(k + 1) * size])

    def _flush_recordings(self, now: float) -> None:
        """This tick's share of the recordings goes to disk: each one once per flush interval, also when its
        legs stopped producing frames."""
        due = self._flush_slots.get(self._tick_count % self._flush_ticks)
        if not due:
            return
        failed = []
        for r in due.values():
            r.recorder.flush(now)
            if r.recorder.failure is not None:
                failed.append(r)
        for r in failed:
            self._recordings.pop(r.recording_id, None)
            self._forget_recording(r)
            log.warning("recording %s stopped: %s", r.recorder.path, r.recorder.failure)
            self._recording_ended(r)

    def _housekeeping(self, now: float) -> None:
        """Time-outs and RTCP, spread over the ticks of a second: each endpoint is visited once a second, and
        a thousand legs never cost one long tick (which would show as jitter on the relayed packets)."""
        if not self._sweep:
            self._sweep = list(self._endpoints.values())
            self._sweep_per_tick = max(1, -(-len(self._sweep) // 50))
        batch = self._sweep[-self._sweep_per_tick:]
        del self._sweep[-self._sweep_per_tick:]
        timeout = self.config.rtp_timeout
        for ep in batch:
            if ep.sock is None:
                continue  # released since the sweep began
            self._sync(ep)
            ep.dtmf_rx.handle_timeout(now)
            expects_media = ep.direction in (Direction.SENDRECV, Direction.RECVONLY) and ep.remote is not None
            silent = now - ep.last_rx
            if ep.connected and silent >= 1.0:
                # the latched source has gone quiet: listen to every address again, so that the same stream
                # from a new NAT binding (or a new stream) can latch (see _latch); we keep sending to it
                self._unconnect(ep)
            if expects_media and silent > timeout and not ep.timed_out:
                ep.timed_out = True
                self.bus.publish(RtpTimeout(at=self.clock.wall(), endpoint_id=ep.endpoint_id,
                                            silent_for=round(silent, 1)))
            elif ep.timed_out and silent < timeout:
                ep.timed_out = False
            if now - ep.last_rtcp >= self.config.rtcp_interval:
                ep.last_rtcp = now
                self._send_rtcp(ep)
        if self._flush_slots:
            self._flush_recordings(now)
