"""Subprocess for the crash test: writes batches of CDRs and queue-log rows as fast as it can and prints the
number of each batch once its transaction has committed."""

from __future__ import annotations

import sys
from pathlib import Path

from appliance.records.sqlite_store import RecordStore
from tests.records.helpers import cdr

BATCH = 50


def main(path: Path) -> None:
    RecordStore.open(path).close()  # the schema
    store = RecordStore.open_writer(path)
    batch = 0
    while True:
        entries: list[tuple[str, object]] = []
        for i in range(batch * BATCH, (batch + 1) * BATCH):
            entries.append(("cdr", cdr(i)))
            entries.append(("queue_log", (float(i), f"call-{i:06d}", "q", "queued", None, {"n": i, "pad": "x" * 200})))
        store.write_batch(entries)
        sys.stdout.write(f"{batch}\n")
        sys.stdout.flush()
        batch += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]))
