"""The admin console's list pages and forms, one pair per configuration kind, drawn from the kind catalogue.

Lists search, sort and page on the server (htmx swaps the table body); forms are built from the API's input
schema and saved by the browser through the REST API, whose field errors appear beside the controls.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from appliance.domain.kinds import EntityKind
from appliance.errors import NotFound
from web_ui.forms import FormField, build_fields, value_label
from web_ui.labels import FIELD_LABELS, KIND_TITLES, LIST_COLUMNS
from web_ui.pages.bulk_pages import BULK_IMPORT_KINDS
from web_ui.pages.context import Viewer, WebUi, render, viewer_of

PAGE_SIZE = 25
# Kinds listed here but edited on a page of their own: the list links to `<base>/<key>` and `<base>/new`.
OWN_EDITOR: dict[str, str] = {"ivr_flows": "/admin/ivr"}


def _kind(ui: WebUi, name: str) -> EntityKind:
    if name not in KIND_TITLES:
        raise NotFound("page", name)
    return ui.config.store.kind(name)


def _cell(value: Any, _: Any) -> str:
    if isinstance(value, bool):
        return value_label(value, _)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) if not isinstance(v, dict) else str(next(iter(v.values()), "")) for v in value)
    if value is None:
        return ""
    return value_label(value, _)


def _rows_context(ui: WebUi, request: Request, viewer: Viewer, kind: EntityKind) -> dict[str, Any]:
    _ = ui.languages.gettext(viewer.language)
    q = (request.args.get("q") or "").strip()[:100]
    sort = request.args.get("sort") or None
    columns = LIST_COLUMNS[kind.name]
    if sort and sort.lstrip("-") not in columns:
        sort = None
    try:
        offset = max(0, int(request.args.get("offset", "0")))
    except ValueError:
        offset = 0
    page = ui.config.list(kind.name, offset=offset, limit=PAGE_SIZE, q=q or None, sort=sort, scope=viewer.scope)
    rows = [(str(item[kind.key]), [_cell(item.get(c), _) for c in columns]) for item in page.items]
    return {
        "kind": kind, "title": _(KIND_TITLES[kind.name][0]), "singular": _(KIND_TITLES[kind.name][1]),
        "columns": [(c, _(FIELD_LABELS.get(c, c))) for c in columns], "rows": rows, "q": q, "sort": sort or "",
        "total": page.total, "offset": offset, "limit": PAGE_SIZE,
        "editor": OWN_EDITOR.get(kind.name, f"/admin/{kind.name}/item"),
        "bulk": kind.name in BULK_IMPORT_KINDS,
        "new_href": f"{OWN_EDITOR[kind.name]}/new" if kind.name in OWN_EDITOR else f"/admin/{kind.name}/new",
        "prev": max(0, offset - PAGE_SIZE) if offset > 0 else None,
        "next": offset + PAGE_SIZE if offset + PAGE_SIZE < page.total else None,
    }


def _choices(ui: WebUi, kind: EntityKind, viewer: Viewer) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for ref in kind.references:
        if not ref.report:
            continue
        target = ui.config.store.kind(ref.target)
        entities = ui.config.store.list(target.name)
        if target.name == "staff":
            entities = [e for e in entities if viewer.scope.sees_staff(e.employee_no, e.work_group)]
        # skills are a list of {skill, level}: that field is edited as JSON, not picked from a list
        if ref.field == "skills":
            continue
        out[ref.field] = tuple(target.key_of(e) for e in entities)
    return out


def _form_fields(ui: WebUi, viewer: Viewer, kind: EntityKind, values: dict[str, Any],
                 editing: bool) -> tuple[FormField, ...]:
    _ = ui.languages.gettext(viewer.language)
    input_schema = ui.api.components[f"{kind.model.__name__}Input"]
    return build_fields(kind.key, input_schema, ui.api.components, values, _choices(ui, kind, viewer), _,
                        editing=editing, readonly=not viewer.can_write)


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("console_pages", url_prefix="")

    async def list_page(request: Request, kind_name: str) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        kind = _kind(ui, kind_name)
        return render(ui, request, "list.html", viewer=viewer, **_rows_context(ui, request, viewer, kind))

    async def rows(request: Request, kind_name: str) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        kind = _kind(ui, kind_name)
        return render(ui, request, "rows.html", viewer=viewer, **_rows_context(ui, request, viewer, kind))

    async def new_form(request: Request, kind_name: str) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        kind = _kind(ui, kind_name)
        _ = ui.languages.gettext(viewer.language)
        fields = _form_fields(ui, viewer, kind, {}, editing=False)
        return render(ui, request, "form.html", viewer=viewer, kind=kind, fields=fields, key=None,
                      title=_(KIND_TITLES[kind.name][1]), list_title=_(KIND_TITLES[kind.name][0]),
                      action=f"/api/v1/{kind.name}", method="POST", item={})

    async def edit_form(request: Request, kind_name: str, key: str) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        kind = _kind(ui, kind_name)
        _ = ui.languages.gettext(viewer.language)
        item = ui.config.get(kind.name, key, viewer.scope)
        fields = _form_fields(ui, viewer, kind, item, editing=True)
        return render(ui, request, "form.html", viewer=viewer, kind=kind, fields=fields, key=key, item=item,
                      title=_(KIND_TITLES[kind.name][1]), list_title=_(KIND_TITLES[kind.name][0]),
                      action=f"/api/v1/{kind.name}/{key}", method="PATCH")

    bp.add_route(list_page, "/admin/<kind_name:str>", methods=["GET"], name="list_page")
    bp.add_route(rows, "/admin/<kind_name:str>/rows", methods=["GET"], name="rows")
    bp.add_route(new_form, "/admin/<kind_name:str>/new", methods=["GET"], name="new_form")
    bp.add_route(edit_form, "/admin/<kind_name:str>/item/<key:str>", methods=["GET"], name="edit_form")
    return bp
