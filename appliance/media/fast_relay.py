"""The compiled packet path's Python side: loading `_rtp_relay`, the leg table it works on, one call per wake-up.

`_rtp_relay.c` takes the plain, in-order audio packets of the legs the engine (`service.py`) hands over: it
relays them (RELAY: two-party bridges) and/or passes their payloads up for the leg's jitter buffer (UP: mixed
legs, and relayed legs tapped for a recording or in-band detection). The engine hands a leg over when its
packets can go that way and takes it back before anything else touches the leg's per-packet state. While a
leg is handed over, the table below is where that state lives: the receiver statistics and last payload of
the leg, and the outgoing stream of the leg its packets are relayed into.

The table is a ctypes array indexed by socket descriptor, owned here and passed to C on every call. The
library is loaded with `ctypes.PyDLL`, which keeps the GIL across the call: a drain is a few hundred
microseconds at most, and giving the GIL away would let another thread hold it for a switch interval (5 ms),
which would show as jitter.

When the extension was not built (a source checkout without `pip install`), `load()` returns None and the
engine relays in Python: the same packets, the same statistics, more CPU.
"""

from __future__ import annotations

import ctypes
import importlib
import logging

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

LAST_MAX = 320
OUT_CAP = 1024  # records per wake-up (the C side reads at most 1,024 events)
MODE_RELAY = 1
MODE_UP = 2
MODE_SEND = 4
MODES_RX = MODE_RELAY | MODE_UP
_KIND_READ, _KIND_PACKET, _KIND_PAYLOAD = 0, 1, 2
BUF_CAP = 1 << 18  # packets handed back to Python per wake-up; the C side stops before it could overflow


class RelayLeg(ctypes.Structure):
    """Mirrors `relay_leg` in _rtp_relay.c (checked against the library's own size at load)."""

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


def load() -> ctypes.PyDLL | None:
    try:
        module = importlib.import_module("appliance.media._rtp_relay")
    except ImportError:
        log.info("the compiled RTP relay is not built; relaying in Python")
        return None
    lib = ctypes.PyDLL(module.__file__)
    lib.relay_leg_size.restype = ctypes.c_int
    if lib.relay_leg_size() != ctypes.sizeof(RelayLeg):
        log.error("the compiled RTP relay does not match its Python side; relaying in Python")
        return None
    lib.relay_drain.restype = ctypes.c_int
    lib.relay_drain.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_int64,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
    lib.relay_send_tick.restype = ctypes.c_int
    lib.relay_send_tick.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_void_p)
    return lib


class FastRelay:
    """The leg table and the drain call. Descriptors index the table; it grows when a larger one comes."""

    def __init__(self, lib: ctypes.PyDLL) -> None:
        self._drain = lib.relay_drain
        self._send_tick = lib.relay_send_tick
        self._skipped = np.zeros(0, dtype=np.int32)
        self._out = (ctypes.c_uint32 * (5 * OUT_CAP))()
        self._out_view = memoryview(self._out).cast("B").cast("I")
        self._buf = (ctypes.c_uint8 * BUF_CAP)()
        self._buf_view = memoryview(self._buf).cast("B")
        self._counts = (ctypes.c_int64 * 3)()
        self._out_p = ctypes.addressof(self._out)
        self._buf_p = ctypes.addressof(self._buf)
        self._counts_p = ctypes.addressof(self._counts)
        self.legs = (RelayLeg * 0)()
        self._legs_p = 0
        self.ready = 0  # figures: sockets reported ready, packets relayed, payloads passed up, frames sent
        self.relayed = 0
        self.passed_up = 0
        self.sent = 0

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
        if len(self._skipped) < n:
            self._skipped = np.zeros(max(n, 2 * len(self._skipped)), dtype=np.int32)
        k = self._send_tick(self._legs_p, len(self.legs), fds.ctypes.data, rows.ctypes.data, n,
                            frames.ctypes.data, tick, now, self._skipped.ctypes.data)
        self.sent += n - k
        return self._skipped[:k].tolist()  # type: ignore[no-any-return]

    def drain(self, epfd: int, now: float, units: int
              ) -> tuple[list[tuple[int, int | bytes]], list[tuple[int, int, bytes]]]:
        """One wake-up. Returns what is left for Python, as (fd, 0) for a socket to read and (fd, packet) for a
        packet read here (the shape of `epoll.poll`'s (fd, mask) pairs, so one loop takes both), and the
        payloads of UP legs as (fd, timestamp, payload)."""
        n = self._drain(epfd, self._legs_p, len(self.legs), now, units, self._out_p, OUT_CAP, self._buf_p,
                        BUF_CAP, self._counts_p)
        counts = self._counts
        self.ready += counts[0]
        self.relayed += counts[1]
        self.passed_up += counts[2]
        left: list[tuple[int, int | bytes]] = []
        ups: list[tuple[int, int, bytes]] = []
        if n <= 0:
            if n < 0:
                raise OSError(-n, "epoll_wait")
            return left, ups
        records = self._out_view[:5 * n].tolist()
        buf = self._buf_view
        for k in range(0, 5 * n, 5):
            fd, kind, offset, length, ts = records[k:k + 5]
            if kind == _KIND_PAYLOAD:
                ups.append((fd, ts, bytes(buf[offset:offset + length])))
            elif kind == _KIND_READ:
                left.append((fd, 0))
            else:
                left.append((fd, bytes(buf[offset:offset + length])))
        return left, ups
