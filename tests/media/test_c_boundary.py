"""The boundary between the engine and its compiled packet path (`_rtp_relay.c` through `fast_relay.py`).

At load the library's layout (sizeof and every offsetof of `relay_leg`) and the constants both sides use are
compared with the Python side, and a library that differs is refused with a log line saying where; C checks
every descriptor and row index it is handed and refuses (and counts) a bad one; failed sends are counted and
reach the engine's figures.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import select
import socket
import struct
from collections.abc import Iterator

import numpy as np
import pytest

from appliance.events import EventBus
from appliance.media import MediaConfig, MediaEngine, RemoteMedia, fast_relay
from appliance.media.fast_relay import MODE_RELAY, MODE_SEND, FastRelay, RelayLeg
from tests.media.conftest import free_port_range
from tests.media.helpers import RtpPeer


def library() -> ctypes.PyDLL:
    lib, why = fast_relay.load()
    assert lib is not None, f"the compiled relay must be built here (pip install -e .): {why}"
    return lib


def test_the_built_library_matches_its_python_side() -> None:
    assert fast_relay.abi_mismatches(library()) == []


def test_a_constant_that_differs_refuses_the_library(monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(fast_relay, "MODE_SEND", 8)
    with caplog.at_level(logging.ERROR, logger="appliance.media.fast_relay"):
        lib, why = fast_relay.load()
    assert lib is None and "MODE_SEND: C 4, Python 8" in why
    assert "does not match fast_relay.py: MODE_SEND: C 4, Python 8" in caplog.text


def test_a_struct_layout_that_differs_refuses_the_library(monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    fields = list(RelayLeg._fields_)
    i, j = (k for k, f in enumerate(fields) if f[0] in ("jitter", "last_rx"))
    fields[i], fields[j] = fields[j], fields[i]  # same size, two doubles swapped: only the offsets tell

    class Swapped(ctypes.Structure):
        _fields_ = fields

    monkeypatch.setattr(fast_relay, "RelayLeg", Swapped)
    with caplog.at_level(logging.ERROR, logger="appliance.media.fast_relay"):
        lib, why = fast_relay.load()
    assert lib is None
    assert f"offsetof(relay_leg, jitter): C {RelayLeg.jitter.offset}, Python {Swapped.jitter.offset}" in why
    assert "offsetof(relay_leg, jitter)" in caplog.text and "relaying in Python" in caplog.text


async def test_an_engine_whose_library_is_refused_relays_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_relay, "MODE_UP", 16)
    low, high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=high, compiled_relay=True), EventBus())
    assert not engine.compiled_relay


# ---------------------------------------------------------------- C refuses bad indices


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket, select.epoll]]:
    """The engine side of a leg (in an epoll set, as the engine has it) and a phone sending to it."""
    leg = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    leg.bind(("127.0.0.1", 0))
    leg.setblocking(False)
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    epoll = select.epoll()
    epoll.register(leg.fileno(), select.EPOLLIN)
    yield leg, phone, epoll
    epoll.close()
    leg.close()
    phone.close()


def relay_leg(fr: FastRelay, fd: int, target_fd: int) -> RelayLeg:
    fr.reserve(max(fd, target_fd))
    leg = fr.legs[fd]
    leg.mode, leg.target_fd, leg.peer_ssrc, leg.audio_pt, leg.max_seq = MODE_RELAY, target_fd, 0xA, 8, 99
    leg.last_in_ts = 99 * 160  # the stream's course so far: packet(100) goes on from it
    return leg


def packet(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 8, seq, seq * 160, 0xA) + bytes(160)


@pytest.mark.parametrize("target", [-3, 1 << 20])
def test_a_relay_target_outside_the_table_is_refused_and_the_packet_handed_back(
        sockets: tuple[socket.socket, socket.socket, select.epoll], target: int) -> None:
    leg_sock, phone, epoll = sockets
    fr = FastRelay(library())
    leg = relay_leg(fr, leg_sock.fileno(), 0)
    leg.target_fd = target
    phone.sendto(packet(100), leg_sock.getsockname())
    left, ups = fr.drain(epoll.fileno(), 1.0, 8000)
    assert left == [(leg_sock.fileno(), packet(100))] and ups == []  # Python gets it whole
    assert fr.refused == 1 and fr.relayed == 0 and leg.received == 0


def test_send_tick_refuses_rows_outside_the_frames_and_negative_descriptors(
        sockets: tuple[socket.socket, socket.socket, select.epoll]) -> None:
    leg_sock, phone, _epoll = sockets
    leg_sock.connect(phone.getsockname())
    fr = FastRelay(library())
    fd = leg_sock.fileno()
    fr.reserve(fd)
    fr.legs[fd].mode = MODE_SEND
    frames = np.full((2, 160), 0xD5, dtype=np.uint8)
    fds = np.array([fd, fd, fd, -1], dtype=np.int32)
    rows = np.array([1, 2, -1, 0], dtype=np.int32)
    skipped = fr.send_tick(fds, rows, frames, 1, 0.0)
    assert skipped == [1, 2, 3]  # left to Python, which has its own rows
    assert fr.refused == 3 and fr.sent == 1
    assert phone.recv(2048)[12:] == bytes([0xD5]) * 160


def test_failed_sends_are_counted_by_the_relay_and_the_tick(
        sockets: tuple[socket.socket, socket.socket, select.epoll]) -> None:
    leg_sock, phone, epoll = sockets
    r, w = os.pipe()  # a descriptor that is no socket: send() fails with ENOTSOCK
    try:
        fr = FastRelay(library())
        relay_leg(fr, leg_sock.fileno(), w)
        phone.sendto(packet(100), leg_sock.getsockname())
        fr.drain(epoll.fileno(), 1.0, 8000)
        assert fr.relayed == 1 and fr.send_failures == 1 and fr.refused == 0
        fr.legs[w].mode = MODE_SEND
        fr.send_tick(np.array([w], dtype=np.int32), np.array([0], dtype=np.int32),
                     np.zeros((1, 160), dtype=np.uint8), 1, 0.0)
        assert fr.sent == 1 and fr.send_failures == 2
    finally:
        os.close(r)
        os.close(w)


async def test_failed_sends_reach_the_engines_figures(engine: MediaEngine) -> None:
    """The other leg's socket refuses to send (shut down for writing): every relayed packet fails, on the
    compiled path and in Python alike, and the engine counts them."""
    a, b = await RtpPeer.open(ssrc=0xA), await RtpPeer.open(ssrc=0xB)
    la = await engine.allocate(RemoteMedia("127.0.0.1", a.port, (8,)))
    lb = await engine.allocate(RemoteMedia("127.0.0.1", b.port, (8,)))
    engine.bridge(la.endpoint_id, lb.endpoint_id)
    for _ in range(3):  # both legs latched (and handed over to C where it runs)
        a.send((la.address, la.port), bytes(160))
        b.send((lb.address, lb.port), bytes(160))
        await asyncio.sleep(0.03)
    assert engine.send_failures == 0
    sock = engine._endpoints[lb.endpoint_id].sock
    assert sock is not None
    sock.shutdown(socket.SHUT_WR)
    for _ in range(10):
        a.send((la.address, la.port), bytes(160))
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    assert engine.send_failures >= 10
    if engine.compiled_relay:
        assert engine.compiled_figures["send_failures"] >= 9
    a.close()
    b.close()
