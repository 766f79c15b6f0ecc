"""Limits on what a request body may be, checked once at the HTTP edge before any handler sees it.

Every route that takes a body gets `DEFAULT_JSON` (or `DEFAULT_UPLOAD` for a binary upload) unless it names
its own `BodyLimits`. The size is enforced while the body is read, so an oversized body is refused without
being buffered; a JSON body is then decoded once and walked iteratively (no recursion an attacker can
exhaust) for its nesting depth, string lengths and array/object sizes. Each refusal names its rule and limit
in `details`, so a client learns what to change: 413 for size, 415 for a content type the route does not take,
400 for a malformed or over-deep document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sanic.headers import parse_content_header
from sanic.request import RequestParameters
from sanic.request.form import parse_multipart_form

from appliance.security.errors import BodyTooLarge, MalformedBody, UnsupportedMediaType

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int = 1 * MIB
    max_depth: int = 32  # our deepest document (an IVR flow's nodes and their options) is under 10
    max_string: int = 64 * KIB  # characters in any one string, keys included
    max_items: int = 10_000  # elements of one array, or members of one object


DEFAULT_JSON = BodyLimits()
DEFAULT_UPLOAD = BodyLimits(max_bytes=16 * MIB)
WHOLE_CONFIG = BodyLimits(max_bytes=32 * MIB, max_items=1_000_000)  # an import: every entity of a kind in one array
JSON_TYPES = ("application/json",)
UPLOAD_TYPES = ("application/octet-stream", "multipart/form-data")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_declared_size(content_length: str | None, limits: BodyLimits) -> None:
    """Refuse at once a body whose declared length is over the limit (nothing of it is read)."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise MalformedBody("content_length", "the Content-Length header is not a number",
                            "Content-Length 头不是数字") from None
    if declared > limits.max_bytes:
        raise BodyTooLarge(limits.max_bytes)


def check_json_type(content_type: str | None) -> None:
    """A JSON route takes `application/json` (or a `+json` type); a body without any type is read as JSON."""
    kind = media_type(content_type)
    if kind and kind not in JSON_TYPES and not kind.endswith("+json"):
        raise UnsupportedMediaType(kind, JSON_TYPES)


def parse_multipart(content_type: str | None, body: bytes) -> tuple[RequestParameters, RequestParameters] | None:
    """A `multipart/form-data` body's fields and files (None for any other type), or a 400: a form without a
    boundary, that cannot be read or that has no part is refused here, not logged as a parser crash later."""
    kind, parameters = parse_content_header(content_type or "")
    if kind.lower() != "multipart/form-data":
        return None
    boundary = parameters.get("boundary")
    if not isinstance(boundary, str) or not boundary or len(boundary) > 70:  # RFC 2046 §5.1.1: 1-70 characters
        raise MalformedBody("multipart", "the multipart form has no valid boundary", "multipart 表单缺少有效的分隔符")
    try:
        form, files = parse_multipart_form(body, boundary.encode("utf-8"))  # type: ignore[no-untyped-call]
    except Exception:  # any parser failure on hostile bytes is the client's error, whatever its type
        form, files = RequestParameters(), RequestParameters()
    if not form and not files:
        raise MalformedBody("multipart", "the multipart form has no readable part", "multipart 表单没有可读的部分")
    return form, files


def decode_json(raw: bytes, limits: BodyLimits = DEFAULT_JSON) -> Any:
    """The decoded document, or a 400 naming the first rule it breaks."""
    if len(raw) > limits.max_bytes:
        raise BodyTooLarge(limits.max_bytes)
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedBody("json", f"the request body is not valid JSON: {exc}",
                            f"请求体不是有效的 JSON: {exc}") from None
    except RecursionError:
        # Thousands of nested arrays exhaust the decoder's own stack before our walk could count them.
        raise MalformedBody("max_depth", "the request body is nested too deeply", "请求体嵌套层级过深",
                            limit=limits.max_depth) from None
    check_shape(value, limits)
    return value


def check_shape(value: Any, limits: BodyLimits) -> None:
    """Depth, string lengths and container sizes of a decoded document, walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if len(item) > limits.max_string:
                raise MalformedBody("max_string", f"a string is longer than {limits.max_string} characters",
                                    f"字符串超过 {limits.max_string} 个字符", limit=limits.max_string)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > limits.max_depth:
            raise MalformedBody("max_depth", f"the request body is nested deeper than {limits.max_depth} levels",
                                f"请求体嵌套超过 {limits.max_depth} 层", limit=limits.max_depth)
        if len(item) > limits.max_items:
            raise MalformedBody("max_items", f"an array or object has more than {limits.max_items} elements",
                                f"数组或对象的元素超过 {limits.max_items} 个", limit=limits.max_items)
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((member, depth + 1) for member in item.values())
        else:
            stack.extend((member, depth + 1) for member in item)
