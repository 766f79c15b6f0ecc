"""Refusals at the HTTP edge: each names the rule it applies (`details.rule`) and, where one exists, the limit."""

from __future__ import annotations

from appliance.errors import ApplianceError


class BodyTooLarge(ApplianceError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request body is larger than this route takes ({limit} bytes)",
            f"请求体超过此接口的上限 ({limit} 字节)",
            {"rule": "max_bytes", "limit": limit},
            error_id="body_too_large",
            http_status=413,
        )


class UnsupportedMediaType(ApplianceError):
    def __init__(self, given: str, accepted: tuple[str, ...]) -> None:
        super().__init__(
            f"this route does not take {given!r} bodies; send one of: {', '.join(accepted)}",
            f"此接口不接受 {given!r} 类型的请求体,应为: {', '.join(accepted)}",
            {"rule": "content_type", "given": given, "accepted": list(accepted)},
            error_id="unsupported_media_type",
            http_status=415,
        )


class MalformedBody(ApplianceError):
    def __init__(self, rule: str, message: str, message_zh: str, *, limit: int | None = None) -> None:
        details: dict[str, object] = {"rule": rule}
        if limit is not None:
            details["limit"] = limit
        super().__init__(message, message_zh, details, error_id="bad_json" if rule != "multipart" else "bad_upload",
                         http_status=400)
