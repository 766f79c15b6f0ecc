"""Every string the pages show is in both catalogues, and the static assets are served as built."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from sanic import Sanic

from web_ui import i18n_tool
from web_ui.assets import AssetManifest, AssetsMissing, static_blueprint
from web_ui.i18n import LANGUAGES, Languages, load_translations, pick_language


def test_every_marked_string_has_a_translation_in_every_language(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # merge into a copy: the test must not rewrite the committed catalogues
    locale = tmp_path / "locale"
    shutil.copytree(i18n_tool.LOCALE_DIR, locale)
    monkeypatch.setattr(i18n_tool, "LOCALE_DIR", locale)
    missing = i18n_tool.update()
    assert missing == {language: [] for language in LANGUAGES}
    extracted = {m.id for m in i18n_tool.extract() if m.id}
    assert len(extracted) > 200  # the extraction found the templates and the labels


def test_chinese_is_the_default_and_the_choice_is_remembered() -> None:
    assert pick_language(None) == "zh_CN"
    assert pick_language("en") == "en"  # this browser's last choice
    assert pick_language("en", account="zh_CN") == "zh_CN"  # the account's choice wins
    assert pick_language("fr") == "zh_CN"
    assert pick_language(None, default="en") == "en"  # the box's default language
    assert load_translations("zh_CN").gettext("Queues") == "队列"
    page = Languages.load().environments["en"].from_string('{{ _("Queues") }}').render()
    assert page == "Queues"


async def test_assets_are_fingerprinted_compressed_and_cached_for_a_year() -> None:
    try:
        manifest = AssetManifest.load()
    except AssetsMissing:
        pytest.skip("the web assets are not built (make builds them)")
    app = Sanic("assets_test", configure_logging=False)
    app.config.TOUCHUP = False
    app.blueprint(static_blueprint(manifest))
    url = manifest.url("vendor/htmx.js")
    assert url.startswith("/static/vendor/htmx.") and url.endswith(".js") and len(url) > len("/static/vendor/htmx.js")
    _, plain = await app.asgi_client.get(url, headers={"accept-encoding": "identity"})
    _, packed = await app.asgi_client.get(url, headers={"accept-encoding": "gzip"})
    assert plain.status == 200 and "immutable" in plain.headers["cache-control"]
    assert "max-age=31536000" in plain.headers["cache-control"]
    assert packed.headers.get("content-encoding") == "gzip"
    assert packed.body == plain.body  # the client inflated the gzip copy back into the same file
    stored = manifest.root / url.removeprefix("/static/")
    assert gzip.decompress(Path(f"{stored}.gz").read_bytes()) == stored.read_bytes() == plain.body
    _, missing = await app.asgi_client.get("/static/vendor/htmx.js")
    assert missing.status == 404  # only hashed names are served
    total_gz = sum((manifest.root / (f + ".gz")).stat().st_size for n, f in manifest.files.items()
                   if not n.startswith("vendor/drawflow"))
    assert total_gz <= 400 * 1024  # a page's compressed assets (the IVR editor adds its own on its page only)
