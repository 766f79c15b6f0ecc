"""When a target's retention rules last ran, per part: `restic forget` once a day, not after every run.

The rules keep whole days (the newest snapshot of each), so one pass a day is all an hourly schedule needs: the
day's earlier snapshots go at the next day's first run. Every restic command pays the repository key's
derivation and a round of index reads, so a pass saved is about a second off every other run. Rules that
changed apply at the next run."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance.backups.models import Part, Retention
from appliance.store.atomic import atomic_write_text


def _path(state: Path, target: str) -> Path:
    return state / f"retention.{target}.json"


def _key(keep: Retention, day: dt.date) -> str:
    return f"{day.isoformat()} {keep.daily}/{keep.weekly}/{keep.monthly}"


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or torn: retention runs again, which is always safe
    return value if isinstance(value, dict) else {}


def due(state: Path, target: str, parts: Sequence[Part], keep: Retention, day: dt.date) -> tuple[Part, ...]:
    """The parts whose retention has not run on `day` under these rules."""
    done = _read(_path(state, target))
    key = _key(keep, day)
    return tuple(p for p in parts if done.get(p.value) != key)


def mark_done(state: Path, target: str, parts: Sequence[Part], keep: Retention, day: dt.date) -> None:
    path = _path(state, target)
    done = _read(path)
    done.update({p.value: _key(keep, day) for p in parts})
    atomic_write_text(path, json.dumps(done))
