"""Customer events (`customers.*`): a customer created, changed or deleted, an import done, a service record
saved. They carry ids, not personal data: a consumer reads the customer through the API, within its scope.
A service record's event names its `agent`, so that agent's own desk hears of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from appliance.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCreated(Event):
    topic: ClassVar[str] = "customers.created"
    customer_id: int
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerUpdated(Event):
    topic: ClassVar[str] = "customers.updated"
    customer_id: int
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerDeleted(Event):
    topic: ClassVar[str] = "customers.deleted"
    customer_id: int
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomersImported(Event):
    topic: ClassVar[str] = "customers.imported"
    created: int
    updated: int
    failed: int
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRecordSaved(Event):
    topic: ClassVar[str] = "customers.service_record_saved"
    record_id: int
    customer_id: int
    call_id: str  # "" when the record belongs to no call
    agent: str  # "" when no agent is named
    by: str
    created: bool  # a new record, or a change to one
