"""Customers in SQLite: their own tables in the record store's file, over one connection per thread.

Why the record store's file: customers are data that grows to millions of rows, so not the configuration
document; and in that file they are copied by every backup of the records (SQLite's backup API) and come
back with a restore, with no second file to forget. The file is opened as every connection to it is
(`records.sqlite_store.connect`: WAL, `synchronous=NORMAL`, foreign keys): a crash loses no committed row,
and readers run beside the one writer.

Look-up by number is one probe of `customer_number`'s primary key (a B-tree, so O(log n): about 20 steps
at a million customers) and one of `customer`'s. Name and number searches are prefix ranges on indexes;
custom fields are searched for exact values through `customer_field_value(field, value)`.

Every method runs on the caller's thread; `service.CustomerService` decides which (never the event loop's,
except the single indexed read `lookup` for call control).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.customers.errors import HasServiceRecords, NumberTaken
from appliance.customers.models import (
    Customer,
    CustomerInput,
    FieldDefinition,
    FieldType,
    Search,
    ServiceRecord,
    ServiceRecordInput,
    normalise_number,
)
from appliance.records.models import Page
from appliance.records.sqlite_store import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS customer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL, name_key TEXT NOT NULL, area TEXT NOT NULL DEFAULT '', account_manager TEXT,
    vip INTEGER NOT NULL DEFAULT 0, blacklisted INTEGER NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '',
    fields TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS customer_name ON customer(name_key);
CREATE INDEX IF NOT EXISTS customer_manager ON customer(account_manager);

-- A number pops one customer: it is the key.
CREATE TABLE IF NOT EXISTS customer_number (
    number TEXT PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS customer_number_owner ON customer_number(customer_id);

-- Custom field values again, as text, for searching by field (the customer row's JSON is what is read).
CREATE TABLE IF NOT EXISTS customer_field_value (
    customer_id INTEGER NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    field TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (customer_id, field)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS customer_field_search ON customer_field_value(field, value);

CREATE TABLE IF NOT EXISTS customer_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS customer_field_def (name TEXT PRIMARY KEY, position INTEGER NOT NULL, data TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS service_record (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customer(id),
    call_id TEXT, agent TEXT, type TEXT NOT NULL, content TEXT NOT NULL, result TEXT NOT NULL, follow_up TEXT,
    created REAL NOT NULL, updated REAL NOT NULL, by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS service_record_customer ON service_record(customer_id, created);
CREATE INDEX IF NOT EXISTS service_record_call ON service_record(call_id);
CREATE INDEX IF NOT EXISTS service_record_agent ON service_record(agent, created);
CREATE INDEX IF NOT EXISTS service_record_follow_up ON service_record(follow_up) WHERE follow_up IS NOT NULL;
"""

_COLUMNS = "id, name, area, account_manager, vip, blacklisted, note, fields, created, updated"
_RECORD_COLUMNS = "id, customer_id, call_id, agent, type, content, result, follow_up, created, updated, by"
_TOP = "\U0010ffff"  # above every character: `key < prefix || _TOP` closes a prefix range


def name_key(name: str) -> str:
    return name.casefold()


def stored_value(value: Any) -> str:
    """A custom field's value as `customer_field_value` holds it (what a search compares)."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class CustomerStore:
    conn: sqlite3.Connection

    @classmethod
    def create_schema(cls, path: Path) -> None:
        conn = connect(path)
        try:
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    @classmethod
    def open(cls, path: Path) -> CustomerStore:
        """A connection for any one thread at a time (the service keeps one per worker thread)."""
        return cls(connect(path, check_same_thread=False))

    def close(self) -> None:
        self.conn.close()

    # ---- reading -----------------------------------------------------------------------------------

    def _customers(self, rows: Sequence[tuple[Any, ...]]) -> list[Customer]:
        if not rows:
            return []
        ids = [r[0] for r in rows]
        numbers: dict[int, list[str]] = {i: [] for i in ids}
        marks = ",".join("?" * len(ids))
        for owner, number in self.conn.execute(
                f"SELECT customer_id, number FROM customer_number WHERE customer_id IN ({marks}) "
                "ORDER BY customer_id, position", ids):
            numbers[owner].append(number)
        return [Customer(id=r[0], name=r[1], area=r[2], account_manager=r[3], vip=bool(r[4]), blacklisted=bool(r[5]),
                         note=r[6], fields=json.loads(r[7]), created=r[8], updated=r[9], numbers=tuple(numbers[r[0]]))
                for r in rows]

    def get(self, customer_id: int) -> Customer | None:
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM customer WHERE id = ?", (customer_id,)).fetchall()
        found = self._customers(rows)
        return found[0] if found else None

    def lookup(self, number: str) -> Customer | None:
        """The customer a normalised number belongs to: two primary-key probes."""
        row = self.conn.execute("SELECT customer_id FROM customer_number WHERE number = ?", (number,)).fetchone()
        return self.get(row[0]) if row else None

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM customer").fetchone()[0])

    def search(self, search: Search, number_prefix: str | None) -> Page:
        """A page of customers. `number_prefix`: the search text as a normalised number, when it reads as one."""
        where: list[str] = []
        args: list[Any] = []
        order = "c.id DESC"
        text = search.text.strip()
        if text and number_prefix:
            where.append("(c.id IN (SELECT customer_id FROM customer_number WHERE number >= ? AND number < ?) "
                         "OR (c.name_key >= ? AND c.name_key < ?))")
            args += [number_prefix, number_prefix + _TOP, name_key(text), name_key(text) + _TOP]
        elif text:
            where.append("c.name_key >= ? AND c.name_key < ?")
            args += [name_key(text), name_key(text) + _TOP]
            order = "c.name_key, c.id"
        if search.field is not None and search.value is not None:
            where.append("c.id IN (SELECT customer_id FROM customer_field_value WHERE field = ? AND value = ?)")
            args += [search.field, search.value]
        for column, flag in (("vip", search.vip), ("blacklisted", search.blacklisted)):
            if flag is not None:
                where.append(f"c.{column} = ?")
                args.append(int(flag))
        if search.account_manager is not None:
            where.append("c.account_manager = ?")
            args.append(search.account_manager)
        if search.managers is not None:
            managers = sorted(search.managers)
            where.append(f"(c.account_manager IS NULL OR c.account_manager IN ({','.join('?' * len(managers))}))")
            args += managers
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        total = self.conn.execute(f"SELECT count(*) FROM customer c {clause}", args).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT {', '.join('c.' + c.strip() for c in _COLUMNS.split(','))} FROM customer c {clause} "
            f"ORDER BY {order} LIMIT ? OFFSET ?", [*args, search.limit, search.offset]).fetchall()
        return Page(items=tuple(self._customers(rows)), total=int(total), offset=search.offset, limit=search.limit)

    def iterate(self, search: Search, batch: int = 1000) -> Iterable[Customer]:
        """Every customer the search finds, a batch at a time, by id (an export: bounded memory)."""
        after = 0
        while True:
            rows = self._export_rows(search, after, batch)
            if not rows:
                return
            yield from self._customers(rows)
            after = rows[-1][0]

    def _export_rows(self, search: Search, after: int, batch: int) -> list[tuple[Any, ...]]:
        where = ["id > ?"]
        args: list[Any] = [after]
        if search.managers is not None:
            managers = sorted(search.managers)
            where.append(f"(account_manager IS NULL OR account_manager IN ({','.join('?' * len(managers))}))")
            args += managers
        for column, flag in (("vip", search.vip), ("blacklisted", search.blacklisted)):
            if flag is not None:
                where.append(f"{column} = ?")
                args.append(int(flag))
        return self.conn.execute(f"SELECT {_COLUMNS} FROM customer WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                                 [*args, batch]).fetchall()

    def owners(self, numbers: Iterable[str]) -> dict[str, int]:
        numbers = list(numbers)
        if not numbers:
            return {}
        marks = ",".join("?" * len(numbers))
        return dict(self.conn.execute(
            f"SELECT number, customer_id FROM customer_number WHERE number IN ({marks})", numbers).fetchall())

    # ---- writing (the service's one writer thread) ---------------------------------------------------

    def _check_numbers(self, numbers: Sequence[str], customer_id: int | None) -> None:
        owners = self.owners(numbers)
        for i, number in enumerate(numbers):
            owner = owners.get(number)
            if owner is not None and owner != customer_id:
                raise NumberTaken(number, owner, f"numbers.{i}")

    def _write_details(self, customer_id: int, data: CustomerInput) -> None:
        self.conn.executemany("INSERT INTO customer_number(number, customer_id, position) VALUES (?,?,?)",
                              [(n, customer_id, i) for i, n in enumerate(data.numbers)])
        self.conn.executemany("INSERT INTO customer_field_value(customer_id, field, value) VALUES (?,?,?)",
                              [(customer_id, k, stored_value(v)) for k, v in data.fields.items()])

    def insert(self, data: CustomerInput, now: float) -> Customer:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self._check_numbers(data.numbers, None)
            cur = self.conn.execute(
                "INSERT INTO customer(name, name_key, area, account_manager, vip, blacklisted, note, fields, created, "
                "updated) VALUES (?,?,?,?,?,?,?,?,?,?)", _row(data, now, now))
            customer_id = int(cur.lastrowid or 0)
            self._write_details(customer_id, data)
        return Customer(id=customer_id, created=now, updated=now, **_fields_of(data))

    def update(self, customer_id: int, data: CustomerInput, now: float) -> Customer | None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            before = self.conn.execute("SELECT created FROM customer WHERE id = ?", (customer_id,)).fetchone()
            if before is None:
                return None
            self._check_numbers(data.numbers, customer_id)
            self.conn.execute(
                "UPDATE customer SET name=?, name_key=?, area=?, account_manager=?, vip=?, blacklisted=?, note=?, "
                "fields=?, updated=? WHERE id=?", (*_row(data, now, now)[:-2], now, customer_id))
            self.conn.execute("DELETE FROM customer_number WHERE customer_id = ?", (customer_id,))
            self.conn.execute("DELETE FROM customer_field_value WHERE customer_id = ?", (customer_id,))
            self._write_details(customer_id, data)
        return Customer(id=customer_id, created=before[0], updated=now, **_fields_of(data))

    def delete(self, customer_id: int) -> bool:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            records = self.conn.execute("SELECT count(*) FROM service_record WHERE customer_id = ?",
                                        (customer_id,)).fetchone()[0]
            if records:
                raise HasServiceRecords(customer_id, int(records))
            return self.conn.execute("DELETE FROM customer WHERE id = ?", (customer_id,)).rowcount > 0

    def bulk_insert(self, customers: Sequence[CustomerInput], now: float) -> int:
        """Many new customers in one transaction with ids handed out here (imports, the benchmark); the
        caller has checked their numbers against the store and each other."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            first = int(self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM customer").fetchone()[0])
            self.conn.executemany(
                "INSERT INTO customer(id, name, name_key, area, account_manager, vip, blacklisted, note, fields, "
                "created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(first + i, *_row(c, now, now)) for i, c in enumerate(customers)])
            self.conn.executemany("INSERT INTO customer_number(number, customer_id, position) VALUES (?,?,?)",
                                  [(n, first + i, p) for i, c in enumerate(customers) for p, n in enumerate(c.numbers)])
            self.conn.executemany("INSERT INTO customer_field_value(customer_id, field, value) VALUES (?,?,?)",
                                  [(first + i, k, stored_value(v)) for i, c in enumerate(customers)
                                   for k, v in c.fields.items()])
        return len(customers)

    def move_legacy(self, records: Iterable[dict[str, Any]], now: float) -> int:
        """Once per box: customers the configuration file held before they moved here (its `customers`
        table: id, name, phones, account_manager, area, vip, note). A number already taken stays with its
        owner; the old id goes into the note."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            if self.conn.execute("SELECT 1 FROM customer_meta WHERE key = 'config_customers_moved'").fetchone():
                return 0
            moved = 0
            for record in records:
                name = str(record.get("name") or record.get("id") or "")[:100]
                if not name:
                    continue
                phones = [normalise_number(str(p)) for p in record.get("phones") or ()]
                taken = self.owners(p for p in phones if p)
                numbers = tuple(dict.fromkeys(p for p in phones if p and p not in taken))
                note = " ".join(x for x in (str(record.get("note") or ""), f"[{record.get('id', '')}]") if x)
                data = CustomerInput(name=name, numbers=numbers[:10], area=str(record.get("area") or "")[:20],
                                     account_manager=record.get("account_manager") or None,
                                     vip=bool(record.get("vip")), note=note[:2000])
                cur = self.conn.execute(
                    "INSERT INTO customer(name, name_key, area, account_manager, vip, blacklisted, note, fields, "
                    "created, updated) VALUES (?,?,?,?,?,?,?,?,?,?)", _row(data, now, now))
                self._write_details(int(cur.lastrowid or 0), data)
                moved += 1
            self.conn.execute("INSERT INTO customer_meta(key, value) VALUES ('config_customers_moved', ?)",
                              (str(moved),))
        return moved

    # ---- custom field definitions --------------------------------------------------------------------

    def definitions(self) -> list[FieldDefinition]:
        out = []
        for (data,) in self.conn.execute("SELECT data FROM customer_field_def ORDER BY position, name"):
            d = json.loads(data)
            out.append(FieldDefinition(name=d["name"], label=d["label"], label_zh=d["label_zh"],
                                       type=FieldType(d["type"]), options=tuple(d["options"]),
                                       required=d["required"], position=d["position"]))
        return out

    def put_definition(self, definition: FieldDefinition) -> None:
        self.conn.execute("INSERT OR REPLACE INTO customer_field_def(name, position, data) VALUES (?,?,?)",
                          (definition.name, definition.position, json.dumps(definition.to_dict(), ensure_ascii=False)))

    def delete_definition(self, name: str) -> bool:
        """The definition and every customer's value of it (a field that no longer exists is not shown)."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            if self.conn.execute("DELETE FROM customer_field_def WHERE name = ?", (name,)).rowcount == 0:
                return False
            self.conn.execute("UPDATE customer SET fields = json_remove(fields, ?) WHERE id IN "
                              "(SELECT customer_id FROM customer_field_value WHERE field = ?)", (f'$."{name}"', name))
            self.conn.execute("DELETE FROM customer_field_value WHERE field = ?", (name,))
        return True

    # ---- service records ---------------------------------------------------------------------------

    def add_record(self, customer_id: int, data: ServiceRecordInput, by: str, now: float) -> ServiceRecord:
        cur = self.conn.execute(
            "INSERT INTO service_record(customer_id, call_id, agent, type, content, result, follow_up, created, "
            "updated, by) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (customer_id, data.call_id, data.agent, data.type, data.content, data.result, data.follow_up, now, now, by))
        return ServiceRecord(id=int(cur.lastrowid or 0), customer_id=customer_id, created=now, updated=now, by=by,
                             **_record_fields(data))

    def update_record(self, record_id: int, data: ServiceRecordInput, now: float) -> ServiceRecord | None:
        self.conn.execute(
            "UPDATE service_record SET call_id=?, agent=?, type=?, content=?, result=?, follow_up=?, updated=? "
            "WHERE id=?", (data.call_id, data.agent, data.type, data.content, data.result, data.follow_up, now,
                           record_id))
        return self.record(record_id)

    def record(self, record_id: int) -> ServiceRecord | None:
        row = self.conn.execute(f"SELECT {_RECORD_COLUMNS} FROM service_record WHERE id = ?", (record_id,)).fetchone()
        return _record(row) if row else None

    def records(self, *, customer_id: int | None = None, call_id: str | None = None, agent: str | None = None,
                follow_up_until: str | None = None, offset: int = 0, limit: int = 50) -> Page:
        """Service records newest first, filtered on the customer, the call, the agent, or follow-ups due."""
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("customer_id", customer_id), ("call_id", call_id), ("agent", agent)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if follow_up_until is not None:
            where.append("follow_up IS NOT NULL AND follow_up <= ?")
            args.append(follow_up_until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        total = self.conn.execute(f"SELECT count(*) FROM service_record {clause}", args).fetchone()[0]
        rows = self.conn.execute(f"SELECT {_RECORD_COLUMNS} FROM service_record {clause} "
                                 "ORDER BY created DESC, id DESC LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return Page(items=tuple(_record(r) for r in rows), total=int(total), offset=offset, limit=limit)


def _fields_of(data: Any) -> dict[str, Any]:
    return {"name": data.name, "numbers": data.numbers, "area": data.area, "account_manager": data.account_manager,
            "vip": data.vip, "blacklisted": data.blacklisted, "note": data.note, "fields": dict(data.fields)}


def _row(data: CustomerInput, created: float, updated: float) -> tuple[Any, ...]:
    return (data.name, name_key(data.name), data.area, data.account_manager, int(data.vip), int(data.blacklisted),
            data.note, json.dumps(data.fields, ensure_ascii=False, sort_keys=True), created, updated)


def _record_fields(data: ServiceRecordInput) -> dict[str, Any]:
    return {"type": data.type, "content": data.content, "result": data.result, "follow_up": data.follow_up,
            "call_id": data.call_id, "agent": data.agent}


def _record(row: tuple[Any, ...]) -> ServiceRecord:
    return ServiceRecord(id=row[0], customer_id=row[1], call_id=row[2], agent=row[3], type=row[4], content=row[5],
                         result=row[6], follow_up=row[7], created=row[8], updated=row[9], by=row[10])
