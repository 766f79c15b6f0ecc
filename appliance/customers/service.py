"""The customer service: customers, their numbers and custom fields, service records, the screen pop's look-up.

For the agent desk (and any other caller), the calls to know:
- `await pop(number)` → `Pop`: the local customer for a caller's number (any format: it is normalised),
  and what the external CRM said when one is configured (`crm_customer_url`), with its time-out; the local
  record is always there to fall back on. `await lookup(number)` is the local half alone.
- `await parse_customer(json)` → `CustomerInput` (422 naming each field), then `await create(input, by)` or
  `await update(id, input, by)`; `await get(id)`; `await search(Search(...))` → `Page` of `Customer`.
- `await add_record(customer_id, parse_record(json), by)` → `ServiceRecord` (type, content, result, follow-up
  date, `call_id` = the CDR's call id, `agent` = employee number); `await records(customer_id=..)` or
  `records(call_id=..)` → `Page`, newest first.
- `lookup_now(number)`: `lookup` without the await, for call control's ACD routing (the account manager,
  专属座席).

SQL runs on worker threads, never on the event loop (but the look-up by number, see `lookup`): reads on a
small pool (WAL lets them run beside the writer), every write on one writer thread, so writes are serialised without locks. An import hands the
writer a chunk at a time, so a service record saved during a long import waits for one chunk, not the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from appliance.clock import Clock
from appliance.customers import events as E
from appliance.customers.errors import (
    CustomerNotFound,
    FieldDefinitionNotFound,
    ServiceRecordNotFound,
)
from appliance.customers.external import ExternalCustomerLookup
from appliance.customers.models import (
    Customer,
    CustomerInput,
    FieldDefinition,
    Search,
    ServiceRecord,
    ServiceRecordInput,
    normalise_number,
)
from appliance.customers.store import CustomerStore, stored_value
from appliance.customers.validation import StaffExists, customer_input, field_value, record_input
from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.records.models import AuditEntry, Page

log = logging.getLogger(__name__)
T = TypeVar("T")
READERS = 2


@dataclass(frozen=True, slots=True)
class Pop:
    """What the screen pop shows for a number: the box's customer (None: unknown, open the new-customer form
    prefilled with `number`), and the external CRM's answer when one is configured."""

    number: str  # normalised ("" when the caller ID is no number, e.g. anonymous)
    customer: Customer | None
    external: dict[str, Any] | None = None
    external_error: str | None = None  # the CRM was configured and failed: the local record stands alone

    @property
    def source(self) -> str:
        return "external" if self.external is not None else "local" if self.customer is not None else "none"

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "customer": self.customer.to_dict() if self.customer else None,
                "external": self.external, "external_error": self.external_error, "source": self.source}


class CustomerService:
    name = "customers"

    def __init__(self, records_path: Path, bus: EventBus, clock: Clock, staff_exists: StaffExists,
                 settings: Callable[[], Mapping[str, Any]] = dict, external: ExternalCustomerLookup | None = None,
                 legacy: Callable[[], list[dict[str, Any]]] | None = None,
                 audit: Callable[[AuditEntry], object] | None = None) -> None:
        """`legacy`: the customers the configuration file held before they moved here, moved once. `audit`
        keeps who created, changed or deleted a customer or a custom field, and each import (the audit log)."""
        self.path = Path(records_path)
        self.bus = bus
        self.clock = clock
        self.staff_exists = staff_exists
        self.external = external if external is not None else ExternalCustomerLookup(settings)
        self.legacy = legacy
        self.audit = audit
        self._local = threading.local()
        self._stores: list[CustomerStore] = []
        self._stores_lock = threading.Lock()
        self._readers: ThreadPoolExecutor | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._loop_store: CustomerStore | None = None
        self._definitions: dict[str, FieldDefinition] = {}
        self.lookups = 0
        self.writes = 0
        self.imported_rows = 0

    # ---- life ---------------------------------------------------------------------------------------

    def open_sync(self) -> None:
        """Tables made and definitions read: `start`'s work, for a caller without a loop (the CLI, the bench)."""
        CustomerStore.create_schema(self.path)
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="customers-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="customers-write")
        self._loop_store = CustomerStore.open(self.path)
        self._definitions = {d.name: d for d in self._loop_store.definitions()}
        if self.legacy is not None:
            moved = self._loop_store.move_legacy(self.legacy(), self.clock.wall())
            if moved:
                log.info("customers: moved %d customers out of the configuration file", moved)

    async def start(self) -> None:
        await asyncio.to_thread(self.open_sync)

    async def stop(self) -> None:
        for pool in (self._readers, self._writer):
            if pool is not None:
                await asyncio.to_thread(pool.shutdown, True)
        self._readers = self._writer = None
        await self.external.aclose()
        self.close_sync()

    def close_sync(self) -> None:
        for pool in (self._readers, self._writer):
            if pool is not None:
                pool.shutdown(wait=True)
        self._readers = self._writer = None
        with self._stores_lock:
            stores, self._stores = self._stores, []
        for store in stores:
            store.close()
        if self._loop_store is not None:
            self._loop_store.close()
            self._loop_store = None

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        return Health.of("customers", Status.OK if self._writer is not None else Status.DOWN,
                         f"{self.lookups} look-ups", counters={
                             "lookups": self.lookups, "writes": self.writes, "imported_rows": self.imported_rows,
                             "crm_lookups": self.external.asked, "crm_failures": self.external.failures})

    def _store(self) -> CustomerStore:
        store: CustomerStore | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = CustomerStore.open(self.path)
            with self._stores_lock:
                self._stores.append(store)
        return store

    async def _read(self, work: Callable[[CustomerStore], T]) -> T:
        if self._readers is None:
            raise RuntimeError("the customer service is not started")
        return await asyncio.get_running_loop().run_in_executor(self._readers, lambda: work(self._store()))

    async def _write(self, work: Callable[[CustomerStore], T]) -> T:
        if self._writer is None:
            raise RuntimeError("the customer service is not started")
        self.writes += 1
        return await asyncio.get_running_loop().run_in_executor(self._writer, lambda: work(self._store()))

    def write_sync(self, work: Callable[[CustomerStore], T]) -> T:
        """`work` on the writer thread, waited for on this (non-loop) thread: an import's chunks."""
        if self._writer is None:
            raise RuntimeError("the customer service is not started")
        self.writes += 1
        return self._writer.submit(lambda: work(self._store())).result()

    def read_sync(self, work: Callable[[CustomerStore], T]) -> T:
        return work(self._store())

    def _publish(self, event: Event) -> None:
        self.bus.publish(dataclasses.replace(event, at=self.clock.wall()))

    # ---- look-ups -----------------------------------------------------------------------------------

    async def lookup(self, number: str) -> Customer | None:
        """The box's customer for a number in any format, or None.

        Run on the loop's own connection, not a reader thread: it is three probes of primary keys (tens of
        microseconds at a million customers), less than the hand-over to a thread and back costs, and a WAL
        reader never waits for the writer."""
        return self.lookup_now(number)

    def lookup_now(self, number: str) -> Customer | None:
        """`lookup` for callers that cannot await (call control's ACD routing), on the event loop's thread."""
        normal = normalise_number(number)
        if not normal or self._loop_store is None:
            return None
        self.lookups += 1
        return self._loop_store.lookup(normal)

    async def pop(self, number: str) -> Pop:
        """The screen pop: the local record and the external CRM asked at once; the CRM's time-out bounds it."""
        normal = normalise_number(number)
        customer = self.lookup_now(normal) if normal else None
        answer = await self.external.lookup(normal) if normal else None
        if answer is None:
            return Pop(normal, customer)
        return Pop(normal, customer, answer.found, answer.error)

    async def get(self, customer_id: int) -> Customer:
        customer = await self._read(lambda s: s.get(customer_id))
        if customer is None:
            raise CustomerNotFound(customer_id)
        return customer

    async def search(self, search: Search) -> Page:
        """A page of customers: `text` is a name's or a number's start; `field`/`value` an exact custom field."""
        number = normalise_number(search.text) if search.text.strip()[:1] in "+0123456789" else ""
        value = search.value
        if search.field is not None and value is not None and search.field in self._definitions:
            parsed, problem = field_value(self._definitions[search.field], value, text=True)
            value = stored_value(parsed) if problem is None and parsed is not None else value
        query = Search(**{**_search_fields(search), "value": value})
        return await self._read(lambda s: s.search(query, number or None))

    async def count(self) -> int:
        return await self._read(lambda s: s.count())

    # ---- customers ----------------------------------------------------------------------------------

    def parse_customer(self, data: Any) -> CustomerInput:
        """A JSON object as a `CustomerInput`, or `ValidationFailed` naming each broken field (422)."""
        return customer_input(data, self._definitions, self.staff_exists)

    def parse_record(self, data: Any) -> ServiceRecordInput:
        return record_input(data, self.staff_exists)

    async def create(self, data: CustomerInput, by: str, source: str = "") -> Customer:
        now = self.clock.wall()
        customer = await self._write(lambda s: s.insert(data, now))
        self._publish(E.CustomerCreated(customer_id=customer.id, by=by))
        self._audit("create", "customer", str(customer.id), None, customer.to_dict(), by, source)
        return customer

    async def update(self, customer_id: int, data: CustomerInput, by: str, source: str = "") -> Customer:
        now = self.clock.wall()
        # the audit's "before" is read by the writer with the change, so no other write falls between them
        before, customer = await self._write(lambda s: (s.get(customer_id), s.update(customer_id, data, now)))
        if before is None or customer is None:
            raise CustomerNotFound(customer_id)
        self._publish(E.CustomerUpdated(customer_id=customer_id, by=by))
        self._audit("update", "customer", str(customer_id), before.to_dict(), customer.to_dict(), by, source)
        return customer

    async def delete(self, customer_id: int, by: str, source: str = "") -> None:
        before, deleted = await self._write(lambda s: (s.get(customer_id), s.delete(customer_id)))
        if before is None or not deleted:
            raise CustomerNotFound(customer_id)
        self._publish(E.CustomerDeleted(customer_id=customer_id, by=by))
        self._audit("delete", "customer", str(customer_id), before.to_dict(), None, by, source)

    def customers_imported(self, created: int, updated: int, failed: int, by: str, source: str = "") -> None:
        self.imported_rows += created + updated
        self._publish(E.CustomersImported(created=created, updated=updated, failed=failed, by=by))
        self._audit("import", "customer", "*", None, {"created": created, "updated": updated, "failed": failed},
                    by, source)

    def _audit(self, action: str, kind: str, key: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
               by: str, source: str) -> None:
        if self.audit is not None:
            self.audit(AuditEntry(at=self.clock.wall(), actor=by, action=action, kind=kind, key=key, before=before,
                                  after=after, source=source))

    # ---- custom fields ------------------------------------------------------------------------------

    def definitions(self) -> list[FieldDefinition]:
        """The custom fields, in their order (kept in memory: read on every validation)."""
        return sorted(self._definitions.values(), key=lambda d: (d.position, d.name))

    def definition(self, name: str) -> FieldDefinition:
        try:
            return self._definitions[name]
        except KeyError:
            raise FieldDefinitionNotFound(name) from None

    async def put_definition(self, definition: FieldDefinition, by: str = "", source: str = "") -> bool:
        """Create or replace a custom field; True when it is new. Values stored under an older definition
        stay until the customer is next saved, when the new rules apply."""
        await self._write(lambda s: s.put_definition(definition))
        before = self._definitions.get(definition.name)
        self._definitions[definition.name] = definition
        self._audit("update" if before else "create", "customer_field", definition.name,
                    before.to_dict() if before else None, definition.to_dict(), by, source)
        return before is None

    async def delete_definition(self, name: str, by: str = "", source: str = "") -> None:
        before = self.definition(name)
        await self._write(lambda s: s.delete_definition(name))
        self._definitions.pop(name, None)
        self._audit("delete", "customer_field", name, before.to_dict(), None, by, source)

    # ---- service records ----------------------------------------------------------------------------

    async def add_record(self, customer_id: int, data: ServiceRecordInput, by: str) -> ServiceRecord:
        await self.get(customer_id)
        now = self.clock.wall()
        record = await self._write(lambda s: s.add_record(customer_id, data, by, now))
        self._record_saved(record, by, created=True)
        return record

    async def update_record(self, record_id: int, data: ServiceRecordInput, by: str) -> ServiceRecord:
        now = self.clock.wall()
        record = await self._write(lambda s: s.update_record(record_id, data, now))
        if record is None:
            raise ServiceRecordNotFound(record_id)
        self._record_saved(record, by, created=False)
        return record

    def _record_saved(self, record: ServiceRecord, by: str, *, created: bool) -> None:
        self._publish(E.ServiceRecordSaved(record_id=record.id, customer_id=record.customer_id,
                                           call_id=record.call_id or "", agent=record.agent or "", by=by,
                                           created=created))

    async def record(self, record_id: int) -> ServiceRecord:
        record = await self._read(lambda s: s.record(record_id))
        if record is None:
            raise ServiceRecordNotFound(record_id)
        return record

    async def records(self, *, customer_id: int | None = None, call_id: str | None = None, agent: str | None = None,
                      follow_up_until: str | None = None, offset: int = 0, limit: int = 50) -> Page:
        """Service records newest first: a customer's, a call's (found from its CDR), an agent's, or follow-ups
        due by a date."""
        return await self._read(lambda s: s.records(customer_id=customer_id, call_id=call_id, agent=agent,
                                                    follow_up_until=follow_up_until, offset=offset, limit=limit))


def _search_fields(search: Search) -> dict[str, Any]:
    return {f: getattr(search, f) for f in Search.__dataclass_fields__}
