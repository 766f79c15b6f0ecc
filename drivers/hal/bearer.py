"""Bearer datagrams (PROTOCOL.md, "Bearer"): one UDP datagram per unit per 20 ms tick.

    'B1' | kind u8 (0 span, 1 port) | unit u8 | tick u32 BE | channel mask u32 BE | 160 bytes per set bit
"""

from __future__ import annotations

import os
import socket
import struct

from drivers.hal.interface import BearerFrames
from drivers.hal.models import FRAME_BYTES

MAGIC = b"B1"
HEAD = struct.Struct(">2sBBII")
KINDS = ("span", "port")
# Every unit's datagram of a tick arrives at once (48 analog ports: 48 datagrams, each costing the kernel about
# 1 KB of buffer whatever its size), so the default 208 KB receive buffer holds only a few ticks: a process that
# is not scheduled for ~80 ms loses frames. 4 MB holds seconds of a full card.
RCVBUF = 4 << 20


def enlarge_rcvbuf(sock: socket.socket | None, size: int = RCVBUF) -> int:
    """Give a bearer socket a receive buffer of `size` bytes (root may exceed `net.core.rmem_max` with
    SO_RCVBUFFORCE; others get at most that limit) and return what the kernel granted (it counts double)."""
    if sock is None:
        return 0
    if os.geteuid() == 0 and hasattr(socket, "SO_RCVBUFFORCE"):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUFFORCE, size)
        except OSError:  # (no CAP_NET_ADMIN in this namespace: the plain option below)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


class BearerFormatError(ValueError):
    pass


def pack(frames: BearerFrames) -> bytes:
    mask = 0
    parts = []
    for channel in sorted(frames.frames):
        if not 0 <= channel < 32:
            raise BearerFormatError(f"channel {channel} is outside 0..31")
        frame = frames.frames[channel]
        if len(frame) != FRAME_BYTES:
            raise BearerFormatError(f"channel {channel}: a frame is {FRAME_BYTES} bytes, not {len(frame)}")
        mask |= 1 << channel
        parts.append(frame)
    return HEAD.pack(MAGIC, KINDS.index(frames.kind), frames.unit, frames.tick & 0xFFFFFFFF, mask) + b"".join(parts)


def unpack(data: bytes) -> BearerFrames:
    if len(data) < HEAD.size:
        raise BearerFormatError("short bearer datagram")
    magic, kind, unit, tick, mask = HEAD.unpack_from(data)
    if magic != MAGIC or kind > 1:
        raise BearerFormatError("not a bearer datagram")
    channels = [c for c in range(32) if mask >> c & 1]
    if len(data) != HEAD.size + FRAME_BYTES * len(channels):
        raise BearerFormatError("bearer datagram length does not match its channel mask")
    view = memoryview(data)
    frames = {c: bytes(view[HEAD.size + i * FRAME_BYTES:HEAD.size + (i + 1) * FRAME_BYTES])
              for i, c in enumerate(channels)}
    return BearerFrames("span" if kind == 0 else "port", unit, tick, frames)
