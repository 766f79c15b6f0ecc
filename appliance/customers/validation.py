"""Validation at the edge: a JSON body or an imported row becomes a typed input, or every broken rule comes back
as a `FieldError` naming its field ("numbers.1", "fields.level"), in English and Chinese.

The same functions serve the API and the import, so a row of a spreadsheet is held to the API's rules; an
imported row's cells are text (`text=True`): "1"/"是" is true, a number or date may arrive as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from appliance.customers.errors import field_error
from appliance.customers.models import (
    CustomerInput,
    FieldDefinition,
    FieldType,
    ServiceRecordInput,
    normalise_number,
)
from appliance.errors import FieldError, ValidationFailed

MAX_NAME = 100
MAX_NUMBERS = 10
MAX_AREA = 20
MAX_NOTE = 2000
MAX_TEXT_FIELD = 500
MAX_FIELDS = 50
MAX_OPTIONS = 200
MAX_TYPE = 40
MAX_CONTENT = 4000
MAX_RESULT = 200
MAX_CALL_ID = 128
FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
EMPLOYEE_RE = re.compile(r"^[0-9]{1,20}$")  # the staff's employee number (the ACD's agent id)
_TRUE = frozenset({"1", "true", "yes", "y", "是", "√"})
_FALSE = frozenset({"", "0", "false", "no", "n", "否"})
CUSTOMER_KEYS = frozenset({"name", "numbers", "area", "account_manager", "vip", "blacklisted", "note", "fields"})
RECORD_KEYS = frozenset({"type", "content", "result", "follow_up", "call_id", "agent"})
DEFINITION_KEYS = frozenset({"name", "label", "label_zh", "type", "options", "required", "position"})

StaffExists = Callable[[str], bool]


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed([field_error("(body)", "type", "must be a JSON object", "应为 JSON 对象")], what)
    return data


def _unknown(data: Mapping[str, Any], known: frozenset[str], errors: list[FieldError]) -> None:
    for key in data:
        if key not in known:
            errors.append(field_error(str(key)[:64], "unknown", "no such field", "没有此字段"))


def _string(data: Mapping[str, Any], key: str, errors: list[FieldError], *, max_len: int, required: bool = False,
            text: bool = False) -> str:
    value = data.get(key)
    if value is None:
        value = ""
    elif text and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str):
        errors.append(field_error(key, "type", "must be text", "应为文本"))
        return ""
    value = value.strip()
    if required and not value:
        errors.append(field_error(key, "required", "required", "必填"))
    elif len(value) > max_len:
        errors.append(field_error(key, "length", f"at most {max_len} characters", f"最多 {max_len} 个字符"))
    elif any(ord(c) < 32 and c not in "\n\t" for c in value):
        errors.append(field_error(key, "characters", "control characters are not allowed", "不允许控制字符"))
    return value


def _flag(data: Mapping[str, Any], key: str, errors: list[FieldError], *, text: bool) -> bool:
    value = data.get(key, False)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if text and isinstance(value, int | float | str):
        word = str(value).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    errors.append(field_error(key, "type", "true or false", "应为 true 或 false"))
    return False


def iso_date(value: Any, *, text: bool) -> str | None:
    """An ISO date (YYYY-MM-DD), from text or from the date or date-time a spreadsheet cell holds."""
    if text and isinstance(value, datetime):
        return value.date().isoformat()
    if text and isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10] if text else value).isoformat()
        except ValueError:
            return None
    return None


def _numbers(value: Any, errors: list[FieldError], *, text: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    if text and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value))
    if text and isinstance(value, str):
        value = [part for part in re.split(r"[;,，；、|]", value) if part.strip()]
    if not isinstance(value, list):
        errors.append(field_error("numbers", "type", "a list of telephone numbers", "应为电话号码列表"))
        return ()
    if len(value) > MAX_NUMBERS:
        errors.append(field_error("numbers", "length", f"at most {MAX_NUMBERS} numbers", f"最多 {MAX_NUMBERS} 个号码"))
        return ()
    out: list[str] = []
    for i, raw in enumerate(value):
        name = "numbers" if text else f"numbers.{i}"
        number = normalise_number(raw) if isinstance(raw, str) and len(raw) <= 64 else ""
        if not number:
            errors.append(field_error(name, "format", "a telephone number (digits, an optional leading +)",
                                      "应为电话号码(数字,可以 + 开头)"))
        elif number in out:
            errors.append(field_error(name, "unique", f"{number} is listed twice", f"{number} 重复"))
        else:
            out.append(number)
    return tuple(out)


def field_value(definition: FieldDefinition, value: Any, *, text: bool) -> tuple[Any, tuple[str, str] | None]:
    """A custom field's value as stored (None: empty), or the (English, Chinese) reason it is refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    match definition.type:
        case FieldType.TEXT | FieldType.SELECT:
            if text and isinstance(value, int | float) and not isinstance(value, bool):
                value = str(int(value)) if float(value).is_integer() else str(value)
            if not isinstance(value, str):
                return None, ("must be text", "应为文本")
            value = value.strip()
            if len(value) > MAX_TEXT_FIELD:
                return None, (f"at most {MAX_TEXT_FIELD} characters", f"最多 {MAX_TEXT_FIELD} 个字符")
            if definition.type is FieldType.SELECT and value not in definition.options:
                return None, (f"one of: {', '.join(definition.options)[:300]}",
                              f"应为以下之一: {', '.join(definition.options)[:300]}")
            return value, None
        case FieldType.NUMBER:
            if text and isinstance(value, str):
                try:
                    value = float(value.strip())
                except ValueError:
                    return None, ("must be a number", "应为数字")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return None, ("must be a number", "应为数字")
            return (int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)), None
        case FieldType.DATE:
            day = iso_date(value, text=text)
            if day is None:
                return None, ("a date as YYYY-MM-DD", "应为日期 YYYY-MM-DD")
            return day, None


def customer_input(data: Any, definitions: Mapping[str, FieldDefinition], staff_exists: StaffExists, *,
                   text: bool = False, what: str = "customer") -> CustomerInput:
    """A customer from a JSON object, or from an imported row (`text`, with custom fields by name)."""
    body = _object(data, what)
    errors: list[FieldError] = []
    if not text:
        _unknown(body, CUSTOMER_KEYS, errors)
    name = _string(body, "name", errors, max_len=MAX_NAME, required=True, text=text)
    numbers = _numbers(body.get("numbers"), errors, text=text)
    area = _string(body, "area", errors, max_len=MAX_AREA, text=text)
    note = _string(body, "note", errors, max_len=MAX_NOTE, text=text)
    manager = _string(body, "account_manager", errors, max_len=20, text=text) or None
    if manager is not None and not (EMPLOYEE_RE.match(manager) and staff_exists(manager)):
        errors.append(field_error("account_manager", "reference", f"no staff member {manager}",
                                  f"没有工号为 {manager} 的员工"))
    values: dict[str, Any] = {}
    raw_fields = body.get("fields", {}) if not text else {k: v for k, v in body.items() if k in definitions}
    if raw_fields is None:
        raw_fields = {}
    if not isinstance(raw_fields, dict) or len(raw_fields) > MAX_FIELDS:
        errors.append(field_error("fields", "type", "an object of custom field values", "应为自定义字段的对象"))
        raw_fields = {}
    for key, raw in raw_fields.items():
        definition = definitions.get(key)
        label = key if text else f"fields.{key}"
        if definition is None:
            errors.append(field_error(f"fields.{str(key)[:32]}", "unknown", "no such custom field", "没有此自定义字段"))
            continue
        value, problem = field_value(definition, raw, text=text)
        if problem is not None:
            errors.append(field_error(label, "value", *problem))
        elif value is not None:
            values[key] = value
    for definition in definitions.values():
        if definition.required and definition.name not in values and not any(
                e.field in (definition.name, f"fields.{definition.name}") for e in errors):
            errors.append(field_error(definition.name if text else f"fields.{definition.name}", "required",
                                      "required", "必填"))
    vip = _flag(body, "vip", errors, text=text)
    blacklisted = _flag(body, "blacklisted", errors, text=text)
    if errors:
        raise ValidationFailed(errors, what)
    return CustomerInput(name=name, numbers=numbers, area=area, account_manager=manager, vip=vip,
                         blacklisted=blacklisted, note=note, fields=values)


def record_input(data: Any, staff_exists: StaffExists) -> ServiceRecordInput:
    body = _object(data, "service record")
    errors: list[FieldError] = []
    _unknown(body, RECORD_KEYS, errors)
    kind = _string(body, "type", errors, max_len=MAX_TYPE, required=True)
    content = _string(body, "content", errors, max_len=MAX_CONTENT)
    result = _string(body, "result", errors, max_len=MAX_RESULT)
    call_id = _string(body, "call_id", errors, max_len=MAX_CALL_ID) or None
    agent = _string(body, "agent", errors, max_len=20) or None
    if agent is not None and not (EMPLOYEE_RE.match(agent) and staff_exists(agent)):
        errors.append(field_error("agent", "reference", f"no staff member {agent}", f"没有工号为 {agent} 的员工"))
    follow_up = None
    if body.get("follow_up") not in (None, ""):
        follow_up = iso_date(body.get("follow_up"), text=False)
        if follow_up is None:
            errors.append(field_error("follow_up", "format", "a date as YYYY-MM-DD", "应为日期 YYYY-MM-DD"))
    if errors:
        raise ValidationFailed(errors, "service record")
    return ServiceRecordInput(type=kind, content=content, result=result, follow_up=follow_up, call_id=call_id,
                              agent=agent)


def definition_input(data: Any, *, name: str | None = None) -> FieldDefinition:
    """A custom field's definition; `name` when it comes from the path (a replacement keeps its name)."""
    body = _object(data, "custom field")
    errors: list[FieldError] = []
    _unknown(body, DEFINITION_KEYS, errors)
    key = name if name is not None else _string(body, "name", errors, max_len=32, required=True)
    if key and not FIELD_NAME_RE.match(key):
        errors.append(field_error("name", "format", "lower-case letters, digits and _, starting with a letter",
                                  "小写字母、数字和下划线,以字母开头"))
    if key in CUSTOMER_KEYS or key == "id":
        errors.append(field_error("name", "reserved", "the name of a built-in field", "与内置字段同名"))
    label = _string(body, "label", errors, max_len=60, required=True)
    label_zh = _string(body, "label_zh", errors, max_len=60) or label
    try:
        kind = FieldType(body.get("type", "text"))
    except ValueError:
        errors.append(field_error("type", "enum", "text, number, date or select", "应为 text、number、date 或 select"))
        kind = FieldType.TEXT
    options_raw = body.get("options", [])
    options: list[str] = []
    if not isinstance(options_raw, list) or len(options_raw) > MAX_OPTIONS:
        errors.append(field_error("options", "type", f"a list of at most {MAX_OPTIONS} entries",
                                  f"应为最多 {MAX_OPTIONS} 项的列表"))
    else:
        for i, option in enumerate(options_raw):
            if not isinstance(option, str) or not 0 < len(option.strip()) <= 100:
                errors.append(field_error(f"options.{i}", "type", "1 to 100 characters of text", "应为 1 到 100 个字符"))
            elif option.strip() in options:
                errors.append(field_error(f"options.{i}", "unique", "listed twice", "重复"))
            else:
                options.append(option.strip())
    if kind is FieldType.SELECT and not options and not any(e.field.startswith("options") for e in errors):
        errors.append(field_error("options", "required", "a select field needs its dictionary entries",
                                  "下拉字段需要字典选项"))
    required = body.get("required", False)
    if not isinstance(required, bool):
        errors.append(field_error("required", "type", "true or false", "应为 true 或 false"))
    position = body.get("position", 0)
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 1000:
        errors.append(field_error("position", "range", "an integer from 0 to 1000", "应为 0 到 1000 之间的整数"))
    if errors:
        raise ValidationFailed(errors, "custom field")
    return FieldDefinition(name=key, label=label, label_zh=label_zh, type=kind,
                           options=tuple(options) if kind is FieldType.SELECT else (), required=bool(required),
                           position=int(position))
