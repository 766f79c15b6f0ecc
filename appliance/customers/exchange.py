"""Import and export of customers as CSV (UTF-8 with a BOM, so Excel reads the Chinese) and .xlsx.

Both run on a worker thread, never the event loop. Memory stays bounded whatever the size: .xlsx is read with
openpyxl's `read_only` (rows streamed from the zip) and written with `write_only` (rows streamed to a file);
rows are written a chunk at a time on the service's writer thread; only the first `MAX_ERRORS` row errors are
kept. The uploaded file itself is in memory, under the route's body limit.

Columns (the header row, in any order; English keys or the Chinese headings the export writes): `id` (when
given, the row changes that customer; else it is a new one), `name`, `numbers` (separated by `;`), `area`,
`account_manager`, `vip`, `blacklisted`, `note`, then each custom field under its name or label. A row that
breaks a rule is left out and reported by its row number (the header is row 1) and field; the other rows
are imported. `dry_run` checks every row and writes nothing.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.customers.errors import ImportUnreadable
from appliance.customers.models import CustomerInput, FieldDefinition, ImportResult, Search
from appliance.customers.service import CustomerService
from appliance.customers.store import CustomerStore
from appliance.customers.validation import customer_input
from appliance.errors import RowError, ValidationFailed

MAX_ERRORS = 1000
CHUNK = 2000
MAX_COLUMNS = 200
BUILT_IN: tuple[tuple[str, str], ...] = (
    ("id", "编号"), ("name", "姓名"), ("numbers", "号码"), ("area", "地区"), ("account_manager", "客户经理"),
    ("vip", "VIP"), ("blacklisted", "黑名单"), ("note", "备注"))
_ALIASES = {"名称": "name", "客户名称": "name", "电话": "numbers", "电话号码": "numbers", "手机": "numbers",
            "专属座席": "account_manager", "是否VIP": "vip"}
XLSX_MAGIC = b"PK\x03\x04"


def file_format(name: str | None, data: bytes) -> str:
    """"xlsx" or "csv": as asked, else by the file's first bytes (an .xlsx file is a zip)."""
    if name in ("csv", "xlsx"):
        return name
    return "xlsx" if data.startswith(XLSX_MAGIC) else "csv"


def _columns(header: Sequence[Any], definitions: Sequence[FieldDefinition]) -> list[str | None]:
    """The field each column holds (None: a column this box does not know, ignored)."""
    known: dict[str, str] = {}
    for key, zh in BUILT_IN:
        known[key.casefold()] = known[zh.casefold()] = key
    for alias, key in _ALIASES.items():
        known[alias.casefold()] = key
    for d in definitions:
        for word in (d.name, d.label, d.label_zh):
            known.setdefault(word.casefold(), d.name)
    columns = [known.get(str(h).strip().casefold()) if h is not None else None for h in header]
    if "name" not in columns:
        raise ImportUnreadable("the first row must be a header naming the columns, with at least `name` (姓名)",
                               "第一行应为列标题,至少包含 name(姓名)", {"columns": [str(h) for h in header][:50]})
    return columns


def _csv_rows(data: bytes) -> Iterator[Sequence[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Excel in Chinese saves "CSV" as GB18030/GBK
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise ImportUnreadable("the CSV file is neither UTF-8 nor GB18030 text",
                                   "CSV 文件既不是 UTF-8 也不是 GB18030 文本") from None
    try:
        yield from csv.reader(io.StringIO(text, newline=""))
    except csv.Error as exc:
        raise ImportUnreadable(f"the CSV file cannot be read: {exc}", f"无法读取 CSV 文件: {exc}") from None


def _xlsx_rows(data: bytes) -> Iterator[Sequence[Any]]:
    from openpyxl import load_workbook  # only an import needs it: kept out of start-up

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, key errors) for a file it cannot read
        raise ImportUnreadable(f"the .xlsx file cannot be read ({type(exc).__name__})",
                               f"无法读取 .xlsx 文件({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            return
        yield from sheet.iter_rows(values_only=True)
    except ImportUnreadable:
        raise
    except Exception as exc:  # a sheet whose XML breaks part-way, found only as its rows are read
        raise ImportUnreadable(f"the .xlsx file's sheet cannot be read ({type(exc).__name__})",
                               f"无法读取 .xlsx 文件的工作表({type(exc).__name__})") from None
    finally:
        book.close()


def rows_of(fmt: str, data: bytes) -> Iterator[Sequence[Any]]:
    return _xlsx_rows(data) if fmt == "xlsx" else _csv_rows(data)


@dataclass
class _Importer:
    service: CustomerService
    dry_run: bool
    errors: list[RowError] = field(default_factory=list)
    failed_rows: set[int] = field(default_factory=set)
    failed: int = 0
    created: int = 0
    updated: int = 0
    seen: dict[str, int] = field(default_factory=dict)  # number → the row that claimed it in this file

    def fail(self, row: int, name: str, message: str, message_zh: str) -> None:
        if row not in self.failed_rows:
            self.failed_rows.add(row)
            self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(row=row, field=name, message=message, message_zh=message_zh))

    def check(self, row: int, values: dict[str, Any], definitions: dict[str, FieldDefinition]) -> tuple[int | None,
                                                                                                        CustomerInput] | None:
        raw_id = values.pop("id", None)
        customer_id: int | None = None
        if raw_id not in (None, ""):
            try:
                customer_id = int(str(raw_id).strip())
            except ValueError:
                self.fail(row, "id", "id: a customer's number id, or empty for a new customer",
                          "id: 应为客户编号,新客户留空")
                return None
        try:
            data = customer_input(values, definitions, self.service.staff_exists, text=True, what=f"row {row}")
        except ValidationFailed as exc:
            for e in exc.errors:
                self.fail(row, e.field, e.message, e.message_zh)
            return None
        for number in data.numbers:
            if number in self.seen:
                self.fail(row, "numbers", f"numbers: {number} is also on row {self.seen[number]}",
                          f"numbers: {number} 与第 {self.seen[number]} 行重复")
                return None
        for number in data.numbers:
            self.seen[number] = row
        return customer_id, data

    def apply(self, store: CustomerStore, chunk: list[tuple[int, int | None, CustomerInput]], now: float) -> None:
        """One chunk against the store: numbers another customer holds and unknown ids become row errors."""
        owners = store.owners(n for _, _, data in chunk for n in data.numbers)
        fresh: list[CustomerInput] = []
        for row, customer_id, data in chunk:
            taken = [(n, owners[n]) for n in data.numbers if n in owners and owners[n] != customer_id]
            if taken:
                number, owner = taken[0]
                self.fail(row, "numbers", f"numbers: {number} already belongs to customer {owner}",
                          f"numbers: {number} 已属于客户 {owner}")
            elif customer_id is None:
                fresh.append(data)
            elif self.dry_run:
                if store.get(customer_id) is None:
                    self.fail(row, "id", f"id: no customer {customer_id}", f"id: 没有客户 {customer_id}")
                else:
                    self.updated += 1
            elif store.update(customer_id, data, now) is None:
                self.fail(row, "id", f"id: no customer {customer_id}", f"id: 没有客户 {customer_id}")
            else:
                self.updated += 1
        if fresh and not self.dry_run:
            store.bulk_insert(fresh, now)
        self.created += len(fresh)


def import_customers(service: CustomerService, fmt: str, data: bytes, *, dry_run: bool) -> ImportResult:
    """Run on a worker thread (never the loop): reads every row, writes the good ones a chunk at a time. The
    caller publishes `customers.imported` back on the loop (the bus is the loop's)."""
    importer = _Importer(service, dry_run)
    definitions = {d.name: d for d in service.definitions()}
    rows = rows_of(fmt, data)
    header = next(rows, None)
    if header is None:
        raise ImportUnreadable("the file is empty", "文件为空")
    if len(header) > MAX_COLUMNS:
        raise ImportUnreadable(f"at most {MAX_COLUMNS} columns", f"最多 {MAX_COLUMNS} 列")
    columns = _columns(header, service.definitions())
    now = service.clock.wall()
    chunk: list[tuple[int, int | None, CustomerInput]] = []
    count = 0

    def flush() -> None:
        work = list(chunk)
        chunk.clear()
        if dry_run:
            service.read_sync(lambda s: importer.apply(s, work, now))
        else:
            service.write_sync(lambda s: importer.apply(s, work, now))

    for number, cells in enumerate(rows, start=2):
        if not any(c not in (None, "") for c in cells):
            continue  # blank lines (Excel keeps some at the end)
        count += 1
        values = {col: cell for col, cell in zip(columns, cells, strict=False) if col is not None}
        checked = importer.check(number, values, definitions)
        if checked is not None:
            chunk.append((number, *checked))
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return ImportResult(rows=count, created=importer.created, updated=importer.updated, failed=importer.failed,
                        errors=tuple(sorted(importer.errors, key=lambda e: e.row)), dry_run=dry_run)


def _header(definitions: Sequence[FieldDefinition], language: str) -> list[str]:
    built_in = [zh if language == "zh" else key for key, zh in BUILT_IN]
    return built_in + [d.label_zh if language == "zh" else d.name for d in definitions]


def _cells(customer: Any, definitions: Sequence[FieldDefinition]) -> list[Any]:
    return [customer.id, customer.name, ";".join(customer.numbers), customer.area, customer.account_manager or "",
            int(customer.vip), int(customer.blacklisted), customer.note,
            *(customer.fields.get(d.name, "") for d in definitions)]


def export_customers(service: CustomerService, fmt: str, search: Search, directory: Path, language: str) -> Path:
    """Write the customers the search finds to a new file in `directory` (run on a worker thread); the
    caller sends it and removes it. Chinese headings (`language` "zh") import back as well as English ones."""
    definitions = service.definitions()
    fd, name = tempfile.mkstemp(prefix="customers-", suffix=f".{fmt}", dir=directory)
    path = Path(name)
    try:
        if fmt == "xlsx":
            os.close(fd)
            _write_xlsx(service, search, definitions, path, language)
        else:
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(_header(definitions, language))

                def write(store: CustomerStore) -> None:
                    for customer in store.iterate(search):
                        writer.writerow(_cells(customer, definitions))

                service.read_sync(write)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _write_xlsx(service: CustomerService, search: Search, definitions: Sequence[FieldDefinition], path: Path,
                language: str) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("customers")
    sheet.append(_header(definitions, language))

    def write(store: CustomerStore) -> None:
        for customer in store.iterate(search):
            sheet.append(_cells(customer, definitions))

    service.read_sync(write)
    book.save(path)
