"""Errors of the customers context: each reaches a user as a 4xx naming the field or row."""

from __future__ import annotations

from typing import Any

from appliance.errors import ApplianceError, Conflict, FieldError, NotFound, ValidationFailed


def field_error(name: str, rule: str, message: str, message_zh: str) -> FieldError:
    """A `FieldError` whose messages start with the field's name, as every other context writes them."""
    return FieldError(name, rule, f"{name}: {message}", f"{name}: {message_zh}")


class BadParameter(ValidationFailed):
    """A query parameter is wrong: 400, naming it (the request's shape, not a stored entity)."""

    def __init__(self, name: str, rule: str, message: str, message_zh: str) -> None:
        super().__init__([field_error(name, rule, message, message_zh)], "parameter")
        self.http_status = 400


class CustomerNotFound(NotFound):
    def __init__(self, customer_id: int | str) -> None:
        super().__init__("customer", str(customer_id))


class ServiceRecordNotFound(NotFound):
    def __init__(self, record_id: int | str) -> None:
        super().__init__("service record", str(record_id))


class FieldDefinitionNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__("custom field", name)


class NumberTaken(Conflict):
    """A number already belongs to another customer: a number pops one customer, so it is theirs alone."""

    def __init__(self, number: str, owner: int, field: str = "numbers") -> None:
        super().__init__(
            f"{field}: the number {number} already belongs to customer {owner}",
            f"{field}: 号码 {number} 已属于客户 {owner}",
            {"fields": [field_error(field, "unique", f"{number} already belongs to customer {owner}",
                                    f"{number} 已属于客户 {owner}").to_dict()], "owner": owner},
        )


class HasServiceRecords(Conflict):
    def __init__(self, customer_id: int, count: int) -> None:
        super().__init__(
            f"customer {customer_id} has {count} service records; they are kept with the calls they belong to",
            f"客户 {customer_id} 有 {count} 条服务记录,与其通话关联,不能删除",
            {"service_records": count},
        )


class ImportUnreadable(ApplianceError):
    """The uploaded file is not a CSV or .xlsx file this box can read, or lacks a required column."""

    def __init__(self, message: str, message_zh: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, message_zh, details or {}, error_id="import_unreadable", http_status=422)
