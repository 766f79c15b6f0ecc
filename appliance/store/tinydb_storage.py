"""A TinyDB storage that never corrupts its file.

TinyDB's own JSONStorage truncates and rewrites the file in place, so a crash mid-write leaves half a
document. This storage keeps the parsed document in memory (TinyDB re-reads the storage on every
operation) and replaces the file atomically on every write. `read()` hands TinyDB a fresh copy so that a
failed write (disk full) cannot leave memory and disk disagreeing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from appliance.store.atomic import atomic_write_text


class AtomicJSONStorage(Storage):
    def __init__(self, path: str | Path, initial: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = Path(path)
        self._data: dict[str, dict[str, Any]] | None = initial
        self.writes = 0

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._data is None:
            if not self.path.exists():
                return None
            self._data = json.loads(self.path.read_text(encoding="utf-8"))
        return copy.deepcopy(self._data)

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1)
        atomic_write_text(self.path, text)
        self._data = copy.deepcopy(data)
        self.writes += 1

    def close(self) -> None:
        self._data = None
