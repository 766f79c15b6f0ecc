"""The engine's typed health: counters that only grow, gauges of what is in use, the packet path in `detail`."""

from __future__ import annotations

import asyncio

import pytest

from appliance.events import EventBus
from appliance.health import Status
from appliance.media import MediaConfig, MediaEngine, RemoteMedia, fast_relay
from tests.media.conftest import free_port_range
from tests.media.helpers import RtpPeer


async def call(engine: MediaEngine, *ssrcs: int) -> tuple[list[RtpPeer], list[tuple[str, int]], list[str]]:
    peers, addrs, ids = [], [], []
    for ssrc in ssrcs:
        peer = await RtpPeer.open(ssrc=ssrc)
        local = await engine.allocate(RemoteMedia("127.0.0.1", peer.port, (8,)))
        peers.append(peer)
        addrs.append((local.address, local.port))
        ids.append(local.endpoint_id)
    return peers, addrs, ids


async def test_health_counts_a_relayed_call_and_a_conference(engine: MediaEngine) -> None:
    h = engine.health()
    assert h.name == "media" and h.status is Status.OK
    assert h.detail.startswith("packet path compiled" if engine.compiled_relay else "packet path Python (configured)")
    assert h.gauges["endpoints_in_use"] == 0 and h.gauges["ports_free"] == 100
    peers, addrs, ids = await call(engine, 0xA, 0xB)
    bridge = engine.bridge(*ids)
    for _ in range(15):
        for peer, addr in zip(peers, addrs, strict=True):
            peer.send(addr, bytes(160))
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    h = engine.health()
    assert h.gauges["endpoints_in_use"] == 2 and h.gauges["ports_in_use"] == 2 and h.gauges["ports_free"] == 98
    assert h.gauges["bridges"] == 1 and h.gauges["bridges_relaying"] == 1
    assert h.counters["packets_relayed"] >= 2 * 15 - 2
    assert h.counters["send_failures"] == 0 and h.counters["compiled_refused"] == 0
    assert "2 endpoints, 1 bridges (1 relaying)" in h.detail
    # a third party: mixed, so the tick sends
    more, more_addrs, more_ids = await call(engine, 0xC)
    engine.add_party(bridge, more_ids[0])
    sent_before = h.counters["packets_sent"]
    for _ in range(10):
        for peer, addr in zip(peers + more, addrs + more_addrs, strict=True):
            peer.send(addr, bytes(160))
        await asyncio.sleep(0.02)
    h2 = engine.health()
    assert h2.gauges["bridges_relaying"] == 0
    assert h2.counters["packets_sent"] >= sent_before + 3 * 5
    assert all(h2.counters[k] >= h.counters[k] for k in h.counters)  # counters only grow
    if engine.compiled_relay:
        assert h2.counters["packets_passed_up"] > 0
    for endpoint_id in ids + more_ids:
        engine.release(endpoint_id)
    h3 = engine.health()
    assert h3.gauges["endpoints_in_use"] == 0 and h3.gauges["ports_free"] == 100 and h3.gauges["bridges"] == 0
    for peer in peers + more:
        peer.close()


async def test_health_before_start_after_stop_and_without_ports(bus: EventBus) -> None:
    low, _high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=low + 2), bus)  # two RTP ports
    assert engine.health().status is Status.STARTING
    await engine.start()
    await engine.allocate(RemoteMedia("127.0.0.1", 4000, (8,)))
    assert engine.health().status is Status.OK
    await engine.allocate(RemoteMedia("127.0.0.1", 4002, (8,)))
    h = engine.health()
    assert h.status is Status.DEGRADED and "no RTP port free" in h.detail and h.gauges["ports_free"] == 0
    await engine.stop()
    assert engine.health().status is Status.STARTING


async def test_health_is_degraded_when_the_compiled_path_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                                    bus: EventBus) -> None:
    monkeypatch.setattr(fast_relay, "LAST_MAX", 640)
    low, high = free_port_range()
    engine = MediaEngine(MediaConfig(port_low=low, port_high=high), bus)
    await engine.start()
    h = engine.health()
    assert h.status is Status.DEGRADED
    assert "packet path Python (refused: RELAY_LAST_MAX: C 320, Python 640" in h.detail
    await engine.stop()
