"""The engine's 20 ms clock: everything that is not per packet.

Every 20 ms against absolute deadlines (`deadline += 0.02`; a late tick does not push the next one later, so
the clock does not drift; after a stall of more than 200 ms missed ticks are skipped rather than bunched), on
the injected clock: the event loop only sleeps. One tick pulls a frame from every mixed leg's jitter buffer,
decodes them all with one table look-up per law, runs in-band DTMF detection for the legs that need it as one
batch, writes recordings, mixes every conference (batched by size), adds prompts and tones, encodes
everything with one look-up per law and sends — from C for the legs handed over to the compiled path.
Generated timestamps follow the tick grid, so a late tick does not stretch the timeline a phone plays out.

Which legs take part, in which rows, is planned once per change (`Core.plan_dirty`), not per tick.
Housekeeping (RTP time-outs, RTCP, un-latching a silent source) visits each endpoint once a second, spread
over the ticks of that second, so a thousand legs never make one long tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from appliance.media import g711
from appliance.media.bridges import Bridges
from appliance.media.core import Core
from appliance.media.endpoint import FRAME, TICK, Endpoint
from appliance.media.events import RtpTimeout
from appliance.media.frames import FramePort
from appliance.media.inband import analyse
from appliance.media.models import Direction
from appliance.media.packets import HDR, PacketPath
from appliance.media.playback import Playback
from appliance.media.player import Player
from appliance.media.ports import Ports
from appliance.media.recordings import Recordings
from appliance.media.rtcp_reports import RtcpReports
from appliance.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_STAND_IN = bytes(FRAME)  # a linear row's place in the coded batch (decoded, then overwritten)


class Tick:
    def __init__(self, core: Core, bridges: Bridges, packets: PacketPath, playback: Playback,
                 recordings: Recordings, ports: Ports, reports: RtcpReports) -> None:
        self._core = core
        self._now = core.now
        self._fast = core.fast
        self._mixer = bridges.mixer
        self._bridges = bridges
        self._packets = packets
        self._playback = playback
        self._recordings = recordings
        self._ports = ports
        self._reports = reports
        self._task: asyncio.Task[None] | None = None
        self.tick_count = 0
        self._tick_index = 0  # ticks of the 20 ms grid since start, skipped ones included
        self._sweep: list[Endpoint] = []
        self._sweep_per_tick = 1
        self.ticks_late = 0
        self.ticks_skipped = 0
        self.tick_busy = 0.0  # seconds spent inside ticks, and the longest tick: load figures
        self.tick_max = 0.0
        self.sent = 0  # frames the tick sent from Python (the compiled path counts its own)
        self.send_failures = 0
        # the plan (see _plan)
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
        self._linear_rows: list[int] = []  # frame ports of 16-bit samples: no decoding
        self._frame_outs: list[tuple[int, FramePort]] = []  # mixed frame ports: (row, port) their mix goes to
        self._frame_feeds: list[tuple[int, FramePort]] = []  # RTP legs relayed into a frame port: (row, port)

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._clock(), name="media-clock")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _clock(self) -> None:
        now = self._now
        deadline = now()
        while True:
            deadline += TICK
            delay = deadline - now()
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
            started = now()
            try:
                self.run(started)
            except Exception:
                log.exception("media tick failed")
            spent = now() - started
            self.tick_busy += spent
            if spent > self.tick_max:
                self.tick_max = spent

    def run(self, now: float) -> None:
        """One tick at `now` (the clock task calls it every 20 ms; a simulation may call it directly)."""
        self.tick_count += 1
        self._tick_index += 1
        if self._core.plan_dirty:
            self._plan()
        mixed = self._mixed
        if mixed:
            self._tick_mixed(mixed, now)
            self._serve_relay(now)
        self._housekeeping(now)

    def _plan(self) -> None:
        endpoints = self._core.endpoints.values()
        mixed = self._mixed = [ep for ep in endpoints
                               if ep.jitter is not None or (ep.frame is not None and ep.frame.ticked)]
        self._row_of = {ep.endpoint_id: i for i, ep in enumerate(mixed)}
        # relayed legs are decoded (for recordings and detectors) but neither mixed nor sent
        self._mix_rows = {ep.endpoint_id: i for i, ep in enumerate(mixed) if ep.relay_to is None}
        self._pops = [ep.jitter.pop if ep.jitter is not None else ep.frame.rx.take  # type: ignore[union-attr]
                      for ep in mixed]
        coded = [ep for ep in mixed if ep.frame is None or ep.frame.law != "linear"]
        laws = {ep.law for ep in coded}
        self._one_law = laws.pop() if len(laws) == 1 else ("alaw" if not laws else None)
        self._is_alaw = np.array([ep.law == "alaw" for ep in mixed], dtype=bool)
        self._linear_rows = [i for i, ep in enumerate(mixed) if ep.frame is not None and ep.frame.law == "linear"]
        self._det_rows = [i for i, ep in enumerate(mixed) if ep.inband is not None]
        self._senders = [(i, ep) for i, ep in enumerate(mixed) if ep.relay_to is None and ep.frame is None]
        self._playing = [(i, ep) for i, ep in enumerate(mixed) if ep.player is not None]
        self._send_fds = np.array([ep.fd for _i, ep in self._senders], dtype=np.int32)
        self._send_rows = np.array([i for i, _ep in self._senders], dtype=np.int32)
        self._frame_outs = [(i, ep.frame) for i, ep in enumerate(mixed) if ep.frame is not None and ep.relay_to is None]
        self._frame_feeds = [(i, ep.relay_to.frame) for i, ep in enumerate(mixed)
                             if ep.frame is None and ep.relay_to is not None and ep.relay_to.frame is not None]
        # a frame port's buffers are open while the tick takes from them (a row) or fills them (fed)
        fed = {id(port) for _i, port in self._frame_outs + self._frame_feeds}
        for ep in endpoints:
            port = ep.frame
            if port is not None:
                port.rx.set_open(port.ticked)
                if not port.ticked:
                    port.rx.clear()  # (the line's frames the tick did not read would be stale later)
                port.tx.set_open(id(port) in fed)  # (closed, it still gives the driver what it holds)
        self._recordings.invalidate()
        self._mixer.invalidate()
        self._core.plan_dirty = False

    def _serve_relay(self, started: float) -> None:
        """Relayed packets wait while a tick runs: once it has run for a millisecond, read what arrived
        between its phases, so a long tick (a thousand recordings) does not show as jitter on the relay."""
        if self._now() - started > 0.001:
            self._packets.drain()

    def _tick_mixed(self, mixed: list[Endpoint], now: float) -> None:
        n = len(mixed)
        frames = [pop() for pop in self._pops]
        linear = self._linear_rows
        if linear:  # 16-bit frames go in after the decoding of the coded ones, in place of a stand-in
            samples = np.frombuffer(b"".join([frames[i] for i in linear]), dtype="<i2").reshape(len(linear), FRAME)
            for i in linear:
                frames[i] = _STAND_IN
        for i, port in self._frame_feeds:
            port.tx.put(frames[i])  # an RTP leg's code words to the frame port it relays into, untouched
        raw = np.frombuffer(b"".join(frames), dtype=np.uint8).reshape(n, FRAME)
        one_law = self._one_law
        if one_law is not None:
            pcm = g711.DECODE[one_law][raw]
        else:
            is_a = self._is_alaw
            pcm = np.where(is_a[:, None], g711.DECODE["alaw"][raw], g711.DECODE["ulaw"][raw])
        if linear:
            pcm[linear] = samples
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
                    self._playback.digit(mixed[i], digit, "inband")
        if not self._mix_rows:
            self._serve_relay(now)  # (not before sends of mixed audio: it would move them off the grid)
        if self._recordings.recordings:
            self._recordings.write(pcm, self._row_of)
        if not self._mix_rows:
            return  # every leg here is relayed: decoded for recordings and detectors only
        out = np.zeros((n, FRAME), dtype=np.float32)
        self._mixer.mix(pcm.astype(np.float32), self._mix_rows, out)
        for i, ep in self._playing:
            if ep.player is not None:
                out[i] += ep.player.frame()
                if isinstance(ep.player, Player) and ep.player.finished:
                    self._playback.finish(ep, interrupted=False)
        np.clip(out, -32768, 32767, out=out)
        pcm_out = out.astype(np.int16)
        if one_law is not None:
            enc = g711.ENCODE[one_law][pcm_out.view(np.uint16)]
        else:
            is_a = self._is_alaw
            enc = np.where(is_a[:, None], g711.ENCODE["alaw"][pcm_out.view(np.uint16)],
                           g711.ENCODE["ulaw"][pcm_out.view(np.uint16)])
        for i, port in self._frame_outs:
            port.tx.put(pcm_out[i].astype("<i2").tobytes() if port.law == "linear" else enc[i].tobytes())
        if self._senders:
            self._send_mixed(enc, now)

    def _send_mixed(self, enc: npt.NDArray[np.uint8], now: float) -> None:
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
        pack = HDR.pack
        sent = 0
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
                self.send_failures += 1  # a full buffer or an ICMP error from the peer: lost, as on the wire
            ep.out_seq, ep.out_ts, ep.out_time, ep.out_tick = seq, ts, now, tick
            ep.tx_packets += 1
            ep.tx_octets += FRAME
            sent += 1
            if fast is not None:
                fast.hand_over(ep)
        self.sent += sent

    def _send_generated(self, ep: Endpoint, payload: bytes, now: float) -> None:
        if not ep.tx:
            return
        tick = self._tick_index
        seq, ts = ep.next_out(now, tick)
        send = self._packets.send
        if ep.dtmf_tx and ep.te_pt is not None:
            sender = ep.dtmf_tx[0]
            packet = sender.next_packet(ts)
            if packet is not None:
                marker, ev_ts, body = packet
                send(ep, HDR.pack(0x80, (0x80 if marker else 0) | ep.te_pt, seq, ev_ts, ep.ssrc) + body)
                ep.sent(seq, ts, now, tick, len(body))
                self.sent += 1
            if sender.done:
                ep.dtmf_tx.pop(0)
                if not ep.dtmf_tx:
                    self._bridges.refresh(ep)
            return
        send(ep, HDR.pack(0x80, ep.audio_pt, seq, ts, ep.ssrc) + payload)
        ep.sent(seq, ts, now, tick, len(payload))
        self.sent += 1

    def _housekeeping(self, now: float) -> None:
        """Time-outs and RTCP, spread over the ticks of a second: each endpoint is visited once a second, and
        a thousand legs never cost one long tick (which would show as jitter on the relayed packets)."""
        core = self._core
        if not self._sweep:
            self._sweep = list(core.endpoints.values())
            self._sweep_per_tick = max(1, -(-len(self._sweep) // 50))
        batch = self._sweep[-self._sweep_per_tick:]
        del self._sweep[-self._sweep_per_tick:]
        config = core.config
        timeout = config.rtp_timeout
        for ep in batch:
            if ep.sock is None:
                continue  # released since the sweep began
            core.sync(ep)
            ep.dtmf_rx.handle_timeout(now)
            expects_media = ep.direction in (Direction.SENDRECV, Direction.RECVONLY) and ep.remote is not None
            silent = now - ep.last_rx
            if ep.connected and silent >= 1.0:
                # the latched source has gone quiet: listen to every address again, so that the same stream
                # from a new NAT binding (or a new stream) can latch (see Ports.latch); we keep sending to it
                self._ports.unconnect(ep)
            if expects_media and silent > timeout and not ep.timed_out:
                ep.timed_out = True
                core.bus.publish(RtpTimeout(at=core.clock.wall(), endpoint_id=ep.endpoint_id,
                                            silent_for=round(silent, 1)))
            elif ep.timed_out and silent < timeout:
                ep.timed_out = False
            if now - ep.last_rtcp >= config.rtcp_interval:
                ep.last_rtcp = now
                self._reports.send(ep)
        if self._recordings.flush_slots:
            self._recordings.flush(self.tick_count, now)
