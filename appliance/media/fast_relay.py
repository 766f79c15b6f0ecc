"""The compiled packet path's Python side: loading `_rtp_relay`, the leg table it works on, one call per wake-up.

`_rtp_relay.c` takes the plain, in-order audio packets of the legs the engine (`packets.py`, `tick.py`) hands over: it
relays them (RELAY: two-party bridges) and/or passes their payloads up for the leg's jitter buffer (UP: mixed
legs, and relayed legs tapped for a recording or in-band detection). The engine hands a leg over when its
packets can go that way and takes it back before anything else touches the leg's per-packet state. While a
leg is handed over, the table below is where that state lives: the receiver statistics and last payload of
the leg, and the outgoing stream of the leg its packets are relayed into.

The table is a ctypes array indexed by socket descriptor, owned here and passed to C on every call. The
library is loaded with `ctypes.PyDLL`, which keeps the GIL across the call: a drain is a few hundred
microseconds at most, and giving the GIL away would let another thread hold it for a switch interval (5 ms),
which would show as jitter.

When the extension was not built (a source checkout without `pip install`), or when it does not match this
file — `relay_abi()` in C lists the size and every field offset of `relay_leg` and the constants both sides
use, and `load()` compares them with `RelayLeg` and the constants below — `load()` returns None with the
reason, logged, and the engine relays in Python: the same packets, the same statistics, more CPU.

C checks every descriptor and row index it is handed and refuses (and counts) a bad one rather than follow
it; sends the kernel refuses are counted too (`refused`, `send_failures`).
"""

from __future__ import annotations

import ctypes
import importlib
import logging

import numpy as np
import numpy.typing as npt

from appliance.media.endpoint import MAX_DROPOUT, TS_STEP_MAX, Endpoint

log = logging.getLogger(__name__)

# shared with _rtp_relay.c, and checked against it at load (relay_abi)
LAST_MAX = 320
OUT_CAP = 1024  # records per wake-up (the C side reads at most 1,024 events)
PACKET_MAX = 2048  # the largest datagram C reads
FRAME = 160
MODE_RELAY = 1
MODE_UP = 2
MODE_SEND = 4
MODES_RX = MODE_RELAY | MODE_UP
KIND_READ, KIND_PACKET, KIND_PAYLOAD = 0, 1, 2
RECORD_WORDS = 5  # uint32 words per record of relay_drain
DRAIN_COUNTS = 5  # ready sockets, relayed, passed up, refused, send failures
TICK_COUNTS = 3  # sent, refused, send failures
BUF_CAP = 1 << 18  # packets handed back to Python per wake-up; the C side stops before it could overflow
assert BUF_CAP >= PACKET_MAX  # else C could never read a packet into it


class RelayLeg(ctypes.Structure):
    """Mirrors `relay_leg` in _rtp_relay.c (checked against the library's size and offsets at load)."""

    _fields_ = [
        ("mode", ctypes.c_int32),
        ("target_fd", ctypes.c_int32),
        ("peer_ssrc", ctypes.c_uint32),
        ("audio_pt", ctypes.c_uint32),
        ("out_ssrc", ctypes.c_uint32),
        ("seq_off", ctypes.c_uint32),
        ("ts_off", ctypes.c_uint32),
        ("last_len", ctypes.c_uint32),
        ("own_ssrc", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
        ("max_seq", ctypes.c_int64),
        ("cycles", ctypes.c_int64),
        ("received", ctypes.c_int64),
        ("transit", ctypes.c_int64),
        ("jitter", ctypes.c_double),
        ("last_rx", ctypes.c_double),
        ("last_in_ts", ctypes.c_int64),
        ("out_seq", ctypes.c_int64),
        ("out_ts", ctypes.c_int64),
        ("out_time", ctypes.c_double),
        ("tx_packets", ctypes.c_int64),
        ("tx_octets", ctypes.c_int64),
        ("out_tick", ctypes.c_int64),
        ("last_payload", ctypes.c_uint8 * LAST_MAX),
    ]


class _AbiEntry(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_int64)]


def expected_abi() -> dict[str, int]:
    """What this side assumes of the library: `relay_leg`'s layout as `RelayLeg` has it, and the constants."""
    abi = {"sizeof(relay_leg)": ctypes.sizeof(RelayLeg)}
    for name, *_ in RelayLeg._fields_:
        abi[f"offsetof(relay_leg, {name})"] = getattr(RelayLeg, name).offset
    abi.update({"MODE_RELAY": MODE_RELAY, "MODE_UP": MODE_UP, "MODE_SEND": MODE_SEND, "RELAY_LAST_MAX": LAST_MAX,
                "RELAY_MAX_EVENTS": OUT_CAP, "RELAY_PACKET_MAX": PACKET_MAX, "FRAME": FRAME,
                "KIND_READ": KIND_READ, "KIND_PACKET": KIND_PACKET, "KIND_PAYLOAD": KIND_PAYLOAD,
                "RECORD_WORDS": RECORD_WORDS, "DRAIN_COUNTS": DRAIN_COUNTS, "TICK_COUNTS": TICK_COUNTS,
                "MAX_DROPOUT": MAX_DROPOUT, "TS_STEP_MAX": TS_STEP_MAX})
    return abi


def abi_mismatches(lib: ctypes.CDLL) -> list[str]:
    """Where the library and this file disagree (empty when they match)."""
    try:
        relay_abi = lib.relay_abi
    except AttributeError:
        return ["the library has no relay_abi table (built from an older _rtp_relay.c)"]
    relay_abi.restype = ctypes.POINTER(_AbiEntry)
    table = relay_abi()
    theirs: dict[str, int] = {}
    i = 0
    while table[i].name is not None:
        theirs[table[i].name.decode()] = table[i].value
        i += 1
    ours = expected_abi()
    problems = [f"{name}: C {theirs.get(name, 'missing')}, Python {value}"
                for name, value in ours.items() if theirs.get(name) != value]
    problems += [f"{name}: C {value}, unknown to Python" for name, value in theirs.items() if name not in ours]
    return problems


def load() -> tuple[ctypes.PyDLL | None, str]:
    """The compiled packet path, or None and why not."""
    try:
        module = importlib.import_module("appliance.media._rtp_relay")
    except ImportError:
        log.info("the compiled RTP relay is not built; relaying in Python")
        return None, "not built"
    lib = ctypes.PyDLL(module.__file__)
    problems = abi_mismatches(lib)
    if problems:
        log.error("the compiled RTP relay (%s) does not match fast_relay.py: %s; relaying in Python",
                  module.__file__, "; ".join(problems))
        return None, "refused: " + "; ".join(problems)
    lib.relay_drain.restype = ctypes.c_int
    lib.relay_drain.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_int64,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
    lib.relay_send_tick.restype = ctypes.c_int
    lib.relay_send_tick.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_double,
                                    ctypes.c_void_p, ctypes.c_void_p)
    return lib, ""


class FastRelay:
    """The leg table and the drain call. Descriptors index the table; it grows when a larger one comes."""

    def __init__(self, lib: ctypes.PyDLL) -> None:
        self._drain = lib.relay_drain
        self._send_tick = lib.relay_send_tick
        self._skipped = np.zeros(0, dtype=np.int32)
        self._out = (ctypes.c_uint32 * (RECORD_WORDS * OUT_CAP))()
        self._out_view = memoryview(self._out).cast("B").cast("I")
        self._buf = (ctypes.c_uint8 * BUF_CAP)()
        self._buf_view = memoryview(self._buf).cast("B")
        self._counts = (ctypes.c_int64 * DRAIN_COUNTS)()
        self._tick_counts = (ctypes.c_int64 * TICK_COUNTS)()
        self._out_p = ctypes.addressof(self._out)
        self._buf_p = ctypes.addressof(self._buf)
        self._counts_p = ctypes.addressof(self._counts)
        self._tick_counts_p = ctypes.addressof(self._tick_counts)
        self.legs = (RelayLeg * 0)()
        self._legs_p = 0
        self.last_ready = 0  # sockets the last drain found ready
        self.relayed = 0  # figures: packets relayed, payloads passed up, frames sent
        self.passed_up = 0
        self.sent = 0
        self.refused = 0  # descriptors and rows C would not follow (never expected: a bug on this side)
        self.send_failures = 0  # sends the kernel refused (a full buffer, an ICMP error): lost, as on the wire

    # ---------------------------------------------------------------- ownership
    # A handed-over leg's receive side (statistics, last payload), and with MODE_RELAY its target's send side
    # (sequence, timestamp, counters), with MODE_SEND its own, live in the table. `own` takes them back
    # before anything else touches them; `sync` copies them out for reading while C goes on.

    def hand_over(self, ep: Endpoint) -> None:
        """Give a leg to the compiled path for what it can do there: relay its plain packets (to a connected
        target, with the offsets fixed) and/or pass them up to its jitter buffer, and send what the tick mixes
        for it (on the tick grid, no DTMF being sent). A leg already handed over is taken back first: the
        modes are worked out afresh."""
        if ep.fd < 0:
            return
        if ep.fast:
            self._take_back(ep)
        target = ep.relay_to
        if ep.srtp is not None or (target is not None and target.srtp is not None):
            return  # C reads and writes the sockets itself: an encrypted leg (srtp.py) stays on Python's path
        mode = 0
        if ep.connected and ep.peer_ssrc is not None and ep.stats.base_seq >= 0:
            if target is None or target.frame is not None:  # mixed, or carried by the tick to a frame port
                mode = MODE_UP if ep.jitter is not None else 0
            elif not ep.resync and ep.in_seq == ep.stats.max_seq and target.tx == 1 and target.fd >= 0:
                # (the statistics still on the old sequence after a restart: Python relays till they follow)
                mode = MODE_RELAY | (MODE_UP if ep.jitter is not None else 0)
            # else relayed, but not yet the C way: Python relays until it can
        if (target is None and ep.jitter is not None and ep.tx == 1 and not ep.dtmf_tx and ep.out_tick >= 0):
            mode |= MODE_SEND
        if not mode:
            return
        self.reserve(max(ep.fd, target.fd if target is not None else 0))
        leg = self.legs[ep.fd]
        leg.audio_pt = ep.audio_pt
        if mode & MODES_RX:
            leg.peer_ssrc = ep.peer_ssrc or 0
            st = ep.stats
            leg.max_seq, leg.cycles, leg.received, leg.transit, leg.jitter = (st.max_seq, st.cycles, st.received,
                                                                               st.transit, st.jitter)
            leg.last_rx = ep.last_rx
            ep.fast_received = st.received
        if mode & MODE_RELAY:
            assert target is not None
            leg.target_fd = target.fd
            leg.out_ssrc = target.ssrc
            leg.seq_off = ep.seq_off & 0xFFFF
            leg.ts_off = ep.ts_off & 0xFFFFFFFF
            leg.last_in_ts = ep.in_ts  # where C checks the timestamps' course from
            self._put_tx(target, self.legs[target.fd])
        if mode & MODE_SEND:
            leg.own_ssrc = ep.ssrc
            self._put_tx(ep, leg)
        leg.mode = mode
        ep.fast = mode

    @staticmethod
    def _put_tx(ep: Endpoint, leg: RelayLeg) -> None:
        leg.out_seq, leg.out_ts, leg.out_time, leg.out_tick = ep.out_seq, ep.out_ts, ep.out_time, ep.out_tick
        leg.tx_packets, leg.tx_octets = ep.tx_packets, ep.tx_octets
        ep.fast_tx_packets = ep.tx_packets

    def own(self, ep: Endpoint) -> None:
        """Take `ep`'s per-packet state back from the compiled path: its receive side, and its send side
        from the leg relayed into it."""
        if ep.fast:
            self._take_back(ep)
        partner = ep.relay_to
        if partner is not None and partner.fast & MODE_RELAY:
            self._take_back(partner)

    def _take_back(self, ep: Endpoint) -> None:
        legs = self.legs
        legs[ep.fd].mode = 0
        mode, ep.fast = ep.fast, 0
        if mode & MODES_RX:
            self._sync_rx(ep, legs[ep.fd], mode)
        if mode & MODE_RELAY:
            assert ep.relay_to is not None
            self._sync_tx(ep.relay_to, legs[ep.relay_to.fd])
        if mode & MODE_SEND:
            self._sync_tx(ep, legs[ep.fd])

    def sync(self, ep: Endpoint) -> None:
        """Copy what C has counted for `ep` so far (it goes on relaying)."""
        if ep.fast & MODES_RX:
            self._sync_rx(ep, self.legs[ep.fd], ep.fast)
        partner = ep.relay_to
        if ep.fast & MODE_SEND or (partner is not None and partner.fast & MODE_RELAY):
            self._sync_tx(ep, self.legs[ep.fd])

    def _sync_rx(self, ep: Endpoint, leg: RelayLeg, mode: int) -> None:
        st = ep.stats
        if leg.received == ep.fast_received:
            return
        st.max_seq, st.cycles, st.received, st.transit, st.jitter = (leg.max_seq, leg.cycles, leg.received,
                                                                     leg.transit, leg.jitter)
        ep.fast_received = leg.received
        ep.last_rx = leg.last_rx
        if mode & MODE_RELAY:  # (C keeps the last payload of relayed legs only)
            ep.last_in_ts = leg.last_in_ts
            ep.last_in_payload = self.last_payload(leg)
            ep.in_seq, ep.in_ts = leg.max_seq, leg.last_in_ts  # C relays in order only: its newest

    @staticmethod
    def _sync_tx(ep: Endpoint, leg: RelayLeg) -> None:
        if leg.tx_packets == ep.fast_tx_packets:
            return
        ep.out_seq, ep.out_ts, ep.out_time, ep.out_tick = leg.out_seq, leg.out_ts, leg.out_time, leg.out_tick
        ep.tx_packets, ep.tx_octets = leg.tx_packets, leg.tx_octets
        ep.fast_tx_packets = leg.tx_packets

    def last_payload(self, leg: RelayLeg) -> bytes:
        return ctypes.string_at(ctypes.addressof(leg) + RelayLeg.last_payload.offset, leg.last_len)

    def reserve(self, fd: int) -> None:
        """Grow the table to hold `fd` (entries taken before this call would point into the old table)."""
        if fd >= len(self.legs):
            size = max(256, len(self.legs))
            while size <= fd:
                size *= 2
            grown = (RelayLeg * size)()
            ctypes.memmove(grown, self.legs, ctypes.sizeof(self.legs))
            self.legs = grown
            self._legs_p = ctypes.addressof(grown)

    def send_tick(self, fds: npt.NDArray[np.int32], rows: npt.NDArray[np.int32], frames: npt.NDArray[np.uint8],
                  tick: int, now: float) -> list[int]:
        """Send this tick's frames for the SEND legs among `fds` (sender i sends row rows[i] of `frames`);
        returns the indices of the senders left to Python."""
        n = len(fds)
        if len(rows) < n or frames.shape[1:] != (FRAME,):
            raise ValueError("send_tick needs a row for every sender and frames of FRAME bytes")
        if len(self._skipped) < n:
            self._skipped = np.zeros(max(n, 2 * len(self._skipped)), dtype=np.int32)
        k = self._send_tick(self._legs_p, len(self.legs), fds.ctypes.data, rows.ctypes.data, n,
                            frames.ctypes.data, len(frames), tick, now, self._skipped.ctypes.data,
                            self._tick_counts_p)
        counts = self._tick_counts
        self.sent += counts[0]
        self.refused += counts[1]
        self.send_failures += counts[2]
        return self._skipped[:k].tolist()  # type: ignore[no-any-return]

    def drain(self, epfd: int, now: float, units: int
              ) -> tuple[list[tuple[int, int | bytes]], list[tuple[int, int, bytes]]]:
        """One wake-up. Returns what is left for Python, as (fd, 0) for a socket to read and (fd, packet) for a
        packet read here (the shape of `epoll.poll`'s (fd, mask) pairs, so one loop takes both), and the
        payloads of UP legs as (fd, timestamp, payload)."""
        n = self._drain(epfd, self._legs_p, len(self.legs), now, units, self._out_p, OUT_CAP, self._buf_p,
                        BUF_CAP, self._counts_p)
        counts = self._counts
        self.last_ready = counts[0]
        self.relayed += counts[1]
        self.passed_up += counts[2]
        self.refused += counts[3]
        self.send_failures += counts[4]
        left: list[tuple[int, int | bytes]] = []
        ups: list[tuple[int, int, bytes]] = []
        if n <= 0:
            if n < 0:
                raise OSError(-n, "epoll_wait")
            return left, ups
        records = self._out_view[:RECORD_WORDS * n].tolist()
        buf = self._buf_view
        for k in range(0, RECORD_WORDS * n, RECORD_WORDS):
            fd, kind, offset, length, ts = records[k:k + RECORD_WORDS]
            if kind == KIND_PAYLOAD:
                ups.append((fd, ts, bytes(buf[offset:offset + length])))
            elif kind == KIND_READ:
                left.append((fd, 0))
            else:
                left.append((fd, bytes(buf[offset:offset + length])))
        return left, ups
