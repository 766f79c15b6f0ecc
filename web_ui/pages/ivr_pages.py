"""The visual IVR editor's pages: `/admin/ivr/new` and `/admin/ivr/<name>`.

The page carries what the browser needs to draw and edit a flow: the flow itself (as the API returns it), a
description of every node kind taken from the IVR model (so a kind added to the model shows in the palette
with its fields), and the names the node forms choose from (queues, voicemail boxes, extensions, flows,
skills, schedules). The browser saves through `/api/v1/ivr_flows`, whose validation is the IVR's own.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, get_args, get_origin

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from appliance.ivr import models as ivr
from web_ui.i18n import N_
from web_ui.labels import KIND_TITLES
from web_ui.pages.context import WebUi, render, viewer_of

# Node kind -> its name in the palette.
NODE_LABELS: dict[str, str] = {
    "play": N_("Play"),
    "menu": N_("Menu"),
    "collect": N_("Collect digits"),
    "queue": N_("To queue"),
    "extension": N_("To extension"),
    "voicemail": N_("To voicemail"),
    "external": N_("To external number"),
    "goto_flow": N_("Go to flow"),
    "back_to_parent": N_("Back to parent menu"),
    "back_to_top": N_("Back to top menu"),
    "hangup": N_("Hang up"),
    "set_variable": N_("Set variable"),
    "condition": N_("Condition"),
    "http": N_("Ask a business system"),
    "language": N_("Choose language"),
    "survey": N_("Satisfaction survey"),
    "callback": N_("Leave a callback number"),
}

# Node and list-item field -> its label in the side panel.
NODE_FIELD_LABELS: dict[str, str] = {
    "id": N_("Node id"),
    "prompt": N_("Prompt"),
    "tts": N_("Text to speech"),
    "say_digits": N_("Digits to speak"),
    "barge_in": N_("Keys interrupt the prompt"),
    "next": N_("Then go to"),
    "options": N_("Keys"),
    "digit": N_("Key"),
    "invalid": N_("On invalid key"),
    "timeout": N_("On timeout"),
    "invalid_prompt": N_("Invalid-key prompt"),
    "timeout_prompt": N_("No-key prompt"),
    "timeout_seconds": N_("Timeout (s)"),
    "max_retries": N_("Retries"),
    "variable": N_("Variable"),
    "min_digits": N_("Fewest digits"),
    "max_digits": N_("Most digits"),
    "terminator": N_("End key"),
    "first_digit_timeout": N_("First key timeout (s)"),
    "inter_digit_timeout": N_("Between keys timeout (s)"),
    "pattern": N_("Pattern (regular expression)"),
    "queue": N_("Queue"),
    "skill": N_("Skill"),
    "priority": N_("Priority"),
    "extension": N_("Extension"),
    "box": N_("Voicemail box"),
    "number": N_("Number"),
    "flow": N_("Flow"),
    "outcome": N_("Outcome"),
    "value": N_("Value"),
    "rules": N_("Rules"),
    "subject": N_("Subject"),
    "name": N_("Name"),
    "op": N_("Comparison"),
    "otherwise": N_("Otherwise"),
    "method": N_("Method"),
    "url": N_("URL"),
    "body": N_("Request body"),
    "headers": N_("Headers"),
    "results": N_("Results"),
    "path": N_("Path in the answer"),
    "required": N_("Required"),
    "say_tts": N_("Text to speak after"),
    "fallback": N_("On error"),
    "language": N_("Language"),
    "thanks_prompt": N_("Thank-you prompt"),
    "allow_caller_id": N_("Caller's own number allowed"),
    "confirm_prompt": N_("Confirmation prompt"),
}


# The enumerated values a node's fields take, as the editor shows them.
CHOICE_LABELS: dict[str, str] = {
    "self_served": N_("Served by the IVR"), "failed": N_("Not served"), "GET": N_("GET"), "POST": N_("POST"),
    "caller": N_("Caller's number"), "did": N_("Dialled access number"), "variable": N_("Variable"),
    "time_period": N_("Time period"), "eq": N_("equals"), "ne": N_("differs from"), "lt": N_("less than"),
    "gt": N_("greater than"), "in": N_("is one of"), "exists": N_("is set"), "prefix": N_("starts with"),
    "regex": N_("matches the pattern"), "zh-CN": N_("Chinese"), "en": N_("English"),
}


def _field_spec(cls: type[Any]) -> list[dict[str, Any]]:
    """The fields of a model dataclass: name, value type, default, choices, and the fields of list items."""
    hints = typing.get_type_hints(cls)
    out: list[dict[str, Any]] = []
    for f in dataclasses.fields(cls):
        if f.name == "kind":
            continue
        hint = hints[f.name]
        spec: dict[str, Any] = {"name": f.name, "type": "str"}
        if get_origin(hint) is Literal:
            spec.update(type="enum", choices=[str(a) for a in get_args(hint)])
        elif get_origin(hint) is tuple:
            spec.update(type="list", item=_field_spec(get_args(hint)[0]))
        elif hint is bool:
            spec["type"] = "bool"
        elif hint is int:
            spec["type"] = "int"
        elif hint is float:
            spec["type"] = "float"
        if f.default is not dataclasses.MISSING:
            default = f.default
            spec["default"] = [dataclasses.asdict(d) for d in default] if isinstance(default, tuple) else default
        else:
            spec["required"] = True
        out.append(spec)
    return out


def node_kinds() -> dict[str, dict[str, Any]]:
    """Every node kind of the IVR model with its fields, in the model's order."""
    classes = get_args(get_args(ivr.Node)[0])
    kinds: dict[str, dict[str, Any]] = {}
    for cls in classes:
        kind = str(get_args(typing.get_type_hints(cls)["kind"])[0])
        kinds[kind] = {"fields": _field_spec(cls), "input": kind in ivr.INPUT_KINDS,
                       "terminal": kind in ivr.TERMINAL_KINDS}
    return kinds


def _names(ui: WebUi, kind: str) -> list[str]:
    store = ui.config.store
    k = store.kind(kind)
    return sorted(str(k.key_of(e)) for e in store.list(kind))


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("ivr_pages", url_prefix="")

    def page(request: Request, name: str | None) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        flow = ui.config.get("ivr_flows", name, viewer.scope) if name is not None else None
        kinds = node_kinds()
        kind_labels = {k: _(NODE_LABELS.get(k, k)) for k in kinds}
        editor: dict[str, Any] = {
            "flow": flow,
            "kinds": kinds,
            "labels": {
                "kinds": kind_labels,
                "fields": {k: _(v) for k, v in NODE_FIELD_LABELS.items()},
                "choices": {k: _(v) for k, v in CHOICE_LABELS.items()},
            },
            "choices": {
                "queue": _names(ui, "queues"),
                "box": _names(ui, "voicemail_boxes"),
                "extension": _names(ui, "extensions"),
                "flow": _names(ui, "ivr_flows"),
                "skill": _names(ui, "skills"),
                "schedule": _names(ui, "schedules"),
            },
            "can_write": viewer.can_write,
            # With a `layout` field in the model, node positions travel with the flow instead of the browser.
            "flow_fields": [f.name for f in dataclasses.fields(ivr.Flow)],
        }
        title = _("IVR flow") + (f": {name}" if name else "")
        return render(ui, request, "ivr_editor.html", viewer=viewer, editor=editor, flow=flow, name=name,
                      title=title, list_title=_(KIND_TITLES["ivr_flows"][0]), node_labels=kind_labels)

    async def new_flow(request: Request) -> HTTPResponse:
        return page(request, None)

    async def edit_flow(request: Request, name: str) -> HTTPResponse:
        return page(request, name)

    bp.add_route(new_flow, "/admin/ivr/new", methods=["GET"], name="ivr_new")
    bp.add_route(edit_flow, "/admin/ivr/<name:str>", methods=["GET"], name="ivr_edit")
    return bp
