"""Customers, their numbers and custom fields, and service records, as frozen dataclasses.

Numbers are kept normalised (`normalise_number`), so the caller ID a trunk presents and the number an agent
typed meet in one index whatever spaces, dashes or country prefix either carried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from appliance.errors import RowError

# China's country code: the box's customers and trunks are Chinese (seeds), so +86 numbers are kept in the
# national form a trunk presents them in; any other country keeps "+" and its code.
COUNTRY_CODE = "86"
_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")
NUMBER_RE = re.compile(r"^\+?[0-9]{3,32}$")


def normalise_number(raw: str) -> str:
    """The number as stored and looked up, or "" when `raw` is not a telephone number.

    Separators (spaces, dashes, dots, brackets) go; `00` becomes `+`; `+86` numbers become national: a
    mobile (1 and ten digits) stays as it is, a fixed line gets its trunk prefix 0 (`+86 10 8888 6666` →
    `01088886666`). A mobile with a toll prefix (`013812345678`, as some carriers present calls from another
    city) loses the 0, so it meets the same mobile typed without it."""
    number = _SEPARATORS.sub("", raw.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    if number.startswith("+" + COUNTRY_CODE):
        national = number[1 + len(COUNTRY_CODE):]
        number = national if (len(national) == 11 and national.startswith("1")) else "0" + national.lstrip("0")
    if len(number) == 12 and number.startswith("01") and number[2] in "3456789":
        number = number[1:]
    return number if NUMBER_RE.match(number) else ""


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"  # an ISO date, YYYY-MM-DD
    SELECT = "select"  # one of the field's dictionary entries (数据字典)


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldDefinition:
    """A custom customer field (自定义客户列表字段); `options` is the select field's dictionary."""

    name: str
    label: str
    label_zh: str
    type: FieldType
    options: tuple[str, ...] = ()
    required: bool = False
    position: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "label_zh": self.label_zh, "type": self.type.value,
                "options": list(self.options), "required": self.required, "position": self.position}


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerInput:
    """A customer as validated at the edge (`validation.customer_input`), before the store gives it an id."""

    name: str
    numbers: tuple[str, ...] = ()
    area: str = ""  # compared with agents' locality by the ACD
    account_manager: str | None = None  # employee number of the dedicated agent (专属座席), as the ACD names it
    vip: bool = False
    blacklisted: bool = False
    note: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer(CustomerInput):
    id: int
    created: float
    updated: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "numbers": list(self.numbers), "area": self.area,
                "account_manager": self.account_manager, "vip": self.vip, "blacklisted": self.blacklisted,
                "note": self.note, "fields": dict(self.fields), "created": self.created, "updated": self.updated}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRecordInput:
    """What an agent writes about a contact (服务记录): with the call it was about when there was one."""

    type: str
    content: str = ""
    result: str = ""
    follow_up: str | None = None  # an ISO date
    call_id: str | None = None  # the CDR's call id (its recordings are found from it)
    agent: str | None = None  # employee number of the agent who served


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRecord(ServiceRecordInput):
    id: int
    customer_id: int
    created: float
    updated: float
    by: str  # the account that saved it

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "customer_id": self.customer_id, "type": self.type, "content": self.content,
                "result": self.result, "follow_up": self.follow_up, "call_id": self.call_id, "agent": self.agent,
                "created": self.created, "updated": self.updated, "by": self.by}


@dataclass(frozen=True, slots=True, kw_only=True)
class Search:
    """A customer search. `text` matches the name's start, or a number's start when it reads as a number;
    `field`/`value` match a custom field exactly. `managers`: the account managers whose customers the
    viewer may list (None: everyone's); customers without one are everyone's (公海)."""

    text: str = ""
    field: str | None = None
    value: str | None = None
    vip: bool | None = None
    blacklisted: bool | None = None
    account_manager: str | None = None
    managers: frozenset[str] | None = None
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportResult:
    rows: int  # data rows read
    created: int
    updated: int
    failed: int  # rows left out for their errors
    errors: tuple[RowError, ...]  # the first MAX_IMPORT_ERRORS
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated, "failed": self.failed,
                "errors": [e.to_dict() for e in self.errors], "dry_run": self.dry_run}
