"""Errors of the card HAL."""

from __future__ import annotations

from appliance.errors import ApplianceError


class HalError(ApplianceError):
    """A card could not do what was asked (it refused, did not answer, or is gone)."""

    def __init__(self, message: str, message_zh: str = "", *, error_id: str = "hal_error",
                 details: dict[str, object] | None = None) -> None:
        super().__init__(message, message_zh or f"板卡错误:{message}", details=dict(details or {}),
                         error_id=error_id, http_status=503)


class CardTimeout(HalError):
    """The card did not answer a request within its time-out, after the retries."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the card did not answer {what}", f"板卡未响应:{what}", error_id="hal_timeout")


class CardRefused(HalError):
    """The card answered a request with a NAK (bad span, bad port, bad configuration)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"the card refused {what}: {reason}", f"板卡拒绝{what}:{reason}",
                         error_id="hal_refused", details={"reason": reason})


class FramingError(Exception):
    """Bytes on the control line that are not a valid frame (kept internal: the decoder resynchronises)."""
