"""Customers benchmark: a million customers, the screen pop's look-up by number, and a 100,000-row .xlsx import.

1. Builds `--customers` customers (default 1,000,000) in a record store file (the record store's own tables
   first, then the customers' as the box makes them), by `CustomerStore.bulk_insert` in chunks of 20,000:
   each with one or two mobile numbers, an area, a custom select field; one in ten with an account manager.
2. Looks up `--lookups` random numbers (nine in ten known, in the formats a trunk presents: national,
   +86, toll-prefixed 0) through `CustomerService.pop` with no external CRM, what `GET
   /api/v1/customers/lookup` runs: the number normalised, then the primary-key probes, awaited on an event
   loop. p50/p99 of the whole await (goal: p99 ≤ 5 ms); the store's probes alone are timed too.
3. Writes a 100,000-row .xlsx file (openpyxl `write_only`) and imports it into the million with
   `appliance.customers.exchange.import_customers` (what `POST /api/v1/customers/import` runs on its worker
   thread), in a process of its own so its peak memory growth — maximum resident set less the resident set
   after start-up — is the import's own (the file's bytes included). Rows/s over the whole import.

    .venv/bin/python bench/customers.py [--customers 1000000] [--import-rows 100000] [--lookups 20000] [--keep DIR]

The last line printed is one JSON object: customers, lookup_p99_ms, import_rows_per_s, import_peak_mb (and the
build's rows/s, the look-up p50 and the store's own p99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.clock import SystemClock
from appliance.customers.exchange import import_customers
from appliance.customers.models import CustomerInput, normalise_number
from appliance.customers.service import CustomerService
from appliance.customers.store import CustomerStore
from appliance.customers.validation import definition_input
from appliance.events import EventBus
from appliance.records.sqlite_store import RecordStore

CHUNK = 20_000
AREAS = ("010", "021", "020", "0755", "0571")
LEVELS = ("gold", "silver", "bronze")
STAFF = ("1001", "1002", "1003", "1004", "1005")


def number_of(i: int) -> str:
    """The i-th customer's first mobile: 11 digits, spread over the 13x-19x ranges."""
    return f"1{3 + i % 7}{i:09d}"


def service_of(path: Path) -> CustomerService:
    return CustomerService(path, EventBus(), SystemClock(), lambda no: no in STAFF)


def build(path: Path, count: int) -> float:
    RecordStore.open(path).close()
    service = service_of(path)
    service.open_sync()
    service.write_sync(lambda s: s.put_definition(definition_input(
        {"label": "Level", "label_zh": "等级", "type": "select", "options": list(LEVELS)}, name="level")))
    service.close_sync()
    store = CustomerStore.open(path)
    rng = random.Random(1)
    started = time.perf_counter()
    for first in range(0, count, CHUNK):
        batch = []
        for i in range(first, min(first + CHUNK, count)):
            numbers = (number_of(i),) if i % 3 else (number_of(i), f"0{AREAS[i % 5][1:]}{i:08d}"[:12])
            batch.append(CustomerInput(name=f"客户{i}", numbers=numbers, area=AREAS[i % 5],
                                       account_manager=STAFF[i % 5] if i % 10 == 0 else None,
                                       fields={"level": LEVELS[rng.randrange(3)]}))
        store.bulk_insert(batch, time.time())
    elapsed = time.perf_counter() - started
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return elapsed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def caller_id(rng: random.Random, count: int) -> tuple[str, str | None]:
    """A number as a trunk might present it, and the stored number it must find (None: nobody's)."""
    if rng.random() < 0.1:
        return f"17{rng.randrange(10**9):09d}", None  # 17x: outside every generated range
    number = number_of(rng.randrange(count))
    shown = rng.choice((number, "+86" + number, "0" + number, number[:3] + " " + number[3:7] + " " + number[7:]))
    return shown, number


async def lookups(path: Path, count: int, how_many: int) -> dict[str, float]:
    service = service_of(path)
    await service.start()
    rng = random.Random(2)
    store = CustomerStore.open(path)
    try:
        for _ in range(500):  # warm the page cache
            await service.pop(caller_id(rng, count)[0])
        times, probes = [], []
        for _ in range(how_many):
            shown, expected = caller_id(rng, count)
            started = time.perf_counter()
            found = (await service.pop(shown)).customer
            times.append((time.perf_counter() - started) * 1000)
            assert (found.numbers[0] if found else None) == expected, (shown, found)
            normal = normalise_number(shown)
            started = time.perf_counter()
            store.lookup(normal)
            probes.append((time.perf_counter() - started) * 1000)
    finally:
        store.close()
        await service.stop()
    return {"p50": statistics.median(times), "p99": percentile(times, 99), "store_p99": percentile(probes, 99)}


def write_xlsx(path: Path, rows: int, offset: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("customers")
    sheet.append(["name", "numbers", "area", "account_manager", "vip", "level"])
    for i in range(rows):
        n = offset + i
        sheet.append([f"导入客户{n}", number_of(n), AREAS[n % 5], STAFF[n % 5] if n % 7 == 0 else None, n % 50 == 0,
                      LEVELS[n % 3]])
    book.save(path)


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def import_child(db: str, xlsx: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    service = service_of(Path(db))
    service.open_sync()
    before = rss_kb()
    started = time.perf_counter()
    data = Path(xlsx).read_bytes()
    result = import_customers(service, "xlsx", data, dry_run=False)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    service.close_sync()
    out.put({"rows": result.rows, "created": result.created, "failed": result.failed, "seconds": elapsed,
             "peak_growth_mb": (peak - before) / 1024, "file_mb": len(data) / 2**20})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="build in this directory and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="customers-bench-") as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        db = directory / "records.sqlite3"
        for stale in directory.glob("records.sqlite3*"):
            stale.unlink()
        built_s = build(db, args.customers)
        size_mb = db.stat().st_size / 2**20
        print(f"built {args.customers:,} customers in {built_s:.1f} s ({args.customers / built_s:,.0f} rows/s), "
              f"file {size_mb:.0f} MiB")
        found = asyncio.run(lookups(db, args.customers, args.lookups))
        print(f"look-up by number ({args.lookups:,}, the screen pop's, awaited): p50 {found['p50']:.3f} ms, "
              f"p99 {found['p99']:.3f} ms; the store's probes alone p99 {found['store_p99']:.3f} ms")
        xlsx = directory / "import.xlsx"
        write_xlsx(xlsx, args.import_rows, args.customers + 1)
        context = multiprocessing.get_context("spawn")
        queue: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        child = context.Process(target=import_child, args=(str(db), str(xlsx), queue))
        child.start()
        imported = queue.get()
        child.join()
        rate = imported["rows"] / imported["seconds"]
        print(f".xlsx import of {imported['rows']:,} rows ({imported['file_mb']:.1f} MiB) into {args.customers:,}: "
              f"{imported['seconds']:.1f} s, {rate:,.0f} rows/s, {imported['created']:,} created, "
              f"{imported['failed']} failed, peak memory growth {imported['peak_growth_mb']:.1f} MB")
        print(json.dumps({"customers": args.customers, "lookup_p99_ms": round(found["p99"], 3),
                          "import_rows_per_s": round(rate), "import_peak_mb": round(imported["peak_growth_mb"], 1),
                          "lookup_p50_ms": round(found["p50"], 3), "store_lookup_p99_ms": round(found["store_p99"], 3),
                          "build_rows_per_s": round(args.customers / built_s)}))


if __name__ == "__main__":
    main()
