"""Keeps the message catalogues in step with the code: `python -m web_ui.i18n_tool` extracts every string
marked for translation (`_()`, `N_()`, `{{ _("...") }}`) and merges it into each language's `.po` file,
keeping the translations already there. English entries translate to themselves."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from web_ui.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
METHODS = [("web_ui/**.py", "python"), ("web_ui/templates/**.html", "jinja2")]
OPTIONS = {"web_ui/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True",
                                         "lstrip_blocks": "True"}}
KEYWORDS = {"_": None, "N_": None, "gettext": None}


def extract() -> Catalog:
    template = Catalog(domain=DOMAIN)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS,
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def update() -> dict[str, list[str]]:
    """Merge; returns, per language, the message ids that still have no translation."""
    template = extract()
    missing: dict[str, list[str]] = {}
    for language in LANGUAGES:
        path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as f:
                catalog = read_po(f, locale=language, domain=DOMAIN)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        for message in catalog:
            if message.id and language == "en" and not message.string:
                message.string = message.id
        catalog.obsolete.clear()
        # Written beside and renamed into place: a box starting meanwhile reads the old file or the new one,
        # never half of one.
        part = path.with_suffix(".po.part")
        with part.open("wb") as f:
            write_po(f, catalog, width=0, omit_header=False, sort_output=True, no_location=True)
        part.replace(path)
        missing[language] = [str(m.id) for m in catalog if m.id and not m.string]
    return missing


def main() -> int:
    missing = update()
    for language, ids in missing.items():
        for msgid in ids:
            print(f"{language}: untranslated: {msgid}")
    return 1 if any(missing.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
