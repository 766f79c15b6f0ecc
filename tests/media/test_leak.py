"""Every socket, port, file and task of a call is released when the call ends: 10,000 calls."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import psutil
import pytest

from appliance.media import MediaEngine, RemoteMedia, g711
from tests.media.helpers import RtpPeer, sine, write_wav


@pytest.mark.slow
async def test_ten_thousand_calls_leave_nothing_behind(engine: MediaEngine, tmp_path: Path) -> None:
    proc = psutil.Process()
    peer = await RtpPeer.open()
    prompt = write_wav(tmp_path / "prompt.wav", sine(500, 0.1))
    frame = g711.encode(sine(500, 0.02), "alaw")
    await asyncio.sleep(0.05)
    gc.collect()
    fds_before = proc.num_fds()
    udp_before = len(proc.net_connections(kind="udp"))
    tasks_before = len(asyncio.all_tasks())
    files_before = len(proc.open_files())

    for call in range(10_000):
        a = await engine.allocate(RemoteMedia("127.0.0.1", peer.port, (8, 101)))
        b = await engine.allocate(RemoteMedia("127.0.0.1", peer.port, (8, 101)))
        bridge = engine.bridge(a.endpoint_id, b.endpoint_id)
        peer.send((a.address, a.port), frame)
        peer.send((b.address, b.port), frame)  # both legs latched: relayed in C when the compiled path runs
        if call % 10 == 0:  # some calls record and play a prompt: files and the mixing path
            engine.start_recording(a.endpoint_id, b.endpoint_id, tmp_path / f"r{call % 3}.wav")
            engine.play(b.endpoint_id, prompt=prompt)
        if call % 100 == 0:
            await asyncio.sleep(0.021)  # let a tick run over live calls
            engine.unbridge(bridge)
        engine.release(a.endpoint_id)
        engine.release(b.endpoint_id)
        if call % 50 == 0:
            await asyncio.sleep(0)  # transports close their sockets on the next loop pass
        peer.received.clear()

    await asyncio.sleep(0.1)
    gc.collect()
    assert engine.endpoint_count == 0 and engine.ports_in_use == 0
    assert not engine._bridges.bridges and not engine._recordings.recordings and not engine._bridges.mixer.conferences
    assert proc.num_fds() <= fds_before
    assert len(proc.net_connections(kind="udp")) <= udp_before
    assert len(proc.open_files()) <= files_before
    assert len(asyncio.all_tasks()) <= tasks_before
    if engine.compiled_relay:  # legs were handed to the compiled path, and every one was taken back
        table = engine._fast.legs  # type: ignore[union-attr]
        assert len(table) > 0 and all(leg.mode == 0 for leg in table)
    peer.close()
