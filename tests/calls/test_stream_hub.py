"""The stream hub's fan-out on its own: readers that share a cursor are handed the same slice in one flush, a
reader that cannot take more is skipped with its cursor kept and is told later what fell off the ring, and the
bus subscription lives exactly as long as some reader."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from appliance.calls.events import CallHeld
from appliance.calls.stream_hub import Published, StreamHub
from appliance.events import EventBus


@dataclass
class FakeReader:
    accepting: bool = True
    cursor: int = 0
    got: list[tuple[int, list[str]]] = field(default_factory=list)

    def ready(self) -> bool:
        return self.accepting

    def push(self, hub: StreamHub, lost: int, published: list[Published], start: int, head: int) -> None:
        assert published and start < head == published[-1].seq
        self.got.append((lost, [p.data["call_id"] for p in published]))


def held(n: int) -> CallHeld:
    return CallHeld(at=0.0, call_id=f"c{n}", held=True, agent="")


async def flushed() -> None:
    for _ in range(3):
        await asyncio.sleep(0.03)  # past the hub's 20 ms interval


async def test_readers_get_one_batch_per_flush_and_a_stuck_one_is_told_what_it_lost() -> None:
    bus = EventBus()
    hub = StreamHub(bus, size=8)
    fast, stuck = FakeReader(), FakeReader(accepting=False)
    hub.add(fast)
    hub.add(stuck)
    assert bus.subscriber_count == 1
    for n in range(3):
        bus.publish(held(n))
    await flushed()
    assert fast.got == [(0, ["c0", "c1", "c2"])] and stuck.got == [] and stuck.cursor == 0
    for n in range(3, 13):  # 13 events in all, published together; the ring holds 8
        bus.publish(held(n))
    await flushed()
    assert fast.got[1:] == [(2, [f"c{n}" for n in range(5, 13)])]  # c3 and c4 fell off before the flush
    stuck.accepting = True  # its socket drained: the hub, still flushing while a reader is behind, serves it
    await flushed()
    assert stuck.got == [(5, [f"c{n}" for n in range(5, 13)])] and stuck.cursor == hub.head == 13
    hub.remove(fast)
    assert bus.subscriber_count == 1
    hub.remove(stuck)
    assert bus.subscriber_count == 0


async def test_a_quiet_hub_flushes_a_first_event_at_once() -> None:
    bus = EventBus()
    hub = StreamHub(bus, interval=10.0)  # a long interval: only the first event after a quiet spell goes at once
    reader = FakeReader()
    hub.add(reader)
    bus.publish(held(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert reader.got == [(0, ["c1"])]
    hub.remove(reader)
