"""Customers (`/customers`, 客户管理): search and page through the customers the viewer may list, open one to edit it
and read or add its service records (服务记录), and, for supervisors and admins, import and export CSV or .xlsx.
Admins define the custom fields (`/customers/fields`, 自定义字段) and the choices of select fields.

Everything is read through `CustomerService` within the viewer's scope (`appliance.customers.http.visible_managers`,
the same rule as the API); every change goes through `/api/v1/customers...` from the browser (`app.js` for the
forms, `bulk.js`, shared with the bulk imports, for the import's file upload and its row-by-row report).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE, WRITE_CONFIG
from appliance.customers.errors import CustomerNotFound
from appliance.customers.http import MANAGERS, visible_managers
from appliance.customers.models import Customer, FieldDefinition, FieldType, Search
from web_ui.forms import FormField, Option
from web_ui.pages.context import Viewer, WebUi, render, viewer_of

PAGE = 25


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 9 else default


def _flag(raw: str | None) -> bool | None:
    return {"true": True, "false": False}.get(raw or "")


def _fields(viewer: Viewer, customer: Customer | None, _: Any) -> list[FormField]:
    """The built-in fields as the console's form macro draws them (custom ones are drawn by the template)."""
    managing = viewer.session.role in MANAGERS
    c = customer
    return [
        FormField("name", _("Name"), "text", c.name if c else "", required=True, max_length=100),
        FormField("numbers", _("Numbers"), "lines", "\n".join(c.numbers) if c else "", value_type="list"),
        FormField("area", _("Area"), "text", c.area if c else "", max_length=20),
        FormField("account_manager", _("Account manager"), "text", (c.account_manager or "") if c else "",
                  nullable=True, max_length=20, readonly=not managing),
        FormField("vip", _("VIP"), "checkbox", bool(c and c.vip), value_type="boolean", readonly=not managing),
        FormField("blacklisted", _("Blacklisted"), "checkbox", bool(c and c.blacklisted), value_type="boolean",
                  readonly=not managing),
        FormField("note", _("Note"), "text", c.note if c else "", max_length=2000),
    ]


def _definition_fields(d: FieldDefinition | None, _: Any) -> list[FormField]:
    """A custom field's form; its name is fixed once made (customers' values are kept under it)."""
    types = (Option(FieldType.TEXT.value, _("Text")), Option(FieldType.NUMBER.value, _("Number")),
             Option(FieldType.DATE.value, _("Date")), Option(FieldType.SELECT.value, _("Select from a list")))
    return [
        FormField("name", _("Name (letters, digits and _)"), "text", d.name if d else "", required=True,
                  max_length=32, pattern="[a-z][a-z0-9_]*", readonly=d is not None),
        FormField("label", _("Label in English"), "text", d.label if d else "", required=True, max_length=60),
        FormField("label_zh", _("Label in Chinese"), "text", d.label_zh if d else "", max_length=60),
        FormField("type", _("Type"), "select", d.type.value if d else FieldType.TEXT.value, options=types),
        FormField("options", _("Choices of a select field, one per line"), "lines",
                  "\n".join(d.options) if d else "", value_type="list"),
        FormField("required", _("Required"), "checkbox", bool(d and d.required), value_type="boolean"),
        FormField("position", _("Position in the form"), "number", d.position if d else 0, minimum=0,
                  maximum=1000, value_type="integer"),
    ]


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("customer_pages", url_prefix="")

    def service() -> Any:
        if ui.customers is None:
            raise CustomerNotFound("(the customer service is not built)")
        return ui.customers

    async def customers(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, ANY_ROLE)
        q = str(request.args.get("q") or "")[:100]
        vip, black = _flag(request.args.get("vip")), _flag(request.args.get("blacklisted"))
        page_no = max(1, _int(request.args.get("page"), 1))
        definitions = service().definitions()
        # a custom field's exact value (an unknown field or an empty value searches without it)
        field = str(request.args.get("field") or "")
        value = str(request.args.get("value") or "")[:500]
        by_field = any(d.name == field for d in definitions) and bool(value)
        search = Search(text=q, vip=vip, blacklisted=black, offset=(page_no - 1) * PAGE, limit=PAGE,
                        field=field if by_field else None, value=value if by_field else None,
                        managers=visible_managers(ui.config, viewer.session))
        page = await service().search(search)
        pages = max(1, -(-page.total // PAGE))
        args = {"q": q, "vip": request.args.get("vip") or "", "blacklisted": request.args.get("blacklisted") or "",
                "field": field if by_field else "", "value": value if by_field else ""}
        zh = viewer.language == "zh_CN"
        searchable = [Option(d.name, d.label_zh if zh else d.label) for d in definitions]
        return render(ui, request, "customers/list.html", viewer=viewer, page=page, page_no=page_no, pages=pages,
                      args=args, query=urlencode({k: v for k, v in args.items() if v}), searchable=searchable,
                      managing=viewer.session.role in MANAGERS)

    async def edit(request: Request, customer_id: str | None = None) -> HTTPResponse:
        viewer = viewer_of(ui, request, ANY_ROLE)
        _ = ui.languages.gettext(viewer.language)
        customer = None
        records: tuple[Any, ...] = ()
        if customer_id is not None:
            if not customer_id.isascii() or not customer_id.isdigit() or len(customer_id) > 18:
                raise CustomerNotFound(customer_id[:40])
            customer = await service().get(int(customer_id))
            records = (await service().records(customer_id=customer.id, limit=50)).items
        zh = viewer.language == "zh_CN"
        custom = [{"name": d.name, "label": d.label_zh if zh else d.label, "type": d.type.value,
                   "options": [Option(o, o) for o in d.options], "required": d.required,
                   "value": (customer.fields.get(d.name, "") if customer else "")}
                  for d in service().definitions()]
        number = str(request.args.get("number") or "")[:64]  # a new customer for a caller's number
        fields = _fields(viewer, customer, _)
        if customer is None and number:
            fields[1] = FormField("numbers", _("Numbers"), "lines", number, value_type="list")
        return render(ui, request, "customers/edit.html", viewer=viewer, customer=customer, fields=fields,
                      custom=custom, records=records, managing=viewer.session.role in MANAGERS,
                      text_type=FieldType.TEXT.value)

    async def new(request: Request) -> HTTPResponse:
        return await edit(request, None)

    async def import_page(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, MANAGERS)
        return render(ui, request, "customers/import.html", viewer=viewer, definitions=service().definitions())

    async def field_list(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        return render(ui, request, "customers/fields.html", viewer=viewer, definitions=service().definitions())

    async def field_edit(request: Request, name: str | None = None) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        definition = service().definition(name[:40]) if name is not None else None  # 404 for an unknown one
        return render(ui, request, "customers/field_edit.html", viewer=viewer, definition=definition,
                      fields=_definition_fields(definition, _))

    async def field_new(request: Request) -> HTTPResponse:
        return await field_edit(request, None)

    bp.add_route(field_list, "/customers/fields", methods=["GET"], name="customer_fields")
    bp.add_route(field_new, "/customers/fields/new", methods=["GET"], name="customer_field_new")
    bp.add_route(field_edit, "/customers/fields/<name>", methods=["GET"], name="customer_field_edit")
    bp.add_route(customers, "/customers", methods=["GET"], name="customers")
    bp.add_route(new, "/customers/new", methods=["GET"], name="customer_new")
    bp.add_route(import_page, "/customers/import", methods=["GET"], name="customer_import")
    bp.add_route(edit, "/customers/<customer_id>", methods=["GET"], name="customer_edit")
    return bp
