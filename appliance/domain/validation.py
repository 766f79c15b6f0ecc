"""Untrusted JSON → domain objects, or a `ValidationFailed` that names each field and rule in two languages.

Pydantic checks the input against the dataclass annotations (one TypeAdapter per entity type, built once);
its error types become our rule names and get Chinese messages here. Cross-entity rules (references,
uniqueness) are checked by the configuration service, which knows the other entities.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from appliance.errors import FieldError, ValidationFailed

T = TypeVar("T")

# pydantic error type → (rule name, Chinese template). English comes from pydantic's own message.
_RULES_ZH: dict[str, tuple[str, str]] = {
    "missing": ("required", "必填"),
    "extra_forbidden": ("unknown_field", "不允许的字段"),
    "unexpected_keyword_argument": ("unknown_field", "不允许的字段"),
    "string_type": ("type", "应为文本"),
    "int_type": ("type", "应为整数"),
    "int_parsing": ("type", "应为整数"),
    "int_from_float": ("type", "应为整数"),
    "float_type": ("type", "应为数字"),
    "float_parsing": ("type", "应为数字"),
    "bool_type": ("type", "应为真或假"),
    "bool_parsing": ("type", "应为真或假"),
    "tuple_type": ("type", "应为列表"),
    "list_type": ("type", "应为列表"),
    "dict_type": ("type", "应为对象"),
    "dataclass_type": ("type", "应为对象"),
    "model_type": ("type", "应为对象"),
    "string_too_short": ("min_length", "太短"),
    "string_too_long": ("max_length", "太长"),
    "string_pattern_mismatch": ("pattern", "格式不正确"),
    "greater_than_equal": ("minimum", "小于允许的最小值"),
    "greater_than": ("minimum", "小于允许的最小值"),
    "less_than_equal": ("maximum", "超过允许的最大值"),
    "less_than": ("maximum", "超过允许的最大值"),
    "enum": ("choice", "不是允许的选项"),
    "literal_error": ("choice", "不是允许的选项"),
    "too_short": ("min_items", "条目太少"),
    "too_long": ("max_items", "条目太多"),
    "none_required": ("type", "应为空"),
    "value_error": ("value", "取值无效"),
}


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def adapter(model: type[T]) -> TypeAdapter[T]:
    """One TypeAdapter per type, built on first use (building one is slow, using one is fast)."""
    found = _ADAPTERS.get(model)
    if found is None:
        found = _ADAPTERS[model] = TypeAdapter(model)
    return found


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(body)"


def translate(exc: PydanticValidationError) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        rule, zh = _RULES_ZH.get(err["type"], (err["type"], "取值无效"))
        path = _field_path(tuple(err["loc"]))
        ctx = err.get("ctx") or {}
        detail = ""
        if "expected" in ctx:
            detail = f"(可选: {ctx['expected']})"
        elif "ge" in ctx or "le" in ctx or "gt" in ctx or "lt" in ctx:
            detail = f"({', '.join(f'{k}={v}' for k, v in ctx.items())})"
        elif "min_length" in ctx or "max_length" in ctx:
            detail = f"({', '.join(f'{k}={v}' for k, v in ctx.items() if k.endswith('length'))})"
        out.append(
            FieldError(field=path, rule=rule, message=f"{path}: {err['msg']}", message_zh=f"{path}: {zh}{detail}")
        )
    return out


def parse(model: type[T], data: Any, what: str | None = None) -> T:
    """Validate `data` (decoded JSON) into `model`, or raise `ValidationFailed` naming every bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            [FieldError("(body)", "type", "the body must be a JSON object", "请求体应为 JSON 对象")],
            what or model.__name__,
        )
    try:
        value: T = adapter(model).validate_python(data)
        return value
    except PydanticValidationError as exc:
        raise ValidationFailed(translate(exc), what or model.__name__) from None


def dump(model: type[T], value: T) -> dict[str, Any]:
    """The JSON form of an entity (enums as values, tuples as lists)."""
    result: dict[str, Any] = adapter(model).dump_python(value, mode="json")
    return result


def json_schema(model: type[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = adapter(model).json_schema(ref_template="#/components/schemas/{model}")
    return schema
