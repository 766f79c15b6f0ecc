"""Flow import/export as JSON, with a JSON Schema.

A pydantic `TypeAdapter` checks untrusted JSON against the dataclass annotations of `models.py` (the
schema is generated from the same annotations, so the two cannot drift); its errors are turned into
`FieldError`s with English and Chinese messages. Graph rules are `validation.py`'s job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticError

from appliance.errors import FieldError, ValidationFailed
from appliance.ivr.models import Flow

EXPORT_FORMAT = "callcenter-ivr-flows"
EXPORT_VERSION = 1

_ZH = {
    "missing": "缺少必填项",
    "literal_error": "取值不在允许范围内",
    "string_type": "必须是文本",
    "int_type": "必须是整数",
    "int_parsing": "必须是整数",
    "int_from_float": "必须是整数",
    "float_type": "必须是数字",
    "float_parsing": "必须是数字",
    "bool_type": "必须是 true 或 false",
    "bool_parsing": "必须是 true 或 false",
    "tuple_type": "必须是列表",
    "union_tag_invalid": "未知的节点类型",
    "union_tag_not_found": "缺少节点类型 kind",
    "json_invalid": "不是有效的 JSON",
    "dataclass_type": "必须是对象",
    "model_type": "必须是对象",
}


@cache
def _adapter() -> TypeAdapter[Flow]:
    # Built once per process on first use; a cached function keeps module import cheap and state-free.
    return TypeAdapter(Flow)


def _field_errors(exc: PydanticError) -> list[FieldError]:
    out: list[FieldError] = []
    for e in exc.errors():
        # pydantic puts the union tag ("menu") into the location; drop it so paths match the JSON document.
        raw = list(e["loc"])
        loc = [
            str(p)
            for i, p in enumerate(raw)
            if not (i >= 2 and raw[i - 2] == "nodes" and isinstance(raw[i - 1], int) and p in _NODE_KINDS)
        ]
        path = ".".join(loc) or "flow"
        zh = _ZH.get(e["type"], "取值无效")
        out.append(FieldError(path, e["type"], f"{path}: {e['msg']}", f"{path}: {zh}"))
    return out


_NODE_KINDS = frozenset(
    {"play", "menu", "collect", "queue", "extension", "voicemail", "external", "goto_flow", "back_to_parent",
     "back_to_top", "hangup", "set_variable", "condition", "http", "language", "survey", "callback"}
)


def flow_from_data(data: Any) -> Flow:
    """A `Flow` from decoded JSON (dict); raises `ValidationFailed` naming each bad field."""
    try:
        return _adapter().validate_python(data)
    except PydanticError as exc:
        raise ValidationFailed(_field_errors(exc), what="flow") from None


def flow_from_json(text: str | bytes) -> Flow:
    try:
        return _adapter().validate_json(text)
    except PydanticError as exc:
        raise ValidationFailed(_field_errors(exc), what="flow") from None


def flow_to_data(flow: Flow) -> dict[str, Any]:
    data: dict[str, Any] = _adapter().dump_python(flow, mode="json")
    return data


def flow_to_json(flow: Flow) -> str:
    return json.dumps(flow_to_data(flow), ensure_ascii=False, indent=2)


def flow_json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = _adapter().json_schema()
    schema["title"] = "IVR flow"
    return schema


def export_flows(flows: Iterable[Flow]) -> str:
    """A document an administrator downloads and can import on another box."""
    doc = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "flows": [flow_to_data(f) for f in flows]}
    return json.dumps(doc, ensure_ascii=False, indent=2)


def import_flows(text: str | bytes) -> list[Flow]:
    try:
        doc = json.loads(text)
    except ValueError:
        raise ValidationFailed(
            [FieldError("file", "json_invalid", "file: not a JSON document", "file: 不是有效的 JSON 文件")],
            what="flow export",
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT or not isinstance(doc.get("flows"), list):
        raise ValidationFailed(
            [FieldError("format", "wrong_format", f"format: not an IVR flow export ({EXPORT_FORMAT})",
                        "format: 不是语音导航流程导出文件")],
            what="flow export",
        )
    flows: list[Flow] = []
    errors: list[FieldError] = []
    for i, item in enumerate(doc["flows"]):
        try:
            flows.append(flow_from_data(item))
        except ValidationFailed as exc:
            errors += [FieldError(f"flows.{i}.{e.field}", e.rule, e.message, e.message_zh) for e in exc.errors]
    if errors:
        raise ValidationFailed(errors, what="flow export")
    return flows
