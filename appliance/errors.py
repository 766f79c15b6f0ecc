"""Errors that cross a boundary (API, CLI, store) carry a stable id and a bilingual message.

`error_id` is a stable machine-readable code ("validation_failed", "not_found", ...); `message` is English,
`message_zh` Simplified Chinese; `details` names fields and rules so a form can point at what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule on one field (dotted path, e.g. "skills.0.level")."""

    field: str
    rule: str
    message: str
    message_zh: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message, "message_zh": self.message_zh}


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of one imported row (a spreadsheet's numbering: the header is row 1; 0: the file itself),
    as the bulk and customer imports report them."""

    row: int
    field: str
    message: str
    message_zh: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message, "message_zh": self.message_zh}


@dataclass
class ApplianceError(Exception):
    message: str
    message_zh: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    error_id: str = "error"
    http_status: int = 500

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_id": self.error_id,
            "message": self.message,
            "message_zh": self.message_zh or self.message,
            "details": self.details,
        }


class ValidationFailed(ApplianceError):
    def __init__(self, errors: list[FieldError], what: str = "input") -> None:
        names = ", ".join(sorted({e.field for e in errors}))
        super().__init__(
            message=f"invalid {what}: {names}",
            message_zh=f"输入无效: {names}",
            details={"fields": [e.to_dict() for e in errors]},
            error_id="validation_failed",
            http_status=422,
        )
        self.errors = errors


class NotFound(ApplianceError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(
            message=f"{kind} {key!r} not found",
            message_zh=f"未找到{kind} {key!r}",
            details={"kind": kind, "key": key},
            error_id="not_found",
            http_status=404,
        )


class Conflict(ApplianceError):
    def __init__(self, message: str, message_zh: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, message_zh, details or {}, error_id="conflict", http_status=409)


class Forbidden(ApplianceError):
    def __init__(self, message: str, message_zh: str, error_id: str = "forbidden") -> None:
        super().__init__(message, message_zh, {}, error_id=error_id, http_status=403)


class TelephonyOff(ApplianceError):
    """A route that needs call control, on a box started without telephony (`create_appliance(telephony=False)`):
    the route exists, so the API document is the same, and answers 503."""

    def __init__(self) -> None:
        super().__init__(
            "telephony is not running on this appliance: calls, agents and queues are unavailable",
            "本机未启用电话功能: 通话、座席和队列不可用",
            error_id="telephony_off", http_status=503,
        )
