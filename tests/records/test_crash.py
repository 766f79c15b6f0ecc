"""A crash in the middle of writing a batch leaves the record store whole: every committed batch complete,
nothing of the one being written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.records.sqlite_store import RecordStore
from tests.records.batch_writer import BATCH

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kill_after", [3, 40])
def test_kill_9_mid_batch_leaves_whole_batches_only(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "records.sqlite3"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "batch_writer.py"), str(path)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    committed = -1
    while committed < kill_after:
        line = proc.stdout.readline()
        assert line, "the writer died before the kill"
        committed = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    store = RecordStore.open(path)
    try:
        assert store.integrity() == "ok"
        cdrs, queue = store.count("cdr"), store.count("queue_log")
        assert cdrs == queue and cdrs % BATCH == 0  # both tables of a batch, or neither
        assert cdrs >= (committed + 1) * BATCH  # every batch reported committed is there
    finally:
        store.close()
