"""The bulk import page of staff, extensions, the VIP list and the blacklist (`/admin/<kind>/import`).

The page says which columns a file has and sends the file to the REST import route from the browser: first
as a dry run whose row errors are shown in a table, then for real. The list pages of these kinds link here
and to the CSV and Excel exports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.configuration.bulk import BULK_KINDS, MAX_BYTES, MAX_ROWS, SEP, columns_of
from appliance.errors import NotFound
from web_ui.i18n import N_
from web_ui.labels import FIELD_LABELS, KIND_TITLES
from web_ui.pages.context import WebUi, render, viewer_of

# The kinds whose list pages show Import and Export; the console's list context says whether a kind is one.
BULK_IMPORT_KINDS: frozenset[str] = frozenset(BULK_KINDS)
ACCEPT = ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class ColumnHelp:
    name: str
    label: str
    note: str


def _column_help(ui: WebUi, kind_name: str, _: Callable[[str], str]) -> list[ColumnHelp]:
    kind = ui.config.store.kind(kind_name)
    out: list[ColumnHelp] = []
    for c in columns_of(kind):
        notes: list[str] = []
        if c.name == kind.key:
            notes.append(N_("Key: an existing one is updated, a new one is created"))
        elif c.required:
            notes.append(N_("Required for new entries"))
        if c.shape == "list":
            notes.append(N_("Several values separated by ;"))
        if c.shape == "pairs":
            notes.append(N_("skill:level separated by ;, e.g. sales:7;support:4"))
        if c.shape == "bool":
            notes.append(N_("true or false"))
        if c.choices:
            notes.append(_("One of: {values}").replace("{values}", ", ".join(c.choices)))
        if c.secret:
            notes.append(N_("Write-only: never exported; empty keeps the current one"))
        label = FIELD_LABELS.get(c.name, c.name)
        out.append(ColumnHelp(c.name, _(label), _("; ").join(_(n) for n in notes)))
    return out


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("bulk_pages", url_prefix="")

    async def import_page(request: Request, kind_name: str) -> HTTPResponse:
        viewer = viewer_of(ui, request, WRITE_CONFIG)
        if kind_name not in BULK_IMPORT_KINDS:
            raise NotFound("page", kind_name)
        _ = ui.languages.gettext(viewer.language)
        return render(ui, request, "bulk_import.html", viewer=viewer, kind_name=kind_name,
                      title=_("Import %(what)s") % {"what": _(KIND_TITLES[kind_name][0])},
                      list_title=_(KIND_TITLES[kind_name][0]), columns=_column_help(ui, kind_name, _),
                      accept=ACCEPT, max_mb=MAX_BYTES // 2**20, max_rows=MAX_ROWS, sep=SEP)

    bp.add_route(import_page, "/admin/<kind_name:str>/import", methods=["GET"], name="bulk_import_page")
    return bp
