"""Crash recovery of the records: open calls become interrupted CDRs with what was known, cut-off recordings
are repaired and named by a CDR, agents left logged in get a closing agent-log line, and a call's CDR is
written without waiting for the journal's interval."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

from appliance.calls import events as E
from appliance.events import EventBus
from appliance.ivr.events import IvrStarted, IvrStep
from appliance.media.recorder import HEADER_SIZE, Recorder, header_agrees, repair_recent
from appliance.records.journal import JournalConfig, RecordJournal, entry_of
from appliance.records.recovery import INTERRUPTED, CrashRecovery, recover
from appliance.records.sqlite_store import RecordStore
from tests.records.helpers import until

ROOT = Path(__file__).resolve().parents[2]
SECOND = 8000 * 4  # bytes of one second of stereo 16-bit audio at 8 kHz


def call_events(call_id: str, t: float) -> list[object]:
    """What call control publishes for a call that reaches an agent and is recorded."""
    return [
        E.CallOffered(at=t, call_id=call_id, direction="inbound", caller="13800138000", caller_name="",
                      callee="8000", trunk="pstn", leg_kind="sip"),
        IvrStarted(at=t + 0.1, call_id=call_id, caller="13800138000", did="8000", flow="main", flow_version=1),
        IvrStep(at=t + 0.5, call_id=call_id, seq=1, flow="main", flow_version=1, node="menu",
                kind="node_entered", detail="menu"),
        IvrStep(at=t + 1.0, call_id=call_id, seq=2, flow="main", flow_version=1, node="menu", kind="key",
                detail="1"),
        E.CallQueued(at=t + 1.5, call_id=call_id, queue="sales", caller="13800138000", priority=5, vip=False),
        E.CallRinging(at=t + 2.0, call_id=call_id, role="agent", party="3001", agent="3001",
                      caller="13800138000", caller_name="", queue="sales"),
        E.CallAnswered(at=t + 4.0, call_id=call_id, role="agent", party="3001", agent="3001"),
        E.CallBridged(at=t + 4.0, call_id=call_id, party="3001", agent="3001", recording=True),
    ]


def cut_recording(path: Path, seconds: float, extra: bytes = b"\x01\x02\x03") -> None:
    """A recording as a crash leaves it: audio flushed once, more audio written after it (and a torn
    sample) with the header never updated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = Recorder(path)
    rec.open(0.0)
    rec.write(b"\x10\x00\x20\x00" * 8000, 1.0)  # one second, flushed with its header
    assert rec._file is not None
    rec._file.write(b"\x10\x00\x20\x00" * int(8000 * (seconds - 1)) + extra)
    rec._file.close()  # as a killed process leaves it: the data on disk, the header never updated
    rec._file = None


async def test_open_rows_follow_calls_and_the_cdr_closes_its_row(tmp_path: Path) -> None:
    records = RecordStore.open(tmp_path / "records.sqlite3")
    bus = EventBus()
    journal = RecordJournal(records, bus, JournalConfig(flush_interval=30))
    await journal.start()
    for event in call_events("c1", 100.0) + call_events("c2", 200.0):
        bus.publish(event)  # type: ignore[arg-type]
    bus.publish(E.CallEnded(at=230.0, call_id="c2", agent="3001", disposition="answered", hangup_side="caller",
                            hangup_cause="normal", duration=30.0,
                            cdr={"call_id": "c2", "started": 200.0, "ended": 230.0, "disposition": "answered"}))
    # published after the end (the queue's bookkeeping): must not open the call again
    bus.publish(E.CallDequeued(at=230.1, call_id="c2", queue="sales", reason="ended", agent="3001", waited=2.5))
    await journal.stop()
    rows = records.conn.execute("SELECT call_id, started, updated, data FROM open_call").fetchall()
    assert [r[0] for r in rows] == ["c1"]
    _, started, updated, data = rows[0]
    facts = json.loads(data)
    assert started == 100.0 and updated == 104.0
    assert facts["caller"] == "13800138000" and facts["queue"] == "sales" and facts["agent"] == "3001"
    assert facts["recording"] is True and facts["last_step"] == "bridged" and facts["queued_at"] == 101.5
    records.close()


async def test_a_call_start_and_its_cdr_are_written_without_waiting_for_the_interval(tmp_path: Path) -> None:
    records = RecordStore.open(tmp_path / "records.sqlite3")
    bus = EventBus()
    journal = RecordJournal(records, bus, JournalConfig(flush_interval=30))
    await journal.start()
    bus.publish(call_events("c8", 1.0)[0])  # type: ignore[arg-type]
    started = time.monotonic()
    await until(lambda: records.count("open_call") == 1, timeout=5.0)
    assert time.monotonic() - started < 2.0
    bus.publish(call_events("c8", 1.0)[3])  # type: ignore[arg-type]  # queued: waits for the interval
    await asyncio.sleep(0.3)
    assert json.loads(records.conn.execute("SELECT data FROM open_call").fetchone()[0])["last_step"] == "offered"
    bus.publish(E.CallEnded(at=1.0, call_id="c9", agent="", disposition="answered", hangup_side="caller",
                            hangup_cause="normal", duration=1.0, cdr={"call_id": "c9", "started": 0.0}))
    started = time.monotonic()
    await until(lambda: records.count("cdr") == 1, timeout=5.0)
    assert time.monotonic() - started < 2.0  # not the 30 s interval
    assert records.count("open_call") == 1  # c8 goes on; c9 never had a row written
    await journal.stop()
    records.close()


def test_recovery_writes_interrupted_cdrs_repairs_and_lists_recordings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    records = RecordStore.open(data / "records.sqlite3")
    day = data / "recordings" / "20261206"
    # c1: in progress, recorded, with an IVR journey; c2: ended cleanly (its CDR written, recording closed)
    for event in call_events("c1", 100.0):
        entry = entry_of(event)  # type: ignore[arg-type]
        assert entry is not None
        records.write_batch([entry])
    records.write_batch([("cdr", {"call_id": "c2", "started": 50.0, "ended": 80.0, "disposition": "answered",
                                  "recordings": ["recordings/20261206/c2.wav"],
                                  "recording": "recordings/20261206/c2.wav"})])
    cut_recording(day / "c1.wav", 3.0)
    cut_recording(day / "c1-2.wav", 2.0)
    clean = Recorder(day / "c2.wav")
    clean.open(0.0)
    clean.write(b"\x00" * SECOND, 1.0)
    clean.close(1.0)
    cut_recording(day / "c17-3.wav", 2.0)  # a call with no trace in the records at all (ids as the box's)
    records.write_batch([("agent_log", (90.0, "3001", "ringing", "on_call", "answer", {})),
                         ("agent_log", (95.0, "3002", "idle", "paused", "lunch", {})),
                         ("agent_log", (96.0, "3003", "idle", "logged_out", "logout", {}))])
    assert not header_agrees(day / "c1.wav") and header_agrees(day / "c2.wav")

    report = recover(records.path, data, 500.0, repair_recent)

    assert sorted(report.repaired_recordings) == ["recordings/20261206/c1-2.wav", "recordings/20261206/c1.wav",
                                                  "recordings/20261206/c17-3.wav"]
    assert sorted(report.interrupted_calls) == ["c1", "c17-3"]
    for name in ("c1.wav", "c1-2.wav", "c17-3.wav"):
        with wave.open(str(day / name)) as w:  # parses, and holds every whole sample written
            assert w.getnchannels() == 2 and w.getframerate() == 8000
            assert w.getnframes() == (3 if name == "c1.wav" else 2) * 8000
        assert header_agrees(day / name)
    c1 = records.cdrs(where={"call_id": "c1"}).items[0]
    assert c1["disposition"] == INTERRUPTED and c1["interrupted"]["last_step"] == "bridged"
    assert c1["caller"] == "13800138000" and c1["callee"] == "8000" and c1["queue"] == "sales"
    assert c1["did"] == "8000"
    assert c1["agent"] == "3001" and c1["agent_answered"] == 104.0 and c1["ivr_path"] == ["main/menu"]
    assert c1["started"] == 100.0 and c1["ended"] == 104.0
    assert c1["recordings"] == ["recordings/20261206/c1.wav", "recordings/20261206/c1-2.wav"]
    assert c1["recording"] == "recordings/20261206/c1.wav"
    c3 = records.cdrs(where={"call_id": "c17-3"}).items[0]
    assert c3["disposition"] == INTERRUPTED and c3["recordings"] == ["recordings/20261206/c17-3.wav"]
    assert records.cdrs(where={"call_id": "c2"}).items[0]["disposition"] == "answered"  # untouched
    assert records.count("open_call") == 0
    # the agents left logged in are logged out in the log; their last states are kept for the restore
    closing = [(r["agent"], r["state_from"], r["state_to"], r["reason"])
               for r in records.rows("agent_log", since=500.0).items]
    assert closing == [("3001", "on_call", "logged_out", "restart"), ("3002", "paused", "logged_out", "restart")]
    assert report.last_agent_states["3002"].state == "paused" and report.last_agent_states["3002"].reason == "lunch"
    assert report.agents_logged_out == ("3001", "3002")

    again = recover(records.path, data, 600.0, repair_recent)  # a second start finds nothing left to do
    assert again.interrupted_calls == () and again.repaired_recordings == () and again.agents_logged_out == ()
    assert records.count("cdr") == 3
    records.close()


async def test_the_service_reports_and_never_stops_the_box(tmp_path: Path) -> None:
    from appliance.clock import SystemClock

    data = tmp_path / "data"
    records = RecordStore.open(data / "records.sqlite3")
    records.write_batch([("open_call", ("c1", 10.0, {"caller": "1005", "last_step": "offered"}))])

    def broken_repair(folder: Path, extra: object) -> list[Path]:
        raise OSError("the disk went away")

    failing = CrashRecovery(records, data, SystemClock(), broken_repair)
    await failing.start()  # logged, health degraded, the box starts
    assert failing.health().status.value == "degraded"
    service = CrashRecovery(records, data, SystemClock(), repair_recent)
    await service.start()
    assert service.report is not None and service.report.interrupted_calls == ("c1",)
    assert service.health().counters["interrupted_calls"] == 1
    records.close()


def test_repair_of_a_header_only_file_and_of_a_short_one(tmp_path: Path) -> None:
    day = tmp_path / "recordings" / "20260101"
    day.mkdir(parents=True)
    (day / "a.wav").write_bytes(b"RIFF")  # killed while writing the header
    rec = Recorder(day / "b.wav")
    rec.open(0.0)  # header only, nothing flushed: already valid
    assert header_agrees(day / "b.wav")
    assert repair_recent(tmp_path / "recordings") == [day / "a.wav"]
    assert (day / "a.wav").stat().st_size == HEADER_SIZE
    with wave.open(str(day / "a.wav")) as w:
        assert w.getnframes() == 0
    assert struct.unpack_from("<I", (day / "a.wav").read_bytes(), 40)[0] == 0


_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from appliance.media.recorder import Recorder
    rec = Recorder(Path(sys.argv[1]), flush_interval=0.05)
    rec.open(time.monotonic())
    frame = b"\\x10\\x00\\x20\\x00" * 160
    while True:
        rec.write(frame, time.monotonic())
        if rec.data_bytes >= 8000 * 4:
            print("flushed", flush=True)
        time.sleep(0.001)
""")


def test_a_recorder_killed_mid_write_is_repaired_to_a_valid_wav(tmp_path: Path) -> None:
    """A real process writing a recording, killed with SIGKILL at an arbitrary point."""
    path = tmp_path / "recordings" / "20260101" / "k.wav"
    path.parent.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "flushed"
    time.sleep(0.137)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    size = path.stat().st_size
    repair_recent(tmp_path / "recordings")
    assert header_agrees(path)
    with wave.open(str(path)) as w:
        frames = w.getnframes()
    assert frames >= 8000 and (size - HEADER_SIZE) // 4 == frames  # every whole sample on disk is kept


def test_recovery_runs_in_a_thread(tmp_path: Path) -> None:
    """The service's work is off the loop: the loop keeps ticking while it runs."""
    from appliance.clock import SystemClock

    data = tmp_path / "data"
    records = RecordStore.open(data / "records.sqlite3")
    records.write_batch([("open_call", (f"c{i}", float(i), {"last_step": "offered"})) for i in range(2000)])

    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(tick())
        await CrashRecovery(records, data, SystemClock(), repair_recent).start()
        task.cancel()
        return ticks

    assert asyncio.run(main()) > 1
    assert records.count("cdr") == 2000 and records.count("open_call") == 0
    records.close()


def test_recovery_closes_an_answered_queue_call_in_the_reports_roll_ups(tmp_path: Path) -> None:
    from appliance.reports.models import ReportPolicy
    from appliance.reports.rollups import writer_opener

    data = tmp_path / "data"
    path = data / "records.sqlite3"
    records = RecordStore.open(path)
    records.close()
    opener = writer_opener(path, ReportPolicy)
    writer = opener()
    # c1 answered by 3001 from sales at 104 and still talking at 130 when the box died; c4 waiting in sales
    writer.write_batch([entry for event in call_events("c1", 100.0) if (entry := entry_of(event)) is not None])  # type: ignore[arg-type]
    writer.write_batch([
        ("queue_log", (101.5, "c1", "sales", "queued", "", {})),
        ("queue_log", (104.0, "c1", "sales", "answered", "3001", {"wait": 2.5})),
        ("open_call", ("c1", 130.0, {"last_step": "held"})),
        ("queue_log", (120.0, "c4", "sales", "queued", "", {})),
        ("open_call", ("c4", 119.0, {"caller": "1005", "queue": "sales", "queued_at": 120.0, "last_step": "queued"})),
    ])
    writer.close()

    report = recover(path, data, 5000.0, repair_recent, opener)

    assert sorted(report.interrupted_calls) == ["c1", "c4"]
    store = RecordStore.open(path)
    try:
        lines = [(r["call_id"], r["event"], r["agent"], r["data"]["talk"])
                 for r in store.rows("queue_log", where={"event": "complete_system"}).items]
        assert lines == [("c1", "complete_system", "3001", 26.0)]  # the waiting call has no agent part
        queue = store.conn.execute("SELECT queued, answered, completed, talk_total, long_calls FROM report_queue_hh "
                                   "WHERE queue = 'sales'").fetchall()
        assert queue == [(2, 1, 1, 26.0, 1)]
        agent = store.conn.execute("SELECT answered, completed, talk_total FROM report_agent_hh "
                                   "WHERE agent = '3001'").fetchall()
        assert agent == [(1, 1, 26.0)]
    finally:
        store.close()
    again = recover(path, data, 6000.0, repair_recent, opener)  # nothing is counted twice
    assert again.interrupted_calls == ()
    store = RecordStore.open(path)
    try:
        assert store.conn.execute("SELECT completed FROM report_queue_hh WHERE queue = 'sales'").fetchall() == [(1,)]
    finally:
        store.close()
