"""Errors of the reports context."""

from __future__ import annotations

from appliance.errors import FieldError, ValidationFailed


class BadParameter(ValidationFailed):
    """A report's query parameter is wrong: 400, naming the field (the request, not a stored entity)."""

    def __init__(self, name: str, rule: str, message: str, message_zh: str) -> None:
        super().__init__([FieldError(name, rule, f"{name}: {message}", f"{name}: {message_zh}")], "report parameter")
        self.http_status = 400
