"""The prompts page (`/admin/prompts`): every prompt per language, played in the page, uploaded (the API
converts and normalises the recording) and deleted (the shipped default of the name comes back).

The page lists what `GET /api/v1/prompts` returns and changes prompts only through the prompts API, from
the browser. A text-to-speech preview is offered when the API has its route.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG
from web_ui.i18n import N_
from web_ui.pages.context import WebUi, render, viewer_of

# The prompts API's languages, in the order the page shows them.
PROMPT_LANGUAGES: tuple[tuple[str, str], ...] = (("zh-CN", N_("Chinese")), ("en", N_("English")))
ACCEPT = ".wav,audio/wav,audio/x-wav,audio/wave"
TTS_OPERATION = "preview_tts"


def make_blueprint(ui: WebUi) -> Blueprint:
    bp = Blueprint("prompt_pages", url_prefix="")

    async def prompts_page(request: Request) -> HTTPResponse:
        viewer = viewer_of(ui, request, READ_CONFIG)
        _ = ui.languages.gettext(viewer.language)
        tts = any(op.operation_id == TTS_OPERATION for op in ui.api.operations)
        return render(ui, request, "prompts.html", viewer=viewer, accept=ACCEPT, tts=tts,
                      languages=[(code, _(label)) for code, label in PROMPT_LANGUAGES])

    bp.add_route(prompts_page, "/admin/prompts", methods=["GET"], name="prompts_page")
    return bp
