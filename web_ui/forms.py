"""Forms drawn from the API's own JSON Schemas: one control per field, with the same limits the server checks.

The browser's limits (required, min, max, pattern) only help the user; the API validates every change again
and its field errors are shown beside the controls. Fields that are lists of structures (an access number's
time routes, a flow's nodes) are edited as JSON text, checked by the same API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from web_ui.labels import FIELD_LABELS, VALUE_LABELS

Schemas = Mapping[str, dict[str, Any]]
Translate = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class FormField:
    name: str  # dotted path in the request body
    label: str
    widget: str  # text | password | number | checkbox | select | multiselect | lines | json | group
    value: Any = None
    required: bool = False
    nullable: bool = False
    options: tuple[Option, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    max_length: int | None = None
    readonly: bool = False
    children: tuple[FormField, ...] = ()
    value_type: str = "string"  # how the browser sends it: string | integer | number | boolean | list | json

    @property
    def control_id(self) -> str:
        return "f-" + self.name.replace(".", "-")


def _resolve(schema: dict[str, Any], schemas: Schemas) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        merged = {**schemas[ref.rsplit("/", 1)[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
        return merged
    return schema


def _unwrap_null(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    variants = schema.get("anyOf")
    if variants and any(v.get("type") == "null" for v in variants):
        rest = [v for v in variants if v.get("type") != "null"]
        if len(rest) == 1:
            return {**rest[0], **{k: v for k, v in schema.items() if k != "anyOf"}}, True
    return schema, False


def value_label(value: Any, _: Translate) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return _(VALUE_LABELS[text]) if text in VALUE_LABELS else text


def build_fields(key: str | None, schema: dict[str, Any], schemas: Schemas, values: Mapping[str, Any],
                 choices: Mapping[str, tuple[str, ...]], _: Translate, *, editing: bool,
                 readonly: bool) -> tuple[FormField, ...]:
    """Controls for `schema` (a kind's input schema), filled from `values`.

    `choices` gives, for each reference field, the keys it may name (so it becomes a list to pick from).
    `key` names the field that identifies the entity: it cannot change once created (None: no such field)."""
    required = set(schema.get("required", ()))
    out: list[FormField] = []
    for name, prop in schema.get("properties", {}).items():
        if name not in FIELD_LABELS:
            continue
        locked = readonly or (editing and name == key)
        out.append(_field(name, name, prop, schemas, values.get(name), choices, _, name in required, locked))
    return tuple(out)


def _field(path: str, name: str, prop: dict[str, Any], schemas: Schemas, value: Any,
           choices: Mapping[str, tuple[str, ...]], _: Translate, required: bool, readonly: bool) -> FormField:
    prop, nullable = _unwrap_null(_resolve(prop, schemas))
    label = _(FIELD_LABELS.get(name, name))
    common: dict[str, Any] = {"name": path, "label": label, "required": required, "nullable": nullable,
                              "readonly": readonly}
    kind = prop.get("type")
    if prop.get("writeOnly"):
        return FormField(widget="password", value="", max_length=prop.get("maxLength"),
                         pattern=prop.get("pattern"), **{**common, "required": False})
    if path in choices:
        opts = tuple(Option(k, k) for k in choices[path])
        if kind == "array":
            return FormField(widget="multiselect", value=list(value or ()), options=opts, value_type="list",
                             **common)
        return FormField(widget="select", value=value, options=opts, **{**common, "nullable": True})
    if "enum" in prop:
        opts = tuple(Option(str(v), value_label(v, _)) for v in prop["enum"])
        return FormField(widget="select", value=value if value is not None else prop.get("default"), options=opts,
                         **common)
    if kind == "boolean":
        return FormField(widget="checkbox", value=bool(value if value is not None else prop.get("default")),
                         value_type="boolean", **common)
    if kind in ("integer", "number"):
        return FormField(widget="number", value=value if value is not None else prop.get("default"),
                         minimum=prop.get("minimum"), maximum=prop.get("maximum"), value_type=kind, **common)
    if kind == "object" and "properties" in prop:
        # a new entity starts from the defaults of the nested object, as the API would fill them in
        inner = value if isinstance(value, dict) else (prop.get("default") or {})
        children = tuple(
            _field(f"{path}.{sub}", sub, sp, schemas, inner.get(sub), choices, _, sub in prop.get("required", ()),
                   readonly)
            for sub, sp in prop["properties"].items()
        )
        return FormField(widget="group", children=children, value_type="group", **common)
    if kind == "array":
        items = _resolve(prop.get("items", {}), schemas)
        if items.get("type") == "string" or "enum" in items:
            return FormField(widget="lines", value="\n".join(str(v) for v in (value or ())), value_type="list",
                             **common)
        return FormField(widget="json", value=json.dumps(value if value is not None else [], ensure_ascii=False,
                                                         indent=1), value_type="json", **common)
    if value is None:
        value = prop.get("default") if isinstance(prop.get("default"), str) else ""
    return FormField(widget="text", value=value, pattern=prop.get("pattern"),
                     max_length=prop.get("maxLength"), **common)
