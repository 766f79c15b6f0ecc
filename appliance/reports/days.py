"""Daily roll-ups: the half-hour roll-ups summed by local day, so a report by day, week or month over a year or
three reads one row per day instead of 48 (an agent's states over a year: some 150,000 rows instead of
3,500,000).

Each half-hour table `report_<x>_hh` has a daily twin `report_<x>_day` with the same keys and figures, whose
`slot` is the epoch second of a local midnight in the zone named in `report_day_zone`. The journal's writer
adds each batch's half-hour deltas to the day they fall in, in the same transaction. When the box's time zone
is not the one the days were cut in (the zone was changed, or a store from before the daily tables), the
writer cuts them again from the half-hour tables — never from the raw records — in its next transaction.
A report uses the daily tables only when their zone is the box's and its range runs from local midnight to
local midnight; anything else reads the half-hours, which always hold the truth.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from appliance.reports.rollups import Table

ZONE_TABLE = "report_day_zone"


def day_table(table: Table) -> str:
    return table.name.removesuffix("_hh") + "_day"


def schema(tables: Iterable[Table]) -> str:
    parts = [f"CREATE TABLE IF NOT EXISTS {ZONE_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), zone TEXT NOT NULL);"]
    for t in tables:
        keys = [f"{k} {'INTEGER' if k == 'slot' else 'TEXT'} NOT NULL" for k in t.keys]
        figures = [f"{c} NUMERIC NOT NULL DEFAULT 0" for c in (*t.sums, *t.maxes)]
        name = day_table(t)
        parts.append(f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(keys + figures)}, "
                     f"PRIMARY KEY ({', '.join(t.keys)})) WITHOUT ROWID;")
        # covering: a range of days is read from the index alone, never a row looked up (three years of an
        # agent's states are 600,000 rows)
        others = [k for k in t.keys if k != "slot"]
        parts.append(f"CREATE INDEX IF NOT EXISTS {name}_cover ON {name}({', '.join(['slot', *others, *t.sums, *t.maxes])});")
    return "\n".join(parts)


def upsert(table: Table) -> str:
    return table.upsert().replace(f"INTO {table.name}(", f"INTO {day_table(table)}(", 1)


def midnight(at: float, zone: ZoneInfo) -> int:
    """The local midnight that starts the day `at` falls in."""
    day = datetime.fromtimestamp(at, zone).date()
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def midnights(start: int, end: int, zone: ZoneInfo) -> list[int]:
    """Every local midnight in [start, end)."""
    out: list[int] = []
    day: date = datetime.fromtimestamp(start, zone).date()
    while True:
        at = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
        if at >= end:
            return out
        if at >= start:
            out.append(at)
        day += timedelta(days=1)


class DayOf:
    """slot → its local midnight, remembered (a batch touches a few slots, each looked up once)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._known: dict[int, int] = {}

    def __call__(self, slot: int) -> int:
        day = self._known.get(slot)
        if day is None:
            if len(self._known) > 4096:
                self._known.clear()
            day = self._known[slot] = midnight(slot, self.zone)
        return day


def zone_of(conn: sqlite3.Connection) -> str | None:
    """The zone the daily tables are cut in (None: not cut yet)."""
    try:
        row = conn.execute(f"SELECT zone FROM {ZONE_TABLE} WHERE id = 1").fetchone()
    except sqlite3.OperationalError:  # a store from before the daily tables, read before its writer opened
        return None
    return None if row is None else str(row[0])


def rebuild(conn: sqlite3.Connection, tables: Iterable[Table], zone: ZoneInfo) -> None:
    """Cuts the daily tables again from the half-hour tables, in `zone` (inside the caller's transaction)."""
    tables = tuple(tables)
    slots = sorted({int(r[0]) for t in tables for r in conn.execute(f"SELECT DISTINCT slot FROM {t.name}")})
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS slot_day (slot INTEGER PRIMARY KEY, day INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.slot_day")
    day_of = DayOf(zone)
    conn.executemany("INSERT INTO temp.slot_day VALUES (?, ?)", [(s, day_of(s)) for s in slots])
    for t in tables:
        keys = [k for k in t.keys if k != "slot"]
        figures = [f"sum(r.{c})" for c in t.sums] + [f"max(r.{c})" for c in t.maxes]
        conn.execute(f"DELETE FROM {day_table(t)}")
        conn.execute(f"INSERT INTO {day_table(t)}({', '.join((*keys, 'slot', *t.sums, *t.maxes))}) "
                     f"SELECT {', '.join([f'r.{k}' for k in keys] + ['d.day'] + figures)} FROM {t.name} r "
                     f"JOIN temp.slot_day d ON d.slot = r.slot GROUP BY {', '.join([f'r.{k}' for k in keys])}, d.day")
    conn.execute(f"INSERT INTO {ZONE_TABLE}(id, zone) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET zone = excluded.zone",
                 (zone.key,))


def write(conn: sqlite3.Connection, deltas: Mapping[Table, Mapping[tuple[Any, ...], Mapping[str, float]]],
          day_of: DayOf) -> None:
    """Adds a batch's half-hour deltas to their days (the slot is each key's last part)."""
    for table, rows in deltas.items():
        if not rows:
            continue
        days: dict[tuple[Any, ...], dict[str, float]] = {}
        for key, row in rows.items():
            merged = days.setdefault((*key[:-1], day_of(int(key[-1]))), defaultdict(float))
            for name, value in row.items():
                merged[name] = max(merged[name], value) if name in table.maxes else merged[name] + value
        conn.executemany(upsert(table), [
            (*key, *(row.get(c, 0) for c in table.sums), *(row.get(c, 0) for c in table.maxes))
            for key, row in days.items()])
