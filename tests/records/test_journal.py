"""The journal writes ACD and IVR events into the queue log, agent log and IVR journeys, in batches."""

from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.acd.events import AgentStateChanged, CallAnswered, CallOffered, CallQueued
from appliance.events import EventBus
from appliance.ivr.events import IvrStarted, IvrStep
from appliance.records.journal import JournalConfig, RecordJournal
from appliance.records.sqlite_store import RecordStore


async def test_events_become_rows_and_stop_flushes(tmp_path: Path) -> None:
    records = RecordStore.open(tmp_path / "r.sqlite3")
    bus = EventBus()
    journal = RecordJournal(records, bus, JournalConfig(flush_interval=30))
    await journal.start()
    bus.publish(CallQueued(at=10.0, call_id="c1", queue_id="sales", caller="13800138000", priority=5,
                           vip_source="", position=1))
    bus.publish(CallOffered(at=11.0, call_id="c1", queue_id="sales", agent_ids=("1001",), attempt=1))
    bus.publish(CallAnswered(at=14.5, call_id="c1", queue_id="sales", agent_id="1001", wait=4.5, attempts=1))
    bus.publish(AgentStateChanged(at=11.0, agent_id="1001", old="idle", new="ringing", reason="offer",
                                  since=0.0, duration=11.0))
    bus.publish(IvrStarted(at=5.0, call_id="c1", caller="13800138000", did="8000", flow="main", flow_version=1))
    bus.publish(IvrStep(at=6.0, call_id="c1", seq=1, flow="main", flow_version=1, node="menu", kind="key",
                        detail="1"))
    assert records.count("queue_log") == 0  # batched: nothing written yet
    await journal.stop()
    assert bus.subscriber_count == 0
    log = records.rows("queue_log", where={"call_id": "c1"})
    assert [r["event"] for r in log.items] == ["queued", "offered", "answered"]
    assert log.items[2]["agent"] == "1001" and log.items[2]["data"]["wait"] == 4.5
    assert log.items[0]["data"]["caller"] == "13800138000"
    agents = records.rows("agent_log", where={"agent": "1001"})
    assert agents.items[0]["state_to"] == "ringing" and agents.items[0]["data"]["duration"] == 11.0
    journey = records.rows("ivr_journey", where={"call_id": "c1"})
    assert [r["event"] for r in journey.items] == ["started", "key"]
    records.close()


async def test_a_burst_is_written_without_waiting_for_the_interval(tmp_path: Path) -> None:
    records = RecordStore.open(tmp_path / "r.sqlite3")
    bus = EventBus()
    journal = RecordJournal(records, bus, JournalConfig(flush_interval=30, max_batch=100))
    await journal.start()
    for i in range(250):
        bus.publish(CallOffered(at=float(i), call_id=f"c{i}", queue_id="q", agent_ids=("1",), attempt=1))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if records.count("queue_log") >= 200:
            break
    assert records.count("queue_log") >= 200
    await journal.stop()
    assert records.count("queue_log") == 250
    records.close()
