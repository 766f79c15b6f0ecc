"""Customer routes: `/api/v1/customers` (search, CRUD, numbers, look-up for the screen pop, import, export), their
service records, `/api/v1/service-records` (by call, agent, follow-up date) and `/api/v1/customer-fields`.

Who may do what:
- Every role reads: the screen pop looks up any caller, and a transferred call's record follows it to the
  next agent. Lists and exports are scoped, as staff are: an agent lists the customers they manage and the
  unassigned ones (公海); a supervisor those of the staff in the groups they manage and themself, and the
  unassigned; admins and QA all of them.
- Every role creates and edits customers (the desk's new-customer form); only supervisors and admins set the
  account manager, VIP and blacklist flags, delete, import and export. Custom fields are the admins'.
- Every role writes service records; an agent changes only their own.
Bad input is a 4xx naming the field (or the row, for an import); a customer id that is not a number is 404.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE, WRITE_CONFIG, Session
from appliance.configuration.service import ConfigService
from appliance.customers.errors import BadParameter, CustomerNotFound, ServiceRecordNotFound
from appliance.customers.exchange import export_customers, file_format, import_customers
from appliance.customers.models import Customer, FieldType, Search, normalise_number
from appliance.customers.service import CustomerService
from appliance.customers.validation import CUSTOMER_KEYS, definition_input
from appliance.domain.models import Role
from appliance.errors import Forbidden
from appliance.http_api import Api, Param, body_of, int_arg, ok, session_of, source_of
from appliance.security.request_limits import MIB, BodyLimits

MANAGERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
IMPORT_LIMITS = BodyLimits(max_bytes=64 * MIB)  # 100,000 rows of .xlsx are about 5 MiB; CSV about 10 MiB
MANAGED_FIELDS = ("account_manager", "vip", "blacklisted")
CHUNK = 256 * 1024

_NULL_STR = {"type": ["string", "null"]}
CUSTOMER = {"type": "object", "required": ["id", "name", "numbers", "fields"], "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "numbers": {"type": "array", "items": {"type": "string"}},
    "area": {"type": "string"}, "account_manager": _NULL_STR, "vip": {"type": "boolean"},
    "blacklisted": {"type": "boolean"}, "note": {"type": "string"}, "fields": {"type": "object"},
    "created": {"type": "number"}, "updated": {"type": "number"}}}
CUSTOMER_IN = {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "numbers": {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 64}},
    "area": {"type": "string", "maxLength": 20}, "account_manager": {"type": ["string", "null"], "maxLength": 20},
    "vip": {"type": "boolean"}, "blacklisted": {"type": "boolean"}, "note": {"type": "string", "maxLength": 2000},
    "fields": {"type": "object", "description": "custom field values by name (see /api/v1/customer-fields)"}}}
RECORD = {"type": "object", "required": ["id", "customer_id", "type"], "properties": {
    "id": {"type": "integer"}, "customer_id": {"type": "integer"}, "type": {"type": "string"},
    "content": {"type": "string"}, "result": {"type": "string"}, "follow_up": _NULL_STR, "call_id": _NULL_STR,
    "agent": _NULL_STR, "created": {"type": "number"}, "updated": {"type": "number"}, "by": {"type": "string"}}}
RECORD_IN = {"type": "object", "required": ["type"], "additionalProperties": False, "properties": {
    "type": {"type": "string", "minLength": 1, "maxLength": 40}, "content": {"type": "string", "maxLength": 4000},
    "result": {"type": "string", "maxLength": 200},
    "follow_up": {"type": ["string", "null"], "format": "date", "description": "YYYY-MM-DD"},
    "call_id": {"type": ["string", "null"], "maxLength": 128, "description": "the CDR's call id"},
    "agent": {"type": ["string", "null"], "maxLength": 20, "description": "the serving agent's employee number"}}}
DEFINITION = {"type": "object", "required": ["name", "label", "type"], "properties": {
    "name": {"type": "string"}, "label": {"type": "string"}, "label_zh": {"type": "string"},
    "type": {"type": "string", "enum": [t.value for t in FieldType]},
    "options": {"type": "array", "items": {"type": "string"}}, "required": {"type": "boolean"},
    "position": {"type": "integer"}}}
DEFINITION_IN = {"type": "object", "required": ["label"], "additionalProperties": False, "properties": {
    "label": {"type": "string", "minLength": 1, "maxLength": 60}, "label_zh": {"type": "string", "maxLength": 60},
    "type": {"type": "string", "enum": [t.value for t in FieldType]},
    "options": {"type": "array", "maxItems": 200, "items": {"type": "string", "minLength": 1, "maxLength": 100}},
    "required": {"type": "boolean"}, "position": {"type": "integer", "minimum": 0, "maximum": 1000}}}
POP = {"type": "object", "required": ["number", "customer", "source"], "properties": {
    "number": {"type": "string"}, "customer": {"oneOf": [CUSTOMER, {"type": "null"}]},
    "external": {"type": ["object", "null"]}, "external_error": _NULL_STR,
    "source": {"type": "string", "enum": ["external", "local", "none"]}}}
IMPORT_RESULT = {"type": "object", "required": ["rows", "created", "updated", "failed", "errors"], "properties": {
    "rows": {"type": "integer"}, "created": {"type": "integer"}, "updated": {"type": "integer"},
    "failed": {"type": "integer"}, "dry_run": {"type": "boolean"},
    "errors": {"type": "array", "items": {"type": "object", "properties": {
        "row": {"type": "integer"}, "field": {"type": "string"}, "message": {"type": "string"},
        "message_zh": {"type": "string"}}}}}}


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "total", "offset", "limit"], "properties": {
        "items": {"type": "array", "items": item}, "total": {"type": "integer"}, "offset": {"type": "integer"},
        "limit": {"type": "integer"}}}


def _id(raw: str, missing: type[CustomerNotFound] | type[ServiceRecordNotFound]) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise missing(raw[:40])
    return int(raw)


def _flag_arg(request: Request, name: str) -> bool | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise BadParameter(name, "type", "true or false", "应为 true 或 false")


def _text_arg(request: Request, name: str, max_len: int = 100) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if len(raw) > max_len:
        raise BadParameter(name, "length", f"at most {max_len} characters", f"最多 {max_len} 个字符")
    return str(raw)


def visible_managers(config: ConfigService, session: Session) -> frozenset[str] | None:
    """The account managers whose customers a session may list (None: all of them), by the staff data scope;
    the unassigned customers are everyone's."""
    scope = config.scope_of(session.role, session.staff)
    if scope.everyone:
        return None
    visible = {str(s.employee_no) for s in config.store.list("staff")
               if scope.sees_staff(str(s.employee_no), s.work_group or None)}
    return frozenset(visible | ({session.staff} if session.staff else set()))


def make_blueprint(api: Api, service: CustomerService, config: ConfigService) -> Blueprint:
    bp = Blueprint("customers", url_prefix="")

    def managers_of(request: Request) -> frozenset[str] | None:
        return visible_managers(config, session_of(request))

    def search_of(request: Request) -> Search:
        field, value = _text_arg(request, "field", 32), _text_arg(request, "value", 500)
        if (field is None) != (value is None):
            raise BadParameter("field" if field is None else "value", "required", "field and value go together",
                               "field 与 value 须同时给出")
        if field is not None:
            service.definition(field)  # 404 for a field that does not exist
        return Search(text=_text_arg(request, "q") or "", field=field, value=value, vip=_flag_arg(request, "vip"),
                      blacklisted=_flag_arg(request, "blacklisted"),
                      account_manager=_text_arg(request, "account_manager", 20), managers=managers_of(request),
                      offset=int_arg(request, "offset", 0, 0, 10_000_000), limit=int_arg(request, "limit", 50, 1, 500))

    def check_managed(request: Request, before: Customer | None, after: dict[str, Any]) -> None:
        if session_of(request).role in MANAGERS:
            return
        defaults: dict[str, Any] = {"account_manager": None, "vip": False, "blacklisted": False}
        for name in MANAGED_FIELDS:
            old = getattr(before, name) if before is not None else defaults[name]
            if name in after and after[name] != old and not (old is None and after[name] in (None, "")):
                raise Forbidden(f"{name}: only supervisors and admins set it", f"{name}: 仅班长和管理员可以设置")

    async def search(request: Request) -> HTTPResponse:
        page = await service.search(search_of(request))
        return ok({"items": [c.to_dict() for c in page.items], "total": page.total, "offset": page.offset,
                   "limit": page.limit})

    async def lookup(request: Request) -> HTTPResponse:
        number = _text_arg(request, "number", 64)
        if not number or not normalise_number(number):
            raise BadParameter("number", "format", "a telephone number", "应为电话号码")
        return ok((await service.pop(number)).to_dict())

    async def create(request: Request) -> HTTPResponse:
        body = body_of(request)
        data = service.parse_customer(body)
        check_managed(request, None, body)
        return ok((await service.create(data, session_of(request).user, source_of(request))).to_dict(), status=201)

    async def get(request: Request, customer_id: str) -> HTTPResponse:
        return ok((await service.get(_id(customer_id, CustomerNotFound))).to_dict())

    async def change(request: Request, customer_id: str, *, merge: bool) -> HTTPResponse:
        before = await service.get(_id(customer_id, CustomerNotFound))
        body = body_of(request)
        if merge and isinstance(body, dict):
            current = {k: v for k, v in before.to_dict().items() if k in CUSTOMER_KEYS}
            fields = body.get("fields", {})
            if isinstance(fields, dict):  # merged too; a field set to null is removed
                merged = {**current["fields"], **fields}
                fields = {k: v for k, v in merged.items() if v is not None}
            body = {**current, **body, "fields": fields}
        data = service.parse_customer(body)
        check_managed(request, before, body)
        return ok((await service.update(before.id, data, session_of(request).user, source_of(request))).to_dict())

    async def replace(request: Request, customer_id: str) -> HTTPResponse:
        return await change(request, customer_id, merge=False)

    async def patch(request: Request, customer_id: str) -> HTTPResponse:
        return await change(request, customer_id, merge=True)

    async def delete(request: Request, customer_id: str) -> HTTPResponse:
        await service.delete(_id(customer_id, CustomerNotFound), session_of(request).user, source_of(request))
        return HTTPResponse(status=204)

    async def add_number(request: Request, customer_id: str) -> HTTPResponse:
        before = await service.get(_id(customer_id, CustomerNotFound))
        body = body_of(request)
        raw = body.get("number") if isinstance(body, dict) else None
        data = service.parse_customer({**{k: v for k, v in before.to_dict().items() if k in CUSTOMER_KEYS},
                                       "numbers": [*before.numbers, raw]})
        return ok((await service.update(before.id, data, session_of(request).user, source_of(request))).to_dict(), status=201)

    async def remove_number(request: Request, customer_id: str, number: str) -> HTTPResponse:
        before = await service.get(_id(customer_id, CustomerNotFound))
        normal = normalise_number(number[:64])
        if normal not in before.numbers:
            raise CustomerNotFound(f"{before.id}/numbers/{number[:40]}")
        data = service.parse_customer({**{k: v for k, v in before.to_dict().items() if k in CUSTOMER_KEYS},
                                       "numbers": [n for n in before.numbers if n != normal]})
        return ok((await service.update(before.id, data, session_of(request).user, source_of(request))).to_dict())

    async def customer_records(request: Request, customer_id: str) -> HTTPResponse:
        customer = await service.get(_id(customer_id, CustomerNotFound))
        page = await service.records(customer_id=customer.id, offset=int_arg(request, "offset", 0, 0, 10_000_000),
                                     limit=int_arg(request, "limit", 50, 1, 500))
        return ok({"items": [r.to_dict() for r in page.items], "total": page.total, "offset": page.offset,
                   "limit": page.limit})

    async def add_record(request: Request, customer_id: str) -> HTTPResponse:
        customer = await service.get(_id(customer_id, CustomerNotFound))
        data = service.parse_record(body_of(request))
        session = session_of(request)
        if session.role == Role.AGENT and data.agent not in (None, session.staff):
            raise Forbidden("agent: agents write records in their own name", "agent: 座席只能以自己的名义记录")
        if data.agent is None and session.role == Role.AGENT and session.staff:
            data = type(data)(**{**_record_input(data), "agent": session.staff})
        return ok((await service.add_record(customer.id, data, session.user)).to_dict(), status=201)

    async def records(request: Request) -> HTTPResponse:
        until = _text_arg(request, "follow_up_until", 10)
        if until is not None:
            try:
                until = date.fromisoformat(until).isoformat()
            except ValueError:
                raise BadParameter("follow_up_until", "format", "a date as YYYY-MM-DD", "应为日期 YYYY-MM-DD") from None
        raw_customer = _text_arg(request, "customer_id", 18)
        customer_id = None
        if raw_customer is not None:
            if not raw_customer.isascii() or not raw_customer.isdigit():
                raise BadParameter("customer_id", "type", "a customer id", "应为客户编号")
            customer_id = int(raw_customer)
        page = await service.records(customer_id=customer_id, call_id=_text_arg(request, "call_id", 128),
                                     agent=_text_arg(request, "agent", 20), follow_up_until=until,
                                     offset=int_arg(request, "offset", 0, 0, 10_000_000),
                                     limit=int_arg(request, "limit", 50, 1, 500))
        return ok({"items": [r.to_dict() for r in page.items], "total": page.total, "offset": page.offset,
                   "limit": page.limit})

    async def get_record(request: Request, record_id: str) -> HTTPResponse:
        return ok((await service.record(_id(record_id, ServiceRecordNotFound))).to_dict())

    async def change_record(request: Request, record_id: str) -> HTTPResponse:
        before = await service.record(_id(record_id, ServiceRecordNotFound))
        session = session_of(request)
        if session.role == Role.AGENT and before.agent != session.staff and before.by != session.user:
            raise Forbidden("agents change only their own service records", "座席只能修改自己的服务记录")
        data = service.parse_record(body_of(request))
        if session.role == Role.AGENT and data.agent not in (None, session.staff):
            raise Forbidden("agent: agents write records in their own name", "agent: 座席只能以自己的名义记录")
        return ok((await service.update_record(before.id, data, session.user)).to_dict())

    async def list_fields(request: Request) -> HTTPResponse:
        items = [d.to_dict() for d in service.definitions()]
        return ok({"items": items, "total": len(items), "offset": 0, "limit": len(items)})

    async def put_field(request: Request, name: str) -> HTTPResponse:
        definition = definition_input(body_of(request), name=name[:40])
        await service.put_definition(definition, session_of(request).user, source_of(request))
        return ok(definition.to_dict())

    async def delete_field(request: Request, name: str) -> HTTPResponse:
        await service.delete_definition(name, session_of(request).user, source_of(request))
        return HTTPResponse(status=204)

    async def import_(request: Request) -> HTTPResponse:
        fmt_arg = _text_arg(request, "format", 8)
        if fmt_arg not in (None, "", "csv", "xlsx"):
            raise BadParameter("format", "enum", "csv or xlsx", "应为 csv 或 xlsx")
        dry_run = bool(_flag_arg(request, "dry_run"))
        data = bytes(request.files["file"][0].body) if request.files and "file" in request.files else request.body
        if not data:
            raise BadParameter("file", "required", "no file was uploaded", "未上传文件")
        fmt = file_format(fmt_arg or None, data)
        result = await asyncio.to_thread(import_customers, service, fmt, data, dry_run=dry_run)
        if not dry_run:
            service.customers_imported(result.created, result.updated, result.failed, session_of(request).user,
                                       source_of(request))
        return ok(result.to_dict())

    async def export(request: Request) -> HTTPResponse:
        fmt = _text_arg(request, "format", 8) or "csv"
        if fmt not in ("csv", "xlsx"):
            raise BadParameter("format", "enum", "csv or xlsx", "应为 csv 或 xlsx")
        language = _text_arg(request, "lang", 8) or "en"
        if language not in ("en", "zh"):
            raise BadParameter("lang", "enum", "en or zh (the headings' language)", "应为 en 或 zh(列标题的语言)")
        query = Search(vip=_flag_arg(request, "vip"), blacklisted=_flag_arg(request, "blacklisted"),
                       managers=managers_of(request))
        path = await asyncio.to_thread(export_customers, service, fmt, query, Path(tempfile.gettempdir()),
                                       language)
        source = await asyncio.to_thread(path.open, "rb")
        path.unlink(missing_ok=True)  # the open file is all that is left of it
        try:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
            media = ("text/csv; charset=utf-8" if fmt == "csv"
                     else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            response = await request.respond(content_type=media, headers={
                "Content-Disposition": f'attachment; filename="customers-{stamp}.{fmt}"'})
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                await response.send(chunk)
            await response.eof()
        finally:
            source.close()
        return None  # type: ignore[return-value]  # answered through `request.respond`

    page_params = (Param("offset", schema={"type": "integer", "minimum": 0}),
                   Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 500}))
    flag = {"type": "string", "enum": ["true", "false"]}
    tag = "customers"
    api.route(bp, "GET", "/api/v1/customers", search, summary="Search customers (客户列表) by the start of a name or "
              "number, or an exact custom field value; within the viewer's scope", tag=tag,
              operation_id="search_customers", roles=ANY_ROLE, response=_page(CUSTOMER), errors=(400, 404, 422),
              params=(Param("q", description="a name's or a number's start"),
                      Param("field", description="a custom field's name (with value)"),
                      Param("value", description="the custom field's value"), Param("vip", schema=flag),
                      Param("blacklisted", schema=flag), Param("account_manager"), *page_params))
    api.route(bp, "POST", "/api/v1/customers", create, summary="Create a customer", tag=tag,
              operation_id="create_customer", roles=ANY_ROLE, request=CUSTOMER_IN, response=CUSTOMER,
              response_status=201, errors=(403, 409, 422))
    api.route(bp, "GET", "/api/v1/customers/lookup", lookup, summary="The screen pop's look-up by a caller's number "
              "(any format): the box's customer and, when configured, the external CRM's answer", tag=tag,
              operation_id="lookup_customer", roles=ANY_ROLE, response=POP, errors=(400,),
              params=(Param("number", required=True, description="the caller's number"),))
    api.route(bp, "POST", "/api/v1/customers/import", import_, summary="Import customers from CSV (UTF-8 or "
              "GB18030) or .xlsx, the file as the body or a multipart field `file`; rows with errors are left out "
              "and reported by row and field", tag=tag, operation_id="import_customers", roles=MANAGERS,
              request={"type": "string", "format": "binary"}, response=IMPORT_RESULT, errors=(400, 422),
              limits=IMPORT_LIMITS,
              params=(Param("format", schema={"type": "string", "enum": ["csv", "xlsx"]},
                            description="default: by the file's first bytes"),
                      Param("dry_run", schema=flag, description="check every row, write nothing")))
    api.route(bp, "GET", "/api/v1/customers/export", export, summary="Export the customers in the viewer's scope "
              "as CSV (UTF-8 with BOM) or .xlsx", tag=tag, operation_id="export_customers", roles=MANAGERS,
              content_type="text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              response={"type": "string", "format": "binary"}, errors=(400,),
              params=(Param("format", schema={"type": "string", "enum": ["csv", "xlsx"]}),
                      Param("lang", schema={"type": "string", "enum": ["en", "zh"]},
                            description="the headings' language"),
                      Param("vip", schema=flag), Param("blacklisted", schema=flag)))
    api.route(bp, "GET", "/api/v1/customers/{customer_id}", get, summary="A customer", tag=tag,
              operation_id="get_customer", roles=ANY_ROLE, response=CUSTOMER, errors=(404,))
    api.route(bp, "PUT", "/api/v1/customers/{customer_id}", replace, summary="Replace a customer", tag=tag,
              operation_id="replace_customer", roles=ANY_ROLE, request=CUSTOMER_IN, response=CUSTOMER,
              errors=(403, 404, 409, 422))
    api.route(bp, "PATCH", "/api/v1/customers/{customer_id}", patch, summary="Change some of a customer's fields "
              "(a custom field set to null is removed)", tag=tag, operation_id="patch_customer", roles=ANY_ROLE,
              request={**CUSTOMER_IN, "required": []}, response=CUSTOMER, errors=(403, 404, 409, 422))
    api.route(bp, "DELETE", "/api/v1/customers/{customer_id}", delete, summary="Delete a customer without service "
              "records", tag=tag, operation_id="delete_customer", roles=MANAGERS, response_status=204,
              errors=(404, 409))
    api.route(bp, "POST", "/api/v1/customers/{customer_id}/numbers", add_number, summary="Add a number to a customer",
              tag=tag, operation_id="add_customer_number", roles=ANY_ROLE, response=CUSTOMER, response_status=201,
              request={"type": "object", "required": ["number"], "additionalProperties": False,
                       "properties": {"number": {"type": "string", "maxLength": 64}}}, errors=(404, 409, 422))
    api.route(bp, "DELETE", "/api/v1/customers/{customer_id}/numbers/{number}", remove_number,
              summary="Remove a number from a customer", tag=tag, operation_id="remove_customer_number",
              roles=ANY_ROLE, response=CUSTOMER, errors=(404, 422))
    api.route(bp, "GET", "/api/v1/customers/{customer_id}/service-records", customer_records,
              summary="A customer's service records (服务记录), newest first", tag=tag,
              operation_id="customer_service_records", roles=ANY_ROLE, response=_page(RECORD), errors=(404, 422),
              params=page_params)
    api.route(bp, "POST", "/api/v1/customers/{customer_id}/service-records", add_record,
              summary="Save a service record (with the call's id, so it is found from the CDR)", tag=tag,
              operation_id="add_service_record", roles=ANY_ROLE, request=RECORD_IN, response=RECORD,
              response_status=201, errors=(403, 404, 422))
    api.route(bp, "GET", "/api/v1/service-records", records, summary="Service records by call (from the CDR), "
              "customer, agent, or follow-ups due by a date; newest first", tag=tag,
              operation_id="list_service_records", roles=ANY_ROLE, response=_page(RECORD), errors=(400, 422),
              params=(Param("call_id"), Param("customer_id", schema={"type": "integer", "minimum": 0}),
                      Param("agent"), Param("follow_up_until", schema={"type": "string", "format": "date"}),
                      *page_params))
    api.route(bp, "GET", "/api/v1/service-records/{record_id}", get_record, summary="A service record", tag=tag,
              operation_id="get_service_record", roles=ANY_ROLE, response=RECORD, errors=(404,))
    api.route(bp, "PUT", "/api/v1/service-records/{record_id}", change_record, summary="Change a service record "
              "(agents their own)", tag=tag, operation_id="change_service_record", roles=ANY_ROLE, request=RECORD_IN,
              response=RECORD, errors=(403, 404, 422))
    fields_page = {"type": "object", "properties": {"items": {"type": "array", "items": DEFINITION}}}
    api.route(bp, "GET", "/api/v1/customer-fields", list_fields, summary="Custom customer fields (自定义客户字段) "
              "and the dictionaries of select fields", tag=tag, operation_id="list_customer_fields", roles=ANY_ROLE,
              response=fields_page)
    api.route(bp, "PUT", "/api/v1/customer-fields/{name}", put_field, summary="Create or replace a custom field",
              tag=tag, operation_id="put_customer_field", roles=WRITE_CONFIG, request=DEFINITION_IN,
              response=DEFINITION, errors=(422,))
    api.route(bp, "DELETE", "/api/v1/customer-fields/{name}", delete_field, summary="Delete a custom field and "
              "every customer's value of it", tag=tag, operation_id="delete_customer_field", roles=WRITE_CONFIG,
              response_status=204, errors=(404,))
    return bp


def _record_input(data: Any) -> dict[str, Any]:
    return {f: getattr(data, f) for f in data.__dataclass_fields__}
